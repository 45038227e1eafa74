"""The first entry along one side where a comparison holds, by a sorted search.

``argmax`` of a 0/1 block along one side is the first index where it holds (torch returns the
first maximal index): for integer operands, a search in a running maximum (``>``, ``>=``) or in
one side sorted stably (``==``) finds it without the block.
"""

from __future__ import annotations

import torch

from .lazy import Outer
from .node_ops import NEGATED
from .tensors import batched, comparable


def first_match(outer: Outer, along: int, batch) -> torch.Tensor | None:
    """For every column (along=-2) or row (along=-1), the index of the first entry along the
    other side where the (integer) comparison holds, 0 where none does: what ``argmax`` of the
    block (cast to numbers) gives. None for floating operands or ``!=``."""
    if along == -1:
        outer = outer.transposed()
    row, col = batched(*comparable(outer.row, outer.col), batch)
    if row.is_floating_point() or row.is_complex():
        return None
    op = NEGATED[outer.op] if outer.negated else outer.op
    M = row.shape[-1]
    if op == "ne":
        return None
    if op in ("lt", "le"):
        row, col = -row.to(torch.int64), -col.to(torch.int64)
        op = "gt" if op == "lt" else "ge"
    if op == "eq":
        ordered, order = torch.sort(row, dim=-1, stable=True)
        position = torch.searchsorted(ordered, col, side="left")
        clamped = position.clamp_max(M - 1)
        found = (position < M) & (ordered.gather(-1, clamped) == col)
        return torch.where(found, order.gather(-1, clamped), 0)
    # The first i with row_i > c is the first i where the running maximum passes c.
    running = torch.cummax(row, dim=-1).values
    position = torch.searchsorted(running, col, side="right" if op == "gt" else "left")
    return torch.where(position < M, position, 0)
