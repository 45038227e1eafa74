"""Comparisons hidden inside a value: signs, absolute bounds, clamps and rounded probabilities.

``torch.sign(d)`` is ``[d > 0] - [d < 0]``; ``|x| <= c`` is ``x <= c & x >= -c``; a relative
tolerance ``|x| / w < c`` is the same bound on ``x / w``, turned around where ``w < 0``; a clamp
compared with a threshold is the comparison of the unclamped value where the threshold lies
between the bounds; ``sigmoid(s).round()`` is ``sigmoid(s) > 0.5``. Spelled as plain comparisons,
each becomes binaries the partition can see, and keeps torch's value exactly.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx

from ..ops import argument, is_call, table
from ..trace.dependencies import depends_on_scores
from .operands import equality_sides, ordering_of


def absolute_bound(node: fx.Node):
    """(x, c, inside) for ``abs(x) <= c``-style comparisons of a score-derived x with a bound that
    is not (``inside``: the comparison holds when x is near zero)."""
    ordering = ordering_of(node)
    if ordering is None:
        return None
    inside = not ordering[1]  # |x| < c or <= c
    lhs, rhs = node.args
    for absolute, limit, flipped in ((lhs, rhs, False), (rhs, lhs, True)):
        if (is_call(absolute, "abs", torch.abs) and depends_on_scores(absolute)
                and not (isinstance(limit, fx.Node) and depends_on_scores(limit))):
            return absolute.args[0], limit, inside != flipped
    return None


def find_sign(node: fx.Node):
    return node.args[0] if is_call(node, "sign", torch.sign) and depends_on_scores(node) else None


def two_comparisons_of_sign(graph: fx.Graph, node: fx.Node, value) -> fx.Node:
    above = graph.call_method("to", (graph.call_function(operator.gt, (value, 0)), torch.float32))
    below = graph.call_method("to", (graph.call_function(operator.lt, (value, 0)), torch.float32))
    return graph.call_function(operator.sub, (above, below))


def two_comparisons_of_bound(graph: fx.Graph, node: fx.Node, bound) -> fx.Node:
    value, limit, inside = bound
    strict = node.target in (operator.lt, operator.gt, torch.lt, torch.gt, "lt", "gt")
    low, high = (operator.gt, operator.lt) if strict else (operator.ge, operator.le)
    negative = graph.call_function(operator.neg, (limit,))
    if inside:  # |x| < c: -c < x < c
        return graph.call_function(operator.and_, (
            graph.call_function(high, (value, limit)), graph.call_function(low, (value, negative))))
    return graph.call_function(operator.or_, (  # |x| > c: x > c or x < -c
        graph.call_function(low, (value, limit)), graph.call_function(high, (value, negative))))


def _bound(graph: fx.Graph, value, limit, inside: bool, strict: bool) -> fx.Node:
    """``|value| < limit`` (inside) or ``|value| > limit`` as two comparisons of ``value``."""
    low, high = (operator.gt, operator.lt) if strict else (operator.ge, operator.le)
    negative = graph.call_function(operator.neg, (limit,)) if isinstance(limit, fx.Node) else -limit
    if inside:
        return graph.call_function(operator.and_, (graph.call_function(high, (value, limit)),
                                                   graph.call_function(low, (value, negative))))
    return graph.call_function(operator.or_, (graph.call_function(low, (value, limit)),
                                              graph.call_function(high, (value, negative))))


_RELATIVE = {spelling: table.family(spelling) for spelling in table.spellings("div", "mul")}


def _target_side(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) or (
        isinstance(value, fx.Node) and not depends_on_scores(value))


def scaled_absolute_bound(node: fx.Node):
    """(x, w, kind, limit, op) for ``abs(x) / w < c`` or ``abs(x) * w < c`` (either side, any
    ordering) with w and c from the targets: a relative error within a tolerance,
    ``(pred - y).abs() / y.abs() < 0.1``."""
    ordering = ordering_of(node)
    if ordering is None:
        return None
    op = ordering[0]
    for scaled, limit, flip in ((node.args[0], node.args[1], False), (node.args[1], node.args[0], True)):
        if not (isinstance(scaled, fx.Node) and scaled.op in ("call_function", "call_method")) \
                or len(scaled.args) != 2 or not _target_side(limit):
            continue
        try:
            kind = _RELATIVE.get(scaled.target)
        except TypeError:
            continue
        if kind is None:
            continue
        pairs = [scaled.args] if kind == "div" else [scaled.args, scaled.args[::-1]]
        for absolute, weight in pairs:
            if is_call(absolute, "abs", torch.abs) and depends_on_scores(absolute) and _target_side(weight):
                return absolute.args[0], weight, kind, limit, _FLIPPED[op] if flip else op
    return None


def comparisons_of_scaled_bound(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    """``|x| / w op c`` is ``|x / w| op c`` where w > 0 and ``-|x / w| op c`` (the bound turned
    around at -c) where w < 0; where w = 0 it is what torch computes there: ``|x| / 0`` is inf
    (NaN at x = 0), ``|x| * 0`` is 0."""
    x, weight, kind, limit, op = found
    scaled = graph.call_function(operator.truediv if kind == "div" else operator.mul, (x, weight))
    inside, strict = op in (operator.lt, operator.le), op in (operator.lt, operator.gt)
    positive = _bound(graph, scaled, limit, inside, strict)
    if not isinstance(weight, fx.Node):
        if weight != 0:
            negated = graph.call_function(operator.neg, (limit,)) if isinstance(limit, fx.Node) else -limit
            return positive if weight > 0 else _bound(graph, scaled, negated, not inside, strict)
        weight = graph.call_function(torch.zeros_like, (graph.call_function(torch.as_tensor, (0.0,)),))
    negated = graph.call_function(operator.neg, (limit,)) if isinstance(limit, fx.Node) else -limit
    negative = _bound(graph, scaled, negated, not inside, strict)
    if kind == "div":  # inf beats every bound, NaN none: above the bound exactly where x != 0
        zero = (graph.call_function(operator.or_, (graph.call_function(operator.gt, (x, 0)),
                                                   graph.call_function(operator.lt, (x, 0))))
                if not inside else graph.call_function(torch.zeros_like, (positive,)))
    else:
        zero = graph.call_function(op, (graph.call_function(torch.zeros_like, (weight,), {"dtype": torch.float32}), limit))
    return graph.call_function(torch.where, (
        graph.call_function(operator.gt, (weight, 0)), positive,
        graph.call_function(torch.where, (graph.call_function(operator.lt, (weight, 0)), negative, zero))))


_FLIPPED = {operator.gt: operator.lt, operator.ge: operator.le, operator.lt: operator.gt, operator.le: operator.ge}
_CLAMPS = table.spellings("clamp", "relu")


def _clamp_bounds(node) -> tuple | None:
    """(x, low, high) for a clamp-like node of a score-derived x (None for a missing bound)."""
    if not (isinstance(node, fx.Node) and node.op in ("call_function", "call_method")) \
            or node.target not in _CLAMPS or not depends_on_scores(node):
        return None
    name = node.target if isinstance(node.target, str) else node.target.__name__
    if name == "relu":
        return node.args[0], 0.0, None
    if name == "clamp_min":
        return node.args[0], argument(node, 1, "min"), None
    if name == "clamp_max":
        return node.args[0], None, argument(node, 1, "max")
    return node.args[0], argument(node, 1, "min"), argument(node, 2, "max")


def clamped_comparison(node: fx.Node):
    """(op, x, low, high, t) for ``clamp(x, low, high) op t`` (either side) with t not from scores;
    op is ``operator.eq``/``operator.ne`` for an equality (two orderings, each unclamped)."""
    found = ordering_of(node)
    if found is None and not equality_sides(node):
        return None
    op = found[0] if found is not None else (
        operator.ne if node.target in (operator.ne, torch.ne, "ne") else operator.eq)
    for clamped, threshold, flip in ((node.args[0], node.args[1], False), (node.args[1], node.args[0], True)):
        bounds = _clamp_bounds(clamped)
        if bounds is not None and not (isinstance(threshold, fx.Node) and depends_on_scores(threshold)):
            if any(isinstance(b, fx.Node) and depends_on_scores(b) for b in bounds[1:]):
                return None
            return (_FLIPPED.get(op, op) if flip else op, *bounds, threshold)
    return None


def comparison_of_unclamped(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    """``clamp(x, lo, hi) > t`` is ``(x > t or lo > t) and hi > t`` (for ``<``: the bounds swap
    roles): where t lies outside [lo, hi) the answer is fixed, inside it is x's own comparison.
    ``==`` is ``>=`` and ``<=`` together, ``!=`` is ``>`` or ``<``."""
    op, value, low, high, threshold = found
    if op in (operator.eq, operator.ne):
        first, second, combine = ((operator.ge, operator.le, operator.and_) if op is operator.eq
                                  else (operator.gt, operator.lt, operator.or_))
        return graph.call_function(combine, (
            comparison_of_unclamped(graph, node, (first, value, low, high, threshold)),
            comparison_of_unclamped(graph, node, (second, value, low, high, threshold))))
    rising = op in (operator.gt, operator.ge)
    first, second = (low, high) if rising else (high, low)  # the bound that can make it true / false

    def fixed(bound):
        if bound is None:
            return None
        if isinstance(bound, fx.Node) or isinstance(threshold, fx.Node):
            return graph.call_function(op, (bound, threshold))
        return bool(op(bound, threshold))
    result = graph.call_function(op, (value, threshold))
    can_win, can_lose = fixed(first), fixed(second)
    if can_lose is False:
        return graph.call_function(torch.full_like, (result, False), {"dtype": torch.bool})
    if can_win is True:
        return can_lose if isinstance(can_lose, fx.Node) else graph.call_function(
            torch.full_like, (result, True), {"dtype": torch.bool})
    if isinstance(can_win, fx.Node):
        result = graph.call_function(operator.or_, (result, can_win))
    if isinstance(can_lose, fx.Node):
        result = graph.call_function(operator.and_, (result, can_lose))
    return result


def rounded_probability(node: fx.Node):
    """``sigmoid(s).round()`` (or a softmax entry's): a probability rounds to 1 above one half."""
    if not is_call(node, "round", torch.round) or len(node.args) != 1 or node.kwargs:
        return None
    source = node.args[0]
    probability = any(is_call(source, name, function) for name, function in (
        ("sigmoid", torch.sigmoid), ("softmax", torch.softmax))) or (
        isinstance(source, fx.Node) and source.op == "call_function"
        and source.target in (torch.nn.functional.softmax, torch.special.expit))
    return source if probability and depends_on_scores(source) else None


def above_one_half(graph: fx.Graph, node: fx.Node, probability) -> fx.Node:
    # torch rounds half to even: exactly 0.5 rounds to 0, so the comparison is strict
    return graph.call_method("float", (graph.call_function(operator.gt, (probability, 0.5)),))
