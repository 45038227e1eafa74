"""The guards torch.fx leaves for bound keyword-only parameters, dropped.

A metric is compiled for one binding of its parameters (``bind(k=5)``) for good, so the asserts
that check the binding and the placeholders that carry it are dead weight in every stage after.
"""

from __future__ import annotations

import torch
import torch.fx as fx


def drop_specialisation_guards(graph: fx.Graph, positional: int) -> None:
    """torch.fx keeps bound keyword-only parameters as placeholders guarded by asserts.

    The compiled metric is specialised to one binding for good, so the guards and the placeholders
    after the positional ones go.
    """
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target is torch._assert:
            graph.erase_node(node)
    graph.eliminate_dead_code()
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    for node in placeholders[positional:]:
        graph.erase_node(node)
