"""What a reference training task is: data, a model, the metric's scores, and the usual loss.

A task is a plain value made by a factory and registered as a ``task`` plugin. The training loop
(``metricloss.train.loop``) knows nothing task-specific: it draws batches from ``Data``, runs
``model``, turns the output into the metric's scores with ``scores``, and trains either with
``UniLoss(metric)`` or with ``baseline``. Keeping every task-specific choice in this one value is
what lets one loop, one checkpoint format and one comparison serve all the paper's experiments.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import metricloss as ml
from metricloss.contracts import factory_of
from metricloss.errors import InputError
from metricloss.registry import REGISTRY, Kind

# What a task plugin's factory must return at least; ``Task`` has them all.
TASK_FIELDS = ("name", "metrics", "settings", "load", "model", "scores", "baseline", "optimizer")


@dataclass(frozen=True)
class Split:
    """One part of a data set: model inputs and the metric's targets, row-aligned.

    ``inputs`` is a tensor, or an object indexed like one (``shape``, ``len``, and ``[index]`` with a
    slice or an index tensor giving a tensor) for sets too large to hold decoded: MPII's person
    crops are decoded from their JPEGs batch by batch (``metricloss.train.datasets.mpii.PersonCrops``).
    """

    inputs: torch.Tensor
    targets: tuple[torch.Tensor, ...]  # what the metric takes after the scores

    def __len__(self) -> int:
        return self.inputs.shape[0]

    def batch(self, index: torch.Tensor, within: torch.Tensor | None = None) -> Split:
        """The rows at ``index``. ``within``: the whole batch that ``index`` is one process's share of,
        under several processes; a split whose rows are padded to one width when read (a ranking
        split) pads to the longest in it, so every share has one width. Other splits ignore it."""
        return Split(self.inputs[index], tuple(t[index] for t in self.targets))


@dataclass(frozen=True)
class Data:
    """What a task's ``load`` returns: three splits, where they come from (said in every output),
    and defaults for this data when they differ from the task's."""

    train: Split
    validation: Split
    test: Split
    source: str  # said in every output: "scikit-learn digits (bundled, 8x8)", "MNIST IDX files in DIR", ...
    synthetic: bool = False
    # Defaults for this data when they differ from the task's (the paper's): the bundled digits and
    # the synthetic pose set are small, and train in about a minute on a CPU. See Task.settings_for.
    settings: Settings | None = None


@dataclass(frozen=True)
class Settings:
    """A task's default hyper-parameters, overridable from the CLI.

    A task's own ``settings`` are the paper's for its real data set; the bundled and synthetic data
    carry smaller ones (``Data.settings``). ``per_metric`` changes some of them for one metric the
    task trains (``{"mrr": {"uniloss_lr": 3e-3}}``); ``Task.settings_for(data, metric)`` applies
    it. docs/results.md gives each task's and what they reach.
    """

    epochs: int
    batch_size: int
    lr: float
    uniloss: dict[str, Any] = field(default_factory=dict)  # keyword arguments for UniLoss
    uniloss_epochs: int | None = None  # a longer schedule for UniLoss (CIFAR-100: 5x)
    uniloss_lr: float | None = None  # UniLoss's own lr, where validation chose another than the usual loss's
    sampler: str = "shuffle"  # "shuffle", or "balanced[:SHARE]" for rare positives (sampling.py)
    warm_start: int = 0  # UniLoss runs: epochs with the usual loss before UniLoss takes over
    # keyword arguments for the task's network: the paper's on the real data, a smaller one (or
    # fewer classes) on the bundled and synthetic data. Task.model reads those of settings_for(data).
    model: dict[str, Any] = field(default_factory=dict)
    # Fields that differ when a run trains one of the task's metrics, by the metric's name: a field
    # named here replaces the one above whole (a ``uniloss`` dict is not merged into the other).
    # UniLoss of MRR on the generated ranking set wants a sharper interpolator than NDCG@10 does.
    per_metric: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # A task author's typo would otherwise surface only when someone trains that metric.
        own = {item.name for item in dataclasses.fields(self)} - {"per_metric"}
        for metric, changed in self.per_metric.items():
            unknown = sorted(set(changed) - own) if isinstance(changed, dict) else None
            if unknown is None or unknown:
                raise InputError(
                    f"Settings(per_metric={{{metric!r}: ...}}) must map a metric's name to a dict of Settings "
                    f"fields, got {changed!r}" + (f" with {', '.join(unknown)}, which are not fields" if unknown else "")
                    + f"; the fields are {', '.join(sorted(own))}")


@dataclass(frozen=True)
class Report:
    """A test metric a task reports after every epoch beside the metric it trains (``Task.reports``).

    Learning to rank is judged on several cut-offs at once (NDCG@1, @5, @10, MRR): the logs get a
    column ``test_LABEL`` per report, and ``metricloss compare`` a column per report in its table.
    """

    label: str  # how logs and tables name it: "NDCG@10"
    metric: str  # a registered metric
    params: dict[str, Any] = field(default_factory=dict)  # bound by name: {"k": 10}

    @property
    def column(self) -> str:
        return f"test_{self.label}"


@dataclass(frozen=True)
class Task:
    """A reference training: every task-specific choice in one value (data, model, how the model's
    output becomes the metric's scores, the usual loss, optimiser and schedule), so that one loop,
    one checkpoint format and one comparison serve every task. A task plugin's factory returns one.
    """

    name: str
    description: str
    metrics: tuple[str, ...]  # the first is the default
    settings: Settings
    load: Callable[[Path | None, int], Data]  # (data_dir or None, seed) -> Data
    model: Callable[[Data], torch.nn.Module]
    scores: Callable[[torch.Tensor], torch.Tensor]  # network output -> the metric's scores
    baseline: Callable[..., torch.Tensor]  # (network output, *targets) -> the usual loss
    optimizer: Callable[[Any, float], torch.optim.Optimizer]  # (parameters, lr)
    scheduler: Callable[[torch.optim.Optimizer, int], Any] | None = None  # (optimizer, epochs)
    augment: Callable[[torch.Tensor, torch.Generator], torch.Tensor] | None = None
    score_scale: str = ""  # how scores meet the relaxation (raw logits and tau, or a sigmoid)
    reports: tuple[Report, ...] = ()  # further test metrics logged every epoch and shown by compare

    def settings_for(self, data: Data, metric: str | None = None) -> Settings:
        """The defaults a run on ``data`` starts from: the data's own, else the task's (the paper's),
        with those its ``per_metric`` gives for ``metric`` (a metric's name) in their place."""
        settings = data.settings if data.settings is not None else self.settings
        changed = settings.per_metric.get(metric) if metric is not None else None
        return dataclasses.replace(settings, **changed) if changed else settings


def get_task(task: Task | str) -> Task:
    """A task value, or the registered task plugin of that name made with its defaults."""
    if isinstance(task, Task):
        return task
    made = ml.get_plugin("task", task)()
    if not isinstance(made, Task):
        raise InputError(
            f"the task plugin {task!r} returned a {type(made).__name__}, not a "
            "metricloss.train.task.Task; a task factory must return a Task"
        )
    return made


def step_schedule(fractions: Sequence[float], gamma: float) -> Callable[[torch.optim.Optimizer, int], Any]:
    """A ``Task.scheduler``: the lr times ``gamma`` at each of ``fractions`` of the epochs.

    The paper states its schedules for its epoch counts (CIFAR: / 10 at 140 and 160 of 200); as
    fractions they carry over to the shorter runs on the bundled and synthetic data. A milestone is
    never before epoch 1, and two fractions that round to one epoch decay there once.
    """

    def scheduler(optimizer: torch.optim.Optimizer, epochs: int) -> torch.optim.lr_scheduler.MultiStepLR:
        milestones = sorted({max(1, round(fraction * epochs)) for fraction in fractions})
        return torch.optim.lr_scheduler.MultiStepLR(optimizer, milestones, gamma=gamma)

    return scheduler


REGISTRY.declare(Kind("task", "metricloss.tasks", factory_of(fields=TASK_FIELDS)))
