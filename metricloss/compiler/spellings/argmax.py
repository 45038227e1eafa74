"""Arg-max and arg-min spelled many ways, respelled as ``scores.argmax(dim) == labels`` reads.

The arg-max rule of the rewrite table reads ``scores.argmax(dim)`` compared with labels of the
batch's shape. Users also write ``argmin`` (an arg-max of the negation), ``argmax()`` with no dim,
``argmax(dim)[:, None]``, ``keepdim=True`` tests, a target gathered at the arg-max, a one-hot
scattered at it, a selection of the arg-max's entries, and a comparison with one class number.
Each is respelled exactly, ties included: torch returns the first maximal index in every form.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx
import torch.nn.functional as F

from ..ops import argument, is_call
from ..trace.dependencies import depends_on_scores
from .operands import constant_fill, equality_sides, ordering_of


def find_argmin(node: fx.Node):
    return node if is_call(node, "argmin", torch.argmin) and depends_on_scores(node) else None


def argmax_of_negation(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    negated = graph.call_function(operator.neg, (node.args[0],))
    return graph.call_method("argmax", (negated, *node.args[1:]), dict(node.kwargs))


def find_flat_argmax(node: fx.Node):
    """``x.argmax()`` with no dim: the index into the flattened tensor."""
    if is_call(node, "argmax", torch.argmax) and depends_on_scores(node) \
            and argument(node, 1, "dim", None) is None and not argument(node, 2, "keepdim", False):
        return node
    return None


def argmax_of_flattened(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    flat = graph.call_method("reshape", (node.args[0], -1))
    return graph.call_method("argmax", (flat, 0))


def unsqueezed_argmax(node: fx.Node):
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


def keepdim_argmax(graph: fx.Graph, node: fx.Node, argmax) -> fx.Node:
    return graph.call_method("argmax", (argmax.args[0], argument(argmax, 1, "dim")), {"keepdim": True})


def compared_gather(node: fx.Node):
    """(comparison, gathered target, number, target first) for ``relevance.gather(dim,
    scores.argmax(dim, keepdim=True)) > 0``: a target read at the arg-max, then compared with a
    number."""
    ordering = ordering_of(node)
    if ordering is None and not equality_sides(node):
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


def gather_of_comparison(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    """The comparison made on the whole target first, then read at the arg-max (elementwise
    comparisons commute with a gather): the 0/1 region the arg-max rule reads."""
    gathered, number, first = found
    table, dim, index = gathered.args[:3]
    if node.op == "call_method":  # ``gathered.gt(0)``: the tensor is always first
        region = graph.call_method(node.target, (table, number))
    else:
        region = graph.call_function(node.target, (table, number) if first else (number, table))
    return graph.call_method("gather", (region, dim, index))


def scattered_argmax(node: fx.Node):
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
    if not isinstance(value, (int, float)) or isinstance(value, bool) or constant_fill(base) is None:
        return None
    shaped_like_scores = base.target in (torch.full_like, torch.zeros_like, torch.ones_like) \
        and base.args[0] is index.args[0]
    return (base, index, value) if shaped_like_scores else None


def one_hot_written(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    base, index, value = found
    scores, dim = index.args[0], argument(index, 1, "dim")
    predicted = graph.call_method("argmax", (scores, dim))
    one_hot = graph.call_function(F.one_hot, (predicted, graph.call_method("size", (scores, dim))))
    chosen = graph.call_method("bool", (graph.call_method("movedim", (one_hot, -1, dim)),))
    return graph.call_function(torch.where, (chosen, value, base))


def selected_argmax(node: fx.Node):
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


def argmax_of_selection(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
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


def keepdim_argmax_test(node: fx.Node):
    """(argmax, other, dim) for ``scores.argmax(dim, keepdim=True) == labels`` (the MNIST example's
    ``pred.eq(target.view_as(pred))``), either side, ``!=`` too."""
    for mine, other in equality_sides(node):
        if is_call(mine, "argmax", torch.argmax) and depends_on_scores(mine) and argument(mine, 2, "keepdim", False) \
                and isinstance(argument(mine, 1, "dim"), int) \
                and not (isinstance(other, fx.Node) and depends_on_scores(other)):
            return mine, other, argument(mine, 1, "dim")
    return None


def test_without_keepdim(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    argmax, other, dim = found
    plain = graph.call_method("argmax", (argmax.args[0], dim))
    if isinstance(other, fx.Node):
        other = graph.call_method("squeeze", (other, dim))
    test = operator.ne if node.target in (operator.ne, torch.ne, "ne") else operator.eq
    return graph.call_method("unsqueeze", (graph.call_function(test, (plain, other)), dim))


def argmax_against_a_class(node: fx.Node):
    """(argmax, class number) for ``scores.argmax(dim) == c`` with ``c`` a Python int (a loop over
    classes, unrolled), either side, ``!=`` too."""
    for mine, other in equality_sides(node):
        if is_call(mine, "argmax", torch.argmax) and depends_on_scores(mine) and isinstance(other, int) \
                and not isinstance(other, bool) and other >= 0 and not argument(mine, 2, "keepdim", False):
            return mine, other
    return None


def against_class_labels(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    argmax, number = found
    labels = graph.call_function(torch.full_like, (argmax, number))  # reads only argmax's shape
    if node.op == "call_method":
        return graph.call_method(node.target, (argmax, labels))
    return graph.call_function(node.target, (argmax, labels))
