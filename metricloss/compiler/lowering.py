"""Lowering: rank-type ops on scores rewritten into comparisons, from one table of rules.

Users write ``(scores.argmax(1) == labels).float().mean()``; argmax is not a comparison, but
"the true class wins" is exactly "the true class's score beats every other class's score". Each
rule in ``REWRITES`` pairs a matcher over the traced graph with a replacement written as ordinary
tensor code; the replacement is traced once and inlined in place of the matched node, so the rest
of the compiler sees only comparisons. Every rule keeps torch's tie-breaking where torch defines
it (``ops.beats`` gives each binary its own tie rule: argmax's first maximal index, a stable
sort's index order), so a lowered metric equals the original on tied scores too. Where torch
leaves it open (``argsort``/``sort`` without ``stable=True``, ``topk``) a rule states one, and
``tie_order.py`` names each such call so that the user is told.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F

from ..errors import CompileError
from . import rewrites
from .equalities import lower_score_equalities
from .lowered import LOWERED_FROM, LOWERED_TEXT
from .positions import lower_argmax_positions
from .spellings.table import respell
from .tie_order import UnstableSort, unstable_sorts
from .ops import LEAF_FUNCTIONS, argument, is_call
from .render import render
from .trace.dependencies import depends_on_scores
from .trace.locations import LOCATION

# --------------------------------------------------------------------------------------------
# Matchers: return a Match or None. They see the graph before taint analysis, so they ask
# ``depends_on_scores`` which operand carries the scores.


@dataclass(frozen=True)
class Match:
    inputs: tuple[fx.Node, ...]  # scores first, then targets
    constants: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Rewrite:
    name: str
    pattern: str
    rewrite: str
    block: str  # the binaries it creates, for explain; {scores}, {labels} and constants filled in
    match: Callable[[fx.Node, str], Match | None]
    replacement: Callable


def _is_equality(node) -> bool:
    return is_call(node, "eq", torch.eq) or (
        isinstance(node, fx.Node) and node.op == "call_function" and node.target is operator.eq
    )


def _is_inequality(node) -> bool:
    return is_call(node, "ne", torch.ne) or (
        isinstance(node, fx.Node) and node.op == "call_function" and node.target is operator.ne
    )


def _scores_and_target(node: fx.Node, pick: Callable[[Any], bool]):
    """The operand of a binary op that ``pick`` accepts, and the other one if it is a target."""
    if len(node.args) != 2:
        return None
    for mine, other in (node.args, node.args[::-1]):
        if pick(mine) and isinstance(other, fx.Node) and not depends_on_scores(other):
            return mine, other
    return None


def _constant_dim(node: fx.Node, metric: str, default=None) -> int:
    dim = argument(node, 1, "dim", default)
    if not isinstance(dim, int):
        raise CompileError(
            f"metric `{metric}`: `{node.target}` at {node.meta.get(LOCATION)} needs a constant "
            "`dim` to be rewritten into comparisons, e.g. `scores.argmax(1)`."
        )
    return dim


def _match_argmax_differs(node: fx.Node, metric: str) -> Match | None:
    return _match_argmax_equals(node, metric, test=_is_inequality)


def _match_argmax_equals(node: fx.Node, metric: str, test=_is_equality) -> Match | None:
    if not test(node):
        return None
    found = _scores_and_target(node, lambda n: is_call(n, "argmax", torch.argmax) and depends_on_scores(n))
    if found is None:
        return None
    argmax, labels = found
    if argument(argmax, 2, "keepdim", False):
        raise CompileError(
            f"metric `{metric}`: argmax(..., keepdim=True) at {argmax.meta.get(LOCATION)} cannot be "
            "lowered; write `scores.argmax(dim) == labels` with labels of the batch's shape."
        )
    return Match((argmax.args[0], labels), {"dim": _constant_dim(argmax, metric)})


def _match_one_hot_argmax(node: fx.Node, metric: str) -> Match | None:
    if not (isinstance(node, fx.Node) and node.op == "call_function" and node.target is F.one_hot):
        return None
    argmax = node.args[0]
    if not (is_call(argmax, "argmax", torch.argmax) and depends_on_scores(argmax)):
        return None
    num_classes = argument(node, 1, "num_classes", -1)
    if num_classes is None or isinstance(num_classes, int) and num_classes < 0:
        raise CompileError(
            f"metric `{metric}`: `F.one_hot(scores.argmax(dim))` at {node.meta.get(LOCATION)} has no "
            "`num_classes`, so its number of columns is the largest predicted class plus one, which the "
            "scores decide; give the number of classes: `F.one_hot(scores.argmax(1), scores.shape[1])`."
        )
    dim = _constant_dim(argmax, metric)
    if isinstance(num_classes, fx.Node):  # traced for every shape: only the scores' own class count
        if not _class_count_of(num_classes, argmax.args[0], dim):
            raise CompileError(
                f"metric `{metric}`: `F.one_hot(scores.argmax({dim}), num_classes)` at {node.meta.get(LOCATION)} "
                f"takes a number of classes computed from tensors; write `scores.shape[{dim}]` or a number."
            )
        num_classes = None  # the classes of the scores: no columns to add or drop
    return Match((argmax.args[0],), {"dim": dim, "num_classes": num_classes})


def _class_count_of(node: fx.Node, scores, dim: int) -> bool:
    """Whether ``node`` is ``scores.shape[dim]`` or ``scores.size(dim)``."""
    if node.op == "call_function" and node.target is operator.getitem and node.args[1] == dim:
        shape = node.args[0]
        return (isinstance(shape, fx.Node) and shape.op == "call_function" and shape.target is getattr
                and shape.args == (scores, "shape"))
    return node.op == "call_method" and node.target == "size" and node.args == (scores, dim)


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


def _match_topk_contains(node: fx.Node, metric: str) -> Match | None:
    if not is_call(node, "any", torch.any):
        return None
    equality = node.args[0]
    if not _is_equality(equality):
        return None
    found = _scores_and_target(equality, lambda n: _topk_indices(n) is not None)
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


def _match_stable_top_contains(node: fx.Node, metric: str) -> Match | None:
    if not (is_call(node, "any", torch.any) and argument(node, 1, "dim") is not None):
        return None
    equality = node.args[0]
    if not _is_equality(equality):
        return None
    found = _scores_and_target(equality, lambda n: _stable_top(n) is not None)
    if found is None:
        return None
    scores, dim, k = _stable_top(found[0])
    return Match((scores, found[1]), {"dim": dim, "k": k})


def _only_in_stable_top_tests(order: fx.Node, metric: str) -> bool:
    """Whether every use of an argsort is scikit-learn's top k in a membership test, which its
    own rule reads whole (``stable_top_contains``: one binary per class, not an order)."""
    def tested(top: fx.Node) -> bool:
        return _stable_top(top) is not None and bool(top.users) and all(
            _is_equality(equality) and equality.users
            and all(_match_stable_top_contains(test, metric) is not None for test in equality.users)
            for equality in top.users)
    return bool(order.users) and all(
        is_call(flipped, "flip", torch.flip) and flipped.users and all(tested(top) for top in flipped.users)
        for flipped in order.users)


def _match_rank(node: fx.Node, metric: str) -> Match | None:
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


def _match_sort_order(node: fx.Node, metric: str) -> Match | None:
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


def _match_argmax_in_region(node: fx.Node, metric: str) -> Match | None:
    if not is_call(node, "gather", torch.gather) or len(node.args) < 3:
        return None
    region, dim, index = node.args[:3]
    if not (is_call(index, "argmax", torch.argmax) and depends_on_scores(index)):
        return None
    if not isinstance(region, fx.Node) or depends_on_scores(region):
        return None
    if _constant_dim(index, metric) != dim or not argument(index, 2, "keepdim", False):
        raise CompileError(
            f"metric `{metric}`: \"argmax lies in a region\" at {node.meta.get(LOCATION)} must read "
            "`region.gather(dim, scores.argmax(dim, keepdim=True))` with one constant dim."
        )
    return Match((index.args[0], region), {"dim": dim})


_ARGMAX_BLOCK = ("[{scores}[..., {labels}] ⋗ {scores}[..., c]] along dim {dim}, for every class c != {labels} "
                 "(> before it, >= after: the first maximal index wins)")

REWRITES: tuple[Rewrite, ...] = (
    Rewrite(
        name="argmax_equals",
        pattern="scores.argmax(dim) == labels",
        rewrite="all over c != labels of (scores[labels] > scores[c]; >= for c after labels)",
        block=_ARGMAX_BLOCK,
        match=_match_argmax_equals,
        replacement=rewrites.argmax_equals,
    ),
    Rewrite(
        name="argmax_differs",
        pattern="scores.argmax(dim) != labels",
        rewrite="not all over c != labels of (scores[labels] > scores[c]; >= for c after labels)",
        block=_ARGMAX_BLOCK,
        match=_match_argmax_differs,
        replacement=rewrites.argmax_differs,
    ),
    Rewrite(
        name="one_hot_argmax",
        pattern="one_hot(scores.argmax(dim), C)",
        rewrite="entry c = all over c' != c of (scores[c] > scores[c']; >= for c' after c)",
        block="[{scores}[..., c] ⋗ {scores}[..., c']] along dim {dim}, for every pair of classes c != c' (> for c' before c, >= after)",
        match=_match_one_hot_argmax,
        replacement=rewrites.one_hot_argmax,
    ),
    Rewrite(
        name="topk_contains",
        pattern="(scores.topk(k, dim).indices == labels[:, None]).any(dim)",
        rewrite="(sum over c != labels of [scores[c] > scores[labels]; >= for c after labels]) < k",
        block="[{scores}[..., c] ⋗ {scores}[..., {labels}]] along dim {dim}, for every class c != {labels} (a later class wins a tie, as in scikit-learn)",
        match=_match_topk_contains,
        replacement=rewrites.topk_contains,
    ),
    Rewrite(
        name="stable_top_contains",
        pattern="(scores.argsort(dim=dim, stable=True).flip(dim)[..., :k] == labels[:, None]).any(dim)",
        rewrite="(sum over c != labels of [scores[c] > scores[labels]; >= for c after labels]) < k",
        block="[{scores}[..., c] ⋗ {scores}[..., {labels}]] along dim {dim}, for every class c != {labels} (a later class wins a tie: a stable ascending sort read backwards)",
        match=_match_stable_top_contains,
        replacement=rewrites.stable_top_contains,
    ),
    Rewrite(
        name="argmax_in_region",
        pattern="region.gather(dim, scores.argmax(dim, keepdim=True))",
        rewrite="all over p outside the region of (max of scores inside > scores[p]; >= for p after the first max inside)",
        block="[max of {scores} inside {labels} ⋗ {scores}[p]] along dim {dim}, for every p outside it (the first maximal index wins)",
        match=_match_argmax_in_region,
        replacement=rewrites.argmax_in_region,
    ),
    Rewrite(
        name="rank",
        pattern="scores.argsort(dim, descending).argsort(dim)",
        rewrite="rank of i = sum over j of [scores[j] > scores[i]; >= for j before i] (< when ascending; "
                "read backwards when the outer argsort is descending)",
        block="[{scores}[j] ⋗ {scores}[i]] along dim {dim} (descending={descending}), for every pair i, j (a stable sort: ties in index order)",
        match=_match_rank,
        replacement=rewrites.rank,
    ),
    Rewrite(
        name="sort_order",
        pattern="scores.argsort(dim, descending) (or scores.sort(...).indices), used to order targets",
        rewrite="order[p] = the item whose rank is p (a stable sort: ties in index order)",
        block="[{scores}[j] ⋗ {scores}[i]] along dim {dim} (descending={descending}), for every pair i, j (a stable sort: ties in index order)",
        match=_match_sort_order,
        replacement=rewrites.sort_order,
    ),
)

SUPPORTED = "; ".join(rule.pattern for rule in REWRITES)


def lower(graph: fx.Graph, metric: str) -> tuple[list[str], tuple[UnstableSort, ...]]:
    """Apply the first matching rule of ``REWRITES`` at every node; return what was rewritten,
    and the sorts whose tie order torch leaves open, found while they still read as written."""
    unstable = unstable_sorts(graph)
    applied = respell(graph)
    applied += lower_argmax_positions(graph)
    for node in list(graph.nodes):
        for rule in REWRITES:
            match = rule.match(node, metric)
            if match is None:
                continue
            _inline(graph, node, rule, match)
            applied.append(f"{rule.name}: {rule.pattern} -> {rule.rewrite}")
            break
    graph.eliminate_dead_code()
    applied += lower_score_equalities(graph)
    return applied, unstable


def _short(node: fx.Node, limit: int = 48) -> str:
    """A value as an expression when that is short, else by name and line."""
    text = render(node)
    if len(text) <= limit:
        return text
    location = node.meta.get(LOCATION)
    return f"`{node.name}` (line {location.lineno})" if location else f"`{node.name}`"


def _inline(graph: fx.Graph, node: fx.Node, rule: Rewrite, match: Match) -> None:
    constants = match.constants
    if len(match.inputs) == 1:
        def replacement(scores):
            return rule.replacement(scores, **constants)
    else:
        def replacement(scores, labels):
            return rule.replacement(scores, labels, **constants)

    sub = fx.Tracer(autowrap_functions=LEAF_FUNCTIONS).trace(replacement)
    placeholders = [n for n in sub.nodes if n.op == "placeholder"]
    value_map = dict(zip(placeholders, match.inputs))
    with graph.inserting_before(node):
        before = set(graph.nodes)
        result = graph.graph_copy(sub, value_map)
    labels = _short(match.inputs[1]) if len(match.inputs) > 1 else ""
    text = rule.block.format(scores=_short(match.inputs[0]), labels=labels, **match.constants)
    for new in graph.nodes:
        if new not in before and new is not node:
            new.meta[LOCATION] = node.meta.get(LOCATION)
            new.meta[LOWERED_FROM] = rule.name
            new.meta[LOWERED_TEXT] = text
    node.replace_all_uses_with(result)
    graph.erase_node(node)
