"""Row rules for ops that compute values: element by element, reductions, scans.

An elementwise op keeps its row operand's row dimension (moved right by broadcasting), and a
target operand with R entries along it is sliced to ``part``'s rows. A reduction, a scan or a
``topk`` keeps the rows only when it runs along other dimensions: over the rows (or over every
element) it mixes rows, and starts ``rest``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch.fx as fx

from .. import ops
from .op_kinds import DEFAULT_LAST, REDUCTIONS, SCANS, normal_dim, op_key

if TYPE_CHECKING:
    from .dimensions import RowDimensions


def named_dims(node: fx.Node, position: int):
    """The dimensions a reduction or scan names (``dim=`` or numpy's ``axis=``), or None."""
    dims = ops.argument(node, position, "dim")
    if dims is None and "axis" in node.kwargs:
        dims = node.kwargs["axis"]
    return dims


def elementwise(walk: RowDimensions, node: fx.Node) -> int | None:
    out = walk.shape(node)
    operands = walk.tensor_operands(node)
    dim = None
    for operand in operands:
        if operand in walk.row:
            here = walk.row[operand] + len(out) - len(walk.shape(operand))
            if dim is not None and here != dim:
                return None
            dim = here
    if dim is None or out[dim] != walk.rows:
        return None
    for operand in operands:
        if operand in walk.row:
            continue
        shape = walk.shape(operand)
        position = dim - (len(out) - len(shape))
        if 0 <= position < len(shape) and shape[position] != 1:
            if shape[position] != walk.rows:
                return None
            walk.slice(node, operand, position)
    return dim


def reduction(walk: RowDimensions, node: fx.Node) -> int | None:
    source = node.args[0]
    if source not in walk.row:
        return None
    dims = named_dims(node, REDUCTIONS[op_key(node)])
    if dims is None or isinstance(dims, fx.Node):
        return None  # over every element, rows included
    ndim = len(walk.shape(source))
    dims = [normal_dim(d, ndim) for d in (dims if isinstance(dims, (tuple, list)) else (dims,))]
    if not all(isinstance(d, int) for d in dims):
        return None
    d = walk.row[source]
    if d in dims:
        return None
    keep = bool(node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 and isinstance(node.args[2], bool)
                                else False))
    out = d if keep else d - sum(1 for x in dims if x < d)
    return walk.checked(node, source, out)


def scan(walk: RowDimensions, node: fx.Node) -> int | None:
    key = op_key(node)
    default = -1 if key in DEFAULT_LAST else None
    dims = named_dims(node, SCANS[key])
    if dims is None:
        dims = default
    if dims is None:
        return None
    return along(walk, node, dims)


def along(walk: RowDimensions, node: fx.Node, dims) -> int | None:
    source = node.args[0]
    if source not in walk.row or isinstance(dims, fx.Node):
        return None
    ndim = len(walk.shape(source))
    dims = [normal_dim(d, ndim) for d in (dims if isinstance(dims, (tuple, list)) else (dims,))]
    d = walk.row[source]
    if d in dims:
        return None
    return walk.checked(node, source, d)


def count_true(walk: RowDimensions, node: fx.Node) -> int | None:
    """``rewrites.count_true``: a sum over the last dimension."""
    source = node.args[0]
    if source not in walk.row:
        return None
    d = walk.row[source]
    return None if d == len(walk.shape(source)) - 1 else walk.checked(node, source, d)
