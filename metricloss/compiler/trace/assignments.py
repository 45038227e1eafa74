"""Item assignment made functional: no node of the graph mutates another.

``recalls[c] = ...`` in a loop over classes is recorded as a ``setitem`` call with no users;
the later stages read a graph of values, so each assignment becomes a new value that the later
reads of the tensor see instead.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx

from ..ops import assigned


def without_assignments(graph: fx.Graph) -> None:
    """``x[i] = v`` becomes ``x = assigned(x, i, v)``: later reads of ``x`` see the new value, and
    no node of the graph mutates another."""
    order = {node: position for position, node in enumerate(graph.nodes)}
    for node in list(graph.nodes):
        if not (node.op == "call_function" and node.target in (operator.setitem, torch.Tensor.__setitem__)):
            continue
        target, index, value = node.args
        with graph.inserting_after(node):
            new = graph.call_function(assigned, (target, index, value))
        new.meta.update(node.meta)
        for user in list(target.users):
            if user is not node and user is not new and order.get(user, len(order)) > order[node]:
                user.replace_input_with(target, new)
        graph.erase_node(node)
        order = {n: position for position, n in enumerate(graph.nodes)}
