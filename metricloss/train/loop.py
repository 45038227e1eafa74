"""The reference trainings: one loop for every task, with the task's usual loss or with UniLoss.

``train(task, loss="uniloss")`` loads the task's data, builds its model and optimiser, and for each
epoch: trains on shuffled batches (a progress bar shows the loss and the running metric), computes
the exact metric on the validation and test splits, and writes to ``out`` the per-epoch logs and
curves (``logs``), a checkpoint that ``resume=True`` continues exactly (``checkpoints``), and
``config.json``, what was run (``config``).

What the loop assumes of a task (``metricloss.train.task.Task``): ``task.scheduler`` is stepped once
per epoch; ``task.augment(inputs, generator)`` gets the batch on the CPU, before it moves to the
training device, with a CPU generator; the validation and test metric is computed once over the
whole split (AUC and AP are not means of batch values), from scores gathered batch by batch.
The promise of exact resumption holds on one device; the GPU's non-deterministic kernels are
outside it.
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from metricloss.errors import InputError, MetricLossError

from .atomic import write_json
from .checkpoints import CHECKPOINT, checkpoint_state, resume_from, save_checkpoint
from .config import CONFIG, RunConfig, check_seed, default_out, require_matplotlib, resolve_device, run_config
from .distributed import join
from .evaluation import evaluate, split_scores, split_value
from .run_folder import claimed, no_space, require_space
from .logs import CURVES, epoch_line, plot_curves, write_logs
from .run import Run, build_run
from .steps import train_epoch
from .task import Report, Task, get_task

# Seconds between redraws of curves.png while a run goes on: drawing costs about half a second,
# as much as a whole epoch of a small task. The curves are always drawn after the last epoch.
CURVES_EVERY = 10.0


@dataclass(frozen=True)
class RunResult:
    """A finished run: its configuration, one row per epoch (``logs.COLUMNS``), and the trained model."""

    config: RunConfig
    history: tuple[dict[str, Any], ...]
    out: Path
    resumed_from: int = 0  # the epoch the run continued from; 0 when it started afresh
    model: torch.nn.Module | None = field(default=None, repr=False, compare=False)
    rank: int = 0  # this process's, under torchrun: only process 0 writes files and reports
    reported: tuple[Report, ...] = ()  # the task's further test metrics (Task.reports)

    @property
    def test_metric(self) -> float | None:
        """The exact test metric after the last epoch (None when undefined on the test split)."""
        return self.history[-1]["test_metric"] if self.history else None

    @property
    def test_metrics(self) -> dict[str, float | None]:
        """The task's further test metrics after the last epoch, by label (``{"NDCG@10": 0.61}``)."""
        last = self.history[-1] if self.history else {}
        return {report.label: last.get(report.column) for report in self.reported}

    @property
    def validation_metric(self) -> float | None:
        return self.history[-1]["validation_metric"] if self.history else None

    @property
    def checkpoint(self) -> Path:
        return self.out / CHECKPOINT

    @property
    def curves(self) -> Path:
        return self.out / CURVES


def train(
    task: Task | str,
    *,
    loss: str = "uniloss",
    metric: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    device: str = "auto",
    data_dir: str | Path | None = None,
    out: str | Path | None = None,
    seed: int = 0,
    sampler: str | None = None,
    warm_start: int | None = None,
    margin: float | None = None,
    resume: bool = False,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> RunResult:
    """Train ``task``'s model with ``loss`` ("uniloss" or "baseline") and log every epoch to ``out``.

    Unset hyper-parameters come from ``task.settings_for(data)``: the data's own defaults (the
    bundled digits, the synthetic pose set), else the task's (the paper's); UniLoss uses
    ``settings.uniloss_epochs`` when they set a longer schedule for it, and ``settings.uniloss_lr``
    when they set its own learning rate. ``resume=True`` continues
    from ``out``'s checkpoint when there is one; without it, an existing checkpoint is an error
    rather than silently overwritten. ``sampler``: "shuffle", or "balanced[:SHARE]" to give every
    batch the same share of positives (``sampling.py``; unset, the task's). ``warm_start``: a UniLoss
    run's first epochs trained with the task's usual loss (unset, the task's). ``margin``:
    ``UniLoss(margin=)`` (unset, the task's). ``on_epoch`` is called with each epoch's row once its checkpoint is on disk.
    """
    task = get_task(task)
    require_matplotlib()
    check_seed(seed)
    out = Path(out) if out is not None else default_out(task.name, loss, seed)
    resolved = resolve_device(device)
    processes = join(resolved)
    try:
        with claimed(out) if processes.leader else contextlib.nullcontext(out):
            if processes.leader and not resume and (out / CHECKPOINT).exists():
                raise InputError(
                    f"{out / CHECKPOINT} already holds a checkpoint of a run. Pass resume=True (--resume) to "
                    "continue it, choose another out directory (--out), or delete it to start afresh."
                )
            data = task.load(Path(data_dir) if data_dir is not None else None, seed)
            config = run_config(task, data, loss=loss, metric=metric, epochs=epochs, batch_size=batch_size,
                                lr=lr, device=resolved, seed=seed, sampler=sampler, warm_start=warm_start,
                                margin=margin, processes=processes.size)
            run = build_run(task, config, data, processes)
            _check_metric_fits(run)
            start = resume_from(run, out / CHECKPOINT) if resume else 0
            run.trained = _parallel(run)
            return _epochs(run, out, start, progress, on_epoch)
    finally:
        processes.end()


def _epochs(run: Run, out: Path, start: int, progress: bool,
            on_epoch: Callable[[dict[str, Any]], None] | None) -> RunResult:
    """Train from epoch ``start + 1`` to the last; process 0 writes every file and message."""
    leader = run.processes.leader
    say = _Say(progress and leader)
    if leader:
        require_space(out, _checkpoint_bytes(run))
        _writing(out / CONFIG, lambda: write_json(out / CONFIG, asdict(run.config)))
    config = run.config
    if start:
        if leader:  # drops any row of an epoch that died before its checkpoint
            _writing(out, lambda: write_logs(out, run.history))
        say(f"resuming {out / CHECKPOINT} after epoch {start}/{config.epochs}")
    else:
        say(f"training {config.task} with {config.loss_label} on {config.data_source}"
            f"{' (synthetic)' if config.synthetic else ''}"
            f"{f' on {run.processes.size} processes' if run.processes.size > 1 else ''}; writing to {out}")
    drawn = -math.inf
    for epoch in range(start + 1, config.epochs + 1):
        row = _epoch(run, epoch, progress and leader)
        run.history.append(row)
        state = checkpoint_state(run, epoch)  # every process's streams: a collective
        if leader:
            _writing(out, lambda: write_logs(out, run.history))
            if epoch == config.epochs or time.monotonic() - drawn >= CURVES_EVERY:
                _writing(out / CURVES, lambda: plot_curves(out / CURVES, run.history, config))
                drawn = time.monotonic()
            _writing(out / CHECKPOINT, lambda: save_checkpoint(out / CHECKPOINT, state))
            say(epoch_line(row, config))
            if on_epoch is not None:
                on_epoch(row)
    return RunResult(config=config, history=tuple(run.history), out=out, resumed_from=start,
                     model=run.model, rank=run.processes.rank, reported=run.task.reports)


def _check_metric_fits(run: Run) -> None:
    """Fail before anything is written when the metric cannot take the task's scores and targets
    (``train binary --metric pckh``), rather than at the first step. The untrained model scores a
    few validation samples in eval mode: no random stream moves, so resumption stays exact."""
    split = run.data.validation if len(run.data.validation) else run.data.train
    few = split.batch(torch.arange(min(len(split), 8)))
    run.model.eval()
    try:
        with torch.no_grad():
            scores = run.task.scores(run.model(few.inputs.to(run.device)))
    finally:
        run.model.train()
    try:
        run.metric(scores, *(t.to(run.device) for t in few.targets))
    except (MetricLossError, RuntimeError, TypeError, ValueError) as error:
        raise InputError(
            f"metric `{run.config.metric}` cannot take task {run.config.task}'s scores {list(scores.shape)} and "
            f"targets: {str(error).rstrip('.')}. Choose one of the task's metrics ({', '.join(run.task.metrics)}) or a metric "
            "written for its scores and targets (--metric)."
        ) from error


def _parallel(run: Run) -> torch.nn.Module:
    """The model as the optimiser trains it: wrapped in DDP under several processes."""
    if run.processes.size == 1:
        return run.model
    devices = [run.device.index if run.device.index is not None else torch.cuda.current_device()] \
        if run.device.type == "cuda" else None
    return torch.nn.parallel.DistributedDataParallel(run.model, device_ids=devices)


def _checkpoint_bytes(run: Run) -> int:
    """A checkpoint's size, about: the weights, and the optimiser's state at up to twice theirs."""
    weights = sum(t.numel() * t.element_size() for t in run.model.state_dict().values())
    return 3 * weights


def _writing(path: Path, write: Callable[[], None]) -> None:
    """``write()``, with a full disk reported as such (the previous files stay intact)."""
    try:
        write()
    except OSError as error:
        full = no_space(path, error)
        if full is None:
            raise
        raise full from error


def _epoch(run: Run, epoch: int, progress: bool) -> dict[str, Any]:
    started = time.perf_counter()
    lr = float(run.optimizer.param_groups[0]["lr"])
    train_loss, train_metric, undefined = train_epoch(run, epoch, progress)
    if run.scheduler is not None:
        run.scheduler.step()
    validation = evaluate(run, run.data.validation)
    scored = split_scores(run, run.data.test)  # scored once for the trained metric and every report
    test = split_value(run.metric, scored)
    reported = {report.column: split_value(run.reported[report.label], scored) for report in run.task.reports}
    return {
        "epoch": epoch, "train_loss": train_loss, "train_metric": train_metric,
        "validation_metric": validation, "test_metric": test, "lr": lr,
        "seconds": round(time.perf_counter() - started, 3), "undefined_batches": undefined,
        **reported,
    }


class _Say:
    """Run messages on stderr, beside the progress bar; silent when progress is off."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(message, file=sys.stderr, flush=True)
