"""The reference trainings: one loop for every task, with the task's usual loss or with UniLoss.

``train(task, loss="uniloss")`` loads the task's data, builds its model and optimiser, and for each
epoch: trains on shuffled batches (a progress bar shows the loss and the running metric), computes
the exact metric on the validation and test splits, and writes to ``out``:

- ``metrics.jsonl`` and ``metrics.csv``: one row per epoch (``COLUMNS``);
- ``curves.png``: the training loss, and the train and validation metric, by epoch (redrawn after
  the last epoch, and before it at most every ``CURVES_EVERY`` seconds: drawing costs about half
  a second, as much as a whole epoch of a small task);
- ``checkpoint.pt``: everything needed to continue exactly (``resume=True``);
- ``config.json``: what was run (task, loss, metric, hyper-parameters, data source).

A run is a pure function of its seed. Four random streams feed it, and all four are checkpointed:
torch's global generator (model initialisation, dropout), a generator that shuffles the batches, one
for the task's augmentation, and one for UniLoss's anchors. So a run stopped after epoch ``k`` and
resumed ends with the same weights, bit for bit, as one that was never stopped (on one device; the
GPU's non-deterministic kernels are outside this promise).

What the loop assumes of a task (``metricloss.tasks.base.Task``): ``task.scheduler`` is stepped once
per epoch; ``task.augment(inputs, generator)`` gets the batch on the CPU, before it moves to the
training device, with a CPU generator; the validation and test metric is computed once over the
whole split (AUC and AP are not means of batch values), from scores gathered batch by batch.

Checkpoints hold only tensors and plain containers, are read with ``torch.load(weights_only=True)``,
and are written to a temporary file that replaces the old one in a single ``os.replace``: a run
killed at any moment leaves the previous epoch's checkpoint intact.
"""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import math
import os
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from .errors import InputError, MetricLossError, MetricLossWarning
from .loss import UniLoss
from .metric import Metric, get_metric
from .plugins import get_plugin
from .progress import Progress
from .tasks.base import Data, Split, Task

LOSSES = ("uniloss", "baseline")
DEVICES = ("auto", "cpu", "cuda")
COLUMNS = ("epoch", "train_loss", "train_metric", "validation_metric", "test_metric", "lr", "seconds",
           "undefined_batches")
CHECKPOINT = "checkpoint.pt"
METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
CURVES = "curves.png"
CONFIG = "config.json"
CURVES_EVERY = 10.0  # seconds between redraws of curves.png while a run goes on
_FORMAT = 1  # of the checkpoint; bumped when its layout changes
_EVALUATION_BATCHES = 4  # evaluation batches are this many training batches (no gradients kept)


@dataclass(frozen=True)
class RunConfig:
    """What a run is. The fields in ``RESUMABLE`` must agree for a checkpoint to be continued."""

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

    # epochs may grow (train a finished run further); the data source is the user's to change.
    RESUMABLE = ("task", "loss", "metric", "batch_size", "lr", "seed", "device")


@dataclass(frozen=True)
class RunResult:
    """A finished run: its configuration, one row per epoch (``COLUMNS``), and the trained model."""

    config: RunConfig
    history: tuple[dict[str, Any], ...]
    out: Path
    resumed_from: int = 0  # the epoch the run continued from; 0 when it started afresh
    model: torch.nn.Module | None = field(default=None, repr=False, compare=False)

    @property
    def test_metric(self) -> float | None:
        """The exact test metric after the last epoch (None when undefined on the test split)."""
        return self.history[-1]["test_metric"] if self.history else None

    @property
    def validation_metric(self) -> float | None:
        return self.history[-1]["validation_metric"] if self.history else None

    @property
    def checkpoint(self) -> Path:
        return self.out / CHECKPOINT

    @property
    def curves(self) -> Path:
        return self.out / CURVES


@dataclass
class _Run:
    """The live objects of one run; ``_state`` and ``_restore`` convert them to and from a checkpoint."""

    task: Task
    config: RunConfig
    data: Data
    device: torch.device
    metric: Metric
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    loss_fn: UniLoss | None
    generators: dict[str, torch.Generator]
    history: list[dict[str, Any]] = field(default_factory=list)


def default_out(task: str, loss: str, seed: int) -> Path:
    """Where a run writes when no ``out`` is given: ``runs/TASK-LOSS-seedN``."""
    return Path("runs") / f"{task}-{loss}-seed{seed}"


def get_task(task: Task | str) -> Task:
    """A task value, or the registered task plugin of that name made with its defaults."""
    if isinstance(task, Task):
        return task
    made = get_plugin("task", task)()
    if not isinstance(made, Task):
        raise InputError(
            f"the task plugin {task!r} returned a {type(made).__name__}, not a "
            "metricloss.tasks.base.Task; a task factory must return a Task"
        )
    return made


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
    resume: bool = False,
    progress: bool = True,
    on_epoch: Callable[[dict[str, Any]], None] | None = None,
) -> RunResult:
    """Train ``task``'s model with ``loss`` ("uniloss" or "baseline") and log every epoch to ``out``.

    Unset hyper-parameters come from ``task.settings_for(data)``: the data's own defaults (the
    bundled digits, the synthetic pose set), else the task's (the paper's); UniLoss uses
    ``settings.uniloss_epochs`` when they set a longer schedule for it. ``resume=True`` continues
    from ``out``'s checkpoint when there is one; without it, an existing checkpoint is an error
    rather than silently overwritten. ``on_epoch`` is called with each epoch's row once its checkpoint is on disk.
    """
    task = get_task(task)
    _require_matplotlib()
    out = Path(out) if out is not None else default_out(task.name, loss, seed)
    if not resume and (out / CHECKPOINT).exists():
        raise InputError(
            f"{out / CHECKPOINT} already holds a checkpoint of a run. Pass resume=True (--resume) to "
            "continue it, choose another out directory (--out), or delete it to start afresh."
        )
    data = task.load(Path(data_dir) if data_dir is not None else None, seed)
    config = _config(task, data, loss=loss, metric=metric, epochs=epochs, batch_size=batch_size,
                     lr=lr, device=_device(device), seed=seed)
    run = _build(task, config, data)
    start = _resume(run, out / CHECKPOINT) if resume else 0
    out.mkdir(parents=True, exist_ok=True)
    write_json(out / CONFIG, asdict(run.config))
    say = _Say(progress)
    if start:
        _write_logs(out, run.history)  # drops any row of an epoch that died before its checkpoint
        say(f"resuming {out / CHECKPOINT} after epoch {start}/{run.config.epochs}")
    else:
        say(f"training {config.task} with {_loss_name(config)} on {config.data_source}"
            f"{' (synthetic)' if config.synthetic else ''}; writing to {out}")
    drawn = -math.inf
    for epoch in range(start + 1, run.config.epochs + 1):
        row = _epoch(run, epoch, progress)
        run.history.append(row)
        _write_logs(out, run.history)
        if epoch == run.config.epochs or time.monotonic() - drawn >= CURVES_EVERY:
            _plot_curves(out / CURVES, run.history, run.config)
            drawn = time.monotonic()
        _save_checkpoint(out / CHECKPOINT, _state(run, epoch))
        say(_summary(row, run.config))
        if on_epoch is not None:
            on_epoch(row)
    return RunResult(config=run.config, history=tuple(run.history), out=out, resumed_from=start,
                     model=run.model)


# ---- configuration ---------------------------------------------------------------------------


def _config(task: Task, data: Data, *, loss, metric, epochs, batch_size, lr, device, seed) -> RunConfig:
    if loss not in LOSSES:
        raise InputError(f"loss must be one of {', '.join(LOSSES)}, got {loss!r}")
    settings = task.settings_for(data)  # the data's defaults (bundled digits, synthetic pose) first
    if epochs is None:
        epochs = settings.uniloss_epochs if loss == "uniloss" and settings.uniloss_epochs else settings.epochs
    for name, value in (("epochs", epochs), ("batch_size", batch_size)):
        if value is not None and value < 1:
            raise InputError(f"{name} must be at least 1, got {value}")
    if lr is not None and not (math.isfinite(lr) and lr > 0):
        raise InputError(f"lr must be a positive number, got {lr}")
    if metric is not None and not isinstance(metric, str):
        raise InputError(
            f"metric must be a registered metric's name (a checkpoint records it by name), got "
            f"{type(metric).__name__}; @metricloss.metric registers yours under its function's name"
        )
    name = metric or task.metrics[0]
    return RunConfig(
        task=task.name, loss=loss, metric=name, epochs=int(epochs),
        batch_size=int(batch_size if batch_size is not None else settings.batch_size),
        lr=float(lr if lr is not None else settings.lr), seed=int(seed),
        device=device.type, data_source=data.source, synthetic=bool(data.synthetic),
    )


def _device(device: str) -> torch.device:
    if device not in DEVICES:
        raise InputError(f"device must be one of {', '.join(DEVICES)}, got {device!r}")
    if device == "cuda" and not torch.cuda.is_available():
        raise InputError("device 'cuda' was asked for but torch sees no CUDA device; use --device cpu")
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(device)


def _require_matplotlib() -> None:
    """Fail before the first epoch, not after it, when the curves cannot be drawn."""
    if importlib.util.find_spec("matplotlib") is None:
        raise MetricLossError(
            "training writes its curves with matplotlib, which is not installed: "
            "pip install 'metricloss[train]'"
        )


def _loss_name(config: RunConfig) -> str:
    return f"UniLoss({config.metric})" if config.loss == "uniloss" else "the baseline loss"


# ---- building a run --------------------------------------------------------------------------


def _build(task: Task, config: RunConfig, data: Data) -> _Run:
    """Everything a run needs, made deterministically from the seed."""
    device = torch.device(config.device)
    metric = get_metric(config.metric)  # compiled before seeding: compiling never shifts the seed's stream
    torch.manual_seed(config.seed)
    model = task.model(data).to(device)
    optimizer = task.optimizer(model.parameters(), config.lr)
    scheduler = task.scheduler(optimizer, config.epochs) if task.scheduler is not None else None
    generators = {
        "shuffle": torch.Generator().manual_seed(config.seed),
        "augment": torch.Generator().manual_seed(config.seed + 1),
    }
    loss_fn = None
    if config.loss == "uniloss":
        generators["uniloss"] = torch.Generator(device=device).manual_seed(config.seed)
        # The loop owns the anchors' generator: it is part of the checkpoint.
        parts = {**task.settings_for(data).uniloss, "generator": generators["uniloss"]}
        loss_fn = UniLoss(metric, **parts)
        config = RunConfig(**{**asdict(config), "uniloss": loss_fn.extra_repr()})
    return _Run(task, config, data, device, metric, model, optimizer, scheduler, loss_fn, generators)


# ---- one epoch -------------------------------------------------------------------------------


def _epoch(run: _Run, epoch: int, progress: bool) -> dict[str, Any]:
    started = time.perf_counter()
    lr = float(run.optimizer.param_groups[0]["lr"])
    train_loss, train_metric, undefined = _train_epoch(run, epoch, progress)
    if run.scheduler is not None:
        run.scheduler.step()
    validation = _evaluate(run, run.data.validation)
    test = _evaluate(run, run.data.test)
    return {
        "epoch": epoch, "train_loss": train_loss, "train_metric": train_metric,
        "validation_metric": validation, "test_metric": test, "lr": lr,
        "seconds": round(time.perf_counter() - started, 3), "undefined_batches": undefined,
    }


def _train_epoch(run: _Run, epoch: int, progress: bool) -> tuple[float | None, float | None, int]:
    """Mean batch loss, mean exact batch metric, and how many batches left the metric undefined.

    The train metric is the mean over batches (what the bar shows as the epoch runs), not the metric
    of the whole split: for AUC or AP the two differ, and the whole-split value would cost a second
    pass over the training data.
    """
    run.model.train()
    batches = list(_batches(len(run.data.train), run.config.batch_size, run.generators["shuffle"]))
    losses: list[float] = []
    metrics: list[float] = []
    undefined = 0
    bar = Progress(len(batches), f"epoch {epoch}/{run.config.epochs}", enabled=progress)
    try:
        with warnings.catch_warnings():
            # Undefined batches are counted in the log, once per epoch, instead of being warned about.
            warnings.filterwarnings("ignore", message=r"metric `.*` is undefined on a batch",
                                    category=MetricLossWarning)
            for index in batches:
                loss, value, defined = _step(run, run.data.train.batch(index))
                losses.append(loss)
                undefined += not defined
                if not math.isnan(value):
                    metrics.append(value)
                running = _mean(metrics)
                bar.update(loss=_mean(losses),
                           **{run.config.metric: math.nan if running is None else running})
    finally:
        bar.close()
    return _mean(losses), _mean(metrics), undefined


def _batches(size: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Shuffled batches of indices. A last batch of one sample is dropped: it breaks batch norm
    and holds no pair for a pairwise metric."""
    for index in torch.randperm(size, generator=generator).split(batch_size):
        if len(index) > 1 or size == 1:
            yield index


def _step(run: _Run, batch: Split) -> tuple[float, float, bool]:
    """One optimiser step: the batch's loss, its exact metric (NaN when undefined), and whether the
    loss was defined (UniLoss gives an undefined batch a zero loss; see ``UniLoss(undefined=)``)."""
    inputs = batch.inputs
    if run.task.augment is not None:
        inputs = run.task.augment(inputs, run.generators["augment"])
    inputs = inputs.to(run.device, non_blocking=True)
    targets = tuple(t.to(run.device, non_blocking=True) for t in batch.targets)
    output = run.model(inputs)
    if run.loss_fn is not None:
        loss = run.loss_fn(run.task.scores(output), *targets)
        value, defined = float(run.loss_fn.last.value), run.loss_fn.last.defined
    else:
        loss = run.task.baseline(output, *targets)
        value = float(run.metric(run.task.scores(output.detach()), *targets))
        defined = not math.isnan(value)
    run.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    run.optimizer.step()
    return float(loss.detach()), value, defined


def _evaluate(run: _Run, split: Split) -> float | None:
    """The exact metric over the whole split (not a mean over batches: AUC and AP are not means).

    The model runs in batches without gradients; its scores are gathered and the metric computed
    once. None when the metric is undefined on the split.
    """
    if len(split) == 0:
        return None
    run.model.eval()
    size = run.config.batch_size * _EVALUATION_BATCHES
    with torch.no_grad():
        scores = torch.cat([
            run.task.scores(run.model(split.inputs[start:start + size].to(run.device)))
            for start in range(0, len(split), size)
        ])
        targets = tuple(t.to(run.device) for t in split.targets)
        value = float(run.metric(scores, *targets))
    return None if math.isnan(value) else value


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None


# ---- logs and curves -------------------------------------------------------------------------


def _write_logs(out: Path, history: list[dict[str, Any]]) -> None:
    """Both logs, rewritten whole from the history each epoch.

    The same as appending a row, but a log never holds half a line, and after a resume it holds
    exactly the checkpoint's epochs (none from a run that died between its log and its checkpoint).
    """
    lines = (json.dumps({k: row[k] for k in COLUMNS}) + "\n" for row in history)
    write_text(out / METRICS_JSONL, "".join(lines))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: "" if row[k] is None else row[k] for k in COLUMNS})
    write_text(out / METRICS_CSV, text.getvalue())


def _plot_curves(path: Path, history: list[dict[str, Any]], config: RunConfig) -> None:
    """Training loss on the left; train (batch mean) and validation metric on the right."""
    from matplotlib.figure import Figure  # no pyplot: the user's backend is left alone

    epochs = [row["epoch"] for row in history]
    figure = Figure(figsize=(10, 4), layout="constrained")
    loss_axes, metric_axes = figure.subplots(1, 2)
    loss_axes.plot(epochs, _nan(history, "train_loss"), marker=".", color="tab:gray")
    loss_axes.set(xlabel="epoch", ylabel="training loss", title=_loss_name(config))
    metric_axes.plot(epochs, _nan(history, "train_metric"), marker=".", label="train (batch mean)")
    metric_axes.plot(epochs, _nan(history, "validation_metric"), marker=".", label="validation")
    metric_axes.set(xlabel="epoch", ylabel=config.metric, title=f"{config.task}, seed {config.seed}")
    metric_axes.legend()
    for axes in (loss_axes, metric_axes):
        style_epoch_axes(axes)
    save_figure(figure, path)


def style_epoch_axes(axes) -> None:
    """Whole epochs on the x axis, and a light grid."""
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)


def save_figure(figure, path: Path) -> None:
    """A PNG written to a temporary file and moved into place, so a reader never sees half of it."""
    with _temporary(path) as temporary:
        figure.savefig(temporary, format="png", dpi=100)
        os.replace(temporary, path)


def _nan(history: list[dict[str, Any]], column: str) -> list[float]:
    return [math.nan if row[column] is None else row[column] for row in history]


def _summary(row: dict[str, Any], config: RunConfig) -> str:
    def number(value):
        return "undefined" if value is None else f"{value:.4f}"

    undefined = f"  ({row['undefined_batches']} undefined batches)" if row["undefined_batches"] else ""
    return (f"epoch {row['epoch']}/{config.epochs}  loss {number(row['train_loss'])}  "
            f"{config.metric}: train {number(row['train_metric'])}  "
            f"validation {number(row['validation_metric'])}  test {number(row['test_metric'])}  "
            f"lr {row['lr']:.3g}  {row['seconds']:.1f}s{undefined}")


class _Say:
    """Run messages on stderr, beside the progress bar; silent when progress is off."""

    def __init__(self, enabled: bool):
        self.enabled = enabled

    def __call__(self, message: str) -> None:
        if self.enabled:
            print(message, file=sys.stderr, flush=True)


# ---- checkpoints -----------------------------------------------------------------------------


def _state(run: _Run, epoch: int) -> dict[str, Any]:
    """The checkpoint: tensors and plain containers only, so ``weights_only=True`` can read it."""
    return {
        "format": _FORMAT,
        "config": asdict(run.config),
        "epoch": epoch,
        "model": run.model.state_dict(),
        "optimizer": run.optimizer.state_dict(),
        "scheduler": _plain(run.scheduler.state_dict()) if run.scheduler is not None else None,
        "rng": {
            "torch": torch.get_rng_state(),
            # the training device's only: a resumed run may see another number of GPUs
            "cuda": torch.cuda.get_rng_state(run.device) if run.device.type == "cuda" else None,
            **{name: generator.get_state() for name, generator in run.generators.items()},
        },
        "history": list(run.history),
    }


def _resume(run: _Run, path: Path) -> int:
    """The checkpoint's epoch, with the run restored to it; 0 when there is no checkpoint yet
    (so one command, with ``--resume``, both starts a run and continues it after a kill)."""
    if not path.exists():
        return 0
    state = load_checkpoint(path)
    _check_compatible(path, state, run)
    if state["epoch"] > run.config.epochs:
        raise InputError(
            f"{path} is already at epoch {state['epoch']}, past the {run.config.epochs} epochs asked "
            f"for; ask for at least {state['epoch']} epochs, or choose another out directory"
        )
    _restore(run, state)
    return state["epoch"]


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    """A checkpoint written by ``train``, read with ``torch.load(weights_only=True)``."""
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:  # unpickling raises many types; all mean the same to the user
        # torch's own message suggests weights_only=False, which is never the fix here; the
        # chained exception keeps the detail.
        raise InputError(
            f"cannot read the checkpoint {path} ({type(error).__name__}): it is damaged or was not "
            "written by metricloss's training; delete it (or choose another out directory) to start "
            "afresh."
        ) from error
    if not isinstance(state, dict) or state.get("format") != _FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise InputError(
            f"{path} is not a metricloss training checkpoint of format {_FORMAT} (found {found!r}); "
            "delete it or choose another out directory to start afresh"
        )
    return state


def _check_compatible(path: Path, state: dict[str, Any], run: _Run) -> None:
    """A checkpoint continues only the run that wrote it: same task, loss, metric, model, ..."""
    saved = state["config"]
    differences = [
        f"{key} {saved.get(key)!r} there, {getattr(run.config, key)!r} here"
        for key in RunConfig.RESUMABLE if saved.get(key) != getattr(run.config, key)
    ]
    differences += _shape_differences(state["model"], run.model.state_dict())
    if differences:
        raise InputError(
            f"cannot resume from {path}: it was written by a different run ({'; '.join(differences)}). "
            "Resume with the run's own settings, or choose another out directory (--out) to start afresh."
        )


def _shape_differences(saved: dict[str, torch.Tensor], current: dict[str, torch.Tensor]) -> list[str]:
    missing = [k for k in current if k not in saved]
    extra = [k for k in saved if k not in current]
    reshaped = [k for k in current if k in saved and saved[k].shape != current[k].shape]
    found = []
    if missing:
        found.append(f"model parameters {_few(missing)} are not in the checkpoint")
    if extra:
        found.append(f"the checkpoint has model parameters {_few(extra)} that this model lacks")
    for key in reshaped[:3]:
        found.append(f"model parameter {key!r} is {list(saved[key].shape)} there, "
                     f"{list(current[key].shape)} here")
    return found


def _few(names: list[str]) -> str:
    shown = ", ".join(repr(n) for n in names[:3])
    return shown + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def _restore(run: _Run, state: dict[str, Any]) -> None:
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    if run.scheduler is not None and state["scheduler"] is not None:
        run.scheduler.load_state_dict(_retyped(run.scheduler.state_dict(), state["scheduler"]))
    rng = state["rng"]
    torch.set_rng_state(rng["torch"])
    if run.device.type == "cuda" and rng["cuda"] is not None:
        torch.cuda.set_rng_state(rng["cuda"], run.device)
    for name, generator in run.generators.items():
        generator.set_state(rng[name])
    run.history = list(state["history"])


def _plain(value: Any) -> Any:
    """Counters (MultiStepLR's milestones) as dicts: older torch's weights-only reader refuses them."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _retyped(fresh: Any, loaded: Any) -> Any:
    """``loaded`` with dicts turned back into Counters wherever a freshly built scheduler has one
    (a plain dict would raise KeyError for epochs that are not milestones)."""
    if isinstance(fresh, Counter) and isinstance(loaded, dict):
        return Counter(loaded)
    if isinstance(fresh, dict) and isinstance(loaded, dict):
        return {k: _retyped(fresh.get(k), v) for k, v in loaded.items()}
    if isinstance(fresh, list) and isinstance(loaded, list) and len(fresh) == len(loaded):
        return [_retyped(f, v) for f, v in zip(fresh, loaded)]
    return loaded


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """``torch.save`` to a temporary file beside ``path``, then ``os.replace``: atomic on one disk."""
    with _temporary(path) as temporary:
        torch.save(state, temporary)
        os.replace(temporary, path)


class _temporary:
    """A temporary file name beside ``path`` (same disk, so ``os.replace`` is atomic), removed on
    exit if it was not moved into place. Not ``mkstemp``: its 0600 mode would stick to the logs."""

    def __init__(self, path: Path):
        self.name = str(path.with_name(f".{path.name}.{os.getpid()}.tmp"))

    def __enter__(self) -> str:
        return self.name

    def __exit__(self, *exc) -> None:
        if os.path.exists(self.name):
            os.remove(self.name)


def write_text(path: Path, text: str) -> None:
    """``text`` written to a temporary file and moved into place: a reader never sees half a file."""
    with _temporary(path) as temporary:
        Path(temporary).write_text(text, encoding="utf-8")
        os.replace(temporary, path)


def write_json(path: Path, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2) + "\n")

