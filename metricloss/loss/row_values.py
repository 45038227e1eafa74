"""Anchors' exact values through g's row split (``compiler/rows/``): only the rows that change.

When g is a reduction over R rows of a per-row part, a configuration's value is ``rest`` of its
frontier ([R, ...], the per-row values). Configurations given bit by bit (the hard and ideal
ones, uniform random anchors) go through ``part`` whole, as R rows each. An anchor that is a base
with a few flipped bits (ideal, good, nearby) shares every row but the flipped ones with its
base: ``part`` runs on the base once and, per anchor, on the rows its flips fall in (each row
with every flip of that anchor inside it), and those rows replace the base's in a copy of the
base's frontier. ``rest`` then runs on every configuration's frontier at once, under vmap.
Where the part reads its rows only through counts (ranks), ``counted_values`` takes over.
"""

from __future__ import annotations

import torch

from ..compiler.binaries import Binaries
from ..compiler.rows import RowSplit
from .anchors import FlipAnchors
from .counted_values import values_by_counts
from .row_layout import RowLayout, repeated_rows
from .sizes import Sizes


def values_by_rows(program, binaries: Binaries, split: RowSplit, leading: torch.Tensor, anchor_sets, sizes: Sizes,
                   bases: dict[int, int]) -> torch.Tensor | None:
    """g at [*leading, *each set's distinct anchors] through the row split; None if its rest
    cannot be vectorised.

    ``bases``: id of a flip set's base -> the leading row it completes to (its frontier is then
    that row's); other bases are completed and evaluated once each.
    """
    layout = RowLayout(split, binaries)
    if split.counted is not None and not binaries.twin_blocks:  # g's rows read through counts alone
        return values_by_counts(program, layout, leading, anchor_sets, sizes, bases)
    rows_per_call = max(1, sizes.chunk(sizes.rows_chunk, binaries.hard.device) // max(layout.width, 1))
    configurations_per_call = max(1, rows_per_call // split.rows)

    def whole(full: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """Frontiers of whole configurations: [n, K] -> each [n, R, ...]."""
        parts = [program.frontier(binaries, split, layout.to_rows(chunk), None if len(chunk) == 1 else
                                  repeated_rows(split.rows, len(chunk), full.device))
                 for chunk in full.split(configurations_per_call)]
        return tuple(torch.cat(values).reshape(full.shape[0], *shape)
                     for values, shape in zip(zip(*parts), split.frontier_shapes))

    segments = [whole(binaries.pin_dead(leading))]
    base_frontiers: dict[int, tuple] = {}
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
        changed, owners, rows = layout.flipped_rows(layout.to_rows(base_full), anchors)
        parts = [program.frontier(binaries, split, changed[start:start + rows_per_call],
                                  rows[start:start + rows_per_call])
                 for start in range(0, changed.shape[0], rows_per_call)]
        frontier = []
        for base_value, new in zip(base, (torch.cat(v) for v in zip(*parts))):
            value = base_value.expand(anchors.distinct, *base_value.shape).clone()
            value[owners, rows] = new.to(value.dtype)
            frontier.append(value)
        segments.append(tuple(frontier))
    frontier = tuple(torch.cat(values) for values in zip(*segments))
    return program.values_from_frontier(binaries, split, frontier)
