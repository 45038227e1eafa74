"""``part`` after its counts: a row's ranks from counts that a flip changes by one.

A rank is a count of binaries: the ``argsort``/``topk``/``sort`` rewrites give each item the
number of items that beat it, ``count_true`` of a block over its last dimension. When ``part``
reads every block only through such counts,

    part(blocks, targets, rows) = counted(count_true(block) for each block, targets, rows),

and an anchor that flips a few binaries of a row changes that row's counts by one per flip: the
loss adds the flips to the base's counts (``loss/row_values.py``) instead of copying the row's
binaries, flipping them and counting all of them again, which for lists of n items is O(n^2)
per changed row. ``counted`` is ``part`` with each ``count_true(block)`` replaced by an input;
everything after the counts is ``part``'s own code, so the frontier is the same.
"""

from __future__ import annotations

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
        env[node] = graph.node_copy(node, lambda n: env[n])
    graph.lint()
    return fx.GraphModule(part, graph)


def _counts(node: fx.Node, block: fx.Node) -> bool:
    """``count_true(block)``, as the rank rewrites write it."""
    return node.op == "call_function" and node.target is count_true and node.args == (block,) and not node.kwargs
