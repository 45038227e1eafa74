"""The rewrite table applied: each matched node replaced by its rule's code, traced and inlined.

A replacement is ordinary tensor code; tracing it once with the matched inputs as its arguments
and copying its graph in place of the node means the rest of the compiler sees only the
comparisons it is made of. Every new node keeps the user's line and says which rule made it and
which binaries it stands for, so errors and ``explain`` point at what the user wrote.
"""

from __future__ import annotations

import torch.fx as fx

from ..ops import LEAF_FUNCTIONS
from ..render import render
from .matching import Match
from .table import REWRITES, Rewrite
from ..trace.locations import LOCATION
from ..lowered import LOWERED_FROM, LOWERED_TEXT


def apply_rewrites(graph: fx.Graph, metric: str) -> list[str]:
    """Apply the first matching rule of ``REWRITES`` at every node, then drop what the replaced
    nodes left unused; return a line per rewrite."""
    applied = []
    for node in list(graph.nodes):
        for rule in REWRITES:
            match = rule.match(node, metric)
            if match is None:
                continue
            _inline(graph, node, rule, match)
            applied.append(f"{rule.name}: {rule.pattern} -> {rule.rewrite}")
            break
    graph.eliminate_dead_code()
    return applied


def _short(node: fx.Node, limit: int = 48) -> str:
    """A value as an expression when that is short, else by name and line."""
    text = render(node)
    if len(text) <= limit:
        return text
    location = node.meta.get(LOCATION)
    return f"`{node.name}` (line {location.lineno})" if location else f"`{node.name}`"


def _inline(graph: fx.Graph, node: fx.Node, rule: Rewrite, match: Match) -> None:
    constants = match.constants
    if len(match.inputs) == 1:
        def replacement(scores):
            return rule.replacement(scores, **constants)
    else:
        def replacement(scores, labels):
            return rule.replacement(scores, labels, **constants)

    sub = fx.Tracer(autowrap_functions=LEAF_FUNCTIONS).trace(replacement)
    placeholders = [n for n in sub.nodes if n.op == "placeholder"]
    value_map = dict(zip(placeholders, match.inputs))
    with graph.inserting_before(node):
        before = set(graph.nodes)
        result = graph.graph_copy(sub, value_map)
    labels = _short(match.inputs[1]) if len(match.inputs) > 1 else ""
    text = rule.block.format(scores=_short(match.inputs[0]), labels=labels, **match.constants)
    for new in graph.nodes:
        if new not in before and new is not node:
            new.meta[LOCATION] = node.meta.get(LOCATION)
            new.meta[LOWERED_FROM] = rule.name
            new.meta[LOWERED_TEXT] = text
    node.replace_all_uses_with(result)
    graph.erase_node(node)

