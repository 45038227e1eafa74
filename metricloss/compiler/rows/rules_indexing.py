"""Row rules for ops that pick or join entries: indexing, gather, scatter, stack, matmul.

Basic indexing keeps the rows when it takes all of them (``x[:, 0]``, ``x[..., :k]``); indexing
by a tensor (advanced indexing) could pick rows from anywhere, and starts ``rest``. A gather or
scatter along another dimension, a join of row nodes, and a product with a target matrix keep
each row's entries in its row; a target operand with R entries along the rows is sliced.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.fx as fx

from .. import ops
from .op_kinds import holds_node, normal_dim

if TYPE_CHECKING:
    from .dimensions import RowDimensions


def gather(walk: RowDimensions, node: fx.Node) -> int | None:
    source = node.args[0]
    dim = ops.argument(node, 1, "dim")
    index = ops.argument(node, 2, "index")
    if not isinstance(dim, int) or not walk.is_tensor(index) or not walk.is_tensor(source):
        return None
    if any(n in walk.rest for n in (source, index)):
        return None
    ndim = len(walk.shape(node))
    dim = normal_dim(dim, ndim)
    if index in walk.row:
        d = walk.row[index]
        if source in walk.row and walk.row[source] != d:
            return None
        if source not in walk.row:
            walk.slice(node, source, d)
    else:
        d = walk.row[source]
        if walk.shape(index)[d] != walk.rows:
            return None
        walk.slice(node, index, d)
    if dim == d or walk.shape(node)[d] != walk.rows:
        return None
    return d

def scatter(walk: RowDimensions, node: fx.Node) -> int | None:
    """``walk.scatter*(dim, index, src)`` along another dimension than the rows'."""
    dim = ops.argument(node, 1, "dim")
    if not isinstance(dim, int):
        return None
    operands = [node.args[0], ops.argument(node, 2, "index"), ops.argument(node, 3, "src")]
    tensors = [o for o in operands if walk.is_tensor(o)]
    if any(o in walk.rest for o in tensors):
        return None
    rows = {walk.row[o] for o in tensors if o in walk.row}
    if len(rows) != 1:
        return None
    d = rows.pop()
    out = walk.shape(node)
    if normal_dim(dim, len(out)) == d or out[d] != walk.rows:
        return None
    for operand in tensors:
        if operand not in walk.row:
            shape = walk.shape(operand)
            if len(shape) != len(out) or shape[d] != walk.rows:
                return None
            walk.slice(node, operand, d)
    return d

def join(walk: RowDimensions, node: fx.Node) -> int | None:
    tensors = node.args[0]
    if not isinstance(tensors, (tuple, list)) or not tensors:
        return None
    dim = ops.argument(node, 1, "dim", 0)
    out = walk.shape(node)
    stacking = node.target is torch.stack
    ndim = len(out) - 1 if stacking else len(out)
    dim = normal_dim(dim, len(out) if stacking else ndim)
    rows = {walk.row[t] for t in tensors if t in walk.row}
    if len(rows) != 1 or any(t in walk.rest for t in tensors if isinstance(t, fx.Node)):
        return None
    d = rows.pop()
    if not stacking and dim == d:
        return None
    for t in tensors:
        if t in walk.row:
            continue
        if not walk.is_tensor(t) or len(walk.shape(t)) != ndim or walk.shape(t)[d] != walk.rows:
            return None
        walk.slice(node, t, d)
    out_d = d + 1 if stacking and dim <= d else d
    return out_d if out[out_d] == walk.rows else None

def matmul(walk: RowDimensions, node: fx.Node) -> int | None:
    left, right = node.args[0], node.args[1]
    if left not in walk.row or (isinstance(right, fx.Node) and (right in walk.row or right in walk.rest)):
        return None
    if not walk.is_tensor(right) or len(walk.shape(right)) > 2:
        return None
    lshape = walk.shape(left)
    d = walk.row[left]
    if len(lshape) < 2 or d > len(lshape) - 2:
        return None
    out = d
    return out if walk.shape(node)[out] == walk.rows else None

def getitem(walk: RowDimensions, node: fx.Node) -> int | None:
    source, index = node.args
    if source not in walk.row:
        return None
    value = walk.seen.get(source)
    if isinstance(value, (tuple, list)):  # an element of (values, indices)
        return walk.row[source] if isinstance(index, int) else None
    if holds_node(index):
        return None  # advanced indexing
    index = index if isinstance(index, tuple) else (index,)
    ndim = len(walk.shape(source))
    explicit = sum(1 for i in index if i is not None and i is not Ellipsis)
    d = walk.row[source]
    in_dim, out_dim = 0, 0
    for item in index:
        if item is Ellipsis:
            skipped = ndim - explicit
            if in_dim <= d < in_dim + skipped:
                return walk.only(node, source, out_dim + d - in_dim)
            in_dim += skipped
            out_dim += skipped
        elif item is None:
            out_dim += 1
        elif isinstance(item, int):
            if in_dim == d:
                return None
            in_dim += 1
        elif isinstance(item, slice):
            if in_dim == d:
                if item != slice(None):
                    return None
                return walk.only(node, source, out_dim)
            in_dim += 1
            out_dim += 1
        else:
            return None
    # past the index: dimensions kept as they are
    return walk.only(node, source, out_dim + d - in_dim)
