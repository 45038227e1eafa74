"""In-place changes made functional, or refused where the graph cannot follow them.

``x.mul_(c)`` and ``x += y`` are recorded as in-place calls with no users, which torch.fx would
drop as dead code. Rewritten as ``x = x.mul(c)``, later reads of ``x`` see the change as they do
eagerly. A change to a tensor that shares memory with another would be seen through that one
too; a functional graph cannot follow that, so it is refused at the user's line.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx

from ...errors import CompileError
from ..ops import BOOLEAN_PRODUCERS, table
from .locations import LOCATION

# Ops whose result may share memory with their input (a view, or the input itself when nothing
# changes): an in-place change of either is seen through the other.
_ALIASING_METHODS = {
    "view", "view_as", "reshape", "reshape_as", "t", "transpose", "permute", "squeeze", "unsqueeze",
    "expand", "expand_as", "narrow", "select", "diagonal", "movedim", "moveaxis", "swapaxes", "flatten",
    "unflatten", "contiguous", "float", "double", "half", "long", "int", "bool", "to", "type_as",
    "detach", "split", "chunk", "unbind", "as_strided", "view_as_real",
}
_ALIASING_FUNCTIONS = {
    operator.getitem, torch.reshape, torch.flatten, torch.squeeze, torch.unsqueeze, torch.transpose,
    torch.permute, torch.narrow, torch.select, torch.movedim, torch.moveaxis, torch.swapaxes, torch.diagonal,
    torch.t, torch.split, torch.chunk, torch.unbind, torch.broadcast_to, torch.detach, torch.as_strided,
}


_CASTS = table.having("cast")


def _aliases(node: fx.Node) -> bool:
    """Whether ``node``'s result may share memory with another tensor of the graph."""
    if node.op == "placeholder":
        return True
    if node.op == "call_method" and node.target in _CASTS and node.target != "bool":
        source = node.args[0]  # a cast of a comparison's bools to numbers is a new tensor
        return not (isinstance(source, fx.Node) and source.op in ("call_function", "call_method")
                    and source.target in BOOLEAN_PRODUCERS)
    if node.op == "call_method":
        return node.target in _ALIASING_METHODS
    if node.op == "call_function":
        return node.target in _ALIASING_FUNCTIONS or (node.target is getattr and node.args[1] in ("T", "mT", "data"))
    return False


def _in_place_method(node: fx.Node) -> str | None:
    """The out-of-place name of an in-place tensor method (``mul_`` -> ``mul``), else None."""
    if node.op != "call_method" or not isinstance(node.target, str):
        return None
    name = node.target
    if not name.endswith("_") or name.startswith("_") or not isinstance(node.args[0], fx.Node):
        return None
    functional = name[:-1]
    return functional if hasattr(torch.Tensor, functional) else None


def without_mutations(graph: fx.Graph, metric: str) -> None:
    """``x.mul_(c)``, ``x += y``: the change becomes ``x = x.mul(c)``, so that later reads of ``x``
    (under any name: Python names are one node) see it, as they do eagerly. A change to a tensor
    that shares memory with another (an argument, a view, a slice) would be seen through that one
    too, which a functional graph cannot follow: refused at its line with the rewrite."""
    order = {node: position for position, node in enumerate(graph.nodes)}
    for node in list(graph.nodes):
        functional = _in_place_method(node)
        if functional is None:
            continue
        target = node.args[0]
        views = [user for user in target.users if user is not node and order[user] < order[node] and _aliases(user)]
        if _aliases(target) or views:
            what = ("an argument of the metric" if target.op == "placeholder"
                    else "a tensor that shares memory with another (a view, a slice or a cast)")
            raise CompileError(
                f"metric `{metric}`: `.{node.target}()` (or an augmented assignment such as `+=`) at "
                f"{node.meta.get(LOCATION)} changes {what} in place, which the trace cannot follow "
                f"into the tensors it shares memory with. Write it out of place: `x = x.{functional}(...)` "
                "(or `x = x + y`)."
            )
        with graph.inserting_after(node):
            new = graph.call_method(functional, node.args, dict(node.kwargs))
        new.meta.update(node.meta)
        node.replace_all_uses_with(new)
        for user in list(target.users):
            if user is not new and order.get(user, len(order)) > order[node]:
                user.replace_input_with(target, new)
        graph.erase_node(node)
        order = {n: position for position, n in enumerate(graph.nodes)}
