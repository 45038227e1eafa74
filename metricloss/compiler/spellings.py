"""Other spellings of the questions the rewrite table answers, respelled first.

``torch.max(s, 1)[1]``, ``s.sort(1).indices``, ``s.argmin(1)``, ``torch.sign(d)`` and
``abs(d) <= c`` ask what ``argmax``, ``argsort`` and plain comparisons ask; spelling them that
way first lets one table of rules (``lowering.REWRITES``) read them all. Each respelling keeps
torch's value exactly, ties included: torch returns the first extreme index in every arg-max and
arg-min form, ``sign(0)`` is 0, and ``abs`` and a negated bound are exact. The table below is
applied in order; each entry finds a node and builds what replaces it.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F

from .confusion import counts_of_bincount, counts_of_index_put, find_bincount, find_index_put
from .ops import argument, is_call
from .trace.dependencies import depends_on_scores
from .trace.locations import LOCATION


# A comparison's target -> (the operator, whether it asks "is the left side larger").
_ORDERINGS = {operator.gt: (operator.gt, True), operator.ge: (operator.ge, True),
              operator.lt: (operator.lt, False), operator.le: (operator.le, False),
              torch.gt: (operator.gt, True), torch.ge: (operator.ge, True),
              torch.lt: (operator.lt, False), torch.le: (operator.le, False),
              "gt": (operator.gt, True), "ge": (operator.ge, True), "lt": (operator.lt, False), "le": (operator.le, False)}


def _ordering(node) -> tuple | None:
    """``_ORDERINGS``' entry for an ordering comparison of two operands, else None."""
    if not (isinstance(node, fx.Node) and node.op in ("call_function", "call_method")) or len(node.args) != 2:
        return None
    try:
        return _ORDERINGS.get(node.target)
    except TypeError:  # an unhashable target
        return None


def _absolute_bound(node: fx.Node):
    """(x, c, inside) for ``abs(x) <= c``-style comparisons of a score-derived x with a bound that
    is not (``inside``: the comparison holds when x is near zero)."""
    ordering = _ordering(node)
    if ordering is None:
        return None
    inside = not ordering[1]  # |x| < c or <= c
    lhs, rhs = node.args
    for absolute, limit, flipped in ((lhs, rhs, False), (rhs, lhs, True)):
        if (is_call(absolute, "abs", torch.abs) and depends_on_scores(absolute)
                and not (isinstance(limit, fx.Node) and depends_on_scores(limit))):
            return absolute.args[0], limit, inside != flipped
    return None


def _sort_indices(node: fx.Node) -> fx.Node | None:
    """The ``sort`` node when ``node`` takes its indices (``.indices`` or ``[1]``)."""
    if not (isinstance(node, fx.Node) and node.op == "call_function"):
        return None
    if node.target is getattr and node.args[1] == "indices" or node.target is operator.getitem and node.args[1] == 1:
        source = node.args[0]
        if is_call(source, "sort", torch.sort) and depends_on_scores(source):
            return source
    return None


def _extreme_values(node: fx.Node):
    """("max" or "min", the torch.max/min node) when ``node`` takes its values."""
    return _extreme_part(node, "values", 0)


def _extreme_with_indices(node: fx.Node):
    """("max" or "min", the torch.max/min node) when ``node`` takes its indices."""
    return _extreme_part(node, "indices", 1)


def _extreme_part(node: fx.Node, name: str, position: int):
    if not (isinstance(node, fx.Node) and node.op == "call_function"):
        return None
    if node.target is getattr and node.args[1] == name or node.target is operator.getitem and node.args[1] == position:
        source = node.args[0]
        for which in ("max", "min"):
            if is_call(source, which, getattr(torch, which)) and argument(source, 1, "dim") is not None \
                    and depends_on_scores(source):
                return which, source
    return None





def _amax_of_values(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    which, source = found
    return graph.call_method(f"a{which}", (source.args[0], argument(source, 1, "dim")),
                             {"keepdim": argument(source, 2, "keepdim", False)})


def _argsort_of_sort(graph: fx.Graph, node: fx.Node, source) -> fx.Node:
    options = {"dim": argument(source, 1, "dim", -1), "descending": argument(source, 2, "descending", False)}
    if source.kwargs.get("stable"):  # kept: the rule for a stable sort's top k as a membership test reads it
        options["stable"] = True
    return graph.call_method("argsort", (source.args[0],), options)


def _argmax_of_indices(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    which, source = found
    return graph.call_method(f"arg{which}", (source.args[0], argument(source, 1, "dim")),
                             {"keepdim": argument(source, 2, "keepdim", False)})


def _topk_order(node: fx.Node):
    """The topk node when ``node`` takes its indices for anything but a membership test
    (``(topk.indices == labels[:, None]).any(dim)`` has a rule of its own)."""
    if not (isinstance(node, fx.Node) and node.op == "call_function"):
        return None
    if not (node.target is getattr and node.args[1] == "indices" or node.target is operator.getitem and node.args[1] == 1):
        return None
    source = node.args[0]
    if not (is_call(source, "topk", torch.topk) and depends_on_scores(source)):
        return None
    return None if tests_membership(node) else source


def tests_membership(indices: fx.Node) -> bool:
    """Whether top-k indices only meet ``==`` reduced by ``.any`` (a membership test, scikit-learn's
    tie rule) rather than serve as an order (a stable sort's; a hit count ``.sum`` reads the order
    too): the tie-order warning names the same rule."""
    return all(user.op in ("call_function", "call_method") and user.target in (operator.eq, torch.eq, "eq")
               and user.users and all(is_call(test, "any", torch.any) for test in user.users)
               for user in indices.users)


def _prefix_of_argsort(graph: fx.Graph, node: fx.Node, source) -> fx.Node:
    dim = argument(source, 2, "dim", -1)
    order = graph.call_method("argsort", (source.args[0],), {
        "dim": dim, "descending": bool(argument(source, 3, "largest", True))})
    return graph.call_method("narrow", (order, dim, 0, argument(source, 1, "k")))


def _find_sign(node: fx.Node):
    return node.args[0] if is_call(node, "sign", torch.sign) and depends_on_scores(node) else None


def _two_comparisons_of_sign(graph: fx.Graph, node: fx.Node, value) -> fx.Node:
    above = graph.call_method("to", (graph.call_function(operator.gt, (value, 0)), torch.float32))
    below = graph.call_method("to", (graph.call_function(operator.lt, (value, 0)), torch.float32))
    return graph.call_function(operator.sub, (above, below))


def _two_comparisons_of_bound(graph: fx.Graph, node: fx.Node, bound) -> fx.Node:
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


_RELATIVE = {operator.truediv: "div", torch.div: "div", "div": "div", operator.mul: "mul", torch.mul: "mul",
             "mul": "mul"}


def _target_side(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) or (
        isinstance(value, fx.Node) and not depends_on_scores(value))


def _scaled_absolute_bound(node: fx.Node):
    """(x, w, kind, limit, op) for ``abs(x) / w < c`` or ``abs(x) * w < c`` (either side, any
    ordering) with w and c from the targets: a relative error within a tolerance,
    ``(pred - y).abs() / y.abs() < 0.1``."""
    ordering = _ordering(node)
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


def _comparisons_of_scaled_bound(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
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


def _find_argmin(node: fx.Node):
    return node if is_call(node, "argmin", torch.argmin) and depends_on_scores(node) else None


def _argmax_of_negation(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    negated = graph.call_function(operator.neg, (node.args[0],))
    return graph.call_method("argmax", (negated, *node.args[1:]), dict(node.kwargs))


def _find_flat_argmax(node: fx.Node):
    """``x.argmax()`` with no dim: the index into the flattened tensor."""
    if is_call(node, "argmax", torch.argmax) and depends_on_scores(node) \
            and argument(node, 1, "dim", None) is None and not argument(node, 2, "keepdim", False):
        return node
    return None


def _argmax_of_flattened(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    flat = graph.call_method("reshape", (node.args[0], -1))
    return graph.call_method("argmax", (flat, 0))


def _unsqueezed_argmax(node: fx.Node):
    """The arg-max when ``node`` puts a dim of one back where it reduced one:
    ``scores.argmax(1)[:, None]``, ``scores.argmax(-1)[..., None]``, ``.unsqueeze(dim)``."""
    if not (isinstance(node, fx.Node) and node.op in ("call_function", "call_method")) or not node.args:
        return None
    source = node.args[0]
    if not (is_call(source, "argmax", torch.argmax) and depends_on_scores(source)):
        return None
    dim = argument(source, 1, "dim")
    if not isinstance(dim, int) or argument(source, 2, "keepdim", False):
        return None
    if is_call(node, "unsqueeze", torch.unsqueeze):
        return source if argument(node, 1, "dim") == dim else None
    if node.op == "call_function" and node.target is operator.getitem:
        index = node.args[1]
        if dim >= 0 and index == (*(slice(None),) * dim, None):
            return source
        if dim == -1 and index in ((Ellipsis, None),):
            return source
    return None


def _keepdim_argmax(graph: fx.Graph, node: fx.Node, argmax) -> fx.Node:
    return graph.call_method("argmax", (argmax.args[0], argument(argmax, 1, "dim")), {"keepdim": True})


def _compared_gather(node: fx.Node):
    """(comparison, gathered target, number, target first) for ``relevance.gather(dim,
    scores.argmax(dim, keepdim=True)) > 0``: a target read at the arg-max, then compared with a
    number."""
    ordering = _ordering(node)
    if ordering is None and not _equality_sides(node):
        return None
    lhs, rhs = node.args
    for gathered, number, first in ((lhs, rhs, True), (rhs, lhs, False)):
        if not (is_call(gathered, "gather", torch.gather) and len(gathered.args) >= 3) \
                or not isinstance(number, (int, float)) or isinstance(number, bool):
            continue
        table, dim, index = gathered.args[:3]
        if is_call(index, "argmax", torch.argmax) and depends_on_scores(index) \
                and isinstance(table, fx.Node) and not depends_on_scores(table):
            return gathered, number, first
    return None


def _gather_of_comparison(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    """The comparison made on the whole target first, then read at the arg-max (elementwise
    comparisons commute with a gather): the 0/1 region the arg-max rule reads."""
    gathered, number, first = found
    table, dim, index = gathered.args[:3]
    if node.op == "call_method":  # ``gathered.gt(0)``: the tensor is always first
        region = graph.call_method(node.target, (table, number))
    else:
        region = graph.call_function(node.target, (table, number) if first else (number, table))
    return graph.call_method("gather", (region, dim, index))


def _scattered_argmax(node: fx.Node):
    """(base, argmax, value) for ``torch.zeros_like(scores).scatter_(dim, scores.argmax(dim,
    keepdim=True), 1.0)``: a one-hot of the predicted class written by scattering into a filled
    tensor shaped like the scores."""
    if not (is_call(node, "scatter", torch.scatter) and len(node.args) >= 3):
        return None
    base, dim, index = node.args[:3]
    value = argument(node, 3, "value")
    if not (is_call(index, "argmax", torch.argmax) and depends_on_scores(index) and argument(index, 2, "keepdim", False)
            and argument(index, 1, "dim") == dim and isinstance(dim, int)):
        return None
    if not isinstance(value, (int, float)) or isinstance(value, bool) or _constant_fill(base) is None:
        return None
    shaped_like_scores = base.target in (torch.full_like, torch.zeros_like, torch.ones_like) \
        and base.args[0] is index.args[0]
    return (base, index, value) if shaped_like_scores else None


def _one_hot_written(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    base, index, value = found
    scores, dim = index.args[0], argument(index, 1, "dim")
    predicted = graph.call_method("argmax", (scores, dim))
    one_hot = graph.call_function(F.one_hot, (predicted, graph.call_method("size", (scores, dim))))
    chosen = graph.call_method("bool", (graph.call_method("movedim", (one_hot, -1, dim)),))
    return graph.call_function(torch.where, (chosen, value, base))


def _selected_argmax(node: fx.Node):
    """(argmax, its dim) for ``scores.argmax(dim)[index]`` with an index that no score reaches
    (``preds[labels == c]``, ``pred[valid]``), or for ``scores.argmax(dim).flatten()`` (the
    predictions of every pixel in a row, as torchvision's confusion matrix reads them)."""
    if not (isinstance(node, fx.Node) and node.op in ("call_function", "call_method")):
        return None
    source = node.args[0] if node.args else None
    if not (is_call(source, "argmax", torch.argmax) and depends_on_scores(source)):
        return None
    dim = argument(source, 1, "dim")
    if not isinstance(dim, int) or argument(source, 2, "keepdim", False):
        return None
    if node.op == "call_function" and node.target is operator.getitem:
        index = node.args[1]
        parts = index if isinstance(index, tuple) else (index,)
        if any(isinstance(part, fx.Node) and depends_on_scores(part) for part in parts):
            return None
        return source, dim
    if is_call(node, "masked_select", torch.masked_select) and len(node.args) == 2 \
            and isinstance(node.args[1], fx.Node) and not depends_on_scores(node.args[1]):
        return source, dim
    flattened = (is_call(node, "flatten", torch.flatten) and len(node.args) == 1 and not node.kwargs) or (
        (is_call(node, "view") or is_call(node, "reshape", torch.reshape)) and node.args[1:] in ((-1,), ((-1,),)))
    return (source, dim) if flattened else None


def _argmax_of_selection(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    """The selection made on the scores' rows, the class dim moved last, then the arg-max:
    ``scores.argmax(1)[mask]`` is ``scores.movedim(1, -1)[mask].argmax(-1)``, ties included (the
    rows selected are the same rows, each with its own first maximal index)."""
    argmax, dim = found
    rows = graph.call_method("movedim", (argmax.args[0], dim, -1))
    if node.target is operator.getitem:
        index = node.args[1]
        if isinstance(index, tuple) and Ellipsis in index:
            index = (*index, slice(None))  # the ellipsis must not swallow the class dim
        selected = graph.call_function(operator.getitem, (rows, index))
    elif node.target in ("masked_select", torch.masked_select):  # the mask broadcast to the arg-max's shape
        mask = graph.call_method("expand", (node.args[1], graph.call_function(getattr, (argmax, "shape"))))
        selected = graph.call_function(operator.getitem, (rows, mask))
    else:  # flatten(), view(-1): every row of the arg-max in one dim
        classes = graph.call_method("size", (argmax.args[0], dim))
        selected = graph.call_method("reshape", (rows, -1, classes))
    return graph.call_method("argmax", (selected, -1))


_FLIPPED = {operator.gt: operator.lt, operator.ge: operator.le, operator.lt: operator.gt, operator.le: operator.ge}
_CLAMPS = {torch.clamp, torch.clip, "clamp", "clip", torch.clamp_min, "clamp_min", torch.clamp_max, "clamp_max",
           torch.relu, torch.nn.functional.relu, "relu"}


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


def _clamped_comparison(node: fx.Node):
    """(op, x, low, high, t) for ``clamp(x, low, high) op t`` (either side) with t not from scores;
    op is ``operator.eq``/``operator.ne`` for an equality (two orderings, each unclamped)."""
    found = _ordering(node)
    if found is None and not _equality_sides(node):
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


def _comparison_of_unclamped(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    """``clamp(x, lo, hi) > t`` is ``(x > t or lo > t) and hi > t`` (for ``<``: the bounds swap
    roles): where t lies outside [lo, hi) the answer is fixed, inside it is x's own comparison.
    ``==`` is ``>=`` and ``<=`` together, ``!=`` is ``>`` or ``<``."""
    op, value, low, high, threshold = found
    if op in (operator.eq, operator.ne):
        first, second, combine = ((operator.ge, operator.le, operator.and_) if op is operator.eq
                                  else (operator.gt, operator.lt, operator.or_))
        return graph.call_function(combine, (
            _comparison_of_unclamped(graph, node, (first, value, low, high, threshold)),
            _comparison_of_unclamped(graph, node, (second, value, low, high, threshold))))
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


def _find_shaped_like(node: fx.Node):
    """``t.view_as(x)`` (``reshape_as``, ``expand_as``): only ``x``'s shape is read."""
    return node if is_call(node, "view_as") or is_call(node, "reshape_as") or is_call(node, "expand_as") else None


def _with_the_shape(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    shape = graph.call_function(getattr, (node.args[1], "shape"))
    method = "expand" if node.target == "expand_as" else "reshape"
    return graph.call_method(method, (node.args[0], shape))


_EQUALITY_TESTS = {operator.eq, operator.ne, torch.eq, torch.ne, "eq", "ne"}


def _equality_sides(node) -> tuple:
    """Both orders of an ``==``/``!=`` node's operands; none for any other node."""
    if not (isinstance(node, fx.Node) and node.op in ("call_function", "call_method")) or len(node.args) != 2:
        return ()
    try:
        if node.target not in _EQUALITY_TESTS:
            return ()
    except TypeError:  # an unhashable target
        return ()
    return node.args, node.args[::-1]


def _keepdim_argmax_test(node: fx.Node):
    """(argmax, other, dim) for ``scores.argmax(dim, keepdim=True) == labels`` (the MNIST example's
    ``pred.eq(target.view_as(pred))``), either side, ``!=`` too."""
    for mine, other in _equality_sides(node):
        if is_call(mine, "argmax", torch.argmax) and depends_on_scores(mine) and argument(mine, 2, "keepdim", False) \
                and isinstance(argument(mine, 1, "dim"), int) \
                and not (isinstance(other, fx.Node) and depends_on_scores(other)):
            return mine, other, argument(mine, 1, "dim")
    return None


def _test_without_keepdim(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    argmax, other, dim = found
    plain = graph.call_method("argmax", (argmax.args[0], dim))
    if isinstance(other, fx.Node):
        other = graph.call_method("squeeze", (other, dim))
    test = operator.ne if node.target in (operator.ne, torch.ne, "ne") else operator.eq
    return graph.call_method("unsqueeze", (graph.call_function(test, (plain, other)), dim))


def _argmax_against_a_class(node: fx.Node):
    """(argmax, class number) for ``scores.argmax(dim) == c`` with ``c`` a Python int (a loop over
    classes, unrolled), either side, ``!=`` too."""
    for mine, other in _equality_sides(node):
        if is_call(mine, "argmax", torch.argmax) and depends_on_scores(mine) and isinstance(other, int) \
                and not isinstance(other, bool) and other >= 0 and not argument(mine, 2, "keepdim", False):
            return mine, other
    return None


def _against_class_labels(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    argmax, number = found
    labels = graph.call_function(torch.full_like, (argmax, number))  # reads only argmax's shape
    if node.op == "call_method":
        return graph.call_method(node.target, (argmax, labels))
    return graph.call_function(node.target, (argmax, labels))


def _rounded_probability(node: fx.Node):
    """``sigmoid(s).round()`` (or a softmax entry's): a probability rounds to 1 above one half."""
    if not is_call(node, "round", torch.round) or len(node.args) != 1 or node.kwargs:
        return None
    source = node.args[0]
    probability = any(is_call(source, name, function) for name, function in (
        ("sigmoid", torch.sigmoid), ("softmax", torch.softmax))) or (
        isinstance(source, fx.Node) and source.op == "call_function"
        and source.target in (torch.nn.functional.softmax, torch.special.expit))
    return source if probability and depends_on_scores(source) else None


def _above_one_half(graph: fx.Graph, node: fx.Node, probability) -> fx.Node:
    # torch rounds half to even: exactly 0.5 rounds to 0, so the comparison is strict
    return graph.call_method("float", (graph.call_function(operator.gt, (probability, 0.5)),))


def _selection_by_where(node: fx.Node):
    """(scores side, fill, keep-where) for ``torch.where(mask, scores, number)`` (either order)
    with a mask that does not come from the scores: ``masked_fill`` spelled another way."""
    if not (is_call(node, "where", torch.where) and len(node.args) == 3):
        return None
    mask, x, y = node.args
    if isinstance(mask, fx.Node) and depends_on_scores(mask):
        return None
    for kept, fill, keep_where_true in ((x, y, True), (y, x, False)):
        if not (isinstance(kept, fx.Node) and depends_on_scores(kept)):
            continue
        if isinstance(fill, (int, float)):
            return kept, fill, keep_where_true, None
        value = _constant_fill(fill)
        if value is not None:
            same_shape = fill.target in (torch.full_like, torch.zeros_like, torch.ones_like) and fill.args[0] is kept
            return kept, value, keep_where_true, None if same_shape else fill
    return None


# Tensors filled with one number, read from the shape of another: (position of the number or
# the number itself, keyword).
_FILLED = {torch.full_like: (1, "fill_value"), "new_full": (2, "fill_value"), torch.full: (1, "fill_value"),
           torch.zeros_like: 0, torch.ones_like: 1, "new_zeros": 0, "new_ones": 1, torch.zeros: 0, torch.ones: 1}


def _constant_fill(node) -> int | float | None:
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


def _masked_fill(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    kept, fill, keep_where_true, shaped_like = found
    mask = node.args[0]
    filled = graph.call_function(operator.invert, (mask,)) if keep_where_true else mask
    result = graph.call_method("masked_fill", (kept, filled, fill))
    if shaped_like is None:
        return result
    # where() broadcasts its three operands: the filled tensor may add dims the others lack
    shape = graph.call_function(torch.broadcast_shapes, (graph.call_function(getattr, (result, "shape")),
                                                         graph.call_function(getattr, (shaped_like, "shape"))))
    return graph.call_function(torch.broadcast_to, (result, shape))


@dataclass(frozen=True)
class Respelling:
    name: str
    says: str  # for explain's lowering section
    find: Callable[[fx.Node], Any]
    build: Callable[[fx.Graph, fx.Node, Any], fx.Node]


RESPELLINGS: tuple[Respelling, ...] = (
    Respelling("shaped_like", "t.view_as(x) -> t.reshape(x.shape) (expand_as, reshape_as likewise)",
               _find_shaped_like, _with_the_shape),
    Respelling("max_values", "torch.max(scores, dim) values -> scores.amax(dim)", _extreme_values, _amax_of_values),
    Respelling("sort_indices", "scores.sort(dim).indices -> scores.argsort(dim)", _sort_indices, _argsort_of_sort),
    Respelling("topk_indices", "scores.topk(k, dim).indices -> scores.argsort(dim, descending=True)[..., :k]",
               _topk_order, _prefix_of_argsort),
    Respelling("max_indices", "torch.max(scores, dim) indices -> scores.argmax(dim)", _extreme_with_indices,
               _argmax_of_indices),
    Respelling("sign", "torch.sign(d) -> [d > 0] - [d < 0]", _find_sign, _two_comparisons_of_sign),
    Respelling("scaled_abs_bound", "|x| / w <= c -> where(w > 0, |x / w| <= c, ...): a relative tolerance",
               _scaled_absolute_bound, _comparisons_of_scaled_bound),
    Respelling("abs_bound", "|x| <= c -> (x <= c) & (x >= -c)", _absolute_bound, _two_comparisons_of_bound),
    Respelling("argmin", "scores.argmin(dim) -> (-scores).argmax(dim)", _find_argmin, _argmax_of_negation),
    Respelling("unsqueezed_argmax", "scores.argmax(dim)[:, None] (unsqueeze(dim)) -> scores.argmax(dim, keepdim=True)",
               _unsqueezed_argmax, _keepdim_argmax),
    Respelling("compared_gather", "target.gather(dim, scores.argmax(dim, keepdim=True)) > c -> "
               "(target > c).gather(dim, scores.argmax(dim, keepdim=True))", _compared_gather, _gather_of_comparison),
    Respelling("clamp_bound", "clamp(x, lo, hi) > t -> (x > t | lo > t) & (hi > t) (relu: lo = 0)",
               _clamped_comparison, _comparison_of_unclamped),
    Respelling("keepdim_argmax_test", "scores.argmax(dim, keepdim=True) == t -> (scores.argmax(dim) == t.squeeze(dim)).unsqueeze(dim)",
               _keepdim_argmax_test, _test_without_keepdim),
    Respelling("rounded_probability", "sigmoid(s).round() -> (sigmoid(s) > 0.5).float()",
               _rounded_probability, _above_one_half),
    Respelling("where_selection", "torch.where(mask, scores, c) (c a number or a tensor filled with one, "
               "full_like(scores, c)) -> scores.masked_fill(~mask, c)",
               _selection_by_where, _masked_fill),
    Respelling("flat_argmax", "scores.argmax() -> scores.reshape(-1).argmax(0)", _find_flat_argmax,
               _argmax_of_flattened),
    Respelling("selected_argmax", "scores.argmax(dim)[mask] -> scores.movedim(dim, -1)[mask].argmax(-1) "
               "(masked_select, flatten() and view(-1) likewise)", _selected_argmax, _argmax_of_selection),
    Respelling("scattered_argmax", "zeros_like(scores).scatter(dim, scores.argmax(dim, keepdim=True), v) -> "
               "where(one_hot(scores.argmax(dim), C), v, zeros)", _scattered_argmax, _one_hot_written),
    Respelling("bincount_confusion", "torch.bincount(n * target + pred, minlength) -> counts of "
               "one_hot(target, n) x one_hot(pred, C), flattened", find_bincount, counts_of_bincount),
    Respelling("index_put_confusion", "table.index_put((target, pred), values, accumulate=True) -> table + "
               "counts of one_hot(target) x one_hot(pred)", find_index_put, counts_of_index_put),
    Respelling("argmax_class", "scores.argmax(dim) == c -> scores.argmax(dim) == full_like(..., c): labels",
               _argmax_against_a_class, _against_class_labels),
)


def respell(graph: fx.Graph) -> list[str]:
    """Apply ``RESPELLINGS`` in order over the whole graph; return what was respelled."""
    applied = []
    for rule in RESPELLINGS:
        for node in list(graph.nodes):
            found = rule.find(node)
            if found is None:
                continue
            before = set(graph.nodes)
            with graph.inserting_before(node):
                replacement = rule.build(graph, node, found)
            for new in graph.nodes:
                if new not in before:
                    new.meta.setdefault(LOCATION, node.meta.get(LOCATION))
            node.replace_all_uses_with(replacement)
            graph.erase_node(node)
            applied.append(f"{rule.name}: {rule.says}")
    graph.eliminate_dead_code()
    return applied
