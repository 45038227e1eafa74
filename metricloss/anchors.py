"""Anchor sets: the binary configurations the re-expression is interpolated between.

Most anchors are a base configuration with a few bits flipped (the ideal, the current hard
configuration). Keeping them as ``base + flip indices`` makes their squared distance to the relaxed
binaries ``x`` cheap: ``|x - a|^2 = |x - base|^2 + 4 * sum over flipped k of x_k * base_k``
(in the +-1 encoding), one pass over K for the base and O(f) per anchor. Uniform random anchors are
dense and use one matrix-vector product.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


_CHUNK_ELEMENTS = 1 << 24


def signs(configuration: torch.Tensor, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """bool -> +1/-1 (true -> +1)."""
    return configuration.to(dtype) * 2 - 1


@dataclass(frozen=True)
class FlipAnchors:
    """``count`` anchors, each ``base`` ([K] bool) with the bits ``flips[j]`` ([count, f]) inverted."""

    base: torch.Tensor
    flips: torch.Tensor

    @property
    def count(self) -> int:
        return self.flips.shape[0]

    @property
    def distinct(self) -> int:
        """How many leading rows to evaluate: 1 when every anchor is the base itself."""
        return min(self.count, 1) if self.flips.shape[1] == 0 else self.count

    def squared_distances(self, relaxed: torch.Tensor) -> torch.Tensor:
        base = signs(self.base, relaxed.dtype)
        common = (relaxed - base).square().sum()
        if self.flips.shape[1] == 0:
            return common.expand(self.count)
        correction = (relaxed[self.flips] * base[self.flips]).sum(1)
        return (common + 4 * correction).clamp_min(0)

    def configurations(self, start: int, stop: int) -> torch.Tensor:
        flips = self.flips[start:stop]
        rows = self.base.expand(flips.shape[0], -1).clone()
        return rows.scatter_(1, flips, ~self.base[flips])


@dataclass(frozen=True)
class DenseAnchors:
    """Anchors given bit by bit: ``points`` is [count, K] bool."""

    points: torch.Tensor

    @property
    def count(self) -> int:
        return self.points.shape[0]

    @property
    def distinct(self) -> int:
        return self.count

    def squared_distances(self, relaxed: torch.Tensor) -> torch.Tensor:
        # |x - a|^2 = |x|^2 + K - 2 x.a, and x.a = 2 (x over a's true bits) - sum(x). The sum over
        # true bits runs in column chunks so no float copy of all the anchors is ever made; autograd
        # keeps only views of the bool points.
        size = relaxed.numel()
        columns = max(1, _CHUNK_ELEMENTS // max(self.count, 1))
        over_true = sum(
            torch.where(self.points[:, start:start + columns], relaxed[start:start + columns], 0).sum(1)
            for start in range(0, size, columns)
        ) if size else relaxed.new_zeros(self.count)
        cross = 2 * over_true - relaxed.sum()
        return (relaxed.square().sum() + size - 2 * cross).clamp_min(0)

    def configurations(self, start: int, stop: int) -> torch.Tensor:
        return self.points[start:stop]


Anchors = FlipAnchors | DenseAnchors
