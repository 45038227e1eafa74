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

import functools
from dataclasses import dataclass
from typing import Sequence

import torch

from ..errors import InputError
from .anchors import DenseAnchors
from .interpolators import Interpolator, inverse_distance
from ..compiler.metric import Metric
from .affine_statistics import Statistics
from .sizes import DEFAULT, Sizes
from .relaxations import Relaxation, sigmoid, widened
from .row_values import values_by_rows
from .samplers import Sampler, SamplingContext, default_samplers
from .subsampling import Selection

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
    ideal_source: str  # how b* was found (or, when undefined, why the batch is)
    reaches_best: bool  # m* is the declared best= (always true without best=)
    path: str = ""  # how g saw the anchors: "dense", "statistics", "rows" or "chunked"
    saturated: float = 0.0  # share of relaxed binaries at exactly +-1: they pass no gradient
    median_difference: float = math.nan  # median |d| over the live binaries, the scale tau meets


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
    metric.check_tensors(scores, *targets, loss=True)  # before `scores.device` below
    # The loss is computed at the precision it needs, whatever autocast region it is called from:
    # an autocast bf16 matrix product would make the anchors' distances (sums over K binaries)
    # wrong by several units, and the metric's exact value must not depend on the region.
    with torch.autocast(scores.device.type, enabled=False):
        return _terms(metric, scores, *targets, relaxation=relaxation, samplers=samplers,
                      interpolator=interpolator, generator=generator, selection=selection, sizes=sizes,
                      margin=margin)


def _terms(metric, scores, *targets, relaxation, samplers, interpolator, generator, selection, sizes,
           margin) -> Terms:
    relaxation = relaxation or sigmoid()
    samplers = default_samplers() if samplers is None else samplers
    interpolator = interpolator or inverse_distance()
    if generator is not None and generator.device.type != scores.device.type:
        raise InputError(
            f"generator is on {generator.device} but scores are on {scores.device}: create it with "
            "torch.Generator(device=scores.device)"
        )
    compiled = metric.compiled_for(scores, *targets)
    program = compiled.program
    binaries = metric.binaries(scores, *targets)
    differences = binaries.live_differences  # dead binaries take no part in the loss
    with torch.no_grad():
        if differences.numel() == 0:
            return _undefined(scores, program.value(binaries), 0, None)
        ideal, anchor_sets, values, path = _ideal_and_anchors(metric, compiled, binaries, scores, targets, samplers,
                                                              generator, sizes)
        if not ideal.defined:
            return _undefined(scores, program.value(binaries), differences.numel(), ideal)
    value, ideal_value, anchor_values = values[0], values[1], values[2:]

    differences = widened(differences)  # half-precision scores: the margin and all after in float32
    ideal_bits = binaries.restrict(ideal.configuration)
    if margin:
        differences = differences - margin * _toward_ideal(ideal_bits, ideal, binaries, differences.dtype)
    relaxed = _relax(relaxation, differences, ideal_bits, binaries.restrict(binaries.hard), selection, generator)
    distances = _squared_distances(anchor_sets, relaxed)
    usable = torch.isfinite(anchor_values)
    if not bool(usable.all()):
        distances, anchor_values = distances[usable], anchor_values[usable]
    estimate = interpolator(distances, anchor_values)
    loss = ideal_value - estimate if metric.higher_is_better else estimate - ideal_value
    with torch.no_grad():
        saturated = int(torch.count_nonzero(relaxed.abs() >= 1)) / relaxed.numel()  # no float copy
        median = float(differences.abs().median()) if saturated == 1.0 else math.nan
    return Terms(loss, value, ideal_value, estimate.detach(), differences.numel(), int(distances.numel()),
                 True, ideal.source, compiled.goal.reaches(ideal.value) or compiled.goal.best is None, path,
                 saturated, median)


def _toward_ideal(ideal_bits, ideal, binaries, dtype) -> torch.Tensor:
    """+1 where b* is true, -1 where it is false, 0 where b* leaves a binary free."""
    toward = ideal_bits.to(dtype) * 2 - 1
    if ideal.free is not None:
        toward = toward * ~binaries.restrict(ideal.free)
    return toward


def _relax(relaxation, differences, ideal, hard, selection, generator) -> torch.Tensor:
    """Relaxed binaries; with a selection, the unselected ones are held at their hard +-1."""
    if selection is None:
        return relaxation(differences)
    chosen = selection(differences, ideal, generator)
    held = hard.to(differences.dtype) * 2 - 1
    return held.index_put((chosen,), relaxation(differences[chosen]))


def _undefined(scores: torch.Tensor, value: torch.Tensor, binaries: int, ideal) -> Terms:
    """A zero loss that still belongs to the graph, so ``backward()`` works and gives zeros."""
    nan = torch.tensor(float("nan"), device=scores.device)
    with torch.enable_grad():
        zero = scores.sum() * 0.0
    reason = ("it has no binary variable that scores can move" if binaries == 0
              else f"no configuration that real scores produce gives it a value (the search for b*: "
                   f"{ideal.source}; the batch's own value is {float(value):.4g})")
    return Terms(zero, value.to(torch.float32), nan, nan, binaries, 0, False, reason, False)


def _ideal_and_anchors(metric, compiled, binaries, scores, targets, samplers, generator, sizes):
    """(b*, anchor sets, g at [hard, b*, *anchors], path); (b*, None, None, "") when undefined.

    The first candidate for b* goes through g with the anchors, in one call (with its face's
    check and, without best=, the other candidates): when it stands (nearly always) and its face
    holds, nothing more is evaluated. Otherwise b* comes from the whole search and the anchors
    are drawn again around it.
    """
    program = compiled.program
    elements = functools.partial(program.elements, scores, targets, binaries)
    proposal = compiled.propose(binaries, scores, targets)
    state = None if generator is None else generator.get_state()
    if proposal is not None:
        free = None if proposal.free is None else binaries.restrict(proposal.free)
        rows = proposal.rows
        anchor_sets, values, path = _anchors_and_values(program, binaries, proposal.configuration, free,
                                                        rows, samplers, generator, elements, sizes)
        ideal = proposal.settle(float(values[1]), values[2:2 + len(rows)], compiled.goal, metric.name)
        if ideal is not None and (ideal.free is not None or proposal.free is None):
            return ideal, anchor_sets, torch.cat([values[:2], values[2 + len(rows):]]), path
    else:
        ideal = None
    if ideal is None:
        ideal = compiled.ideal(binaries, scores, targets)
        if not ideal.defined:
            return ideal, None, None, ""
    if state is not None:  # the same draws as on the first try
        generator.set_state(state)
    free = None if ideal.free is None else binaries.restrict(ideal.free)
    anchor_sets, values, path = _anchors_and_values(program, binaries, ideal.configuration, free, None,
                                                    samplers, generator, elements, sizes)
    return ideal, anchor_sets, values, path


def _anchors_and_values(program, binaries, ideal, free, checks, samplers, generator, elements, sizes):
    """Sample every anchor set, then g at [hard, ideal, *checks, *anchors].

    Small problems (anchors x binaries <= ``sizes.dense``, where the cost is the number of ops,
    not their size) become one dense set: one call of g on every anchor and one product for
    the distances. Larger ones keep base-plus-flips anchors sparse, go through g's affine
    statistics when it has them, and else materialise a chunk of anchors at a time.
    """
    spread = (lambda: (binaries.count, binaries.live)) if binaries.dead is not None and not binaries.twin_blocks \
        else None
    context = SamplingContext(
        ideal=binaries.restrict(ideal), current=binaries.restrict(binaries.hard), generator=generator,
        elements=elements, sizes=sizes, spread_over=spread,
    )
    drawn = [sampler(context) for sampler in samplers]
    # Sets based on b* stand for the ideal's free face, when it has one (anchors.FlipAnchors).
    anchor_sets = drawn if free is None else [a.on_ideal_face(context.ideal, free) for a in drawn]
    on_face = [a is not d for a, d in zip(anchor_sets, drawn)]
    leading = torch.stack([binaries.hard, ideal])
    if checks is not None and len(checks):
        leading = torch.cat([leading, checks])
    count = sum(a.count for a in anchor_sets)
    if (len(leading) + count) * binaries.live_count <= sizes.dense:
        groups = [[a for a, face in zip(anchor_sets, on_face) if face is wanted] for wanted in (True, False)]
        dense = [DenseAnchors(torch.cat([a.configurations(0, a.count) for a in group]), free if face else None, sizes)
                 for group, face in zip(groups, (True, False)) if group]
        rows = torch.cat([binaries.pin_dead(leading)] + [binaries.complete(d.points) for d in dense])
        return dense, program.values(binaries, rows, pinned=True, chunk=sizes.g_chunk), "dense"
    # Copies of one configuration (the ideal anchors) are evaluated once.
    distinct = [a.distinct for a in anchor_sets]
    analysis = program.analysis(binaries)
    flat, head, path = None, None, ""
    if analysis.scalar_statistics:
        head = program.values(binaries, leading, chunk=sizes.g_chunk)
        # The live binaries of b* and of the hard binaries: the bases of the flip sets.
        bases = [(context.ideal, 1), (context.current, 0)]
        flat = _values_from_statistics(program, binaries, leading, head, anchor_sets, sizes, bases)
        path = "statistics"
    if flat is None and analysis.rows is not None:
        # Without twins, a set based on b* (or the hard binaries) completes to that leading row.
        bases = {} if binaries.twin_blocks else {id(context.ideal): 1, id(context.current): 0}
        flat, path = values_by_rows(program, binaries, analysis.rows, leading, anchor_sets, sizes, bases), "rows"
    if flat is None:
        path = "chunked"
        per_chunk = max(1, sizes.g_chunk // max(binaries.count, 1))
        parts = [program.values(binaries, leading, chunk=sizes.g_chunk) if head is None else head]
        for anchors, n in zip(anchor_sets, distinct):
            rows = anchors.full_rows(binaries)
            for start in range(0, n, per_chunk):
                parts.append(program.values(binaries, rows(start, min(start + per_chunk, n)), pinned=True,
                                            chunk=sizes.g_chunk))
        flat = torch.cat(parts)
    values, offset = [flat[:len(leading)]], len(leading)
    for anchors, n in zip(anchor_sets, distinct):
        values.append(flat[offset:offset + n].expand(anchors.count) if n == 1 else flat[offset:offset + n])
        offset += n
    return anchor_sets, torch.cat(values).to(torch.float32), path


def _squared_distances(anchor_sets, relaxed: torch.Tensor) -> torch.Tensor:
    """Every set's squared distances to ``relaxed``, with one cache the sets share per call."""
    shared: dict = {}
    return torch.cat([anchors.squared_distances(relaxed, shared) for anchors in anchor_sets])


def _values_from_statistics(program, binaries, leading, head, anchor_sets, sizes, bases) -> torch.Tensor | None:
    """g at [hard, ideal, *anchors] through g's affine statistics, or None when g has none.

    The hard and ideal values come from g itself (``head``); the statistics path must give the
    same two values, or this batch's anchors go through g itself.
    """
    statistics = None if program.affine is None else Statistics.of(program.affine, binaries)
    if statistics is None:
        return None
    at_leading = statistics.at_points(binaries.restrict(leading), sizes)
    for base, row in bases:  # flip sets based on the hard or ideal binaries start from these
        statistics.share_base(base, at_leading[row])
    rows = torch.cat([at_leading] + [anchors.statistics(statistics) for anchors in anchor_sets])
    values = program.values_from_statistics(binaries, rows)
    if values is None or not torch.allclose(values[:len(head)], head, rtol=1e-5, atol=1e-7, equal_nan=True):
        return None  # the statistics disagree with g on this batch: g sees every anchor
    return torch.cat([head, values[len(head):]])


def undefined_error(metric: Metric, reason: str) -> InputError:
    return InputError(
        f"metric `{metric.name}` is undefined on this batch: {reason} (e.g. AUC needs at least "
        "one positive and one negative). Use larger or stratified batches, or undefined='zero' "
        "to skip such batches."
    )
