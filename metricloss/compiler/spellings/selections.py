"""Values read through a mask or another tensor's shape, spelled another way.

``torch.where(mask, scores, c)`` keeps the scores where a target mask holds and a number
elsewhere: ``masked_fill`` with the mask inverted, which the partition reads as a selection.
``t.view_as(x)`` reads only ``x``'s shape: ``t.reshape(x.shape)``, so no edge from ``x``'s values
is left in the graph.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx

from ..ops import is_call
from ..trace.dependencies import depends_on_scores
from .operands import constant_fill


def find_shaped_like(node: fx.Node):
    """``t.view_as(x)`` (``reshape_as``, ``expand_as``): only ``x``'s shape is read."""
    return node if is_call(node, "view_as") or is_call(node, "reshape_as") or is_call(node, "expand_as") else None


def with_the_shape(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    shape = graph.call_function(getattr, (node.args[1], "shape"))
    method = "expand" if node.target == "expand_as" else "reshape"
    return graph.call_method(method, (node.args[0], shape))


def selection_by_where(node: fx.Node):
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
        value = constant_fill(fill)
        if value is not None:
            same_shape = fill.target in (torch.full_like, torch.zeros_like, torch.ones_like) and fill.args[0] is kept
            return kept, value, keep_where_true, None if same_shape else fill
    return None


def masked_fill(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
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
