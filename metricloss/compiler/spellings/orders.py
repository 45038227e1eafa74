"""Orders spelled through ``sort``, ``topk`` and ``torch.max``/``min``, respelled as the arg-forms.

``s.sort(dim).indices`` is ``s.argsort(dim)``, ``s.topk(k, dim).indices`` the first k of a
descending argsort (unless only tested for membership, which has a rule of its own), and the
values or indices of ``torch.max(s, dim)`` are ``amax`` and ``argmax``: the rewrite table
(``lowering.REWRITES``) reads the arg-forms alone.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx

from ..ops import argument, is_call
from ..trace.dependencies import depends_on_scores


def sort_indices(node: fx.Node) -> fx.Node | None:
    """The ``sort`` node when ``node`` takes its indices (``.indices`` or ``[1]``)."""
    if not (isinstance(node, fx.Node) and node.op == "call_function"):
        return None
    if node.target is getattr and node.args[1] == "indices" or node.target is operator.getitem and node.args[1] == 1:
        source = node.args[0]
        if is_call(source, "sort", torch.sort) and depends_on_scores(source):
            return source
    return None


def extreme_values(node: fx.Node):
    """("max" or "min", the torch.max/min node) when ``node`` takes its values."""
    return _extreme_part(node, "values", 0)


def extreme_with_indices(node: fx.Node):
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


def amax_of_values(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    which, source = found
    return graph.call_method(f"a{which}", (source.args[0], argument(source, 1, "dim")),
                             {"keepdim": argument(source, 2, "keepdim", False)})


def argsort_of_sort(graph: fx.Graph, node: fx.Node, source) -> fx.Node:
    options = {"dim": argument(source, 1, "dim", -1), "descending": argument(source, 2, "descending", False)}
    if source.kwargs.get("stable"):  # kept: the rule for a stable sort's top k as a membership test reads it
        options["stable"] = True
    return graph.call_method("argsort", (source.args[0],), options)


def argmax_of_indices(graph: fx.Graph, node: fx.Node, found) -> fx.Node:
    which, source = found
    return graph.call_method(f"arg{which}", (source.args[0], argument(source, 1, "dim")),
                             {"keepdim": argument(source, 2, "keepdim", False)})


def topk_order(node: fx.Node):
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


def prefix_of_argsort(graph: fx.Graph, node: fx.Node, source) -> fx.Node:
    dim = argument(source, 2, "dim", -1)
    order = graph.call_method("argsort", (source.args[0],), {
        "dim": dim, "descending": bool(argument(source, 3, "largest", True))})
    return graph.call_method("narrow", (order, dim, 0, argument(source, 1, "k")))
