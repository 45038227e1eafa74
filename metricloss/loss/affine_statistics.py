"""One batch's affine statistics of ``g``: ``s(a) = c + J a`` for every anchor ``a``.

The compiler splits ``g`` into affine statistics and the rest (``compiler/affine_split.py``);
here, per batch, ``c`` and ``J`` come from autograd on the statistics module evaluated on float
blocks, so they are exact for what the graph says. A base-plus-flips anchor then costs O(flips)
(its base's statistics plus the flipped columns of ``J``) and a dense anchor one product with
``J``; the rest of ``g`` runs on the [A, F] statistics.

When every binary of a block weighs the same (AUC: a mean), ``J`` is one weight per block
(``compiler/affine_uniform.py``), found without a float copy of any block, and a dense anchor's
statistics are its counts of true bits per block: a bool sum, or for packed anchors a histogram of
their bytes without weights.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from ..compiler.affine_split import AffineSplit
from ..compiler.affine_uniform import uniform_weights
from ..compiler.binaries import Binaries
from ..compiler.bool_ops import as_numbers, true_counts
from .packed import byte_bits, pack_rows, true_sums
from .sizes import DEFAULT, Sizes

@dataclass(frozen=True)
class Statistics:
    """One batch's affine statistics: ``s(a) = constant + weights @ a`` over the live binaries."""

    constant: torch.Tensor  # [F], float64
    weights: torch.Tensor  # [F, live], float64; or [F, S] with ``segments``: one weight per segment
    # The live binaries in segments of these sizes (the own blocks), each with one weight per
    # statistic; None: ``weights`` has a column per binary.
    segments: tuple[int, ...] | None = None
    # With segments: (constant [F], weights [F, blocks], block sizes) over every block, twins as
    # variables of their own, for configurations given over all K binaries (``at_configurations``).
    every_block: tuple | None = None
    # Statistics of the base configurations flip anchors start from, by the base's id: the ideal
    # and good anchors share b* (a pass over the binaries each time otherwise).
    _bases: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def of(cls, split: AffineSplit, binaries: Binaries) -> Statistics | None:
        """``c`` and ``J``: one weight per own block when every binary of a block weighs alike
        (``uniform_weights``), else by autograd on float blocks; None when a statistic is not one
        number (per-positive sums, as in AP) or the inputs refuse an op the split admitted."""
        try:
            uniform = uniform_weights(split, binaries)
            if uniform is not None:
                return cls._folded(*uniform, binaries)
            return cls._of(split, binaries)
        except (RuntimeError, TypeError, IndexError):
            return None

    @classmethod
    def _folded(cls, constant: torch.Tensor, weights: torch.Tensor, binaries: Binaries) -> Statistics:
        """Per-block weights with each twin's folded into its source's: an anchor's twin copies its
        source (negated: ``1 - b``, whose true bits are the block's size minus the source's)."""
        twins = binaries.twin_blocks or (None,) * len(binaries.shapes)
        own = [index for index, twin in enumerate(twins) if twin is None]
        folded, shift = weights[:, own].clone(), constant.clone()
        for index, twin in enumerate(twins):
            if twin is not None:
                source, negated = twin
                folded[:, own.index(source)] += -weights[:, index] if negated else weights[:, index]
                if negated:
                    shift += weights[:, index] * binaries.sizes[index]
        return cls(shift, folded, segments=tuple(binaries.sizes[i] for i in own),
                   every_block=(constant, weights, tuple(binaries.sizes)))

    def at_configurations(self, configurations: torch.Tensor) -> torch.Tensor | None:
        """[A, F] statistics of configurations over all K binaries ([A, K] bool), twins as they are
        (the hard configuration's twins differ from their sources at ties); None without
        ``every_block``."""
        if self.every_block is None:
            return None
        constant, weights, sizes = self.every_block
        return constant + _true_bits(configurations, sizes) @ weights.T

    @classmethod
    def _of(cls, split: AffineSplit, binaries: Binaries) -> Statistics | None:
        """A float64 leaf per block of its own; a twin block reads its source's leaf (or one minus
        it), and dead binaries read their hard values, so that autograd gives ``J`` over the own
        blocks directly (a twin's weights added into its source's) and ``c`` is ``s`` at zero."""
        device = binaries.hard.device
        twins = binaries.twin_blocks or (None,) * len(binaries.shapes)
        dead = None if binaries.dead is None else binaries.dead.split(binaries.sizes)
        hard = binaries.hard.split(binaries.sizes)
        leaves, sources, blocks = [], [], []
        with torch.enable_grad():  # the loss calls this under no_grad
            for index, (shape, twin) in enumerate(zip(binaries.shapes, twins)):
                if twin is None:
                    leaves.append(torch.zeros(shape, dtype=torch.float64, device=device, requires_grad=True))
                    sources.append(leaves[-1])
                    block = leaves[-1]
                else:
                    sources.append(sources[twin[0]])
                    block = 1 - sources[-1] if twin[1] else sources[-1]
                if dead is not None:  # dead binaries sit at their hard values in every anchor
                    block = torch.where(dead[index].view(shape), as_numbers(hard[index].view(shape), torch.float64), block)
                blocks.append(block)
            values = split.statistics.forward(*blocks, *binaries.target_values)
        if any(not isinstance(v, torch.Tensor) or v.dim() != 0 or not v.is_floating_point() or not v.requires_grad
               for v in values):
            return None
        rows = []
        for index, value in enumerate(values):
            grads = torch.autograd.grad(value, leaves, retain_graph=index + 1 < len(values), allow_unused=True)
            parts = [(torch.zeros_like(leaf) if g is None else g).reshape(-1) for leaf, g in zip(leaves, grads)]
            rows.append(parts[0] if len(parts) == 1 else torch.cat(parts))
        weights = (torch.stack(rows) if len(rows) > 1 else rows[0][None]).to(torch.float64)
        if dead is not None:  # the live binaries: the own blocks' binaries that are not dead
            own = [d for d, twin in zip(dead, twins) if twin is None]
            weights = weights[:, ~(own[0] if len(own) == 1 else torch.cat(own))]
        constant = torch.stack([v.detach() for v in values]).to(torch.float64)
        return cls(constant, weights)

    def share_base(self, base: torch.Tensor, at_base: torch.Tensor) -> None:
        """Take ``at_base`` ([F]) as the statistics of ``base`` ([live] bool), known already."""
        self._bases[id(base)] = (base, at_base)

    def at_flips(self, base: torch.Tensor, flips: torch.Tensor, kept: torch.Tensor | None = None) -> torch.Tensor:
        """[A, F] statistics of ``base`` ([live] bool) with the bits ``flips`` ([A, f]) inverted,
        except where ``kept`` ([A, f] bool) says the flip leaves the bit as it is."""
        key = id(base)
        if key not in self._bases:
            self._bases[key] = (base, self.at_points(base[None])[0])
        at_base = self._bases[key][1]
        step = 1 - 2 * base[flips].to(torch.float64)  # +1 where a false bit turns true
        if kept is not None:
            step = step.masked_fill(kept, 0)
        if self.segments is None:
            return at_base + (self.weights[:, flips] * step).sum(-1).T
        ends = torch.tensor(self.segments, device=flips.device).cumsum(0)
        return at_base + (self.weights[:, torch.searchsorted(ends, flips, right=True)] * step).sum(-1).T

    def at_points(self, points: torch.Tensor, sizes: Sizes = DEFAULT) -> torch.Tensor:
        """[A, F] statistics of dense anchors ([A, live] bool): the anchors packed eight to a byte,
        then a histogram of each row of J by byte value, in float64 (a float32 product of 10^4
        weights of 1/K each, as AUC's, is already off by 1e-5)."""
        if points.shape[0] == 0:
            return self.constant.expand(0, -1)
        if self.segments is not None:
            return self.constant + _true_bits(points, self.segments) @ self.weights.T
        return self.constant + true_sums(pack_rows(points), self.weights)[:points.shape[0]]

    def at_packed(self, words: torch.Tensor, count: int, spread) -> torch.Tensor:
        """[count, F] statistics of anchors packed eight to a byte (``packed.py``) over the live
        binaries, or over every binary with ``spread`` putting ``J``'s columns at the live ones."""
        if self.segments is None:
            return self.constant + true_sums(words, spread(self.weights))[:count]
        # Segments come only without dead binaries, and then the words cover the live ones alone.
        bits = byte_bits(words.device, torch.float64)
        counts = torch.stack([  # [groups x 8, S]: true bits per anchor and segment, from byte counts
            torch.cat([torch.bincount(group, minlength=256).to(torch.float64) @ bits for group in part])
            for part in words.split(self.segments, 1)], 1)
        return self.constant + counts[:count] @ self.weights.T


def _true_bits(configurations: torch.Tensor, sizes) -> torch.Tensor:
    """[A, S] float64: each configuration's true bits in each of its segments of ``sizes``."""
    return torch.stack([true_counts(part) for part in configurations.split(sizes, 1)], 1).to(torch.float64)
