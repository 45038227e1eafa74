"""One node per expression written more than once.

``pos[:, None]`` written in two comparisons is traced as two nodes; the partition tells blocks
of the same pairs apart by their nodes, so the copies are merged first.
"""

from __future__ import annotations

import torch.fx as fx


def merge_repeated_expressions(graph: fx.Graph) -> None:
    """Keep one node for each expression written more than once (``pos[:, None]`` in two
    comparisons), so that comparisons of the same two values are seen to be the same pairs."""
    seen: dict = {}
    for node in list(graph.nodes):
        if node.op not in ("call_function", "call_method") or str(node.target).endswith("_"):
            continue  # in-place methods have effects
        try:
            key = (node.op, node.target, _frozen(node.args), _frozen(node.kwargs))
            first = seen.setdefault(key, node)
        except TypeError:  # an unhashable argument: keep the node
            continue
        if first is not node:
            node.replace_all_uses_with(first)
            graph.erase_node(node)


def _frozen(value):
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, *(_frozen(v) for v in value))
    if isinstance(value, dict):
        return ("dict", *sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, slice):
        return ("slice", _frozen(value.start), _frozen(value.stop), _frozen(value.step))
    if isinstance(value, float) and value != value:
        return ("nan",)
    hash(value)
    return (type(value).__name__, value) if not isinstance(value, fx.Node) else value
