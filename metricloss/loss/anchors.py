"""Anchor sets: the binary configurations the re-expression is interpolated between.

Most anchors are a base configuration with a few bits flipped (the ideal, the current hard
configuration). Keeping them as ``base + flip indices`` makes their squared distance to the relaxed
binaries ``x`` cheap: ``|x - a|^2 = |x - base|^2 + 4 * sum over flipped k of x_k * base_k``
(in the +-1 encoding), one pass over K for the base and O(f) per anchor. Uniform random anchors are
dense and use one matrix-vector product.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Protocol, runtime_checkable

import torch
from torch.utils.checkpoint import checkpoint

from .sizes import DEFAULT, Sizes
from ..compiler.binaries import Binaries
from ..compiler.bool_ops import as_numbers
from .affine_statistics import Statistics
from .packed import true_sums


def signs(configuration: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """bool -> +1/-1 (true -> +1)."""
    return as_numbers(configuration, dtype) * 2 - 1


@runtime_checkable
class Anchors(Protocol):
    """What a sampler returns: ``count`` binary configurations over the K live binaries.

    The loss asks a set for its configurations (``[rows, K]`` bool on the scores' device), their
    squared distances to the relaxed binaries (differentiable in them), their affine statistics,
    and how to complete them over every binary; a new representation of anchors implements these
    and needs no change elsewhere. Sets must be pure functions of what the sampler drew.
    """

    count: int  # how many anchors
    distinct: int  # the leading rows whose values g must give; later rows repeat the last

    def configurations(self, start: int, stop: int) -> torch.Tensor: ...

    def squared_distances(self, relaxed: torch.Tensor, shared: dict | None = None) -> torch.Tensor:
        """[count] ``|relaxed - a|^2``; ``shared`` is a per-call cache the sets may share."""

    def statistics(self, statistics: Statistics) -> torch.Tensor: ...

    def on_ideal_face(self, ideal: torch.Tensor, free: torch.Tensor) -> Anchors:
        """This set as it stands for the ideal's free face (itself when not based on ``ideal``)."""

    def full_rows(self, binaries: Binaries) -> Callable[[int, int], torch.Tensor]:
        """(start, stop) -> those anchors completed over all K binaries of the batch."""


@dataclass(frozen=True)
class FlipAnchors:
    """``count`` anchors, each ``base`` ([K] bool) with the bits ``flips[j]`` ([count, f]) inverted.

    ``fixed``: binaries a flip leaves as they are, or None. Anchors based on b* stand for the
    ideal's free face: a flip of a free binary stays on the face, so it changes nothing, and the
    distance leaves the free binaries out (the face's nearest member matches the relaxed point).
    """

    base: torch.Tensor
    flips: torch.Tensor
    fixed: torch.Tensor | None = None

    @property
    def on_face(self) -> bool:
        return self.fixed is not None

    def on_ideal_face(self, ideal: torch.Tensor, free: torch.Tensor) -> FlipAnchors:
        return replace(self, fixed=free) if self.base is ideal else self

    def full_rows(self, binaries: Binaries) -> Callable[[int, int], torch.Tensor]:
        """Completed once, as the base, and flipped at the live indices: filling every row's live
        bits in would cost a scatter over [rows, K]. (Not with twins: a flip must reach the
        twins of the flipped binary.)"""
        if binaries.live is None or binaries.twin_blocks:
            return lambda start, stop: binaries.complete(self.configurations(start, stop))
        fixed = None if self.fixed is None else binaries.complete(self.fixed[None])[0]
        return FlipAnchors(binaries.complete(self.base[None])[0], binaries.live[self.flips], fixed).configurations

    def flipped(self, flips: torch.Tensor) -> torch.Tensor:
        """The flipped bits' new values."""
        values = self.base[flips]
        return ~values if self.fixed is None else torch.where(self.fixed[flips], values, ~values)

    @property
    def count(self) -> int:
        return self.flips.shape[0]

    @property
    def distinct(self) -> int:
        """How many leading rows to evaluate: 1 when every anchor is the base itself."""
        return min(self.count, 1) if self.flips.shape[1] == 0 else self.count

    def distance_to_base(self, relaxed: torch.Tensor, shared: dict | None = None) -> torch.Tensor:
        """``|x - base|^2`` (over the binaries not ``fixed``): the one pass over K, which sets
        with the same base and the same fixed binaries can share.

        ``|x|^2 + K - 2 x.s``, with ``x.s = 2 (x over the base's true bits) - sum(x)``: a dot
        product with the base's bits (cheaper, forward and backward, than forming ``x - s``), and
        ``|x|^2`` and ``sum(x)`` shared by every set.
        """
        shared = {} if shared is None else shared
        if "x" not in shared:
            shared["x"] = (relaxed.square().sum(), relaxed.sum())
        squares, total = shared["x"]
        if self.fixed is None:
            on_true = as_numbers(self.base, relaxed.dtype) @ relaxed
            return (squares + relaxed.numel() - 2 * (2 * on_true - total)).clamp_min(0)
        counted = as_numbers(~self.fixed, relaxed.dtype)
        on_true, on_counted = torch.stack([as_numbers(self.base & ~self.fixed, relaxed.dtype), counted]) @ relaxed
        return (counted @ relaxed.square() + counted.sum() - 2 * (2 * on_true - on_counted)).clamp_min(0)

    def squared_distances(self, relaxed: torch.Tensor, shared: dict | None = None) -> torch.Tensor:
        """Sets with one base and the same fixed binaries (the ideal and the good anchors share
        b*) make their pass over K once, through ``shared``."""
        shared = {} if shared is None else shared
        key = ("flip base", id(self.base), id(self.fixed))
        if key not in shared:
            shared[key] = self.distance_to_base(relaxed, shared)
        common = shared[key]
        if self.flips.shape[1] == 0:
            return common.expand(self.count)
        terms = relaxed[self.flips] * signs(self.base[self.flips], relaxed.dtype)
        if self.fixed is not None:
            terms = terms.masked_fill(self.fixed[self.flips], 0)
        return (common + 4 * terms.sum(1)).clamp_min(0)

    def statistics(self, statistics: Statistics) -> torch.Tensor:
        """The affine statistics of g at the first ``distinct`` anchors: [distinct, F]."""
        flips = self.flips[:self.distinct]
        return statistics.at_flips(self.base, flips, None if self.fixed is None else self.fixed[flips])

    def configurations(self, start: int, stop: int) -> torch.Tensor:
        flips = self.flips[start:stop]
        rows = self.base.expand(flips.shape[0], -1).clone()
        return rows.scatter_(1, flips, self.flipped(flips))


@dataclass(frozen=True)
class DenseAnchors:
    """Anchors given bit by bit: ``points`` is [count, K] bool (``fixed``: see FlipAnchors)."""

    points: torch.Tensor
    fixed: torch.Tensor | None = None
    sizes: Sizes = DEFAULT

    @property
    def count(self) -> int:
        return self.points.shape[0]

    @property
    def distinct(self) -> int:
        return self.count

    def on_ideal_face(self, ideal: torch.Tensor, free: torch.Tensor) -> DenseAnchors:
        return self  # drawn bit by bit: not based on the ideal

    def full_rows(self, binaries: Binaries) -> Callable[[int, int], torch.Tensor]:
        return lambda start, stop: binaries.complete(self.points[start:stop])

    def squared_distances(self, relaxed: torch.Tensor, shared: dict | None = None) -> torch.Tensor:
        # |x - a|^2 = |x|^2 + K - 2 x.a, and x.a = 2 (x over a's true bits) - sum(x). The sum over
        # true bits is a matrix-vector product with the bool points made float, a column chunk at
        # a time; for many points under activation checkpointing, so that autograd keeps only the
        # bool points and remakes each float chunk in the backward pass.
        size = counted = relaxed.numel()
        if self.fixed is not None:  # on the ideal's face: the free binaries count for nothing
            relaxed = relaxed.masked_fill(self.fixed, 0)  # x_k = 0 drops k from every term below
            counted = size - self.fixed.sum()
        chunk = self.sizes.chunk(self.sizes.distance_chunk, relaxed.device)
        if self.points.numel() <= chunk:
            over_true = _over_true(self.points, relaxed)
        else:
            columns = max(1, chunk // max(self.count, 1))
            remake = relaxed.requires_grad and self.points.numel() > self.sizes.checkpoint
            over_true = sum(
                checkpoint(_over_true, self.points[:, start:start + columns], relaxed[start:start + columns],
                           use_reentrant=False) if remake
                else _over_true(self.points[:, start:start + columns], relaxed[start:start + columns])
                for start in range(0, size, columns)
            )
        cross = 2 * over_true - relaxed.sum()  # x.a over the counted binaries
        return (relaxed.square().sum() + counted - 2 * cross).clamp_min(0)

    def statistics(self, statistics: Statistics) -> torch.Tensor:
        return statistics.at_points(self.points, self.sizes)

    def configurations(self, start: int, stop: int) -> torch.Tensor:
        return self.points[start:stop]


@dataclass(frozen=True)
class RandomAnchors:
    """``count`` uniformly random configurations kept as packed bits: bit p of ``words[g, k]`` is
    binary k of anchor 8g + p (eight anchors per byte of every binary).

    Nothing of size anchors x binaries is made for the distances or the statistics: the sum of
    ``x`` over an anchor's true bits is a sum over byte values, ``sum_v bit_p(v) H[v]`` with
    ``H[v]`` the sum of ``x`` over the binaries whose byte is v (a 256-bin histogram, one pass
    over the binaries per eight anchors); autograd derives the gradient (a gather from the bins).

    ``live``: when the words cover every binary of the batch (drawn so when some are dead and
    none are twins, so that completing an anchor is a ``where``, not a scatter), the positions of
    the live ones among them; None when the words' columns are the live binaries.
    """

    words: torch.Tensor  # [ceil(count / 8), N] uint8
    count: int
    live: torch.Tensor | None = None
    sizes: Sizes = DEFAULT

    @property
    def distinct(self) -> int:
        return self.count

    def on_ideal_face(self, ideal: torch.Tensor, free: torch.Tensor) -> RandomAnchors:
        return self  # drawn bit by bit: not based on the ideal

    def _unpacked(self, start: int, stop: int, words: torch.Tensor | None = None) -> torch.Tensor:
        """[stop - start, N] bool: the anchors' bits over the words' columns (of ``words``, the
        anchors' own or a pinned copy): a shift and a mask of each group's bytes, no gather."""
        words = self.words if words is None else words
        out = torch.empty(stop - start, words.shape[1], dtype=torch.uint8, device=words.device)
        for group in range(start // 8, (stop + 7) // 8):
            low, high = max(start, 8 * group), min(stop, 8 * group + 8)
            shifts = torch.arange(low - 8 * group, high - 8 * group, dtype=torch.uint8, device=words.device)
            torch.bitwise_right_shift(words[group][None], shifts[:, None], out=out[low - start:high - start])
        return out.bitwise_and_(1).view(torch.bool)

    def configurations(self, start: int, stop: int) -> torch.Tensor:
        bits = self._unpacked(start, stop)
        return bits if self.live is None else bits.gather(1, self.live.expand(bits.shape[0], -1))

    def packed(self, binaries: Binaries) -> torch.Tensor | None:
        """[groups, K] uint8: the anchors' bits over every binary of the batch, the dead ones
        pinned, still eight anchors to a byte; None where completing them takes more than pinning
        (twins, or words drawn over the live binaries alone while some are dead)."""
        if binaries.twin_blocks:
            return None
        if self.live is None:
            return self.words if binaries.dead is None else None
        return binaries.pin_dead_bytes(self.words)

    def full_rows(self, binaries: Binaries) -> Callable[[int, int], torch.Tensor]:
        if self.live is None:
            return lambda start, stop: binaries.complete(self._unpacked(start, stop))
        # Over every binary: the dead ones pinned in the bytes, for all eight anchors of a byte at once.
        pinned = binaries.pin_dead_bytes(self.words)
        return lambda start, stop: self._unpacked(start, stop, pinned)

    def _spread(self, values: torch.Tensor) -> torch.Tensor:
        """[..., live] -> [..., N]: zero at the columns that are not live."""
        if self.live is None:
            return values
        out = values.new_zeros(*values.shape[:-1], self.words.shape[1])
        return out.index_copy(-1, self.live, values)

    def squared_distances(self, relaxed: torch.Tensor, shared: dict | None = None) -> torch.Tensor:
        # |x - a|^2 = |x|^2 + K - 2 x.a, and x.a = 2 (x over a's true bits) - sum(x).
        shared = {} if shared is None else shared
        if "x" not in shared:
            shared["x"] = (relaxed.square().sum(), relaxed.sum())
        squares, total = shared["x"]
        # Over the live binaries' bytes alone: a gather of the bytes costs less than histograms of
        # x spread over every binary (ranking batches: dead binaries are most of them).
        words = self.words if self.live is None else self.words.gather(1, self.live.expand(self.words.shape[0], -1))
        over_true = true_sums(words, relaxed)[:self.count]
        return (squares + relaxed.numel() - 2 * (2 * over_true - total)).clamp_min(0)

    def statistics(self, statistics: Statistics) -> torch.Tensor:
        """[count, F]: ``c + J a`` per anchor, in float64."""
        return statistics.at_packed(self.words, self.count, self._spread)


def _over_true(points: torch.Tensor, relaxed: torch.Tensor) -> torch.Tensor:
    """Per row of ``points``, the sum of ``relaxed`` over its true bits."""
    return as_numbers(points, relaxed.dtype) @ relaxed

