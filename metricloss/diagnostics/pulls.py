"""Where the loss's gradient comes from: each sampler's part of the pull on the relaxed binaries.

ĝ(x) is a convex combination of the anchors' exact values, weighted by the anchors' distances to
the relaxed point x. Its gradient in x is the sum, over the anchors, of what flows through each
anchor's distance, so it splits exactly by sampler: a sampler's *pull* is the gradient with the
other samplers' distances held fixed. The tracking table says whether ĝ follows g; this says
which anchors move the scores, and where to.

Per batch, at the configuration met in training, for each sampler:

- **weight**: its anchors' share of ĝ's weights (``dĝ/dv_j``, which for a convex combination is
  the weight of anchor j);
- **value**: its anchors' mean exact value, against ĝ itself;
- **share**: the norm of its pull over the sum of every sampler's;
- **toward b\\*** and **toward b**: the cosine of its pull, taken in the direction the loss
  descends, with ``b* - x`` and with ``b - x`` (b* and b as +-1; b*'s free face counts as
  reached). A pull toward b with little toward b* sharpens the current order, right or wrong.
  Binaries a ``selection`` holds at their hard values get no pull: the loss cannot move them.

A last row, ``all``, is the whole gradient: weight 1, ĝ as its value, and its own cosines.

The batch is drawn again from the same generator state as the tracking's, with every sampler's
anchors kept as their own set (``Sizes(dense=0)``: the same anchors and values as on the dense
path, which merges the sets of a small batch).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ..compiler.metric import Metric
from ..loss import prepare_batch
from ..loss.anchors import signs
from ..loss.interpolators import Interpolator
from ..loss.relaxations import Relaxation
from ..loss.samplers import Sampler
from ..loss.sizes import Sizes
from ..loss.subsampling import Selection


WHOLE = "all"  # the row of the whole gradient


@dataclass(frozen=True)
class Pull:
    """One sampler's part of ĝ and of its gradient, on one batch or averaged over several."""

    sampler: str
    weight: float
    value: float
    share: float
    toward_ideal: float
    toward_hard: float


def sampler_labels(samplers: Sequence[Sampler]) -> list[str]:
    """Each sampler's name, numbered where two share one (``nearby``, ``nearby 2``)."""
    labels, seen = [], {}
    for sampler in samplers:
        seen[sampler.name] = seen.get(sampler.name, 0) + 1
        labels.append(sampler.name if seen[sampler.name] == 1 else f"{sampler.name} {seen[sampler.name]}")
    return labels


def batch_pulls(metric: Metric, scores: torch.Tensor, *targets, relaxation: Relaxation, samplers: Sequence[Sampler],
                interpolator: Interpolator, selection: Selection | None, sizes: Sizes, margin: float,
                generator: torch.Generator | None) -> tuple[Pull, ...] | None:
    """Every sampler's pull on this batch; None where the metric is undefined or no anchor has a value."""
    batch = prepare_batch(metric, scores.detach(), *targets, relaxation=relaxation, samplers=samplers,
                          generator=generator, selection=selection, sizes=dataclasses.replace(sizes, dense=0),
                          margin=margin)
    if not batch.defined or len(batch.anchor_sets) != len(samplers):
        return None
    values = batch.anchor_values
    usable = torch.isfinite(values)
    if not bool(usable.any()):
        return None
    binaries, ideal = batch.binaries, batch.ideal
    with torch.enable_grad():
        point = batch.relaxed.detach().requires_grad_(True)
        shared: dict = {}
        distances = [anchors.squared_distances(point, shared) for anchors in batch.anchor_sets]
        owner = torch.cat([torch.full((d.numel(),), i, device=values.device) for i, d in enumerate(distances)])
        kept = usable.nonzero().squeeze(1)  # as the loss does: an anchor without a value lends none
        values, owner = values[kept], owner[kept]
        lent = values.clone().requires_grad_(True)
        estimate = interpolator(torch.cat(distances)[kept], lent)
        weights = torch.autograd.grad(estimate, lent, retain_graph=True)[0]
        descent = 1.0 if metric.higher_is_better else -1.0
        pulls = []
        for index in range(len(distances)):  # a handful of samplers
            alone = torch.cat([d if i == index else d.detach() for i, d in enumerate(distances)])[kept]
            moved = interpolator(alone, values)
            pulls.append(descent * torch.autograd.grad(moved, point, retain_graph=True)[0])
    if batch.selected is not None:  # binaries the selection holds at +-1 are constants: nothing moves them
        movable = torch.zeros_like(point, dtype=torch.bool).index_fill_(0, batch.selected, True)
        pulls = [pull * movable for pull in pulls]
    x = point.detach()
    toward_ideal = signs(binaries.restrict(ideal.configuration), x.dtype) - x
    if ideal.free is not None:  # either side of a free binary is ideal: nothing to pull toward
        toward_ideal = toward_ideal * ~binaries.restrict(ideal.free)
    toward_hard = signs(binaries.restrict(binaries.hard), x.dtype) - x
    norms = torch.stack([p.norm() for p in pulls])
    total = float(norms.sum())
    whole = sum(pulls)
    result = []
    for index, (label, pull) in enumerate(zip(sampler_labels(samplers), pulls)):
        mine = owner == index
        result.append(Pull(
            sampler=label, weight=float(weights[mine].sum()),
            value=float(values[mine].mean()) if bool(mine.any()) else math.nan,
            share=float(norms[index]) / total if total > 0 else math.nan,
            toward_ideal=_cosine(pull, toward_ideal), toward_hard=_cosine(pull, toward_hard),
        ))
    result.append(Pull(WHOLE, 1.0, float(estimate.detach()), 1.0 if total > 0 else math.nan, _cosine(whole, toward_ideal),
                       _cosine(whole, toward_hard)))
    return tuple(result)


def mean_pulls(per_batch: Sequence[tuple[Pull, ...] | None]) -> tuple[Pull, ...]:
    """Each sampler's pull averaged over the batches that have one (NaNs left out per field)."""
    measured = [p for p in per_batch if p]
    if not measured:
        return ()
    fields = ("weight", "value", "share", "toward_ideal", "toward_hard")
    return tuple(Pull(column[0].sampler, *(_nanmean(getattr(p, name) for p in column) for name in fields))
                 for column in zip(*measured))


def _cosine(a: torch.Tensor, b: torch.Tensor) -> float:
    scale = float(a.norm() * b.norm())
    return float(a.double() @ b.double()) / scale if scale > 0 else math.nan


def _nanmean(values) -> float:
    values = [v for v in values if not math.isnan(v)]
    return math.fsum(values) / len(values) if values else math.nan
