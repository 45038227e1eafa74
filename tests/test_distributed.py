"""Two processes on the CPU (gloo), started by torchrun as users start them.

UniLoss(gather=True) on two shards must give each process the loss of the whole batch and, on its
own scores, the gradient one process holding the whole batch gives them (same anchors). A run of
``metricloss train`` on two processes must write one set of files, train as one process on the
whole batch does, and resume exactly.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import metricloss as ml
from metricloss.train.checkpoints import load_checkpoint
from tests.distributed_cases import CASES, PROCESSES, SEED

pytestmark = pytest.mark.skipif(not torch.distributed.is_available() or not torch.distributed.is_gloo_available(),
                                reason="this torch has no gloo backend")

TESTS = Path(__file__).parent
ROOT = TESTS.parent


def torchrun(*arguments: str, cwd: Path, path: str = str(ROOT)) -> subprocess.CompletedProcess:
    environment = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path}
    return subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={PROCESSES}", *arguments],
        cwd=cwd, env=environment, capture_output=True, text=True, timeout=300,
    )


@pytest.fixture(scope="module")
def gathered(tmp_path_factory) -> list[dict]:
    out = tmp_path_factory.mktemp("gathered")
    done = torchrun(str(TESTS / "distributed_worker.py"), str(out), cwd=out)
    assert done.returncode == 0, done.stderr[-3000:]
    return [torch.load(out / f"rank{rank}.pt", weights_only=True) for rank in range(PROCESSES)]


@pytest.mark.parametrize("name", [n for n, case in CASES.items() if not case.get("own_generator")])
def test_each_process_gets_the_whole_batch_loss_and_its_own_rows_gradient(gathered, name):
    case = CASES[name]
    scores = case["scores"].clone().requires_grad_(True)
    loss = ml.UniLoss(case["metric"], generator=torch.Generator().manual_seed(SEED))(scores, *case["targets"])
    loss.backward()
    rows = [slice(0, case["first"]), slice(case["first"], None)]
    for rank, result in enumerate(gathered):
        assert torch.allclose(result[name]["loss"], loss.detach(), rtol=0, atol=1e-6), (rank, result[name]["loss"], loss)
        assert torch.allclose(result[name]["grad"], scores.grad[rows[rank]], rtol=1e-5, atol=1e-7), rank
        assert result[name]["value"] == pytest.approx(float(ml.get_metric(case["metric"])(case["scores"], *case["targets"])))


def test_without_a_generator_the_processes_still_draw_the_same_anchors(gathered):
    name = "auc, the loss's own generator"
    losses = [result[name]["loss"] for result in gathered]
    assert torch.isfinite(losses[0]) and torch.equal(losses[0], losses[1])


def test_a_generator_seeded_differently_on_each_process_is_refused(gathered):
    for rank, result in enumerate(gathered):
        message = result["mismatched generator"]
        assert f"state on process {rank} differs" in message and "Seed it alike on every process" in message


def test_targets_of_another_dtype_on_another_process_are_refused(gathered):
    message = gathered[0]["mismatched dtype"]
    assert "same dtypes and the same shapes" in message and "int64[*]" in message and "int32[*]" in message


def test_gather_outside_a_process_group_changes_nothing():
    scores, labels = torch.randn(10), torch.tensor([0, 1] * 5)
    plain = ml.UniLoss("auc", generator=torch.Generator().manual_seed(1))(scores, labels)
    gathered = ml.UniLoss("auc", gather=True, generator=torch.Generator().manual_seed(1))(scores, labels)
    assert torch.equal(plain, gathered)


def _weights(out: Path) -> dict[str, torch.Tensor]:
    return torch.load(out / "checkpoint.pt", weights_only=True)["model"]


@pytest.fixture(scope="module")
def two_process_command(tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    root = tmp_path_factory.mktemp("train")
    done = torchrun("-m", "metricloss", "train", "binary", "--epochs", "2", "--batch-size", "64", "--device", "cpu",
                    "--out", str(root / "run"), cwd=root)
    assert done.returncode == 0, done.stderr[-3000:]
    return root / "run", done


@pytest.fixture(scope="module")
def two_process_run(two_process_command) -> Path:
    return two_process_command[0]


def test_a_two_process_run_writes_one_set_of_outputs_and_reports_once(two_process_run, two_process_command):
    printed = two_process_command[1].stdout
    assert printed.count("binary, uniloss, seed 0: test average_precision") == 1, printed
    assert two_process_command[1].stderr.count("on 2 processes; writing to") == 1
    files = sorted(p.name for p in two_process_run.iterdir() if not p.name.startswith("."))
    assert files == ["checkpoint.pt", "config.json", "curves.png", "metrics.csv", "metrics.jsonl"]
    config = load_checkpoint(two_process_run / "checkpoint.pt")["config"]
    assert config["processes"] == 2 and "gather=True" in config["uniloss"]
    rows = (two_process_run / "metrics.csv").read_text().strip().splitlines()
    assert len(rows) == 1 + 2  # a header and one row per epoch, written by one process


def test_two_processes_train_as_one_process_on_the_whole_batch(two_process_run, tmp_path):
    # A fresh process with one thread, as the two are: this one's thread count is earlier tests'.
    subprocess.run([sys.executable, "-m", "metricloss", "train", "binary", "--epochs", "2", "--batch-size", "128",
                    "--device", "cpu", "--out", str(tmp_path / "one")], cwd=tmp_path, check=True, capture_output=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1"})
    for name, weight in _weights(two_process_run).items():
        assert torch.allclose(weight, _weights(tmp_path / "one")[name], rtol=0, atol=1e-6), name


def test_a_two_process_run_resumes_exactly(two_process_run, tmp_path):
    out = tmp_path / "resumed"
    for epochs, resume in (("1", []), ("2", ["--resume"])):
        done = torchrun("-m", "metricloss", "train", "binary", "--epochs", epochs, "--batch-size", "64", "--device",
                        "cpu", "--out", str(out), *resume, cwd=tmp_path)
        assert done.returncode == 0, done.stderr[-3000:]
    for name, weight in _weights(two_process_run).items():
        assert torch.equal(weight, _weights(out)[name]), name


def test_a_comparison_under_torchrun_trains_both_losses_and_writes_its_table_once(tmp_path):
    done = torchrun("-m", "metricloss", "compare", "binary", "--seeds", "1", "--epochs", "1", "--device", "cpu",
                    "--out", str(tmp_path / "compare"), cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.count("# binary: baseline vs UniLoss(average_precision)") == 1, done.stdout
    for loss in ("baseline", "uniloss"):
        assert load_checkpoint(tmp_path / "compare" / f"{loss}-seed0" / "checkpoint.pt")["config"]["processes"] == 2


def test_the_ddp_example_trains_auc_on_two_processes(tmp_path):
    done = torchrun(str(ROOT / "examples" / "distributed_auc.py"), "--epochs", "2", cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("epoch ")]
    assert len(lines) == 2, done.stdout  # printed by process 0 only
    assert float(lines[-1].split("AUC ")[1].split()[0]) > 0.9


# ltr on a few generated queries: its task module imported first, so the run finds it wherever the
# installed entry points come from, and the built-ins read from this checkout.
LTR = ("import sys; from metricloss_builtins import task_ltr; "
       "from metricloss.train.datasets.synthetic_ranking import SyntheticRanking; "
       "task_ltr.GENERATED = SyntheticRanking(train=32, validation=8, test=8, min_items=5, max_items=40); "
       "from metricloss.cli import main; sys.exit(main(sys.argv[1:]))")


def test_ranking_lists_of_every_length_train_on_two_processes_as_on_one(tmp_path):
    # Each process's share of a batch of queries is padded to the whole batch's longest list, so
    # UniLoss can gather the shares' scores, and the run is the one-process run on the whole batch.
    path = os.pathsep.join([str(ROOT), str(ROOT / "plugins")])
    command = ["train", "ltr", "--epochs", "2", "--device", "cpu"]
    done = torchrun("--no-python", sys.executable, "-c", LTR, *command, "--batch-size", "4",
                    "--out", str(tmp_path / "two"), cwd=tmp_path, path=path)
    assert done.returncode == 0, done.stderr[-3000:]
    subprocess.run([sys.executable, "-c", LTR, *command, "--batch-size", "8", "--out", str(tmp_path / "one")],
                   cwd=tmp_path, check=True, capture_output=True,
                   env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": path})
    assert load_checkpoint(tmp_path / "two" / "checkpoint.pt")["config"]["processes"] == 2
    for name, weight in _weights(tmp_path / "two").items():
        assert torch.allclose(weight, _weights(tmp_path / "one")[name], rtol=0, atol=1e-6), name
