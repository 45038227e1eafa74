"""Anchors' exact values when g's rows read their comparisons only through counts (ranks).

The ``argsort``/``topk``/``sort`` rewrites make an item's rank the number of items that beat it,
``count_true`` of a block over its last dimension, and when g's per-row part reads every block
that way it is ``counted`` of those counts (``compiler/rows/counted.py``). Every configuration the
loss evaluates is then reduced to counts first, by the cheapest route its representation allows:

- whole configurations (the hard and ideal ones, anchors given bit by bit) are counted;
- packed random anchors are counted eight to a pass, straight from their bytes, never unpacked;
- a flip anchor's changed rows are its base's counts plus one per bit its flips turn true (minus
  one per bit turned false), O(flips + n) per row instead of O(n^2).

``counted`` then runs once over the counts of every configuration of the batch: the ops after the
counts (an ``argsort`` of the ranks, the gathers of gains, the sums) are paid once a batch, not
once per anchor set.
"""

from __future__ import annotations

import torch

from ..compiler.binaries import Binaries
from .anchors import FlipAnchors, RandomAnchors
from .row_layout import RowLayout, repeated_rows
from .sizes import Sizes


def values_by_counts(program, layout: RowLayout, leading: torch.Tensor, anchor_sets, sizes: Sizes,
                     bases: dict[int, int]) -> torch.Tensor | None:
    """g at [*leading, *each set's distinct anchors], as ``row_values.values_by_rows`` gives it,
    for a split whose part is counted (``split.counted``) on a batch without twin blocks."""
    binaries, split = layout.binaries, layout.split
    device = leading.device
    binaries_per_call = sizes.chunk(sizes.rows_chunk, device)
    per_call = max(1, binaries_per_call // max(layout.width * split.rows, 1))  # configurations made at a time
    counts: list[list[torch.Tensor]] = []  # per piece, per block: [rows of the piece, C]
    at: list[torch.Tensor] = []  # per piece: the batch row of each of its rows
    plans: list[tuple] = []  # per segment: how its frontier is read off the pieces'

    def piece(block_counts: list[torch.Tensor], rows: torch.Tensor) -> slice:
        start = sum(len(r) for r in at)
        counts.append(block_counts)
        at.append(rows)
        return slice(start, start + len(rows))

    def whole(full: torch.Tensor) -> slice:  # counted a chunk at a time: torch widens the bools it sums
        counted = [layout.whole_counts(chunk) for chunk in full.split(per_call)]
        return piece([torch.cat(c) for c in zip(*counted)], repeated_rows(split.rows, len(full), device))

    pinned = binaries.pin_dead(leading)
    plans.append(("whole", [whole(pinned)], len(leading)))  # the first piece: _base reads it
    base_rows = {row: pinned[row:row + 1].clone() for row in set(bases.values())}  # the rest freed now
    del pinned
    bases_seen: dict[int, tuple] = {}
    for anchors in anchor_sets:
        if not isinstance(anchors, FlipAnchors):
            words = anchors.packed(binaries) if isinstance(anchors, RandomAnchors) else None
            if words is not None:
                pieces = [piece(layout.packed_counts(words, anchors.count, binaries_per_call),
                                repeated_rows(split.rows, anchors.count, device))]
            else:
                full_rows = anchors.full_rows(binaries)
                pieces = [whole(full_rows(start, min(start + per_call, anchors.distinct)))
                          for start in range(0, anchors.distinct, per_call)]
            plans.append(("whole", pieces, anchors.distinct))
            continue
        key = id(anchors.base)
        if key not in bases_seen:
            bases_seen[key] = _base(layout, anchors.base, base_rows, counts, bases.get(key), whole)
        base_full, base_counts, base_at = bases_seen[key]
        if anchors.flips.shape[1] == 0:
            plans.append(("base", base_at))
            continue
        changed, owners, rows = layout.flipped_counts(base_counts, base_full, anchors)
        plans.append(("flips", base_at, piece(changed, rows), owners, rows, anchors.distinct))
    per_row = sum(c.shape[1] for c in counts[0])  # counts per row: the part's work on a row is of their size
    frontier = _counted(program, binaries, split, counts, at, max(1, binaries_per_call // max(per_row, 1)))
    segments = [_segment(plan, frontier, split) for plan in plans]
    return program.values_from_frontier(binaries, split, tuple(torch.cat(v) for v in zip(*segments)))


def _base(layout: RowLayout, base: torch.Tensor, base_rows: dict[int, torch.Tensor], counts: list, row: int | None,
          whole) -> tuple:
    """A flip set's base: (completed [1, K], its counts per block, where its frontier's rows lie)."""
    rows = layout.split.rows
    if row is None:
        full = layout.binaries.complete(base[None])
        at = whole(full)  # a piece of its own: its counts are the last piece's
        return full, counts[-1], at
    # A leading row: its counts and frontier rows are the leading piece's (the first piece).
    at = slice(row * rows, (row + 1) * rows)
    return base_rows[row], [c[at] for c in counts[0]], at


def _counted(program, binaries: Binaries, split, counts, at, rows_per_call: int) -> tuple[torch.Tensor, ...]:
    """``counted`` on every piece's rows: the frontier, each value [rows, ...]."""
    blocks = [torch.cat(parts) for parts in zip(*counts)]
    rows = torch.cat(at)
    parts = [program.frontier_from_counts(binaries, split, [b[start:start + rows_per_call] for b in blocks],
                                          rows[start:start + rows_per_call])
             for start in range(0, len(rows), rows_per_call)]
    return tuple(torch.cat(v) for v in zip(*parts))


def _segment(plan: tuple, frontier: tuple[torch.Tensor, ...], split) -> tuple[torch.Tensor, ...]:
    """One segment's frontier ([configurations, R, ...] each) from the rows of the pieces."""
    kind = plan[0]
    if kind == "whole":
        _, pieces, count = plan
        return tuple(torch.cat([v[s] for s in pieces]).reshape(count, *shape)
                     for v, shape in zip(frontier, split.frontier_shapes))
    if kind == "base":
        return tuple(v[plan[1]][None] for v in frontier)
    _, base, changed, owners, rows, count = plan
    values = []
    for value in frontier:
        own = value[base]
        copy = own.expand(count, *own.shape).clone()
        copy[owners, rows] = value[changed].to(copy.dtype)
        values.append(copy)
    return tuple(values)
