"""Configurations drawn around the one met in training, and both metrics on each.

``draw_around`` flips a fraction of the live binaries of ``b`` (``flip_masks``), then one more,
and measures ``g`` through the compiled program and ``ĝ`` through the loss's own interpolation
(``metricloss.loss.interpolate``) at each drawn configuration's relaxed point; ``tracking``
turns the draws into the table.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch.func import vmap

from ..loss import interpolate
from ..loss.anchors import Anchors
from ..loss.interpolators import Interpolator
from ..loss.sizes import Sizes

POINTS_CHUNK = 1 << 22  # relaxed points' floats per vmapped call of the interpolation


def flip_count(fraction: float, live: int) -> int:
    """How many of ``live`` binaries a draw at ``fraction`` flips: ``round(f * live)``, at least one
    when ``f > 0``, never more than ``live``.

    >>> [flip_count(f, 100) for f in (0, 1 / 512, 1 / 128, 1 / 32, 1 / 8, 1 / 2)]
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


def draw_around(program, binaries, relaxed: torch.Tensor, surface: Surface, fraction: float, draws: int,
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



class Surface:
    """ĝ at many relaxed points: the loss's own interpolation (``metricloss.loss.interpolate``),
    vmapped over the points, a chunk of them at a time."""

    def __init__(self, anchor_sets: Sequence[Anchors], anchor_values: torch.Tensor, interpolator: Interpolator):
        self.anchor_sets = anchor_sets
        self.values = anchor_values
        self.interpolator = interpolator
        self.defined = bool(torch.isfinite(anchor_values).any())  # some anchor has a value to lend
        self.vectorised = True

    def one(self, point: torch.Tensor) -> torch.Tensor:
        return interpolate(self.anchor_sets, self.values, point, self.interpolator)

    def __call__(self, points: torch.Tensor) -> torch.Tensor:
        if not self.defined:
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
