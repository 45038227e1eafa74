"""The UniLoss surrogate as pure functions; ``UniLoss`` is a thin module over them.

For one batch: hard binaries ``b`` and differences ``d`` from the compiled pairs part; the ideal
``b*`` and its value ``m* = g(b*)``; anchors from the samplers and their exact values
``m_j = g(a_j)`` (no gradient); relaxed binaries ``x = h(d)``; the interpolated metric
``g^(x) = interpolate(|x - a_j|^2, m_j)``; and the loss ``m* - g^(x)`` (``g^(x) - m*`` for a
lower-is-better metric). Every step is batched tensor code on the scores' device, and autograd
derives the gradient.

Two public steps compose it, so that a diagnostic or a benchmark can stop between them or call
``g^`` elsewhere than at ``x``: ``prepare_batch`` (everything up to the relaxed binaries, as a
``PreparedBatch``) and ``interpolate`` (``g^`` at a relaxed point). ``uniloss_terms`` is the two
and the loss's arithmetic.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import torch

from ..compiler.binaries import Binaries
from ..compiler.bool_ops import as_numbers
from ..compiler.goals import Ideal
from ..compiler.metric import Compiled, Metric
from ..errors import InputError
from .anchor_values import ideal_and_anchors
from .anchors import Anchors
from .interpolators import Interpolator, inverse_distance
from .relaxations import SATURATED, Relaxation, sigmoid, widened
from .samplers import Sampler, default_samplers
from .sizes import DEFAULT, Sizes
from .subsampling import Selection

UNDEFINED_POLICIES = ("zero", "raise")


@dataclass(frozen=True)
class Terms:
    """One batch's loss and the quantities behind it, what ``UniLoss.last`` keeps.

    Attributes:
        loss: ``m* - g^(x)`` (``g^(x) - m*`` for a lower-is-better metric), in the scores' graph.
        value: the metric at the hard binaries: what evaluation would report.
        ideal_value: ``m* = g(b*)``.
        estimate: ``g^(x)``, the interpolated metric at the relaxed binaries.
        binaries: how many binaries are live (the scores can move them).
        anchors: how many anchors the interpolation used (those with a finite value).
        defined: whether the metric has a loss on this batch; a zero loss when not.
        ideal_source: how ``b*`` was found, or, when undefined, why the batch is.
        reaches_best: ``m*`` is the declared ``best=`` (always true without ``best=``).
        path: how ``g`` saw the anchors: "dense", "statistics", "rows" or "chunked".
        saturated: the share of relaxed binaries at ``SATURATED``: they pass no gradient.
        median_difference: the median ``|d|`` over the live binaries when every one is
            saturated (the scale the relaxation met), else NaN.

    Everything but ``loss`` is detached.
    """

    loss: torch.Tensor
    value: torch.Tensor
    ideal_value: torch.Tensor
    estimate: torch.Tensor
    binaries: int
    anchors: int
    defined: bool
    ideal_source: str
    reaches_best: bool
    path: str = ""
    saturated: float = 0.0
    median_difference: float = math.nan


@dataclass(frozen=True)
class PreparedBatch:
    """One batch as the loss meets it, up to the interpolation: what it draws, what ``g`` says at
    the drawn configurations, and the relaxed binaries that carry the gradient.

    Attributes:
        compiled: the metric compiled for this batch's shapes (its program runs ``g``).
        binaries: the batch's binaries: hard values, differences, which are live.
        value: ``g(b)``, the metric at the hard binaries, without gradient.
        differences: ``d`` of the live binaries, in float32 at least, in the scores' graph.
        ideal: ``b*``, its value and its free face; ``None`` without a live binary.
        ideal_value: ``m* = g(b*)``.
        anchor_sets: the samplers' anchors, a set per sampler, or on a small batch merged into
            dense sets (``anchor_values.ideal_and_anchors`` says when).
        anchor_values: ``g`` at every anchor, in the sets' order; NaN where ``g`` is undefined.
        path: how ``g`` saw the anchors: "dense", "statistics", "rows" or "chunked".
        shift: ``margin`` times +1 toward ``b*``, -1 away, 0 on its free face; ``d - shift`` is
            what the relaxation sees. ``None`` without a margin.
        relaxed: ``x = h(d - shift)``, the binaries the selection left out held at their hard +-1.
        selected: indices of the binaries the selection relaxed; ``None``: every one.

    Tensors over binaries are over the live ones (``binaries.restrict``). On a batch where the
    metric is undefined (no live binary, or no configuration real scores reach has a value),
    ``defined`` is false, ``ideal`` says why, and the anchors and relaxed binaries are absent.
    """

    compiled: Compiled
    binaries: Binaries
    value: torch.Tensor
    differences: torch.Tensor
    ideal: Ideal | None = None
    ideal_value: torch.Tensor | None = None
    anchor_sets: tuple[Anchors, ...] = ()
    anchor_values: torch.Tensor | None = None
    path: str = ""
    shift: torch.Tensor | None = None
    relaxed: torch.Tensor | None = None
    selected: torch.Tensor | None = None

    @property
    def defined(self) -> bool:
        """Whether the loss has a value on this batch (it has relaxed binaries to interpolate at)."""
        return self.relaxed is not None


def prepare_batch(
    metric: Metric,
    scores: torch.Tensor,
    *targets,
    relaxation: Relaxation | None = None,
    samplers: Sequence[Sampler] | None = None,
    generator: torch.Generator | None = None,
    selection: Selection | None = None,
    sizes: Sizes = DEFAULT,
    margin: float = 0.0,
) -> PreparedBatch:
    """The binaries, ``b*``, the anchors and their exact values, and the relaxed binaries of one
    batch, drawn from ``generator`` in the order ``uniloss_terms`` draws them (the anchors, then the
    selection), so the same stream gives the same batch. Parts are values; ``None`` is UniLoss's
    default. Computed outside any autocast region, as the loss is."""
    metric.check_tensors(scores, *targets, loss=True)  # before `scores.device` below
    if generator is not None and generator.device.type != scores.device.type:
        raise InputError(
            f"generator is on {generator.device} but scores are on {scores.device}: create it with "
            "torch.Generator(device=scores.device)"
        )
    # An autocast bf16 matrix product would make the anchors' distances (sums over K binaries)
    # wrong by several units, and the metric's exact value must not depend on the region.
    with torch.autocast(scores.device.type, enabled=False):
        return _prepare(metric, scores, targets, relaxation or sigmoid(),
                        default_samplers() if samplers is None else samplers, generator, selection, sizes, margin)


def _prepare(metric, scores, targets, relaxation, samplers, generator, selection, sizes, margin) -> PreparedBatch:
    compiled, binaries = metric.prepared(scores, *targets)  # the inputs checked once
    differences = binaries.live_differences  # dead binaries take no part in the loss
    with torch.no_grad():
        if differences.numel() == 0:
            return PreparedBatch(compiled, binaries, compiled.program.value(binaries), differences)
        ideal, anchor_sets, values, path = ideal_and_anchors(compiled, binaries, scores, targets, samplers,
                                                             generator, sizes)
        if not ideal.defined:
            return PreparedBatch(compiled, binaries, compiled.program.value(binaries), differences, ideal)
    differences = widened(differences)  # half-precision scores: the margin and all after in float32
    ideal_bits = binaries.restrict(ideal.configuration)
    shift = margin * _toward_ideal(ideal_bits, ideal, binaries, differences.dtype) if margin else None
    relaxed, selected = _relax(relaxation, differences if shift is None else differences - shift, ideal_bits,
                               binaries.restrict(binaries.hard), selection, generator)
    return PreparedBatch(compiled, binaries, values[0], differences, ideal, values[1], tuple(anchor_sets), values[2:],
                         path, shift, relaxed, selected)


def interpolate(anchor_sets: Sequence[Anchors], anchor_values: torch.Tensor, relaxed: torch.Tensor,
                interpolator: Interpolator) -> torch.Tensor:
    """``g^(relaxed)``: ``interpolator`` between the anchors, by their squared distances to the
    relaxed point, a 0-d tensor differentiable in ``relaxed``.

    An anchor whose exact value is not finite (``g`` undefined there, as precision is with nothing
    predicted) is left out: it has no value to lend. Its one device sync reads ``anchor_values``
    alone, never ``relaxed``, so ``torch.func.vmap`` maps it over many relaxed points."""
    with torch.autocast(relaxed.device.type, enabled=False):
        shared: dict = {}  # one cache the sets share per call
        distances = torch.cat([anchors.squared_distances(relaxed, shared) for anchors in anchor_sets])
        usable = torch.isfinite(anchor_values)
        if not bool(usable.all()):
            kept = usable.nonzero().squeeze(1)
            distances, anchor_values = distances[kept], anchor_values[kept]
        return interpolator(distances, anchor_values)


def uniloss_terms(
    metric: Metric,
    scores: torch.Tensor,
    *targets,
    relaxation: Relaxation | None = None,
    samplers: Sequence[Sampler] | None = None,
    interpolator: Interpolator | None = None,
    generator: torch.Generator | None = None,
    selection: Selection | None = None,
    sizes: Sizes = DEFAULT,
    margin: float = 0.0,
) -> Terms:
    """The loss of one batch and the quantities behind it: ``prepare_batch``, then ``interpolate``
    at its relaxed binaries, and ``m* - g^(x)``."""
    batch = prepare_batch(metric, scores, *targets, relaxation=relaxation, samplers=samplers, generator=generator,
                          selection=selection, sizes=sizes, margin=margin)
    if not batch.defined:
        return _undefined(scores, batch)
    estimate = interpolate(batch.anchor_sets, batch.anchor_values, batch.relaxed, interpolator or inverse_distance())
    loss = batch.ideal_value - estimate if metric.higher_is_better else estimate - batch.ideal_value
    relaxed, compiled, ideal = batch.relaxed, batch.compiled, batch.ideal
    with torch.no_grad():
        saturated = int(torch.count_nonzero(relaxed.abs() >= SATURATED)) / relaxed.numel()  # no float copy
        shifted = batch.differences if batch.shift is None else batch.differences - batch.shift
        median = float(shifted.abs().median()) if saturated == 1.0 else math.nan
        usable = int(torch.isfinite(batch.anchor_values).sum())
    return Terms(loss, batch.value, batch.ideal_value, estimate.detach(), relaxed.numel(), usable, True,
                 ideal.source, compiled.goal.reaches(ideal.value) or compiled.goal.best is None, batch.path,
                 saturated, median)


def _toward_ideal(ideal_bits, ideal, binaries, dtype) -> torch.Tensor:
    """+1 where b* is true, -1 where it is false, 0 where b* leaves a binary free."""
    toward = as_numbers(ideal_bits, dtype) * 2 - 1
    if ideal.free is not None:
        toward = toward * ~binaries.restrict(ideal.free)
    return toward


def _relax(relaxation, differences, ideal, hard, selection, generator) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Relaxed binaries, and which the selection chose; the unselected are held at their hard +-1."""
    if selection is None:
        return relaxation(differences), None
    chosen = selection(differences, ideal, generator)
    held = as_numbers(hard, differences.dtype) * 2 - 1
    return held.index_put((chosen,), relaxation(differences[chosen])), chosen


def _undefined(scores: torch.Tensor, batch: PreparedBatch) -> Terms:
    """A zero loss that still belongs to the graph, so ``backward()`` works and gives zeros."""
    nan = torch.tensor(float("nan"), device=scores.device)
    with torch.enable_grad():
        zero = scores.sum() * 0.0
    binaries, value = batch.differences.numel(), batch.value
    reason = ("it has no binary variable that scores can move" if binaries == 0
              else f"no configuration that real scores produce gives it a value (the search for b*: "
                   f"{batch.ideal.source}; the batch's own value is {float(value):.4g})")
    return Terms(zero, value.to(torch.float32), nan, nan, binaries, 0, False, reason, False)


def undefined_error(metric: Metric, reason: str) -> InputError:
    return InputError(
        f"metric `{metric.name}` is undefined on this batch: {reason} (e.g. AUC needs at least "
        "one positive and one negative). Use larger or stratified batches, or undefined='zero' "
        "to skip such batches."
    )
