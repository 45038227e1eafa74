"""A small end-to-end run that needs no download: digit 8 against the rest of scikit-learn's digits.

It is the ``binary`` task with digit 8 as its positive class, trained by the reference loop twice,
from the same initial weights and the same batches: once with ``UniLoss("auc")``, once with the
task's usual loss, 2-class cross-entropy (binary cross-entropy on the logit difference). Going
through ``train`` rather than a loop of its own keeps the demo honest: what it shows is what
``metricloss train binary`` does. Its runs write their logs and checkpoints to a temporary
directory that is removed afterwards; ``metricloss compare binary --metric auc`` keeps them.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import metricloss as ml
from metricloss.errors import InputError

from .loop import RunResult, train

POSITIVE = 8
METRIC = "auc"
LABELS = {"uniloss": f"UniLoss({METRIC})", "baseline": "cross-entropy"}


@dataclass(frozen=True)
class DemoResult:
    uniloss: RunResult
    baseline: RunResult
    seconds: float  # both trainings, evaluation and logs included

    @property
    def uniloss_auc(self) -> float | None:
        return self.uniloss.test_metric

    @property
    def baseline_auc(self) -> float | None:
        return self.baseline.test_metric


def train_digits(epochs: int = 15, seed: int = 0, log: Callable[[str], Any] | None = print) -> DemoResult:
    """Both trainings, on the CPU; ``log`` gets a line with the test AUC after each epoch."""
    check_settings(epochs, seed)
    task = ml.get_plugin("task", "binary")(positive=POSITIVE)
    start = time.perf_counter()
    runs = {}
    with tempfile.TemporaryDirectory(prefix="metricloss-demo-") as out:
        for loss, label in LABELS.items():
            def on_epoch(row: dict[str, Any], label: str = label) -> None:
                log(f"{label:<14} epoch {row['epoch']:2d}/{epochs}  test AUC {_number(row['test_metric'])}")

            runs[loss] = train(task, loss=loss, metric=METRIC, epochs=epochs, seed=seed, device="cpu",
                               out=Path(out) / loss, progress=False, on_epoch=on_epoch if log else None)
    return DemoResult(uniloss=runs["uniloss"], baseline=runs["baseline"],
                      seconds=time.perf_counter() - start)


def check_settings(epochs: int, seed: int) -> None:
    """Refuse, before anything is trained or printed, a demo that would train nothing."""
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise InputError(f"the demo trains at least 1 epoch, got epochs={epochs!r}; e.g. metricloss demo --epochs 15")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InputError(f"seed must be a whole number from 0 to 2**63 - 1, got {seed!r}")


def main(epochs: int = 15, seed: int = 0) -> DemoResult:
    check_settings(epochs, seed)
    print(f"digit {POSITIVE} against the rest on scikit-learn's bundled digits (8x8), the binary task's MLP,")
    print(f"trained with {LABELS['uniloss']} and with {LABELS['baseline']} from the same initial weights "
          f"and batches (seed {seed})")
    result = train_digits(epochs=epochs, seed=seed)
    print()
    print(f"{'loss':<16}{'test AUC':>10}")
    print(f"{LABELS['uniloss']:<16}{_number(result.uniloss_auc):>10}")
    print(f"{LABELS['baseline']:<16}{_number(result.baseline_auc):>10}")
    print(f"\n{result.seconds:.1f} s for both trainings")
    return result


def _number(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"
