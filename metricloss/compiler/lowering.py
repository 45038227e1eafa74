"""Lowering: rank-type ops on scores rewritten into comparisons, from one table of rules.

Users write ``(scores.argmax(1) == labels).float().mean()``; argmax is not a comparison, but
"the true class wins" is exactly "the true class's score beats every other class's score". Each
rule in ``REWRITES`` pairs a matcher over the traced graph with a replacement written as ordinary
tensor code; the replacement is traced once and inlined in place of the matched node, so the rest
of the compiler sees only comparisons. Every rule keeps torch's tie-breaking (``ops.beats`` gives
each binary its own tie rule), so a lowered metric equals the original on tied scores too.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx
import torch.nn.functional as F

from .errors import CompileError
from .ops import LEAF_FUNCTIONS, beats, hard_only, zero_one
from .render import render
from .trace import depends_on_scores

# --------------------------------------------------------------------------------------------
# Replacements: ordinary tensor code, traced and inlined. ``scores`` is the ranked tensor, the
# other tensors are targets; constants (dim, k, ...) are bound when the rule matches.


def _last(scores: torch.Tensor, dim: int) -> tuple[torch.Tensor, Any]:
    scores = scores.movedim(dim, -1)
    return scores, scores.shape[-1]


def _rivals(scores, labels, classes):
    """The true class's score [B, 1], its rivals' scores [B, C-1] and the rivals' class indices."""
    flat = scores.reshape(-1, classes)
    index = labels.long().reshape(-1, 1)
    every = torch.arange(classes, device=labels.device)
    others = every != index
    rivals = flat[others].reshape(-1, classes - 1)
    rival_classes = every.expand(flat.shape[0], classes)[others].reshape(-1, classes - 1)
    return flat.gather(-1, index), rivals, rival_classes, index


def argmax_equals(scores, labels, *, dim):
    """``scores.argmax(dim) == labels``: the labelled entry beats every other entry.

    torch's argmax returns the first maximal index, so the labelled entry must beat earlier
    entries strictly and may tie later ones.
    """
    scores, classes = _last(scores, dim)
    true_score, rivals, rival_classes, index = _rivals(scores, labels, classes)
    return beats(true_score, rivals, rival_classes > index).all(-1).reshape(labels.shape)


def argmax_differs(scores, labels, *, dim):
    """``scores.argmax(dim) != labels``: some other entry wins (the negation of argmax_equals)."""
    return ~argmax_equals(scores, labels, dim=dim)


def one_hot_argmax(scores, *, dim, num_classes):
    """``one_hot(scores.argmax(dim), C)``: entry c is 1 iff c beats every other entry, earlier
    entries strictly (the first maximal index wins a tie).

    The diagonal (c against itself) is a self-comparison the compiler drops from the loss.
    """
    scores, classes = _last(scores, dim)
    order = torch.arange(classes, device=scores.device)
    later = order[None, :] > order[:, None]  # [c, c']: c' comes after c, so c wins a tie with it
    won = beats(scores[..., :, None], scores[..., None, :], later)  # [..., c, c']
    itself = torch.eye(classes, dtype=torch.bool, device=scores.device)
    return (won | itself).all(-1).long()


def topk_contains(scores, labels, *, dim, k):
    """``labels`` is among the top-k entries iff fewer than k entries rank above it.

    torch does not specify which of tied entries topk returns; the rule here is scikit-learn's
    ``top_k_accuracy_score`` (a stable ascending sort read backwards): a later entry that ties
    the labelled one ranks above it, an earlier one does not.
    """
    scores, classes = _last(scores, dim)
    batch = scores.shape[:-1]
    true_score, rivals, rival_classes, index = _rivals(scores, labels, classes)
    above = beats(rivals, true_score, rival_classes > index)
    return (above.sum(-1) < k).reshape(batch)


def rank(scores, *, dim, descending):
    """``scores.argsort(dim, descending).argsort(dim)``: how many entries come before each one.

    A stable sort keeps tied entries in index order, so entry j comes before entry i when it is
    strictly better, or tied and earlier.
    """
    scores, classes = _last(scores, dim)
    order = torch.arange(classes, device=scores.device)
    earlier = order[None, :] < order[:, None]  # [i, j]: j comes before i in index order
    if descending:
        before = beats(scores[..., None, :], scores[..., :, None], earlier)  # [i, j]
    else:
        before = beats(scores[..., :, None], scores[..., None, :], earlier)
    return before.sum(-1).movedim(-1, dim)


def argmax_in_region(scores, original, *, dim):
    """``region.gather(dim, scores.argmax(dim, keepdim=True))``: the first maximal entry lies in
    the region iff the best score inside it beats every score outside it (one binary per outside
    entry), strictly for outside entries before the first best inside entry.
    """
    scores, size = _last(scores, dim)
    region = zero_one(original.movedim(dim, -1))
    inside = scores.masked_fill(~region, float("-inf"))
    best_inside = inside.amax(-1, keepdim=True)
    first_best = hard_only(inside).argmax(-1, keepdim=True)
    after = torch.arange(size, device=scores.device) > first_best
    won = beats(best_inside, scores, after)
    return (won | region).all(-1, keepdim=True).movedim(-1, dim).to(original.dtype)


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


def _is(node, method: str, function=None) -> bool:
    return isinstance(node, fx.Node) and (
        (node.op == "call_method" and node.target == method)
        or (node.op == "call_function" and function is not None and node.target is function)
    )


def _argument(node: fx.Node, position: int, name: str, default=None):
    if len(node.args) > position:
        return node.args[position]
    return node.kwargs.get(name, default)


def _is_equality(node) -> bool:
    return _is(node, "eq", torch.eq) or (
        isinstance(node, fx.Node) and node.op == "call_function" and node.target is operator.eq
    )


def _is_inequality(node) -> bool:
    return _is(node, "ne", torch.ne) or (
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
    dim = _argument(node, 1, "dim", default)
    if not isinstance(dim, int):
        raise CompileError(
            f"metric `{metric}`: `{node.target}` at {node.meta.get('location')} needs a constant "
            "`dim` to be rewritten into comparisons, e.g. `scores.argmax(1)`."
        )
    return dim


def _match_argmax_differs(node: fx.Node, metric: str) -> Match | None:
    return _match_argmax_equals(node, metric, test=_is_inequality)


def _match_argmax_equals(node: fx.Node, metric: str, test=_is_equality) -> Match | None:
    if not test(node):
        return None
    found = _scores_and_target(node, lambda n: _is(n, "argmax", torch.argmax) and depends_on_scores(n))
    if found is None:
        return None
    argmax, labels = found
    if _argument(argmax, 2, "keepdim", False):
        raise CompileError(
            f"metric `{metric}`: argmax(..., keepdim=True) at {argmax.meta.get('location')} cannot be "
            "lowered; write `scores.argmax(dim) == labels` with labels of the batch's shape."
        )
    return Match((argmax.args[0], labels), {"dim": _constant_dim(argmax, metric)})


def _match_one_hot_argmax(node: fx.Node, metric: str) -> Match | None:
    if not (isinstance(node, fx.Node) and node.op == "call_function" and node.target is F.one_hot):
        return None
    argmax = node.args[0]
    if not (_is(argmax, "argmax", torch.argmax) and depends_on_scores(argmax)):
        return None
    num_classes = _argument(node, 1, "num_classes", -1)
    return Match((argmax.args[0],), {"dim": _constant_dim(argmax, metric), "num_classes": num_classes})


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
    return source if _is(source, "topk", torch.topk) and depends_on_scores(source) else None


def _match_topk_contains(node: fx.Node, metric: str) -> Match | None:
    if not _is(node, "any", torch.any):
        return None
    equality = node.args[0]
    if not _is_equality(equality):
        return None
    found = _scores_and_target(equality, lambda n: _topk_indices(n) is not None)
    if found is None:
        return None
    topk = _topk_indices(found[0])
    k = _argument(topk, 1, "k")
    dim = _argument(topk, 2, "dim", -1)
    if not _argument(topk, 3, "largest", True):
        raise CompileError(
            f"metric `{metric}`: topk(largest=False) at {topk.meta.get('location')} has no rewrite; "
            "negate the scores instead: `(-scores).topk(k)`."
        )
    any_dim = _argument(node, 1, "dim")
    if not isinstance(k, int) or not isinstance(dim, int) or any_dim is None:
        raise CompileError(
            f"metric `{metric}`: top-k membership at {node.meta.get('location')} needs constant k and "
            "dim: `(scores.topk(k, dim).indices == labels[:, None]).any(dim)`."
        )
    return Match((topk.args[0], found[1]), {"dim": dim, "k": k})


def _match_rank(node: fx.Node, metric: str) -> Match | None:
    if not _is(node, "argsort", torch.argsort):
        return None
    inner = node.args[0]
    if not (_is(inner, "argsort", torch.argsort) and depends_on_scores(inner)):
        return None
    dim = _argument(inner, 1, "dim", -1)
    if _argument(node, 1, "dim", -1) != dim or not isinstance(dim, int):
        raise CompileError(
            f"metric `{metric}`: a rank `scores.argsort(dim).argsort(dim)` at {node.meta.get('location')} "
            "needs one constant dim for both argsorts."
        )
    descending = bool(_argument(inner, 2, "descending", False))
    return Match((inner.args[0],), {"dim": dim, "descending": descending})


def _match_argmax_in_region(node: fx.Node, metric: str) -> Match | None:
    if not _is(node, "gather", torch.gather) or len(node.args) < 3:
        return None
    region, dim, index = node.args[:3]
    if not (_is(index, "argmax", torch.argmax) and depends_on_scores(index)):
        return None
    if not isinstance(region, fx.Node) or depends_on_scores(region):
        return None
    if _constant_dim(index, metric) != dim or not _argument(index, 2, "keepdim", False):
        raise CompileError(
            f"metric `{metric}`: \"argmax lies in a region\" at {node.meta.get('location')} must read "
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
        replacement=argmax_equals,
    ),
    Rewrite(
        name="argmax_differs",
        pattern="scores.argmax(dim) != labels",
        rewrite="not all over c != labels of (scores[labels] > scores[c]; >= for c after labels)",
        block=_ARGMAX_BLOCK,
        match=_match_argmax_differs,
        replacement=argmax_differs,
    ),
    Rewrite(
        name="one_hot_argmax",
        pattern="one_hot(scores.argmax(dim), C)",
        rewrite="entry c = all over c' != c of (scores[c] > scores[c']; >= for c' after c)",
        block="[{scores}[..., c] ⋗ {scores}[..., c']] along dim {dim}, for every pair of classes c != c' (> for c' before c, >= after)",
        match=_match_one_hot_argmax,
        replacement=one_hot_argmax,
    ),
    Rewrite(
        name="topk_contains",
        pattern="(scores.topk(k, dim).indices == labels[:, None]).any(dim)",
        rewrite="(sum over c != labels of [scores[c] > scores[labels]; >= for c after labels]) < k",
        block="[{scores}[..., c] ⋗ {scores}[..., {labels}]] along dim {dim}, for every class c != {labels} (a later class wins a tie, as in scikit-learn)",
        match=_match_topk_contains,
        replacement=topk_contains,
    ),
    Rewrite(
        name="argmax_in_region",
        pattern="region.gather(dim, scores.argmax(dim, keepdim=True))",
        rewrite="all over p outside the region of (max of scores inside > scores[p]; >= for p after the first max inside)",
        block="[max of {scores} inside {labels} ⋗ {scores}[p]] along dim {dim}, for every p outside it (the first maximal index wins)",
        match=_match_argmax_in_region,
        replacement=argmax_in_region,
    ),
    Rewrite(
        name="rank",
        pattern="scores.argsort(dim, descending).argsort(dim)",
        rewrite="rank of i = sum over j of [scores[j] > scores[i]; >= for j before i] (< when ascending)",
        block="[{scores}[j] ⋗ {scores}[i]] along dim {dim} (descending={descending}), for every pair i, j (a stable sort: ties in index order)",
        match=_match_rank,
        replacement=rank,
    ),
)

SUPPORTED = "; ".join(rule.pattern for rule in REWRITES)


def lower(graph: fx.Graph, metric: str) -> list[str]:
    """Apply the first matching rule of ``REWRITES`` at every node; return what was rewritten."""
    applied = []
    for node in list(graph.nodes):
        for rule in REWRITES:
            match = rule.match(node, metric)
            if match is None:
                continue
            _inline(graph, node, rule, match)
            applied.append(f"{rule.name}: {rule.pattern} -> {rule.rewrite}")
            break
    graph.eliminate_dead_code()
    return applied


def _short(node: fx.Node, limit: int = 48) -> str:
    """A value as an expression when that is short, else by name and line."""
    text = render(node)
    if len(text) <= limit:
        return text
    location = node.meta.get("location")
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
            new.meta["location"] = node.meta.get("location")
            new.meta["lowered_from"] = rule.name
            new.meta["lowered_text"] = text
    node.replace_all_uses_with(result)
    graph.erase_node(node)
