"""The live objects of one run, built from its configuration and seed alone.

A run is a pure function of its seed. Four random streams feed it, and the checkpoint keeps all
four: torch's global generator (model initialisation, dropout), a generator that shuffles the
batches, one for the task's augmentation, and one for UniLoss's anchors. Building them here, in a
fixed order, is what lets a resumed run end bit for bit where an uninterrupted one does. Under
several processes (``distributed.py``) the streams each process uses on its own data (the global
generator, augmentation) are seeded from (seed, rank); shuffling and anchors, which must agree
between processes, from the seed alone.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch

import metricloss as ml

from .config import RunConfig
from .distributed import Processes
from .task import Data, Task


@dataclass
class Run:
    """What the loop trains and a checkpoint saves and restores."""

    task: Task
    config: RunConfig
    data: Data
    device: torch.device
    metric: ml.Metric
    model: torch.nn.Module
    optimizer: torch.optim.Optimizer
    scheduler: Any
    loss_fn: ml.UniLoss | None
    generators: dict[str, torch.Generator]
    history: list[dict[str, Any]] = field(default_factory=list)
    processes: Processes = field(default_factory=Processes)
    trained: torch.nn.Module | None = None  # the model as the optimiser trains it: DDP's wrapper, or the model
    reported: dict[str, ml.Metric] = field(default_factory=dict)  # the task's further test metrics, by label

    # The generators each process keeps for itself; the others are the same on every process.
    OWN = ("augment",)


def build_run(task: Task, config: RunConfig, data: Data, processes: Processes | None = None) -> Run:
    """Everything a run needs, made deterministically from the seed.

    The returned run's config records UniLoss's parts (``RunConfig.uniloss``) when it trains with it.
    """
    device = torch.device(config.device)
    metric = ml.get_metric(config.metric)  # compiled before seeding: compiling never shifts the seed's stream
    reported = {report.label: ml.get_metric(report.metric, **report.params) for report in task.reports}
    torch.manual_seed(config.seed)
    model = task.model(data).to(device)
    optimizer = task.optimizer(model.parameters(), config.lr)
    scheduler = task.scheduler(optimizer, config.epochs) if task.scheduler is not None else None
    processes = processes or Processes()
    generators = {
        "shuffle": torch.Generator().manual_seed(config.seed),
        "augment": torch.Generator().manual_seed(config.seed + 1),
    }
    if processes.size > 1:  # the same weights everywhere (above); each process's own dropout and augmentation
        torch.manual_seed(processes.own_seed(config.seed, 0))
        generators["augment"] = torch.Generator().manual_seed(processes.own_seed(config.seed, 1))
    loss_fn = None
    if config.loss == "uniloss":
        generators["uniloss"] = torch.Generator(device=device).manual_seed(config.seed)
        # The loop owns the anchors' generator: it is part of the checkpoint.
        parts = {**task.settings_for(data, config.metric).uniloss, "generator": generators["uniloss"]}
        if config.margin is not None:
            parts["margin"] = config.margin
        if processes.size > 1:
            parts["gather"] = True  # the metric of the whole batch, on every process
        loss_fn = ml.UniLoss(metric, **parts)
        config = RunConfig(**{**asdict(config), "uniloss": loss_fn.extra_repr()})
    return Run(task, config, data, device, metric, model, optimizer, scheduler, loss_fn, generators,
               processes=processes, trained=model, reported=reported)
