"""One epoch of a reference training: its batches, one optimiser step on each, and their means.

``training_batches`` and ``train_step`` are the pieces ``train`` is made of, public so that a
loop of its own (``metricloss diagnose``'s short run, a study) trains exactly as ``train`` would:
the same batches from the same streams, the same step.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterator

import torch

from metricloss.errors import UndefinedBatchWarning
from metricloss.loss.gather import gather_batch

from .progress import Progress
from .run import Run
from .sampling import balanced_batches, parse_sampler, shuffled_batches
from .task import Split


def training_batches(run: Run) -> Iterator[torch.Tensor]:
    """The sample indices of one epoch's training batches, as ``train`` draws them (the run's
    sampler, from its shuffle stream): this process's share of each, a batch being ``batch_size``
    per process. A loop of its own (a short run, a study) steps through them with ``train_step``."""
    return (index for index, _ in _shares(run))


def _shares(run: Run) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(this process's share, the whole batch) of each batch. ``Split.batch(share, within=whole)``
    pads a ranking batch's lists to the whole batch's longest, so every process's scores have one
    width and UniLoss can gather them."""
    name, share = parse_sampler(run.config.sampler)
    processes = run.processes
    size = run.config.batch_size * processes.size
    if name == "balanced":
        batches = balanced_batches(run.data.train.targets[0], size, share, run.generators["shuffle"])
    else:
        batches = shuffled_batches(len(run.data.train), size, run.generators["shuffle"])
    if processes.size == 1:
        return ((index, index) for index in batches)
    return ((processes.shard(index), index) for index in batches if processes.keeps(index))


def train_step(run: Run, batch: Split, warming: bool = False) -> tuple[float, float, bool]:
    """One optimiser step of ``run`` on ``batch``, as ``train`` takes it: the task's augmentation,
    the loss (UniLoss, or the task's usual loss when the run has none or ``warming``: a warm-start
    epoch), backward and the optimiser. Returns the batch's loss, its exact metric (NaN when
    undefined; that of the whole batch of every process), and whether the loss was defined
    (UniLoss gives an undefined batch a zero loss; see ``UniLoss(undefined=)``)."""
    inputs = batch.inputs
    if run.task.augment is not None:
        inputs = run.task.augment(inputs, run.generators["augment"])
    inputs = inputs.to(run.device, non_blocking=True)
    targets = tuple(t.to(run.device, non_blocking=True) for t in batch.targets)
    output = run.trained(inputs)
    scale = 1.0
    if run.loss_fn is not None and not warming:
        loss = run.loss_fn(run.task.scores(output), *targets)  # gathers the whole batch (gather=True)
        value, defined = float(run.loss_fn.last.value), run.loss_fn.last.defined
        scale = run.processes.size  # DDP averages: see distributed.py
    else:
        loss = run.task.baseline(output, *targets)
        scores, everyone = gather_batch(run.task.scores(output.detach()), targets)
        value = float(run.metric(scores, *everyone))  # the whole batch's, as UniLoss reports it
        defined = not math.isnan(value)
    run.optimizer.zero_grad(set_to_none=True)
    (loss * scale if scale != 1 else loss).backward()
    run.optimizer.step()
    return float(loss.detach()), value, defined


def train_epoch(run: Run, epoch: int, progress: bool) -> tuple[float | None, float | None, int]:
    """One epoch of ``run``: every batch of the epoch through ``train_step`` (with the task's usual
    loss during a warm start), a progress bar when ``progress``. Returns the mean batch loss, the
    mean exact batch metric, and how many batches left the metric undefined.

    The train metric is the mean over batches (what the bar shows as the epoch runs), not the metric
    of the whole split: for AUC or AP the two differ, and the whole-split value would cost a second
    pass over the training data.
    """
    run.model.train()
    batches = list(_shares(run))
    losses: list[float] = []
    metrics: list[float] = []
    undefined = 0
    bar = Progress(len(batches), f"epoch {epoch}/{run.config.epochs}", enabled=progress)
    try:
        with warnings.catch_warnings():
            # Undefined batches are counted in the log, once per epoch, instead of being warned about.
            warnings.simplefilter("ignore", UndefinedBatchWarning)
            for index, whole in batches:
                loss, value, defined = train_step(run, run.data.train.batch(index, within=whole),
                                                  warming=epoch <= run.config.warm_start)
                losses.append(loss)
                undefined += not defined
                if not math.isnan(value):
                    metrics.append(value)
                running = _mean(metrics)
                bar.update(loss=_mean(losses),
                           **{run.config.metric: math.nan if running is None else running})
    finally:
        bar.close()
    mean_loss = _mean(losses)
    if run.processes.size > 1 and mean_loss is not None:  # the baseline's losses are each process's own
        mean_loss = run.processes.sum([mean_loss])[0] / run.processes.size
    return mean_loss, _mean(metrics), undefined


def _mean(values: list[float]) -> float | None:
    return math.fsum(values) / len(values) if values else None
