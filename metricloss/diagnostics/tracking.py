"""How well the interpolated metric ĝ tracks the exact metric g around configurations met in training.

For one batch (scores and targets), the loss's own first step (``metricloss.loss.prepare_batch``,
as ``uniloss_terms`` calls it) draws everything the loss would draw on that batch: the hard
binaries ``b``, the ideal ``b*``, the anchors and their exact values, and the relaxed binaries
``x = h(d)``. Around ``b`` this module then draws configurations ``b'`` at a Hamming distance of
``round(f * K)`` live binaries (at least one when ``f > 0``; dead binaries and twins are never
flipped, as the loss never moves them; ``draws.py``) and compares, on each:

- ``g(b')``: the exact metric, through the compiled program's ``g`` (``Program.values``);
- ``ĝ(x')``: the loss's own interpolation (``metricloss.loss.interpolate``) between this batch's
  anchors, at the relaxed point of ``b'``.

**The relaxed point of b'.** ``x'`` is the relaxation, as the loss relaxes, of the differences
``d'`` that equal ``d`` except that each flipped comparison is mirrored (``d'_k = -d_k``): each
flipped binary takes the relaxed value of its mirrored comparison, the others keep theirs. The
relaxations are odd, so without a margin that is ``x`` with the flipped signs reversed; with
``margin=m`` it is ``h(-d_k - m t_k)``, ``t`` being +-1 toward ``b*`` as the loss shifts it. This
keeps what the loss actually sees: each binary's relaxed value sits as far from 0 as the current
score margins and the temperature put it, so the table moves with ``tau`` (at ``+-(1 - eps)`` it
would not). A binary the selection holds at its hard value (``selection=``) stays at ``+-1``,
mirrored with its flip.

Per fraction, over every drawn ``b'`` of every batch:

- **gap**: the root mean square of ``ĝ(x') - g(b')``;
- **spearman**: Spearman's rank correlation of ``ĝ`` and ``g``, pooled over the batches;
  **spearman_within**: the mean over batches of the correlation within each batch (undefined at
  ``f = 0``, where every draw is ``b`` itself);
- **sign agreement**: each ``b'`` also gets one more binary flipped (uniformly among the live
  ones, ``x'_k -> -x'_k``): the share of those single flips with ``Δg != 0`` where
  ``sign(Δĝ) == sign(Δg)``. At ``f = 0`` these are single flips from the configuration met in
  training: whether the surface's slope points the way the metric moves.

Everything is batched over draws: one call of ``g`` per chunk of configurations (vmapped by the
program) and one vmapped call of the distances and the interpolator; the Python loops run over
fractions, batches and chunks only.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

from ..compiler.metric import Metric, get_metric
from ..errors import InputError
from ..loss import NEARLY_SATURATED, prepare_batch
from ..registry import resolve
from ..loss.interpolators import Interpolator, inverse_distance
from ..loss.relaxations import Relaxation, sigmoid
from ..loss.samplers import Sampler, default_samplers
from ..loss.sizes import DEFAULT, Sizes
from ..loss.subsampling import Selection
from .draws import Draws, Surface, draw_around
from .pulls import Pull, batch_pulls, mean_pulls
from .ranks import spearman

FRACTIONS = (0.0, 1 / 512, 1 / 128, 1 / 32, 1 / 8, 1 / 2)
DRAWS = 64  # configurations b' per batch and fraction
NEAR_ZERO = 0.1  # |x| below this: the relaxed binary says little about its side


def fraction_label(fraction: float) -> str:
    """``0``, ``1/512``, ... ``1/2``; other fractions as decimals."""
    if fraction == 0:
        return "0"
    inverse = 1 / fraction
    return f"1/{round(inverse)}" if abs(inverse - round(inverse)) < 1e-9 else f"{fraction:g}"


@dataclass(frozen=True)
class BatchTracking:
    """One batch's draws at every fraction, and how its relaxed binaries sit."""

    draws: tuple[Draws, ...]
    binaries: int  # live binaries
    anchors: int
    value: float  # g(b): the metric at the configuration met in training
    scale: float  # the median |d| over the live binaries: the scores' scale the relaxation meets
    saturated: float  # share of live relaxed binaries with |x| > NEARLY_SATURATED
    near_zero: float  # share with |x| < NEAR_ZERO
    wrong: int  # live binaries on the other side from b*
    stuck: int  # of those, how many are saturated: the loss has (nearly) no gradient left to move them
    pulls: tuple[Pull, ...] | None = None  # each sampler's part of the gradient (``pulls.py``)


@dataclass(frozen=True)
class Row:
    """The table's row for one fraction (NaN where a statistic is undefined)."""

    fraction: float
    label: str
    flips: float  # mean number of binaries flipped per draw
    configurations: int
    gap: float
    spearman: float
    spearman_within: float
    sign_agreement: float
    sign_flips: int  # single flips with Δg != 0, over which sign_agreement is taken


@dataclass(frozen=True)
class Tracking:
    """Every fraction's row, over the batches where the metric was defined."""

    rows: tuple[Row, ...]
    batches: int  # batches measured
    skipped: int  # batches on which the metric was undefined or had no live binary
    binaries: float  # mean live binaries per batch
    anchors: float  # mean anchors per batch
    value: float  # mean g(b) over the measured batches
    scale: float  # mean over the batches of the median |d| of their live binaries
    saturated: float  # mean share of live relaxed binaries with |x| > NEARLY_SATURATED
    near_zero: float  # mean share with |x| < NEAR_ZERO
    stuck: float  # share of the binaries on the wrong side of b* that are saturated (NaN: none wrong)
    per_batch: tuple[BatchTracking, ...] = field(default=(), repr=False)
    pulls: tuple[Pull, ...] = ()  # each sampler's part of the gradient, the mean over the batches

    def row(self, fraction: float) -> Row:
        return next(r for r in self.rows if r.fraction == fraction)


def track(
    metric: str | Metric,
    batches: Iterable[Sequence[torch.Tensor]],
    *,
    relaxation: Relaxation | str | None = None,
    samplers: Sequence[Sampler | str] | None = None,
    interpolator: Interpolator | str | None = None,
    selection: Selection | None = None,
    sizes: Sizes | None = None,
    margin: float = 0.0,
    fractions: Sequence[float] = FRACTIONS,
    draws: int = DRAWS,
    generator: torch.Generator | None = None,
    seed: int = 0,
) -> Tracking:
    """How ĝ tracks g on ``batches``: each a sequence ``(scores, *targets)``, as the loss takes them.

    The parts are the ``UniLoss`` constructor's (values, or registered names with their default
    parameters; ``None`` is its default).
    ``generator`` draws the anchors and the configurations; without one, a generator seeded with
    ``seed`` on the first batch's device.
    """
    metric = get_metric(metric)
    relaxation = None if relaxation is None else resolve("relaxation", relaxation)
    interpolator = None if interpolator is None else resolve("interpolator", interpolator)
    samplers = None if samplers is None else [resolve("sampler", s) for s in samplers]
    fractions = check_fractions(fractions)
    if not isinstance(draws, int) or isinstance(draws, bool) or draws < 1:
        raise InputError(f"draws must be a positive int (configurations per batch and fraction), got {draws!r}")
    parts = dict(relaxation=relaxation or sigmoid(), samplers=default_samplers() if samplers is None else samplers,
                 interpolator=interpolator or inverse_distance(), selection=selection, sizes=sizes or DEFAULT,
                 margin=float(margin))
    measured, skipped = [], 0
    for batch in batches:
        scores, *targets = batch
        if generator is None:
            generator = torch.Generator(device=scores.device).manual_seed(seed)
        elif generator.device.type != scores.device.type:
            raise InputError(f"generator is on {generator.device} but scores are on {scores.device}: create it "
                             "with torch.Generator(device=scores.device), or leave it out and pass seed=")
        result = track_batch(metric, scores, *targets, fractions=fractions, draws=draws, generator=generator, **parts)
        if result is None:
            skipped += 1
        else:
            measured.append(result)
    if not measured:
        raise InputError(
            f"metric `{metric.name}` was undefined (or had no binary the scores can move) on every one of "
            f"the {skipped} batches given, so there is nothing to measure: use larger or stratified batches"
        )
    rows = tuple(_row(fraction, [m.draws[i] for m in measured]) for i, fraction in enumerate(fractions))
    return Tracking(
        rows=rows, batches=len(measured), skipped=skipped,
        binaries=_mean([m.binaries for m in measured]), anchors=_mean([m.anchors for m in measured]),
        value=_mean([m.value for m in measured]), scale=_mean([m.scale for m in measured]),
        saturated=_mean([m.saturated for m in measured]),
        near_zero=_mean([m.near_zero for m in measured]), stuck=_ratio(sum(m.stuck for m in measured),
                                                                      sum(m.wrong for m in measured)),
        per_batch=tuple(measured), pulls=mean_pulls([m.pulls for m in measured]),
    )


def check_fractions(fractions: Sequence[float]) -> tuple[float, ...]:
    fractions = tuple(float(f) for f in fractions)
    bad = [f for f in fractions if not 0 <= f <= 1]
    if not fractions or bad:
        raise InputError(f"Hamming fractions must be numbers in [0, 1], got {list(fractions)}")
    return fractions


@torch.no_grad()
def track_batch(
    metric: Metric,
    scores: torch.Tensor,
    *targets,
    relaxation: Relaxation,
    samplers: Sequence[Sampler],
    interpolator: Interpolator,
    selection: Selection | None,
    sizes: Sizes,
    margin: float,
    fractions: Sequence[float],
    draws: int,
    generator: torch.Generator | None,
) -> BatchTracking | None:
    """One batch's draws; None when the metric is undefined on it or no binary is live."""
    replay = None if generator is None else torch.Generator(device=generator.device).set_state(generator.get_state())
    # Exactly what uniloss_terms draws on this batch: b*, the anchors, g at [b, b*, *anchors], x = h(d - shift).
    batch = prepare_batch(metric, scores.detach(), *targets, relaxation=relaxation, samplers=samplers,
                          generator=generator, selection=selection, sizes=sizes, margin=margin)
    if not batch.defined:
        return None
    binaries, differences, relaxed, ideal = batch.binaries, batch.differences, batch.relaxed, batch.ideal
    # Each binary's value with its comparison mirrored, shifted toward b* as the loss shifts it.
    mirrored = relaxation(-differences if batch.shift is None else -differences - batch.shift)
    if batch.selected is not None:  # the ones the selection holds at +-1 stay there, mirrored
        held = torch.ones_like(mirrored, dtype=torch.bool).index_fill_(0, batch.selected, False)
        mirrored = torch.where(held, -relaxed, mirrored)
    points = torch.stack([relaxed, mirrored])  # [2, K]: as met, and each binary flipped
    surface = Surface(batch.anchor_sets, batch.anchor_values, interpolator)
    measured = tuple(draw_around(batch.compiled.program, binaries, points, surface, fraction, draws, generator, sizes)
                     for fraction in fractions)
    size = relaxed.abs()
    wrong = binaries.restrict(binaries.hard) != binaries.restrict(ideal.configuration)
    if ideal.free is not None:  # the ideal's free face: either side is right
        wrong &= ~binaries.restrict(ideal.free)
    decided = size > NEARLY_SATURATED
    pulls = batch_pulls(metric, scores, *targets, relaxation=relaxation, samplers=samplers, interpolator=interpolator,
                        selection=selection, sizes=sizes, margin=margin, generator=replay)
    return BatchTracking(
        draws=measured, binaries=differences.numel(), anchors=int(batch.anchor_values.numel()),
        value=float(batch.value), scale=float(differences.abs().median()), saturated=float(decided.float().mean()),
        near_zero=float((size < NEAR_ZERO).float().mean()), wrong=int(wrong.sum()), stuck=int((wrong & decided).sum()),
        pulls=pulls,
    )


def _row(fraction: float, draws: list[Draws]) -> Row:
    exact = torch.cat([d.exact for d in draws])
    estimate = torch.cat([d.estimate for d in draws])
    finite = torch.isfinite(exact) & torch.isfinite(estimate)
    exact, estimate = exact[finite], estimate[finite]
    gap = float((estimate - exact).square().mean().sqrt()) if exact.numel() else math.nan
    within = [spearman(d.estimate[ok], d.exact[ok]) for d in draws
              for ok in [torch.isfinite(d.exact) & torch.isfinite(d.estimate)]]
    within = [w for w in within if not math.isnan(w)]
    exact_change = torch.cat([d.exact_change for d in draws])
    estimate_change = torch.cat([d.estimate_change for d in draws])
    moved = torch.isfinite(exact_change) & torch.isfinite(estimate_change) & (exact_change != 0)
    agree = torch.sign(estimate_change[moved]) == torch.sign(exact_change[moved])
    return Row(
        fraction=fraction, label=fraction_label(fraction), flips=_mean([d.flips for d in draws]),
        configurations=int(finite.sum()), gap=gap, spearman=spearman(estimate, exact),
        spearman_within=_mean(within), sign_agreement=float(agree.double().mean()) if agree.numel() else math.nan,
        sign_flips=int(moved.sum()),
    )


def _ratio(part: int, whole: int) -> float:
    return part / whole if whole else math.nan


def _mean(values) -> float:
    values = list(values)
    return math.fsum(values) / len(values) if values else math.nan
