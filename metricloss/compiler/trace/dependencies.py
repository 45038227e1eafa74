"""Whose values reach a node: the walks every later stage asks before it rewrites anything.

A comparison is a binary only when score *values* reach it; a number the code may loop over is
one computed from shapes alone. Both questions are one walk back through a node's inputs that
stops at reads of metadata (``x.shape``, ``x.dtype``), which carry no values.
"""

from __future__ import annotations

import torch.fx as fx

from ..ops import is_metadata

# ``node.meta`` key: True on the placeholder of the metric's first argument, the scores.
SCORE_ARGUMENT = "score_argument"


def upstream(node: fx.Node, found, through=None) -> bool:
    """Whether a node ``found`` accepts is ``node`` or one of its inputs, transitively; the walk
    goes back only through nodes ``through`` accepts (every node when None)."""
    seen, stack = set(), [node]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if found(current):
            return True
        if through is None or through(current):
            stack.extend(current.all_input_nodes)
    return False


def values_reach(node: fx.Node, source) -> bool:
    """Whether the values (not just the shape, dtype or device) of a node ``source`` accepts
    reach ``node``: a walk back through its inputs that stops at reads of metadata."""
    return upstream(node, source, through=lambda current: not is_metadata(current))


def depends_on_scores(node: fx.Node) -> bool:
    """Whether score values (not just their shapes) reach ``node``."""
    return values_reach(node, lambda current: bool(current.meta.get(SCORE_ARGUMENT)))


def reads_arguments(node: fx.Node) -> bool:
    """Whether an argument's values (not just its shape, dtype or device) reach ``node``."""
    return values_reach(node, lambda current: current.op == "placeholder")


def shape_derived(node: fx.Node) -> bool:
    """Whether ``node`` is computed from shapes (``x.shape[1]``, ``x.size(0) - 1``) and not from
    any tensor's values: a number the code may loop over once shapes are concrete."""
    seen, stack, found = set(), [node], False
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if is_metadata(current):
            found = True
        elif current.op == "placeholder":
            return False
        else:
            stack.extend(current.all_input_nodes)
    return found
