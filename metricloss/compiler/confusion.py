"""Confusion matrices built by indexing, written as counts of one-hot comparisons.

The two ways people build a confusion matrix from predictions index a table with the predicted
class:

- ``torch.bincount(n * target + pred, minlength=n ** 2).reshape(n, n)`` (torchvision's
  segmentation reference), and
- ``cm.index_put_((target, pred), ones, accumulate=True)``.

Cell ``(t, p)`` counts the samples whose target is ``t`` and whose arg-max is ``p``: the sum over
samples of ``one_hot(target)[t] * one_hot(pred)[p]``. ``one_hot(scores.argmax(dim), C)`` has a rule
of its own in the lowering table (class ``p`` beats every other class, the first maximal index
winning a tie), so the table becomes a product of a target one-hot and that one: exact, ties
included, and a function of comparisons. The product is one matrix multiply per configuration,
so ``g`` stays cheap on every anchor.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx
import torch.nn.functional as F

from ..errors import InputError
from .ops import argument, is_call
from .trace.dependencies import depends_on_scores, shape_derived


def class_indices(target: torch.Tensor, classes: int, form: str) -> torch.Tensor:
    """``target`` as class indices in [0, classes), refusing others.

    A target outside the table changes the eager result's length (``bincount``) or raises
    (``index_put``); either way it is a batch the table cannot hold. Mask such entries first, as
    torchvision does with ``k = (target >= 0) & (target < n)``.
    """
    if target.is_floating_point() or target.dtype == torch.bool:
        target = target.long()
    if target.numel() and bool(((target < 0) | (target >= classes)).any()):
        raise InputError(
            f"a target indexes a confusion matrix of {classes} classes ({form}) with a value outside "
            f"[0, {classes}) on this batch; select the valid entries first, e.g. "
            f"`k = (target >= 0) & (target < {classes})` and index both target and prediction with `k`"
        )
    return target.long()


def pair_counts(rows: torch.Tensor, predicted: torch.Tensor, weights, columns: int) -> torch.Tensor:
    """``[R, columns]``: sum over samples of ``weights * rows[:, r] * predicted[:, c]``.

    ``rows`` is the target's one-hot [M, R], ``predicted`` the arg-max's [M, C] (C = the scores'
    classes); a table wider than C gets zero columns past it. A narrower one would let a
    prediction spill into the next row of a flattened table, which no one means: refused.
    """
    classes = predicted.shape[-1]
    if classes > columns:
        raise InputError(
            f"the scores have {classes} classes, but the confusion matrix built from their arg-max has "
            f"{columns} columns; a predicted class past them would be counted in another cell. Build the "
            f"matrix with the scores' class count (`n = scores.shape[1]`)."
        )
    predicted = F.pad(predicted, (0, columns - classes))
    dtype = torch.float64 if rows.shape[-2] >= 2 ** 24 else torch.float32
    if weights is None:
        weighted = rows.to(dtype)
    else:
        weighted = rows.to(dtype) * torch.as_tensor(weights, device=rows.device).to(dtype).expand(rows.shape[-2])[:, None]
    return torch.einsum("...mr,...mc->...rc", weighted, predicted.to(dtype))


def flat_counts(counts: torch.Tensor, minlength) -> torch.Tensor:
    """The [n, n] counts as ``bincount`` returns them: flat, int64, at least ``minlength`` long."""
    flat = counts.flatten(-2).round().long()
    missing = max(int(minlength or 0) - flat.shape[-1], 0)
    return F.pad(flat, (0, missing))


def added_counts(table: torch.Tensor, counts: torch.Tensor) -> torch.Tensor:
    """``table.index_put(indices, values, accumulate=True)``: the counts added in the table's dtype."""
    if not table.is_floating_point():
        counts = counts.round()
    return table + counts.to(table.dtype)


fx.wrap("class_indices")
fx.wrap("pair_counts")
fx.wrap("flat_counts")
fx.wrap("added_counts")
CONFUSION_FUNCTIONS = (class_indices, pair_counts, flat_counts, added_counts)


def _predicted(node) -> fx.Node | None:
    """``node`` when it is an arg-max of scores along a constant dim (the predicted classes)."""
    if is_call(node, "argmax", torch.argmax) and depends_on_scores(node) \
            and isinstance(argument(node, 1, "dim"), int) and not argument(node, 2, "keepdim", False):
        return node
    return None


def _casted(node):
    """``x.long()``, ``x.to(torch.int64)``: the value before an integer cast."""
    while is_call(node, "long") or is_call(node, "int") or (is_call(node, "to") and len(node.args) == 2):
        node = node.args[0]
    return node


def _flat_pair(index) -> tuple | None:
    """(target, n, pred) for ``n * target + pred`` in any order of the sums and products."""
    if not (isinstance(index, fx.Node) and index.op in ("call_function", "call_method")
            and index.target in (operator.add, torch.add, "add") and len(index.args) == 2):
        return None
    for product, pred in (index.args, index.args[::-1]):
        pred = _predicted(_casted(pred))
        if pred is None or not isinstance(product, fx.Node) or product.target not in (operator.mul, torch.mul, "mul"):
            continue
        for n, target in (product.args, product.args[::-1]):
            # n: the class count, a number or read off a shape; target: a tensor of class indices
            if isinstance(target, fx.Node) and not depends_on_scores(target) and not shape_derived(target) \
                    and (isinstance(n, int) or isinstance(n, fx.Node) and shape_derived(n)):
                return target, n, pred
    return None


def find_bincount(node: fx.Node):
    """``torch.bincount(n * target + pred, minlength=m)``: (target, n, pred, m)."""
    if not (is_call(node, "bincount", torch.bincount) and depends_on_scores(node)) \
            or argument(node, 1, "weights") is not None:
        return None
    found = _flat_pair(node.args[0])
    return None if found is None else (*found, argument(node, 2, "minlength", 0))


def find_index_put(node: fx.Node):
    """``table.index_put((target, pred), values, accumulate=True)`` (either order; ``index_put_``
    is made functional by the trace): (table, target, pred, values, pred_is_column)."""
    if not (is_call(node, "index_put", torch.index_put) and depends_on_scores(node)):
        return None
    table, indices, values = node.args[0], argument(node, 1, "indices"), argument(node, 2, "values")
    if not argument(node, 3, "accumulate", False) or not isinstance(indices, (tuple, list)) or len(indices) != 2 \
            or (isinstance(table, fx.Node) and depends_on_scores(table)) \
            or (isinstance(values, fx.Node) and depends_on_scores(values)):
        return None
    for target, pred, column in ((indices[0], indices[1], True), (indices[1], indices[0], False)):
        pred = _predicted(_casted(pred))
        if pred is not None and isinstance(target, fx.Node) and not depends_on_scores(target):
            return table, target, pred, values, column
    return None


def _one_hot_of_prediction(graph: fx.Graph, pred: fx.Node) -> fx.Node:
    """``F.one_hot(pred, C)`` with C read off the scores, as the one-hot arg-max rule reads it."""
    classes = graph.call_method("size", (pred.args[0], argument(pred, 1, "dim")))
    return graph.call_function(F.one_hot, (pred, classes))


def counts_of_bincount(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    target, n, pred, minlength = found
    form = "torch.bincount(n * target + pred)"
    rows = graph.call_function(F.one_hot, (graph.call_function(class_indices, (target, n, form)), n))
    counts = graph.call_function(pair_counts, (rows, _one_hot_of_prediction(graph, pred), None, n))
    return graph.call_function(flat_counts, (counts, minlength))


def counts_of_index_put(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    table, target, pred, values, pred_is_column = found
    shape = graph.call_function(getattr, (table, "shape"))
    target_size = graph.call_function(operator.getitem, (shape, 0 if pred_is_column else 1))
    pred_size = graph.call_function(operator.getitem, (shape, 1 if pred_is_column else 0))
    form = "table.index_put((target, pred), values, accumulate=True)"
    rows = graph.call_function(F.one_hot, (graph.call_function(class_indices, (target, target_size, form)),
                                           target_size))
    counts = graph.call_function(pair_counts, (rows, _one_hot_of_prediction(graph, pred), values, pred_size))
    if not pred_is_column:
        counts = graph.call_method("transpose", (counts, -1, -2))
    return graph.call_function(added_counts, (table, counts))
