"""A short training run of a reference task with UniLoss, keeping the batches it met along the way.

The run is built by the reference trainings' own pieces (``train.config.run_config``,
``train.run.build_run``, ``train.steps.training_batches`` and ``train_step``), so it is the first
steps of what ``metricloss train TASK`` would do: the same data, model, optimiser, batch sampler and order,
and anchors for a seed. The one difference is the loss's parts, which the diagnosis sets (a temperature, anchor
counts); the parts it leaves unset are the task's (``Task.settings_for(data).uniloss``), else
UniLoss's defaults.

At ``collect`` steps spread evenly over the run (the first and the last among them), a forward
pre-hook on the loss keeps a detached copy of the scores and targets that step trains on; the
measurement (``tracking``) runs on them afterwards, from its own generator, so it never changes
the run.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import metricloss as ml
from metricloss.errors import InputError, UndefinedBatchWarning

COLLECT = 8  # steps whose batches are kept


@dataclass(frozen=True)
class ShortRun:
    """What a short run met: the kept batches, the steps they come from, the loss it trained with."""

    task: str
    metric: str
    steps: int
    collected_steps: tuple[int, ...]  # 1-based step numbers of ``batches``
    batches: tuple[tuple[torch.Tensor, ...], ...] = field(repr=False)  # (scores, *targets), detached
    loss_fn: ml.UniLoss = field(repr=False)
    data_source: str = ""
    device: str = "cpu"
    batch_size: int = 0
    lr: float = 0.0
    sampler: str = "shuffle"
    schedule_epochs: int = 0  # the length of the run whose learning-rate schedule the short run follows
    train_metric: float = math.nan  # mean exact batch metric over the last tenth of the steps


def short_run(
    task: Any = "binary",
    *,
    metric: str | ml.Metric | None = None,
    parts: dict[str, Any] | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    seed: int = 0,
    device: str = "auto",
    data_dir: str | Path | None = None,
    collect: int = COLLECT,
    sampler: str | None = None,
    data: Any = None,
) -> ShortRun:
    """Train ``task``'s model with ``UniLoss(metric, **parts)`` for ``steps`` steps (or ``epochs``
    epochs) and keep the batches of ``collect`` evenly spread steps. ``sampler``: how batches are
    drawn, as ``metricloss train --sampler`` takes it (unset, the task's). ``data``: the task's
    data, already loaded with this seed (several runs of one diagnosis share it)."""
    from metricloss.train.config import resolve_device, run_config
    from metricloss.train.run import build_run
    from metricloss.train.steps import train_step, training_batches
    from metricloss.train.task import get_task

    check_length(steps, epochs)
    if not isinstance(collect, int) or isinstance(collect, bool) or collect < 1:
        raise InputError(f"collect must be a positive int (training steps whose batches are measured), got {collect!r}")
    task = get_task(task)
    chosen = ml.get_metric(metric if metric is not None else task.metrics[0])
    if data is None:
        data = task.load(Path(data_dir) if data_dir is not None else None, seed)
    # A metric given as a value is not recorded by name in the config: the run is built with the
    # task's metric and trains and reports ``chosen`` instead.
    named = metric if isinstance(metric, str) else None
    # With steps, the run is the first steps of the task's default schedule (its learning-rate
    # milestones where that run has them); with epochs, of a run of that many epochs.
    config = run_config(task, data, loss="uniloss", metric=named, epochs=epochs, batch_size=batch_size,
                        lr=lr, device=resolve_device(device), seed=seed, sampler=sampler,
                        warm_start=0)  # UniLoss from the first step: its tracking is what is measured
    run = build_run(task, config, data)
    given = {name: value for name, value in (parts or {}).items() if value is not None}
    task_parts = task.settings_for(data, chosen.name).uniloss
    run.metric = chosen
    run.loss_fn = ml.UniLoss(chosen, **{**task_parts, **given, "generator": run.generators["uniloss"]})

    shuffle = run.generators["shuffle"]
    state = shuffle.get_state()  # counting an epoch's batches must not move the run's stream
    per_epoch = sum(1 for _ in training_batches(run))
    shuffle.set_state(state)
    if per_epoch == 0:
        raise InputError(f"task {task.name}'s training split has no batch of two or more samples")
    total = steps if steps is not None else epochs * per_epoch
    count = min(collect, total)  # spread at least a step apart, so rounding keeps them distinct
    wanted = sorted({round(1 + i * (total - 1) / max(count - 1, 1)) for i in range(count)})
    kept: list[tuple[torch.Tensor, ...]] = []
    counter = {"step": 0}

    def keep(module, args):
        counter["step"] += 1
        if counter["step"] in wanted:
            kept.append(tuple(a.detach().clone() for a in args))

    values: list[float] = []
    hook = run.loss_fn.register_forward_pre_hook(keep)
    run.model.train()
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UndefinedBatchWarning)  # counted by the loss instead
            while counter["step"] < total:
                for index in training_batches(run):
                    _, value, _ = train_step(run, run.data.train.batch(index))
                    values.append(value)
                    if counter["step"] >= total:
                        break
                else:  # a whole epoch: the loop steps the scheduler once per epoch
                    if run.scheduler is not None:
                        run.scheduler.step()
    finally:
        hook.remove()
    tail = [v for v in values[-max(1, len(values) // 10):] if not math.isnan(v)]
    return ShortRun(
        task=task.name, metric=chosen.name, steps=total, collected_steps=tuple(wanted), batches=tuple(kept),
        loss_fn=run.loss_fn, data_source=data.source, device=run.config.device,
        batch_size=run.config.batch_size, lr=run.config.lr, sampler=run.config.sampler,
        schedule_epochs=run.config.epochs,
        train_metric=math.fsum(tail) / len(tail) if tail else math.nan,
    )


def check_length(steps: int | None, epochs: int | None) -> None:
    """One of ``steps`` and ``epochs``, a positive int."""
    if steps is not None and epochs is not None:
        raise InputError("give the short run's length as steps or as epochs, not both")
    if steps is None and epochs is None:
        raise InputError("give the short run's length: steps (--steps) or epochs (--epochs)")
    for name, value in (("steps", steps), ("epochs", epochs)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
            raise InputError(f"{name} must be a positive whole number, got {value!r}: the short run needs at "
                             "least one training step to meet a configuration")
