"""How well the interpolated metric ĝ tracks the exact metric g around configurations met in training.

For one batch (scores and targets), the loss's own functions draw everything the loss would draw
on that batch: the hard binaries ``b``, the ideal ``b*``, the anchors and their exact values
(``surrogate._ideal_and_anchors``, as ``uniloss_terms`` calls it), and the relaxed binaries
``x = h(d)`` (``surrogate._relax``). Around ``b`` this module then draws configurations ``b'`` at
a Hamming distance of ``round(f * K)`` live binaries (at least one when ``f > 0``; dead binaries
and twins are never flipped, as the loss never moves them) and compares, on each:

- ``g(b')``: the exact metric, through the compiled program's ``g`` (``Program.values``);
- ``ĝ(x')``: the interpolation between this batch's anchors, at the relaxed point of ``b'``.

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
from torch.func import vmap

from ..compiler.metric import Metric, get_metric
from ..errors import InputError
from ..loss import surrogate
from ..registry import resolve
from ..loss.interpolators import Interpolator, inverse_distance
from ..loss.relaxations import Relaxation, sigmoid
from ..loss.samplers import Sampler, default_samplers
from ..loss.sizes import DEFAULT, Sizes
from ..loss.subsampling import Selection
from .ranks import spearman

FRACTIONS = (0.0, 1 / 512, 1 / 128, 1 / 32, 1 / 8, 1 / 2)
DRAWS = 64  # configurations b' per batch and fraction
SATURATED = 0.99  # |x| above this: the relaxed binary is decided and its gradient nearly gone
NEAR_ZERO = 0.1  # |x| below this: the relaxed binary says little about its side
POINTS_CHUNK = 1 << 22  # relaxed points' floats per vmapped call of the interpolation


def fraction_label(fraction: float) -> str:
    """``0``, ``1/512``, ... ``1/2``; other fractions as decimals."""
    if fraction == 0:
        return "0"
    inverse = 1 / fraction
    return f"1/{round(inverse)}" if abs(inverse - round(inverse)) < 1e-9 else f"{fraction:g}"


def flip_count(fraction: float, live: int) -> int:
    """How many of ``live`` binaries a draw at ``fraction`` flips: ``round(f * live)``, at least one
    when ``f > 0``, never more than ``live``.

    >>> [flip_count(f, 100) for f in FRACTIONS]
    [0, 1, 1, 3, 12, 50]
    """
    if fraction == 0 or live == 0:
        return 0
    return min(live, max(1, round(fraction * live)))


def flip_masks(rows: int, count: int, size: int, generator: torch.Generator | None,
               device: torch.device | str) -> torch.Tensor:
    """[rows, size] bool with ``count`` distinct true entries per row, uniformly placed.

    The top ``count`` of uniform keys: batched over rows, and for any count (Floyd's sampling in
    ``samplers.distinct_indices`` loops once per flipped bit, too many at ``f = 1/2``).
    """
    masks = torch.zeros(rows, size, dtype=torch.bool, device=device)
    if count == 0 or size == 0:
        return masks
    keys = torch.rand(rows, size, generator=generator, device=device)
    return masks.scatter_(1, keys.topk(count, dim=1).indices, True)


@dataclass(frozen=True)
class Draws:
    """One batch, one fraction: per drawn ``b'``, its exact and interpolated values, and the changes
    of both when one more binary flips."""

    flips: int
    exact: torch.Tensor  # [D] g(b')
    estimate: torch.Tensor  # [D] ĝ(x')
    exact_change: torch.Tensor  # [D] g(b' with one more flip) - g(b')
    estimate_change: torch.Tensor  # [D] the same for ĝ


@dataclass(frozen=True)
class BatchTracking:
    """One batch's draws at every fraction, and how its relaxed binaries sit."""

    draws: tuple[Draws, ...]
    binaries: int  # live binaries
    anchors: int
    value: float  # g(b): the metric at the configuration met in training
    scale: float  # the median |d| over the live binaries: the scores' scale the relaxation meets
    saturated: float  # share of live relaxed binaries with |x| > SATURATED
    near_zero: float  # share with |x| < NEAR_ZERO
    wrong: int  # live binaries on the other side from b*
    stuck: int  # of those, how many are saturated: the loss has (nearly) no gradient left to move them


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
    saturated: float  # mean share of live relaxed binaries with |x| > SATURATED
    near_zero: float  # mean share with |x| < NEAR_ZERO
    stuck: float  # share of the binaries on the wrong side of b* that are saturated (NaN: none wrong)
    per_batch: tuple[BatchTracking, ...] = field(default=(), repr=False)

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
        per_batch=tuple(measured),
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
    scores = scores.detach()
    compiled = metric.compiled_for(scores, *targets)
    binaries = metric.binaries(scores, *targets)
    differences = binaries.live_differences
    if differences.numel() == 0:
        return None
    # Exactly what uniloss_terms draws on this batch: b*, the anchors and g at [b, b*, *anchors].
    ideal, anchor_sets, values, _ = surrogate._ideal_and_anchors(
        metric, compiled, binaries, scores, targets, samplers, generator, sizes)
    if not ideal.defined:
        return None
    anchor_values = values[2:]
    ideal_bits = binaries.restrict(ideal.configuration)
    toward = surrogate._toward_ideal(ideal_bits, ideal, binaries, differences.dtype) if margin else 0
    chosen: list[torch.Tensor] = []  # the binaries the selection relaxes, as _relax chooses them

    def choose(shifted, bits, stream):
        chosen.append(selection(shifted, bits, stream))
        return chosen[-1]

    recorded = None if selection is None else Selection(selection.name, selection.params, choose)
    relaxed = surrogate._relax(relaxation, differences - margin * toward, ideal_bits,
                               binaries.restrict(binaries.hard), recorded, generator)
    mirrored = relaxation(-differences - margin * toward)  # each binary's value with its comparison mirrored
    if chosen:  # the ones the selection holds at +-1 stay there, mirrored
        held = torch.ones_like(mirrored, dtype=torch.bool).index_fill_(0, chosen[0], False)
        mirrored = torch.where(held, -relaxed, mirrored)
    relaxed = torch.stack([relaxed, mirrored])  # [2, K]: as met, and each binary flipped
    surface = _Surface(anchor_sets, anchor_values, interpolator)
    measured = tuple(_draws(compiled.program, binaries, relaxed, surface, fraction, draws, generator, sizes)
                     for fraction in fractions)
    size = relaxed[0].abs()
    wrong = binaries.restrict(binaries.hard) != binaries.restrict(ideal.configuration)
    if ideal.free is not None:  # the ideal's free face: either side is right
        wrong &= ~binaries.restrict(ideal.free)
    return BatchTracking(
        draws=measured, binaries=differences.numel(), anchors=int(anchor_values.numel()), value=float(values[0]),
        scale=float(differences.abs().median()), saturated=float((size > SATURATED).float().mean()),
        near_zero=float((size < NEAR_ZERO).float().mean()),
        wrong=int(wrong.sum()), stuck=int((wrong & (size > SATURATED)).sum()),
    )


def _draws(program, binaries, relaxed: torch.Tensor, surface: _Surface, fraction: float, draws: int,
           generator, sizes: Sizes) -> Draws:
    """``draws`` configurations at ``fraction``, each with one more single flip.

    ``relaxed`` is [2, K]: each live binary's relaxed value as met and with its comparison
    mirrored. Rows are drawn and measured a chunk at a time, so that they stay within
    ``sizes.g_chunk`` binaries (bool, for g) and ``POINTS_CHUNK`` floats (for ĝ) whatever K is.
    """
    current = binaries.restrict(binaries.hard)
    size = current.numel()
    count = flip_count(fraction, size)
    per_chunk = max(1, min(sizes.g_chunk // max(2 * binaries.count, 1), POINTS_CHUNK // max(2 * size, 1)))
    exact, estimate = [], []
    for start in range(0, draws, per_chunk):
        rows = min(per_chunk, draws - start)
        mask = flip_masks(rows, count, size, generator, current.device)
        single = torch.randint(size, (rows, 1), generator=generator, device=current.device)
        extra = torch.zeros_like(mask).scatter_(1, single, True)
        configurations = current ^ mask
        full = binaries.complete(torch.cat([configurations, configurations ^ extra]))
        exact.append(program.values(binaries, full, pinned=True, chunk=sizes.g_chunk).view(2, -1))
        points = torch.where(torch.cat([mask, mask ^ extra]), relaxed[1], relaxed[0])
        estimate.append(surface(points).view(2, -1))
    exact, estimate = torch.cat(exact, 1).to(torch.float64), torch.cat(estimate, 1).to(torch.float64)
    return Draws(count, exact[0], estimate[0], exact[1] - exact[0], estimate[1] - estimate[0])


class _Surface:
    """ĝ at many relaxed points: the loss's own distances (``surrogate._squared_distances``) and
    interpolator, vmapped over the points; the anchors with a non-finite value are left out, as
    ``uniloss_terms`` leaves them out."""

    def __init__(self, anchor_sets, anchor_values: torch.Tensor, interpolator: Interpolator):
        usable = torch.isfinite(anchor_values)
        self.keep = None if bool(usable.all()) else usable.nonzero().squeeze(1)
        self.values = anchor_values if self.keep is None else anchor_values[self.keep]
        self.anchor_sets = anchor_sets
        self.interpolator = interpolator
        self.vectorised = True

    def one(self, point: torch.Tensor) -> torch.Tensor:
        distances = surrogate._squared_distances(self.anchor_sets, point)
        if self.keep is not None:
            distances = distances[self.keep]
        return self.interpolator(distances, self.values)

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        if self.values.numel() == 0:
            return points.new_full((points.shape[0],), math.nan)
        per_chunk = max(1, POINTS_CHUNK // max(points.shape[1], 1))
        return torch.cat([self._chunk(chunk) for chunk in points.split(per_chunk)])

    def _chunk(self, points: torch.Tensor) -> torch.Tensor:
        if self.vectorised:
            try:
                return vmap(self.one)(points)
            except Exception:  # a plugin's anchors or interpolator that vmap cannot batch
                self.vectorised = False
        return torch.stack([self.one(point) for point in points])  # one point at a time


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
