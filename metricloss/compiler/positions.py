"""Functions of an arg-max position compared with targets: a lookup in a region of positions.

Keypoint metrics take the arg-max of a flattened heatmap and compare coordinates derived from it
with the annotation: ``idx = heat.flatten(2).argmax(-1); x, y = idx % W, idx // W`` and then
``(x - tx).abs() <= t`` or a distance. A comparison that depends on the scores only through one
arg-max index is a fact about *where* the arg-max lies: evaluating it at every position ``p``
(the target-side code run with ``p`` in place of the index) gives a 0/1 region, and the
comparison is ``region.gather(dim, scores.argmax(dim, keepdim=True))``, which the rewrite table
turns into comparisons of scores (the best score inside the region beats every score outside).

Positions are put on a new leading dimension, so elementwise arithmetic, casts and ops along
negative dims (``torch.stack([x, y], -1)``, ``.norm(dim=-1)``) broadcast against the targets
unchanged. Ops that name a non-negative dim, or whose result is not shaped like the index, are
left alone (the partition then reports the op).
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx

from .ops import argument, is_call, is_comparison
from .ops.table import having
from .trace.dependencies import depends_on_scores
from .trace.locations import LOCATION

# Arithmetic on positions (``flat // width``, ``flat % width``): replayed on every candidate position.
_ELEMENTWISE = having("arithmetic")
# Ops along one dim (the argument's position): a dim counted from the front moves by one in the
# copy, which has the positions in front.
_ALONG_DIM = {torch.stack: 1, "norm": 2, torch.norm: 2, torch.linalg.norm: 2, torch.linalg.vector_norm: 2,
              "sum": 1, torch.sum: 1, "unsqueeze": 1, torch.unsqueeze: 1, "amax": 1, "amin": 1}
_EQUALITIES = having("equality")


def lower_argmax_positions(graph: fx.Graph) -> list[str]:
    """Rewrite every comparison that reads scores only through one arg-max position."""
    applied = []
    for node in list(graph.nodes):
        dim = argument(node, 1, "dim", None)
        if not (is_call(node, "argmax", torch.argmax) and depends_on_scores(node) and isinstance(dim, int)
                and not argument(node, 2, "keepdim", False)):
            continue
        found = _closure(node)
        if found is None:
            continue
        closure, comparisons = found
        for comparison in comparisons:
            _replace_with_lookup(graph, node, dim, closure, comparison)
        applied.append("argmax_position: a comparison of f(scores.argmax(dim)) with targets -> "
                       "region.gather(dim, scores.argmax(dim, keepdim=True)), region[p] = the comparison at p")
    return applied


def _key(node):
    return node.target if isinstance(node, fx.Node) and node.op in ("call_function", "call_method") else None


def _closure(index: fx.Node):
    """The ops between the arg-max ``index`` and the comparisons it reaches, or None when some
    path leaves the supported ops (other rewrites or the partition then decide)."""
    closure, comparisons, stack = {index}, [], list(index.users)
    if any(_key(user) in _EQUALITIES or is_call(user, "gather", torch.gather) for user in index.users):
        return None  # argmax == labels and the region gather have rules of their own
    while stack:
        node = stack.pop()
        if node in closure or node in comparisons:
            continue
        if is_comparison(node) or _key(node) in _EQUALITIES:
            comparisons.append(node)
            continue
        key = _key(node)
        if key in _ALONG_DIM:
            if not isinstance(argument(node, _ALONG_DIM[key], "dim", None), int):
                return None
        elif key not in _ELEMENTWISE:
            return None
        closure.add(node)
        stack.extend(node.users)
    for node in (*closure, *comparisons):  # the index is the only way scores come in
        if node is not index and any(depends_on_scores(a) for a in node.all_input_nodes if a not in closure):
            return None
    return closure, comparisons


def _replace_with_lookup(graph: fx.Graph, index: fx.Node, dim: int, closure: set, comparison: fx.Node) -> None:
    scores = index.args[0]
    location = comparison.meta.get(LOCATION)
    with graph.inserting_before(comparison):
        before = set(graph.nodes)
        size = graph.call_method("size", (scores, dim))
        device = graph.call_function(getattr, (scores, "device"))
        positions = graph.call_function(torch.arange, (size,), {"device": device})
        # zeros shaped like the index, read off the scores' shape (not the index, which goes away)
        zeros = graph.call_function(torch.zeros_like, (graph.call_method("select", (scores, dim, 0)),),
                                    {"dtype": torch.long})
        spread = graph.call_function(operator.add, (graph.call_method("unsqueeze", (zeros, -1)), positions))
        copies = {index: graph.call_function(torch.movedim, (spread, -1, 0))}  # [positions, *index]
        for node in list(graph.nodes):
            if node in closure and node is not index and _reaches(node, comparison):
                copies[node] = _shifted(graph.node_copy(node, lambda n: copies.get(n, n)))
        region = graph.call_function(torch.movedim, (graph.node_copy(comparison, lambda n: copies.get(n, n)), 0, dim))
        best = graph.call_method("argmax", (scores, dim), {"keepdim": True})
        looked_up = graph.call_method("squeeze", (graph.call_method("gather", (region, dim, best)), dim))
    for new in graph.nodes:
        if new not in before:
            new.meta[LOCATION] = location
    comparison.replace_all_uses_with(looked_up)
    graph.erase_node(comparison)


def _shifted(copy: fx.Node) -> fx.Node:
    """The copy of an op along a dim counted from the front, one dim further along."""
    position = _ALONG_DIM.get(_key(copy))
    dim = None if position is None else argument(copy, position, "dim", None)
    if isinstance(dim, int) and dim >= 0:
        if len(copy.args) > position:
            copy.args = (*copy.args[:position], dim + 1, *copy.args[position + 1:])
        else:
            copy.kwargs = {**copy.kwargs, "dim": dim + 1}
    return copy


def _reaches(node: fx.Node, target: fx.Node) -> bool:
    seen, stack = set(), [node]
    while stack:
        current = stack.pop()
        if current is target:
            return True
        if current not in seen:
            seen.add(current)
            stack.extend(current.users)
    return False
