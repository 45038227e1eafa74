"""What several respellings ask of a node's operands: an ordering, an equality, a fill value.

Each family of respellings matches comparisons and constants spelled many ways (``operator.gt``,
``torch.gt``, ``"gt"``; ``torch.full_like(s, c)``, ``s.new_zeros(...)``, a constant tensor); the
answers live here once.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx

from ..ops import argument, table
from ..trace.dependencies import depends_on_scores


# A comparison's target -> (the operator, whether it asks "is the left side larger"), for every spelling.
_ORDERINGS = {spelling: (table.OPERATORS[table.family(spelling)], table.family(spelling) in table.TRAITS["greater"])
              for spelling in table.having("ordering")}


def ordering_of(node) -> tuple | None:
    """``_ORDERINGS``' entry for an ordering comparison of two operands, else None."""
    if not (isinstance(node, fx.Node) and node.op in ("call_function", "call_method")) or len(node.args) != 2:
        return None
    try:
        return _ORDERINGS.get(node.target)
    except TypeError:  # an unhashable target
        return None


_EQUALITY_TESTS = table.having("equality")


def equality_sides(node) -> tuple:
    """Both orders of an ``==``/``!=`` node's operands; none for any other node."""
    if not (isinstance(node, fx.Node) and node.op in ("call_function", "call_method")) or len(node.args) != 2:
        return ()
    try:
        if node.target not in _EQUALITY_TESTS:
            return ()
    except TypeError:  # an unhashable target
        return ()
    return node.args, node.args[::-1]


# Tensors filled with one number, read from the shape of another: (position of the number or
# the number itself, keyword).
_FILLED = {torch.full_like: (1, "fill_value"), "new_full": (2, "fill_value"), torch.full: (1, "fill_value"),
           torch.zeros_like: 0, torch.ones_like: 1, "new_zeros": 0, "new_ones": 1, torch.zeros: 0, torch.ones: 1}


def constant_fill(node) -> int | float | None:
    """The number a tensor is filled with (``torch.full_like(scores, -1e9)``,
    ``scores.new_full(shape, 0.0)``, ``torch.zeros_like(x)``, a constant made in the metric),
    when nothing but shapes reaches it."""
    if isinstance(node, fx.Node) and node.op == "get_attr":
        constant = getattr(getattr(node.graph, "constants", None), node.target, None)
        if isinstance(constant, torch.Tensor) and constant.numel() and not constant.is_complex() \
                and bool((constant == constant.reshape(-1)[0]).all()):
            return constant.reshape(-1)[0].item()
        return None
    if not (isinstance(node, fx.Node) and node.op in ("call_function", "call_method")) or depends_on_scores(node):
        return None
    try:
        spec = _FILLED.get(node.target)
    except TypeError:  # an unhashable target
        return None
    if spec is None:
        return None
    if not isinstance(spec, tuple):
        return spec
    value = argument(node, *spec)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None
