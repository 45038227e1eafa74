"""Anchors' exact values through g's row split (``compiler/rows/``): only the rows that change.

When g is a reduction over R rows of a per-row part, a configuration's value is ``rest`` of its
frontier ([R, ...], the per-row values). Configurations given bit by bit (the hard and ideal
ones, uniform random anchors) go through ``part`` whole, as R rows each. An anchor that is a base
with a few flipped bits (ideal, good, nearby) shares every row but the flipped ones with its
base: ``part`` runs on the base once and, per anchor, on the rows its flips fall in (each row
with every flip of that anchor inside it), and those rows replace the base's in a copy of the
base's frontier. ``rest`` then runs on every configuration's frontier at once, under vmap.

Rows are laid side by side across blocks: row r of the configuration is the r-th row of every
block, concatenated ([R, L], L binaries per row in all). A flip of a live binary also reaches its
twins (the same comparison in another block, negated or not), unless a twin is dead.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..compiler.binaries import Binaries
from ..compiler.rewrites import count_true
from ..compiler.rows import RowSplit
from .anchors import FlipAnchors
from .sizes import Sizes


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


    def base_counts(self, base_full: torch.Tensor) -> list[torch.Tensor]:
        """Per block, ``count_true`` of each of its rows for the completed configuration
        ``base_full`` ([1, K]): [R, C] with C the block's counts per row."""
        blocks = base_full[0].split(self.binaries.sizes)
        return [count_true(block.reshape(shape)).reshape(self.split.rows, -1)
                for block, shape in zip(blocks, self.binaries.shapes)]

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


def values_by_rows(program, binaries: Binaries, split: RowSplit, leading: torch.Tensor, anchor_sets, sizes: Sizes,
                   bases: dict[int, int]) -> torch.Tensor | None:
    """g at [*leading, *each set's distinct anchors] through the row split; None if its rest
    cannot be vectorised.

    ``bases``: id of a flip set's base -> the leading row it completes to (its frontier is then
    that row's); other bases are completed and evaluated once each.
    """
    layout = RowLayout(split, binaries)
    rows_per_call = max(1, sizes.chunk(sizes.rows_chunk, binaries.hard.device) // max(layout.width, 1))
    configurations_per_call = max(1, rows_per_call // split.rows)

    def whole(full: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Frontiers of whole configurations: [n, K] -> each [n, R, ...]."""
        parts = [program.frontier(binaries, split, layout.to_rows(chunk), None if len(chunk) == 1 else
                                  _repeated_rows(split.rows, len(chunk), full.device))
                 for chunk in full.split(configurations_per_call)]
        return tuple(torch.cat(values).reshape(full.shape[0], *shape)
                     for values, shape in zip(zip(*parts), split.frontier_shapes))

    segments = [whole(binaries.pin_dead(leading))]
    base_frontiers: dict[int, tuple] = {}
    base_counts: dict[int, list] = {}
    for anchors in anchor_sets:
        if not isinstance(anchors, FlipAnchors):
            full_rows = anchors.full_rows(binaries)
            chunks = [whole(full_rows(start, min(start + configurations_per_call, anchors.distinct)))
                      for start in range(0, anchors.distinct, configurations_per_call)]
            segments.append(tuple(torch.cat(v) for v in zip(*chunks)))
            continue
        key = id(anchors.base)
        if key not in base_frontiers:
            base_full = binaries.complete(anchors.base[None])
            frontier = (tuple(v[bases[key]] for v in segments[0]) if key in bases
                        else tuple(v[0] for v in whole(base_full)))
            base_frontiers[key] = base_full, frontier
        base_full, base = base_frontiers[key]
        if anchors.flips.shape[1] == 0:
            segments.append(tuple(v[None] for v in base))
            continue
        if split.counted is not None and not binaries.twin_blocks:  # ranks: the base's counts plus the flips
            if key not in base_counts:
                base_counts[key] = layout.base_counts(base_full)
            counts, owners, rows = layout.flipped_counts(base_counts[key], base_full, anchors)
            changed_frontier = program.frontier_from_counts(binaries, split, counts, rows)
        else:
            changed, owners, rows = layout.flipped_rows(layout.to_rows(base_full), anchors)
            parts = [program.frontier(binaries, split, changed[start:start + rows_per_call],
                                      rows[start:start + rows_per_call])
                     for start in range(0, changed.shape[0], rows_per_call)]
            changed_frontier = [torch.cat(v) for v in zip(*parts)]
        frontier = []
        for base_value, new in zip(base, changed_frontier):
            value = base_value.expand(anchors.distinct, *base_value.shape).clone()
            value[owners, rows] = new.to(value.dtype)
            frontier.append(value)
        segments.append(tuple(frontier))
    frontier = tuple(torch.cat(values) for values in zip(*segments))
    return program.values_from_frontier(binaries, split, frontier)


def _repeated_rows(rows: int, count: int, device) -> torch.Tensor:
    """0..R-1, ``count`` times: the rows of ``count`` whole configurations."""
    return torch.arange(rows, device=device).repeat(count)
