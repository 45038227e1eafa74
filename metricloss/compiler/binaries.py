"""The binary variables of one batch: what the pairs module gives the loss.

Flat vectors of length K across the metric's comparison blocks, with the bookkeeping that keeps
some binaries out of the loss: dead ones (constants whatever the scores) and twins (a second
comparison of the same two values).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import torch


@dataclass
class Binaries:
    """The binary variables of one batch, flattened across blocks into vectors of length K.

    Some binaries are *dead*: a score compared with itself (the diagonal of
    ``x[None, :] > x[:, None]``) is the same constant for every score vector. They keep their
    hard value in every configuration g sees and are left out of the loss (``live``).

    Some are *twins*: ``p > n`` and ``p >= n`` (AUC's tie rule) compare the same two scores, so
    they have one difference and, away from a tie, one value. A twin is not a variable of its own:
    in every anchor it copies its source (negated for ``n > p``), while the hard and ideal
    configurations, which come from real scores, keep their exact values at ties.
    """

    block_differences: tuple[torch.Tensor, ...]  # per block, float, carries autograd to the scores
    hard: torch.Tensor  # [K], bool, the metric's own comparisons
    shapes: tuple[torch.Size, ...]  # one per block, for splitting a flat configuration
    target_values: tuple  # what g reads besides the binaries
    dead: torch.Tensor | None = None  # [K] bool, or None when every binary is live
    twin_blocks: tuple = ()  # per block: (source block, negated) for a twin, else None

    @property
    def count(self) -> int:
        return self.hard.numel()

    @functools.cached_property
    def differences(self) -> torch.Tensor:
        """[K], float: every block's differences, flat (a twin's are its source's, negated or not)."""
        blocks = [d.reshape(-1) for d in self.block_differences]
        if not blocks:
            return self.hard.new_zeros(0, dtype=torch.float32)
        return blocks[0] if len(blocks) == 1 else torch.cat(blocks)

    @functools.cached_property
    def live_differences(self) -> torch.Tensor:
        """[live]: the differences of the live binaries, without flattening the twins' copies."""
        if self.dead is None and self.twin_blocks:
            own = [d.reshape(-1) for d, twin in zip(self.block_differences, self.twin_blocks) if twin is None]
            return own[0] if len(own) == 1 else torch.cat(own)
        return self.restrict(self.differences)

    @functools.cached_property
    def sizes(self) -> list[int]:
        return [math.prod(s) for s in self.shapes]

    @functools.cached_property
    def _not_live(self) -> torch.Tensor | None:
        """[K] bool: dead binaries and twins, or None when every binary is live."""
        if not self.twin_blocks:
            return self.dead
        twin = torch.cat([torch.full((n,), t is not None, dtype=torch.bool, device=self.hard.device)
                          for n, t in zip(self.sizes, self.twin_blocks)])
        return twin if self.dead is None else twin | self.dead

    @functools.cached_property
    def live(self) -> torch.Tensor | None:
        """Indices of the live binaries, or None when all are live."""
        return None if self._not_live is None else (~self._not_live).nonzero().squeeze(1)

    @functools.cached_property
    def live_count(self) -> int:
        """How many binaries are live (without building their indices when only twins are not)."""
        if self.dead is None:
            return sum(n for n, twin in zip(self.sizes, self.twin_blocks or (None,) * len(self.sizes))
                       if twin is None)
        return self.live.numel()

    def restrict(self, configuration: torch.Tensor) -> torch.Tensor:
        """[..., K] -> [..., live]."""
        if self.dead is None and not self.twin_blocks:
            return configuration
        if self.dead is None:  # only twins: the live binaries are whole blocks
            own = [part for part, twin in zip(configuration.split(self.sizes, -1), self.twin_blocks) if twin is None]
            return own[0] if len(own) == 1 else torch.cat(own, -1)
        if configuration.dim() == 1:  # index_select reads a 1-d index a few times faster than indexing
            return configuration.index_select(0, self.live)
        # gather: about 3x faster than advanced indexing of a bool matrix's columns on the CPU
        return configuration.gather(-1, self.live.expand(*configuration.shape[:-1], -1))

    def complete(self, live_configurations: torch.Tensor) -> torch.Tensor:
        """[A, live] bool -> [A, K] bool: dead binaries at their (constant) hard values, twins
        copied from their sources."""
        if self.dead is None and not self.twin_blocks:
            return live_configurations
        if self.dead is None:  # only twins: the blocks are the live columns and copies of them
            own = iter(live_configurations.split([n for n, t in zip(self.sizes, self.twin_blocks) if t is None], 1))
            return torch.cat(self._with_twins(lambda: next(own)), 1)
        full = self.hard.expand(live_configurations.shape[0], -1).clone()
        full.scatter_(1, self.live.expand(live_configurations.shape[0], -1), live_configurations)
        if self.twin_blocks:
            parts = list(full.split(self.sizes, 1))
            for part, twin in zip(parts, self.twin_blocks):
                if twin is not None:
                    part.copy_(~parts[twin[0]] if twin[1] else parts[twin[0]])
            full = self.pin_dead(full)  # a dead twin keeps its own constant
        return full

    def _with_twins(self, own_block) -> list:
        """Per block, ``own_block()`` for a block of its own, or its source's (negated) for a twin."""
        blocks: list = []
        for twin in self.twin_blocks:
            if twin is None:
                blocks.append(own_block())
            else:
                source, negated = twin
                blocks.append(~blocks[source] if negated else blocks[source])
        return blocks

    def pin_dead(self, configuration: torch.Tensor) -> torch.Tensor:
        """``configuration`` with the dead binaries at their hard values: ``(c & ~dead) | (hard &
        dead)``, two bool passes where ``torch.where`` on bools costs about three."""
        if self.dead is None:
            return configuration
        keep, pinned = self._pinning
        return (configuration & keep) | pinned

    @functools.cached_property
    def _pinning(self) -> tuple[torch.Tensor, torch.Tensor]:
        return ~self.dead, self.hard & self.dead

    def pin_dead_bytes(self, words: torch.Tensor) -> torch.Tensor:
        """Bytes of eight configurations each ([..., K] uint8, one bit per configuration) with the
        dead binaries' bits at their hard values, for all eight at once."""
        if self.dead is None:
            return words
        keep, pinned = self._pinning
        return (words & (keep.to(torch.uint8) * 255)) | (pinned.to(torch.uint8) * 255)
