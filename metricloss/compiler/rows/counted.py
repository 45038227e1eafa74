"""``part`` after its counts: a row's ranks from counts that a flip changes by one.

A rank is a count of binaries: the ``argsort``/``topk``/``sort`` rewrites give each item the
number of items that beat it, ``count_true`` of a block over its last dimension. When ``part``
reads every block only through such counts,

    part(blocks, targets, rows) = counted(count_true(block) for each block, targets, rows),

and an anchor that flips a few binaries of a row changes that row's counts by one per flip: the
loss adds the flips to the base's counts (``loss/row_values.py``) instead of copying the row's
binaries, flipping them and counting all of them again, which for lists of n items is O(n^2)
per changed row. ``counted`` is ``part`` with each ``count_true(block)`` replaced by an input;
everything after the counts is ``part``'s own code, so the frontier is the same, except that a
stable ``argsort`` of the ranks (how the rewrites turn ranks into an order) runs as
``stable_order``: one sort of the whole tensor instead of one per row.
"""

from __future__ import annotations

import torch
import torch.fx as fx

from ..rewrites import count_true


def counted_part(part: fx.GraphModule, block_count: int) -> fx.GraphModule | None:
    """``part`` with its blocks' counts as inputs (``counts_i`` for block i, [P, *row shape
    without its last dimension]), or None when some block is read otherwise than counted."""
    placeholders = [n for n in part.graph.nodes if n.op == "placeholder"]
    blocks = placeholders[:block_count]
    for block in blocks:
        if any(not _counts(user, block) for user in block.users):
            return None
    if not any(block.users for block in blocks):
        return None
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    counts = [graph.placeholder(f"counts_{i}") for i in range(block_count)]
    for node in placeholders[block_count:]:
        env[node] = graph.placeholder(node.target)
    for node in part.graph.nodes:
        if node.op == "placeholder":
            continue
        if node.op == "output":
            graph.output(fx.map_arg(node.args[0], lambda n: env[n]))
            continue
        if node.op == "call_function" and node.target is count_true:
            env[node] = counts[blocks.index(node.args[0])]
            continue
        if _stable_argsort(node):
            args = fx.map_arg(node.args, lambda n: env[n])
            kwargs = {k: v for k, v in fx.map_arg(node.kwargs, lambda n: env[n]).items() if k != "stable"}
            env[node] = graph.call_function(stable_order, args, kwargs)
            env[node].meta = dict(node.meta)
            continue
        env[node] = graph.node_copy(node, lambda n: env[n])
    graph.lint()
    return fx.GraphModule(part, graph)


def _counts(node: fx.Node, block: fx.Node) -> bool:
    """``count_true(block)``, as the rank rewrites write it."""
    return node.op == "call_function" and node.target is count_true and node.args == (block,) and not node.kwargs


def _stable_argsort(node: fx.Node) -> bool:
    """``x.argsort(...)`` or ``torch.argsort(x, ...)`` with ``stable=True``, as the rewrites write it."""
    spelled = (node.op == "call_method" and node.target == "argsort") or \
        (node.op == "call_function" and node.target is torch.argsort)
    return spelled and node.kwargs.get("stable") is True and len(node.args) == 1 and \
        set(node.kwargs) <= {"dim", "descending", "stable"}


# Below this many values a tensor's rows are sorted one by one, as torch does.
_FLAT_FROM = 1024


def stable_order(values: torch.Tensor, dim: int = -1, descending: bool = False) -> torch.Tensor:
    """``values.argsort(dim=dim, descending=descending, stable=True)``.

    torch sorts a CPU tensor's rows one at a time, and a row of a hundred ranks costs several
    times its share of one large sort. Long integers (ranks, counts) are sorted as one flat
    tensor instead: each row's values offset past the previous row's range, so the rows keep
    apart, in int32 where the offsets fit (about three times faster than the rows' sorts at
    [350, 100]). Ties keep their index order, as a stable sort keeps them.
    """
    if values.device.type != "cpu" or values.dtype != torch.int64 or values.dim() < 2 or values.numel() < _FLAT_FROM:
        return values.argsort(dim=dim, descending=descending, stable=True)
    moved = values.movedim(dim, -1)
    rows = moved.reshape(-1, moved.shape[-1])
    low, high = (int(v) for v in rows.aminmax())  # on the CPU: no device to wait for
    span, count, length = high - low + 1, rows.shape[0], rows.shape[1]
    if count * span >= 1 << 62:
        return values.argsort(dim=dim, descending=descending, stable=True)
    dtype = torch.int32 if count * span < 1 << 31 else torch.int64
    keys = (high - rows if descending else rows - low).to(dtype)
    keys += torch.arange(0, count * span, span, dtype=dtype)[:, None]
    order = keys.reshape(-1).argsort(stable=True).view(count, length)
    order -= torch.arange(0, count * length, length)[:, None]
    return order.reshape(moved.shape).movedim(-1, dim)
