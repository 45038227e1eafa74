"""Matchers of the rank-type ops built on sorting: top-k membership, ranks, sort orders.

A top-k membership test (``topk``, or scikit-learn's stable ascending sort read backwards) is a
count of the classes that beat the labelled one; a rank (an argsort of an argsort) is a count of
the items that beat each item; an argsort used to order targets is the permutation those counts
give. An argsort read only by a membership test belongs to that test's rule, not to the order's.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx

from ...errors import CompileError
from ..ops import argument, is_call
from ..trace import depends_on_scores
from .matching import Match, is_equality_test, scores_and_target
from ..trace.locations import LOCATION


def _topk_indices(node) -> fx.Node | None:
    """``scores.topk(...).indices`` or ``scores.topk(...)[1]`` -> the topk node."""
    if not isinstance(node, fx.Node) or node.op != "call_function":
        return None
    if node.target is getattr and node.args[1] == "indices":
        source = node.args[0]
    elif node.target is operator.getitem and node.args[1] == 1:
        source = node.args[0]
    else:
        return None
    return source if is_call(source, "topk", torch.topk) and depends_on_scores(source) else None


def match_topk_contains(node: fx.Node, metric: str) -> Match | None:
    if not is_call(node, "any", torch.any):
        return None
    equality = node.args[0]
    if not is_equality_test(equality):
        return None
    found = scores_and_target(equality, lambda n: _topk_indices(n) is not None)
    if found is None:
        return None
    topk = _topk_indices(found[0])
    k = argument(topk, 1, "k")
    dim = argument(topk, 2, "dim", -1)
    if not argument(topk, 3, "largest", True):
        raise CompileError(
            f"metric `{metric}`: topk(largest=False) at {topk.meta.get(LOCATION)} has no rewrite; "
            "negate the scores instead: `(-scores).topk(k)`."
        )
    any_dim = argument(node, 1, "dim")
    if not isinstance(k, int) or not isinstance(dim, int) or any_dim is None:
        raise CompileError(
            f"metric `{metric}`: top-k membership at {node.meta.get(LOCATION)} needs constant k and "
            "dim: `(scores.topk(k, dim).indices == labels[:, None]).any(dim)`."
        )
    return Match((topk.args[0], found[1]), {"dim": dim, "k": k})


def _stable_top(node) -> tuple[fx.Node, int, int] | None:
    """(scores, dim, k) for ``scores.argsort(dim=dim, stable=True).flip(dim)[..., :k]``, scikit-learn's
    top k (a stable ascending sort read backwards), with constant dim and k."""
    if not (isinstance(node, fx.Node) and node.op == "call_function" and node.target is operator.getitem):
        return None
    flipped, index = node.args
    if not (is_call(flipped, "flip", torch.flip) and len(flipped.args) <= 2):
        return None
    order = flipped.args[0]
    if not (is_call(order, "argsort", torch.argsort) and depends_on_scores(order)
            and order.kwargs.get("stable") is True and not argument(order, 2, "descending", False)):
        return None
    dim, dims = argument(order, 1, "dim", -1), argument(flipped, 1, "dims")
    if isinstance(dims, (list, tuple)) and len(dims) == 1:
        dims = dims[0]
    if not isinstance(dim, int) or dims != dim:
        return None
    k = _prefix_length(index, dim)
    return None if k is None else (order.args[0], dim, k)


def _prefix_length(index, dim: int) -> int | None:
    """k when ``index`` takes the first k entries along ``dim`` and every entry along the others."""
    entries = index if isinstance(index, tuple) else (index,)
    whole = slice(None)
    if dim == -1 and len(entries) == 2 and entries[0] is Ellipsis:
        cut = entries[1]
    elif dim >= 0 and len(entries) > dim and all(e == whole for e in entries[:dim] + entries[dim + 1:]):
        cut = entries[dim]
    else:
        return None
    if not (isinstance(cut, slice) and cut.start in (None, 0) and cut.step in (None, 1)):
        return None
    k = cut.stop
    return k if isinstance(k, int) and not isinstance(k, bool) and k > 0 else None


def match_stable_top_contains(node: fx.Node, metric: str) -> Match | None:
    if not (is_call(node, "any", torch.any) and argument(node, 1, "dim") is not None):
        return None
    equality = node.args[0]
    if not is_equality_test(equality):
        return None
    found = scores_and_target(equality, lambda n: _stable_top(n) is not None)
    if found is None:
        return None
    scores, dim, k = _stable_top(found[0])
    return Match((scores, found[1]), {"dim": dim, "k": k})


def _only_in_stable_top_tests(order: fx.Node, metric: str) -> bool:
    """Whether every use of an argsort is scikit-learn's top k in a membership test, which its
    own rule reads whole (``stable_top_contains``: one binary per class, not an order)."""
    def tested(top: fx.Node) -> bool:
        return _stable_top(top) is not None and bool(top.users) and all(
            is_equality_test(equality) and equality.users
            and all(match_stable_top_contains(test, metric) is not None for test in equality.users)
            for equality in top.users)
    return bool(order.users) and all(
        is_call(flipped, "flip", torch.flip) and flipped.users and all(tested(top) for top in flipped.users)
        for flipped in order.users)


def match_rank(node: fx.Node, metric: str) -> Match | None:
    if not is_call(node, "argsort", torch.argsort):
        return None
    inner = node.args[0]
    if not (is_call(inner, "argsort", torch.argsort) and depends_on_scores(inner)):
        return None
    dim = argument(inner, 1, "dim", -1)
    if argument(node, 1, "dim", -1) != dim or not isinstance(dim, int):
        raise CompileError(
            f"metric `{metric}`: a rank `scores.argsort(dim).argsort(dim)` at {node.meta.get(LOCATION)} "
            "needs one constant dim for both argsorts."
        )
    descending = bool(argument(inner, 2, "descending", False))
    # The outer argsort of a permutation read descending lists the ranks backwards: entry q is the
    # rank of item n - 1 - q.
    backwards = bool(argument(node, 2, "descending", False))
    return Match((inner.args[0],), {"dim": dim, "descending": descending, "backwards": backwards})


def match_sort_order(node: fx.Node, metric: str) -> Match | None:
    if not (is_call(node, "argsort", torch.argsort) and depends_on_scores(node)):
        return None
    if all(is_call(user, "argsort", torch.argsort) for user in node.users):
        return None  # only a rank: the rank rule reads the outer argsort
    # used as an order too: the order is computed here, and an argsort of it (the ranks) is an
    # argsort of a permutation, which g evaluates exactly
    if _only_in_stable_top_tests(node, metric):
        return None  # scikit-learn's top k: its membership rule reads the argsort
    dim = argument(node, 1, "dim", -1)
    if not isinstance(dim, int):
        raise CompileError(
            f"metric `{metric}`: `argsort` at {node.meta.get(LOCATION)} needs a constant dim to be "
            "rewritten into comparisons, e.g. `scores.argsort(dim=1, descending=True)`."
        )
    return Match((node.args[0],), {"dim": dim, "descending": bool(argument(node, 2, "descending", False))})

