"""Row rules for ops that move, merge or cut dimensions without computing values.

Each follows the row dimension to its new position (a transpose swaps it, an unsqueeze before it
shifts it, a flatten of other dimensions leaves it), and refuses the row dimension itself being
cut or merged. A reshape or expand that names R is kept with the rows' size left free
(``part_ops.reshape_rows``, ``expand_rows``), so ``part`` runs on any subset of the rows.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import torch
import torch.fx as fx

from .. import ops
from .op_kinds import normal_dim, op_key
from .part_ops import expand_rows, reshape_rows

if TYPE_CHECKING:
    from .dimensions import RowDimensions


def narrowing(walk: RowDimensions, node: fx.Node) -> int | None:
    source = node.args[0]
    if source not in walk.row:
        return None
    key = op_key(node)
    ndim = len(walk.shape(source))
    dim = normal_dim(ops.argument(node, 1, "dim", 0), ndim)
    d = walk.row[source]
    if dim == d:
        return None
    if key in ("index_select", torch.index_select):
        index = ops.argument(node, 2, "index")
        if isinstance(index, fx.Node) and (index in walk.row or index in walk.rest):
            return None
        return walk.checked(node, source, d)
    if key in ("select", torch.select, "unbind", torch.unbind):
        return walk.checked(node, source, d - 1 if dim < d else d)
    return walk.checked(node, source, d)

def movedim(walk: RowDimensions, node: fx.Node) -> int | None:
    source = node.args[0]
    ndim = len(walk.shape(source))
    sources = ops.argument(node, 1, "source")
    targets = ops.argument(node, 2, "destination")
    sources = [normal_dim(s, ndim) for s in (sources if isinstance(sources, (tuple, list)) else (sources,))]
    targets = [normal_dim(t, ndim) for t in (targets if isinstance(targets, (tuple, list)) else (targets,))]
    order = [None] * ndim  # output position -> input dimension
    for s, t in zip(sources, targets):
        order[t] = s
    remaining = iter(i for i in range(ndim) if i not in sources)
    order = [o if o is not None else next(remaining) for o in order]
    return walk.only(node, source, order.index(walk.row[source]))

def permute(walk: RowDimensions, node: fx.Node) -> int | None:
    source = node.args[0]
    dims = node.args[1:] if len(node.args) > 2 or not isinstance(node.args[1], (tuple, list)) else node.args[1]
    if "dims" in node.kwargs:
        dims = node.kwargs["dims"]
    ndim = len(walk.shape(source))
    dims = [normal_dim(d, ndim) for d in dims]
    return walk.only(node, source, dims.index(walk.row[source]))

def transpose(walk: RowDimensions, node: fx.Node) -> int | None:
    source = node.args[0]
    ndim = len(walk.shape(source))
    a, b = (normal_dim(x, ndim) for x in (node.args[1], node.args[2]))
    d = walk.row[source]
    return walk.only(node, source, b if d == a else a if d == b else d)

def squeeze(walk: RowDimensions, node: fx.Node) -> int | None:
    source = node.args[0]
    before, after = walk.shape(source), walk.shape(node)
    d = walk.row[source]
    dims = ops.argument(node, 1, "dim")
    if dims is None:
        removed = [i for i, s in enumerate(before) if s == 1]
    else:
        dims = [normal_dim(x, len(before)) for x in (dims if isinstance(dims, (tuple, list)) else (dims,))]
        removed = [i for i in dims if before[i] == 1]
    if d in removed or len(before) - len(removed) != len(after):
        return None
    return walk.only(node, source, d - sum(1 for i in removed if i < d))

def flatten(walk: RowDimensions, node: fx.Node) -> int | None:
    source = node.args[0]
    ndim = len(walk.shape(source))
    if ndim == 0:
        return None
    start = normal_dim(ops.argument(node, 1, "start_dim", 0), ndim)
    end = normal_dim(ops.argument(node, 2, "end_dim", -1), ndim)
    d = walk.row[source]
    if start <= d <= end and start != end:
        return None
    return walk.only(node, source, d - (end - start) if d > end else d)

def reshape(walk: RowDimensions, node: fx.Node) -> int | None:
    source = node.args[0]
    out = walk.shape(node)
    if walk.row[source] != 0 or not out or out[0] != walk.rows:
        return None
    if walk.only(node, source, 0) is None:
        return None
    walk.rewrites[node] = (reshape_rows, (tuple(out[1:]),))
    return 0

def expand(walk: RowDimensions, node: fx.Node) -> int | None:
    source = node.args[0]
    if source not in walk.row:
        return None
    out = walk.shape(node)
    d = walk.row[source] + len(out) - len(walk.shape(source))
    if walk.only(node, source, d) is None:
        return None
    sizes = list(out)
    sizes[d] = -1
    walk.rewrites[node] = (expand_rows, (tuple(sizes),))
    return d


def transposed(walk: RowDimensions, node: fx.Node) -> int | None:
    """``x.t()``: a matrix's two dimensions swapped (a vector's kept)."""
    source = node.args[0]
    ndim = len(walk.shape(source))
    return walk.only(node, source, (1 - walk.row[source]) if ndim == 2 else walk.row[source])


def unsqueeze(walk: RowDimensions, node: fx.Node) -> int | None:
    source = node.args[0]
    dim = normal_dim(ops.argument(node, 1, "dim"), len(walk.shape(source)) + 1)
    d = walk.row[source]
    return walk.only(node, source, d + 1 if dim <= d else d)


def unflatten(walk: RowDimensions, node: fx.Node) -> int | None:
    source = node.args[0]
    dim = normal_dim(ops.argument(node, 1, "dim"), len(walk.shape(source)))
    d = walk.row[source]
    if dim == d:
        return None
    return walk.only(node, source, d if dim > d else d + len(walk.shape(node)) - len(walk.shape(source)))


def along_columns(walk: RowDimensions, node: fx.Node) -> int | None:
    """The lowering's own ``rewrites.with_columns`` (the last dimension resized) and
    ``rewrites.k_in_range`` (the values as they are, once a check passes)."""
    source = node.args[0]
    if source not in walk.row or any(a in walk.row for a in node.args[1:] if isinstance(a, fx.Node)):
        return None
    ndim = len(walk.shape(source))
    return walk.row[source] if walk.row[source] != ndim - 1 or node.target.__name__ == "k_in_range" else None
