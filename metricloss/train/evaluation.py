"""The exact metric of a trained model over a whole split, as the reference trainings report it.

AUC and AP are not means over batches: the model scores the split in batches without gradients,
every process its share, and the metric is computed once over the gathered scores.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch

from metricloss.loss.gather import gather_batch

from .run import Run
from .task import Split

EVALUATION_BATCHES = 4  # evaluation batches are this many training batches (no gradients kept)


def evaluate(run: Run, split: Split) -> float | None:
    """The exact metric over the whole split (not a mean over batches: AUC and AP are not means).

    The model runs in batches without gradients; its scores are gathered and the metric computed
    once. None when the metric is undefined on the split.
    """
    return split_value(run.metric, split_scores(run, split))


def split_value(metric: Callable[..., torch.Tensor], scored: tuple[torch.Tensor, tuple[torch.Tensor, ...]] | None
                ) -> float | None:
    """``metric`` of a split's scores and targets; None when it is undefined there (or the split empty)."""
    if scored is None:
        return None
    scores, targets = scored
    value = float(metric(scores, *targets))
    return None if math.isnan(value) else value


def split_scores(run: Run, split: Split) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]] | None:
    """The model's scores of the whole split, gathered from every process, and its targets; None
    when the split is empty. Inputs are read by position (``split.inputs[a:b]``), so a ragged
    split's chunks come padded to its one width (``datasets.ranking``)."""
    if len(split) == 0:
        return None
    run.model.eval()
    size = run.config.batch_size * EVALUATION_BATCHES
    mine = run.processes.shard(torch.arange(len(split)))  # each process scores its share
    first, last = (int(mine[0]), int(mine[-1]) + 1) if len(mine) else (0, 0)
    with torch.no_grad():
        scores = torch.cat([
            run.task.scores(run.model(split.inputs[start:min(start + size, last)].to(run.device)))
            for start in range(first, last, size)
        ] or [run.task.scores(run.model(split.inputs[:1].to(run.device)))[:0]])
        scores, _ = gather_batch(scores, ())
        targets = tuple(t.to(run.device) for t in split.targets)
    return scores, targets
