"""What a run is: its settings, resolved once from the caller's options and the task's defaults.

The resolved ``RunConfig`` is written to ``config.json`` and into every checkpoint, so a checkpoint
continues only the run that wrote it; everything the caller left unset is filled in here, before
anything is built, so that a bad option fails before the first epoch rather than after it.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from pathlib import Path

import torch

from metricloss.errors import InputError, MetricLossError

from .sampling import parse_sampler
from .task import Data, Task

LOSSES = ("uniloss", "baseline")
DEVICES = ("auto", "cpu", "cuda")
CONFIG = "config.json"


@dataclass(frozen=True)
class RunConfig:
    """The fields in ``RESUMABLE`` must agree for a checkpoint to be continued."""

    task: str
    loss: str
    metric: str
    epochs: int
    batch_size: int
    lr: float
    seed: int
    device: str  # "cpu" or "cuda", after resolving "auto"
    data_source: str
    synthetic: bool
    uniloss: str = ""  # UniLoss's parts as text, for the record; empty for the baseline
    sampler: str = "shuffle"  # how batches are drawn: ``sampling.parse_sampler``
    warm_start: int = 0  # UniLoss runs: epochs trained with the task's usual loss first
    margin: float | None = None  # UniLoss(margin=); None: the task's setting
    processes: int = 1  # under torchrun; batch_size is per process (``distributed.py``)

    # epochs may grow (train a finished run further); the data source is the user's to change.
    RESUMABLE = ("task", "loss", "metric", "batch_size", "lr", "seed", "device", "sampler", "warm_start", "margin",
                 "processes")

    @property
    def loss_label(self) -> str:
        """How messages and plots name the loss: ``UniLoss(auc)`` or ``the baseline loss``."""
        return f"UniLoss({self.metric})" if self.loss == "uniloss" else "the baseline loss"


def default_out(task: str, loss: str, seed: int) -> Path:
    """Where a run writes when no ``out`` is given: ``runs/TASK-LOSS-seedN``."""
    return Path("runs") / f"{task}-{loss}-seed{seed}"


def run_config(task: Task, data: Data, *, loss: str, metric: str | None, epochs: int | None,
               batch_size: int | None, lr: float | None, device: torch.device, seed: int,
               sampler: str | None = None, warm_start: int | None = None,
               margin: float | None = None, processes: int = 1) -> RunConfig:
    """The caller's options, checked, with every unset one taken from ``task.settings_for(data)``."""
    if loss not in LOSSES:
        raise InputError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    if metric is not None and not isinstance(metric, str):
        raise InputError(
            f"metric must be a registered metric's name (a checkpoint records it by name), got "
            f"{type(metric).__name__}; @metricloss.metric registers yours under its function's name"
        )
    name = metric or task.metrics[0]
    # the data's defaults (bundled digits, synthetic pose) first, and the metric's own where it has some
    settings = task.settings_for(data, name)
    if epochs is None:
        epochs = settings.uniloss_epochs if loss == "uniloss" and settings.uniloss_epochs else settings.epochs
    if epochs is not None and epochs < 1:
        raise InputError(f"epochs must be at least 1, got {epochs}")
    if batch_size is not None and batch_size < 2:
        raise InputError(
            f"batch_size must be at least 2, got {batch_size}: a batch of one sample holds no pair to compare "
            "and breaks batch norm, so every such batch would be dropped and nothing trained"
        )
    check_seed(seed)
    if lr is not None and not (math.isfinite(lr) and 0 < lr <= torch.finfo(torch.float32).max):
        raise InputError(f"lr must be a positive number that float32 can hold, got {lr}")
    sampler = sampler if sampler is not None else settings.sampler
    parse_sampler(sampler)
    warm_start = settings.warm_start if warm_start is None else warm_start
    if loss != "uniloss":
        warm_start = 0  # the usual loss throughout: nothing to warm up
    if not 0 <= warm_start < epochs:
        raise InputError(
            f"warm_start must be at least 0 and fewer than the {epochs} epochs, got {warm_start}: it counts "
            "the first epochs trained with the task's usual loss before UniLoss takes over"
        )
    return RunConfig(
        task=task.name, loss=loss, metric=name, epochs=int(epochs),
        batch_size=int(batch_size if batch_size is not None else settings.batch_size),
        lr=float(lr if lr is not None else settings.uniloss_lr if loss == "uniloss" and settings.uniloss_lr
                 else settings.lr), seed=int(seed),
        device=device.type, data_source=data.source, synthetic=bool(data.synthetic), sampler=sampler,
        warm_start=int(warm_start), margin=None if margin is None or loss != "uniloss" else float(margin),
        processes=int(processes),
    )


def check_seed(seed: int) -> None:
    """Seeds are what torch's generators take: 0 to 2**63 - 1."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
        raise InputError(f"seed must be a whole number from 0 to 2**63 - 1, got {seed!r}")


def resolve_device(device: str) -> torch.device:
    """``auto`` as CUDA when torch sees a device, else the CPU; ``cuda`` without one is an error."""
    if device not in DEVICES:
        raise InputError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was asked for but torch sees no CUDA device; use --device cpu")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def require_matplotlib() -> None:
    """Fail before the first epoch, not after it, when the curves cannot be drawn."""
    if importlib.util.find_spec("matplotlib") is None:
        raise MetricLossError(
            "training writes its curves with matplotlib, which is not installed: "
            "pip install 'metricloss[train]'"
        )
