"""Where each binary of a batch sits in the rows of g's row split, and the rows an anchor changes.

Rows are laid side by side across blocks: row r of a configuration is the r-th row of every
block, concatenated ([R, L], L binaries per row in all). A flip of a live binary also reaches its
twins (the same comparison in another block, negated or not), unless a twin is dead. Where g's
rows read their blocks only through counts (``compiler/rows/counted.py``), a configuration's rows
are also given as those counts: whole, packed eight to a byte, or a base's plus its flips.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..compiler.binaries import Binaries
from ..compiler.bool_ops import bit_counts
from ..compiler.rewrites import count_true
from ..compiler.rows import RowSplit
from .anchors import FlipAnchors


@dataclass
class RowLayout:
    """Where each binary of a batch sits in the rows of ``split``."""

    split: RowSplit
    binaries: Binaries

    def __post_init__(self):
        binaries, split = self.binaries, self.split
        device = binaries.hard.device
        self.width = sum(split.row_sizes)  # L
        sizes = binaries.sizes
        starts = [0]
        for size in sizes[:-1]:
            starts.append(starts[-1] + size)
        columns = [0]
        for size in split.row_sizes[:-1]:
            columns.append(columns[-1] + size)
        self._ends = torch.tensor([s + n for s, n in zip(starts, sizes)], device=device)
        self._starts = torch.tensor(starts, device=device)
        self._per_row = torch.tensor(split.row_sizes, device=device)
        self._columns = torch.tensor(columns, device=device)
        twins: list[list[tuple[int, bool]]] = [[] for _ in sizes]
        for block, twin in enumerate(binaries.twin_blocks):
            if twin is not None:
                twins[twin[0]].append((block, twin[1]))
        slots = max((len(t) for t in twins), default=0)
        self._twin_block = torch.tensor([[b for b, _ in t] + [-1] * (slots - len(t)) for t in twins],
                                        device=device, dtype=torch.long).reshape(len(sizes), slots)
        self._twin_negated = torch.tensor([[n for _, n in t] + [False] * (slots - len(t)) for t in twins],
                                          device=device, dtype=torch.bool).reshape(len(sizes), slots)
        # Each block's last dimension: the binaries one count of ``count_true`` adds up.
        self._last = torch.tensor([shape[-1] if len(shape) > 1 else 1 for shape in binaries.shapes], device=device)

    def to_rows(self, full: torch.Tensor) -> torch.Tensor:
        """[n, K] configurations -> [n * R, L] rows."""
        count, rows = full.shape[0], self.split.rows
        if len(self.split.row_sizes) == 1:
            return full.reshape(count * rows, self.width)
        parts = full.split(self.binaries.sizes, dim=1)
        return torch.cat([p.reshape(count, rows, -1) for p in parts], 2).reshape(count * rows, self.width)

    def flipped_rows(self, base_rows: torch.Tensor, anchors: FlipAnchors) -> tuple[torch.Tensor, torch.Tensor,
                                                                                   torch.Tensor]:
        """The rows each anchor of ``anchors`` changes: ([P, L] rows, [P] anchor, [P] row), P =
        anchors x flips; each row holds every flip of its anchor that falls inside it."""
        binaries = self.binaries
        flips = anchors.flips[:anchors.distinct]
        count, per_anchor = flips.shape
        values = anchors.flipped(flips)  # [A, f] the flipped bits' new values
        full = flips if binaries.live is None else binaries.live[flips]
        block = torch.searchsorted(self._ends, full, right=True)
        local = full - self._starts[block]
        per_row = self._per_row[block]
        row, within = local // per_row, local % per_row
        columns = [self._columns[block] + within]
        new = [values]
        for slot in range(self._twin_block.shape[1]):  # the handful of twin blocks, not elements
            twin = self._twin_block[block, slot]
            present = twin >= 0
            twin = twin.clamp_min(0)
            if binaries.dead is not None:
                present = present & ~binaries.dead[self._starts[twin] + local]
            columns.append(torch.where(present, self._columns[twin] + within, self.width))
            new.append(values ^ self._twin_negated[block, slot])
        columns, new = torch.stack(columns, -1), torch.stack(new, -1)  # [A, f, E]
        entries = columns.shape[-1]
        same_row = row[:, :, None] == row[:, None, :]  # [A, f (this row), f (every flip)]
        index = torch.where(same_row[..., None], columns[:, None], self.width)
        index = index.reshape(count * per_anchor, per_anchor * entries)
        bits = new[:, None].expand(count, per_anchor, per_anchor, entries).reshape(count * per_anchor, -1)
        rows = row.reshape(-1)
        changed = torch.cat([base_rows[rows], base_rows.new_zeros(rows.shape[0], 1)], 1)
        changed.scatter_(1, index, bits)
        owners = torch.arange(count, device=rows.device).repeat_interleave(per_anchor)
        return changed[:, :self.width], owners, rows

    def whole_counts(self, full: torch.Tensor) -> list[torch.Tensor]:
        """Per block, ``count_true`` of each of its rows for the completed configurations ``full``
        ([n, K]): [n * R, C] with C the block's counts per row."""
        count = full.shape[0]
        return [count_true(block.reshape(count, *shape)).reshape(count * self.split.rows, -1)
                for block, shape in zip(full.split(self.binaries.sizes, 1), self.binaries.shapes)]

    def packed_counts(self, words: torch.Tensor, count: int, chunk: int) -> list[torch.Tensor]:
        """Per block, ``count_true`` of each row of the first ``count`` configurations packed in
        ``words`` ([groups, K] uint8 over every binary, eight configurations to a byte): [count * R,
        C], as ``whole_counts`` gives unpacked ones, without unpacking a bit. ``chunk``:
        packed bytes per call of ``bit_counts`` (which holds about twice as many)."""
        groups, counts = words.shape[0], []
        for block, shape in zip(words.split(self.binaries.sizes, 1), self.binaries.shapes):
            lines = block.reshape(groups, -1, shape[-1] if len(shape) else 1)  # what count_true reduces
            step = max(1, chunk // max(groups * lines.shape[2], 1))
            per_line = torch.cat([bit_counts(lines[:, start:start + step])
                                  for start in range(0, max(lines.shape[1], 1), step)], 1)
            counts.append(per_line[:count].reshape(count * self.split.rows, -1))
        return counts

    def flipped_counts(self, base_counts: list[torch.Tensor], base_full: torch.Tensor,
                       anchors: FlipAnchors) -> tuple[list[torch.Tensor], torch.Tensor, torch.Tensor]:
        """The counts of the rows each anchor changes, as ``flipped_rows`` gives the rows:
        ([P, C] per block, [P] anchor, [P] row), each row's counts the base's plus its anchor's
        flips inside it (a flip turning a bit true adds one to the count of its item). Without
        twins: a flip would have to reach its twins' counts too."""
        binaries = self.binaries
        flips = anchors.flips[:anchors.distinct]
        count, per_anchor = flips.shape
        new = anchors.flipped(flips)  # [A, f] the flipped bits' new values
        full = flips if binaries.live is None else binaries.live[flips]
        # A flip repeated within an anchor changes its bit once.
        repeated = (flips[:, :, None] == flips[:, None, :]).tril(-1).any(2)
        block = torch.searchsorted(self._ends, full, right=True)
        local = full - self._starts[block]
        per_row = self._per_row[block]
        row, within = local // per_row, local % per_row
        step = (new.long() - base_full[0, full].long()).masked_fill(repeated, 0)  # +1: a bit turns true
        item = within // self._last[block]  # the count each flip changes, in its block's row
        same_row = row[:, :, None] == row[:, None, :]  # [A, f (this row), f (every flip)]
        rows = row.reshape(-1)
        counts = []
        for index, base in enumerate(base_counts):
            mine = (block == index)[:, None] & same_row
            changed = base[rows].reshape(count, per_anchor, -1)
            changed.scatter_add_(2, torch.where(mine, item[:, None], 0), step[:, None] * mine)
            counts.append(changed.reshape(count * per_anchor, -1))
        owners = torch.arange(count, device=rows.device).repeat_interleave(per_anchor)
        return counts, owners, rows


def repeated_rows(rows: int, count: int, device) -> torch.Tensor:
    """0..R-1, ``count`` times: the rows of ``count`` whole configurations."""
    return torch.arange(rows, device=device).repeat(count)
