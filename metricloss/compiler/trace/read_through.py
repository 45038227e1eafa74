"""Reads that give back what they read: ``scores.data`` and ``value.item()``.

Both are the value itself as far as the graph is concerned; left in, ``.data`` would hide the
scores from the walks that look for them, and ``.item()`` would leave torch.
"""

from __future__ import annotations

import torch.fx as fx


def read_through(graph: fx.Graph) -> None:
    """``scores.data`` is the scores, and ``.item()`` of a value is that value as a 0-d tensor
    (``correct.sum().item() / total`` returns a number built from the binaries; a ``.item()``
    that would steer Python control flow never gets here: ``to_bool`` refuses it)."""
    for node in list(graph.nodes):
        reads = (node.op == "call_function" and node.target is getattr and node.args[1] == "data") or (
            node.op == "call_method" and node.target == "item" and len(node.args) == 1)
        if reads:
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)
