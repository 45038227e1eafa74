"""``beats(lhs, rhs, tie_wins)`` as one comparison of combined integer keys.

The rank rewrites compare scores with a tie rule (``tie_wins``) that is itself an outer
comparison (positions of a stable sort: ties in index order). Dense ranks of the values times
the number of entries plus dense ranks of the tie keys order pairs exactly as the rule does, so
the whole ``beats`` block becomes one ``Outer`` that counting and searching can read.
"""

from __future__ import annotations

import torch

from .lazy import Lazy, Outer
from .node_ops import NEGATED
from .tensors import batched, comparable


def _dense_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 0, 1, ... of ``values`` along the last dim, equal values equal ranks."""
    ordered, order = torch.sort(values, dim=-1)
    new = torch.cat([torch.ones_like(ordered[..., :1], dtype=torch.bool), ordered[..., 1:] != ordered[..., :-1]], -1)
    ranks = new.cumsum(-1) - 1
    return torch.empty_like(ranks).scatter_(-1, order, ranks)


def keyed_beats(lhs_row: bool, row: torch.Tensor, col: torch.Tensor, tie, labels) -> Outer | None:
    """``beats`` as one comparison: ``row_i > col_j`` (``col_j > row_i`` unless ``lhs_row``),
    a tie won where ``tie`` holds."""
    row, col = comparable(row, col)
    if not lhs_row:  # col_j > row_i is -row_i > -col_j
        if row.dtype == torch.uint8:
            row, col = row.to(torch.int64), col.to(torch.int64)
        row, col = -row, -col
    if isinstance(tie, (bool, torch.Tensor)) and not isinstance(tie, Lazy):
        if isinstance(tie, torch.Tensor) and tie.dim() != 0:
            return None
        return Outer(row, col, "ge" if bool(tie) else "gt", labels=labels) if isinstance(tie, bool) else None
    if not isinstance(tie, Outer) or tie.shape[-2:] != (row.shape[-1], col.shape[-1]):
        return None
    p, q = comparable(tie.row, tie.col)
    if p.is_floating_point() and tie.negated:
        return None
    op = NEGATED[tie.op] if tie.negated else tie.op
    if op not in ("gt", "ge", "lt", "le"):
        return None
    if op in ("lt", "le"):
        p, q = -p.to(torch.int64), -q.to(torch.int64)
    batch = torch.broadcast_shapes(row.shape[:-1], col.shape[:-1], p.shape[:-1], q.shape[:-1])
    row, col = batched(row, col, batch)
    p, q = batched(p, q, batch)
    M, N = row.shape[-1], col.shape[-1]
    values = _dense_ranks(torch.cat([row, col], -1))
    keys = _dense_ranks(torch.cat([p, q], -1))
    size = M + N
    combined = values * size + keys
    row_keys, col_keys = combined[..., :M], combined[..., M:]
    if row.is_floating_point():  # NaN beats nothing and is beaten by nothing
        row_keys = row_keys.masked_fill(torch.isnan(row), -1)
        col_keys = col_keys.masked_fill(torch.isnan(col), size * size)
    return Outer(row_keys, col_keys, "ge" if op in ("ge", "le") else "gt", labels=labels)
