"""One batch's affine statistics of ``g``: ``s(a) = c + J a`` for every anchor ``a``.

The compiler splits ``g`` into affine statistics and the rest (``compiler/affine_split.py``);
here, per batch, ``c`` and ``J`` come from autograd on the statistics module evaluated on float
blocks, so they are exact for what the graph says. A base-plus-flips anchor then costs O(flips)
(its base's statistics plus the flipped columns of ``J``) and a dense anchor one product with
``J``; the rest of ``g`` runs on the [A, F] statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..compiler.affine_split import AffineSplit
from ..compiler.binaries import Binaries
from .sizes import DEFAULT, Sizes

@dataclass(frozen=True)
class Statistics:
    """One batch's affine statistics: ``s(a) = constant + weights @ a`` over the live binaries."""

    constant: torch.Tensor  # [F], float64
    weights: torch.Tensor  # [F, live], float64

    @classmethod
    def of(cls, split: AffineSplit, binaries: Binaries) -> Statistics | None:
        """``c`` and ``J`` by autograd on float blocks, or None when a statistic is not one number
        (per-positive sums, as in AP) or the inputs refuse an op the split admitted."""
        try:
            return cls._of(split, binaries)
        except (RuntimeError, TypeError, IndexError):
            return None

    @classmethod
    def _of(cls, split: AffineSplit, binaries: Binaries) -> Statistics | None:
        device = binaries.hard.device
        blocks = [torch.zeros(shape, dtype=torch.float64, device=device, requires_grad=True)
                  for shape in binaries.shapes]
        with torch.enable_grad():
            values = split.statistics.forward(*blocks, *binaries.target_values)
        if any(not isinstance(v, torch.Tensor) or v.dim() != 0 or not v.is_floating_point() or not v.requires_grad
               for v in values):
            return None
        rows = []
        for index, value in enumerate(values):
            grads = torch.autograd.grad(value, blocks, retain_graph=index + 1 < len(values), allow_unused=True)
            rows.append(torch.cat([(torch.zeros_like(b) if g is None else g).reshape(-1)
                                   for b, g in zip(blocks, grads)]))
        weights = torch.stack(rows).to(torch.float64)
        constant = torch.stack([v.detach() for v in values]).to(torch.float64)
        if binaries.dead is not None:  # dead binaries sit at their hard values in every anchor
            constant = constant + weights[:, binaries.dead] @ binaries.hard[binaries.dead].to(torch.float64)
            weights = weights.masked_fill(binaries.dead, 0)
        if binaries.twin_blocks:  # a twin is its source (or 1 - its source) in every anchor
            parts = list(weights.split(binaries.sizes, 1))
            for part, twin in zip(parts, binaries.twin_blocks):
                if twin is not None:
                    source, negated = twin
                    parts[source] = parts[source] - part if negated else parts[source] + part
                    if negated:
                        constant = constant + part.sum(1)
            weights = torch.cat(parts, 1)
        weights = binaries.restrict(weights)
        return cls(constant, weights)

    def at_flips(self, base: torch.Tensor, flips: torch.Tensor, kept: torch.Tensor | None = None) -> torch.Tensor:
        """[A, F] statistics of ``base`` ([live] bool) with the bits ``flips`` ([A, f]) inverted,
        except where ``kept`` ([A, f] bool) says the flip leaves the bit as it is."""
        at_base = self.constant + self.weights @ base.to(torch.float64)
        step = 1 - 2 * base[flips].to(torch.float64)  # +1 where a false bit turns true
        if kept is not None:
            step = step.masked_fill(kept, 0)
        return at_base + (self.weights[:, flips] * step).sum(-1).T

    def at_points(self, points: torch.Tensor, sizes: Sizes = DEFAULT) -> torch.Tensor:
        """[A, F] statistics of dense anchors ([A, live] bool), a column chunk at a time.

        In float64: a float32 product of 10^4 weights of 1/K each (AUC) is already off by 1e-5.
        """
        count, size = points.shape
        columns = max(1, sizes.chunk(sizes.statistics_chunk, points.device) // max(count, 1))
        total = self.constant.expand(count, -1).clone()
        for start in range(0, size, columns):
            total += points[:, start:start + columns].to(torch.float64) @ self.weights[:, start:start + columns].T
        return total
