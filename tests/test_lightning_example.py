"""examples/lightning_auc.py runs: UniLoss trains a LightningModule, and the validation AUC that
``ml.evaluator`` logs is the AUC of the whole validation set (scikit-learn's, on the saved model)."""

from __future__ import annotations

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import torch

pytest.importorskip("lightning", reason="the example needs Lightning (pip install 'metricloss[lightning]')")
pytest.importorskip("torchmetrics")
metrics = pytest.importorskip("sklearn.metrics")

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "lightning_auc.py"


def load_example():
    spec = importlib.util.spec_from_file_location("lightning_auc", EXAMPLE)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_lightning_example_trains_and_logs_the_exact_validation_auc(tmp_path):
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins"),
                                                                os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run([sys.executable, str(EXAMPLE), "--epochs", "2", "--out", str(tmp_path)], cwd=tmp_path,
                          capture_output=True, text=True, env=environment, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    logged = float(re.search(r"validation AUC after 2 epochs: ([0-9.]+)", done.stdout)[1])
    assert logged > 0.85  # it learns: two epochs lift the validation AUC far above chance

    example = load_example()
    checkpoint = torch.load(next(tmp_path.glob("checkpoints/*.ckpt")), weights_only=False)
    assert "loss_fn._extra_state" in checkpoint["state_dict"]  # the loss's stream is in Lightning's checkpoint
    module = example.AUCModule()
    module.load_state_dict(checkpoint["state_dict"])
    _, validation = example.digits()
    with torch.no_grad():
        scores = module(validation.tensors[0])
    assert logged == pytest.approx(metrics.roc_auc_score(validation.tensors[1], scores), abs=5e-5)
