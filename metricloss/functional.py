"""The UniLoss surrogate as pure functions; ``UniLoss`` is a thin module over them.

For one batch: hard binaries ``b`` and differences ``d`` from the compiled pairs part; the ideal
``b*`` and its value ``m* = g(b*)``; anchors from the samplers and their exact values
``m_j = g(a_j)`` (no gradient); relaxed binaries ``x = h(d)``; the interpolated metric
``g^(x) = interpolate(|x - a_j|^2, m_j)``; and the loss ``m* - g^(x)`` (``g^(x) - m*`` for a
lower-is-better metric). Every step is batched tensor code on the scores' device, and autograd
derives the gradient.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from .errors import InputError
from .interpolators import Interpolator, inverse_distance
from .metric import Metric
from .program import CHUNK_ELEMENTS
from .relaxations import Relaxation, sigmoid
from .samplers import Sampler, SamplingContext, default_samplers

UNDEFINED_POLICIES = ("zero", "raise")


@dataclass(frozen=True)
class Terms:
    """One batch's loss and the quantities behind it (all detached but ``loss``)."""

    loss: torch.Tensor
    value: torch.Tensor  # the metric at the hard binaries: what evaluation would report
    ideal_value: torch.Tensor  # m*
    estimate: torch.Tensor  # the interpolated metric at the relaxed binaries
    binaries: int
    anchors: int
    defined: bool


def uniloss_terms(
    metric: Metric,
    scores: torch.Tensor,
    *targets,
    relaxation: Relaxation | None = None,
    samplers: Sequence[Sampler] | None = None,
    interpolator: Interpolator | None = None,
    generator: torch.Generator | None = None,
) -> Terms:
    relaxation = relaxation or sigmoid()
    samplers = default_samplers() if samplers is None else samplers
    interpolator = interpolator or inverse_distance()
    if generator is not None and generator.device.type != scores.device.type:
        raise InputError(
            f"generator is on {generator.device} but scores are on {scores.device}: create it with "
            "torch.Generator(device=scores.device)"
        )
    compiled = metric.compiled
    program = compiled.program
    binaries = metric.binaries(scores, *targets)
    with torch.no_grad():
        value = program.value(binaries).to(torch.float32)
        found = compiled.ideal(binaries, targets)
    if found is not None:
        ideal, ideal_value = found[0], found[1].to(torch.float32)
    differences = binaries.restrict(binaries.differences)  # dead binaries take no part in the loss
    if found is None or differences.numel() == 0 or not math.isfinite(float(ideal_value)):
        nan = torch.tensor(float("nan"), device=scores.device)
        return Terms(scores.sum() * 0.0, value, nan, nan, differences.numel(), 0, defined=False)

    context = SamplingContext(
        ideal=binaries.restrict(ideal), current=binaries.restrict(binaries.hard), generator=generator
    )
    anchor_sets = [sampler(context) for sampler in samplers]
    with torch.no_grad():
        anchor_values = torch.cat([_values(program, binaries, anchors) for anchors in anchor_sets])
    relaxed = relaxation(differences)
    distances = torch.cat([anchors.squared_distances(relaxed) for anchors in anchor_sets])
    usable = torch.isfinite(anchor_values)
    if not bool(usable.all()):
        distances, anchor_values = distances[usable], anchor_values[usable]
    estimate = interpolator(distances, anchor_values)
    loss = ideal_value - estimate if metric.higher_is_better else estimate - ideal_value
    return Terms(loss, value, ideal_value, estimate.detach(), differences.numel(), int(distances.numel()), True)


def uniloss(metric: Metric, scores: torch.Tensor, *targets, undefined: str = "zero", **parts) -> torch.Tensor:
    """The UniLoss of ``metric`` on one batch, a 0-d tensor differentiable in ``scores``.

    ``undefined``: what a batch on which the metric is undefined (AUC without a positive) gives:
    ``"zero"`` (a zero loss with zero gradient) or ``"raise"`` (an InputError).
    """
    terms = uniloss_terms(metric, scores, *targets, **parts)
    if not terms.defined and undefined == "raise":
        raise undefined_error(metric)
    return terms.loss


def undefined_error(metric: Metric) -> InputError:
    return InputError(
        f"metric `{metric.name}` is undefined on this batch (its ideal value is not a number; "
        "e.g. AUC needs at least one positive and one negative). Use larger or stratified "
        "batches, or undefined='zero' to skip such batches."
    )


def _values(program, binaries, anchors) -> torch.Tensor:
    """g at every anchor, materialised a chunk of anchors at a time to bound memory."""
    per_chunk = max(1, CHUNK_ELEMENTS // max(binaries.count, 1))
    chunks = [
        program.values(binaries, binaries.complete(anchors.configurations(start, min(start + per_chunk, anchors.count))))
        for start in range(0, anchors.count, per_chunk)
    ]
    return torch.cat(chunks) if chunks else torch.zeros(0, device=binaries.hard.device)
