"""The rewrite table: each rank-type idiom, how it is matched, and the code that replaces it.

A row pairs a matcher over the traced graph (``argmax_matchers.py``, ``sort_matchers.py``) with
a replacement written as ordinary tensor code (``compiler/rewrites.py``), and says in words what
it matches, what it becomes and which binaries it creates, for ``explain`` and for the error
that lists what compiles (``SUPPORTED``). A new idiom is a new row; ``inlining.py`` applies the
first row that matches at every node.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.fx as fx

from .. import rewrites
from .argmax_matchers import match_argmax_differs, match_argmax_equals, match_argmax_in_region, match_one_hot_argmax
from .matching import Match
from .sort_matchers import match_rank, match_sort_order, match_stable_top_contains, match_topk_contains


@dataclass(frozen=True)
class Rewrite:
    name: str
    pattern: str
    rewrite: str
    block: str  # the binaries it creates, for explain; {scores}, {labels} and constants filled in
    match: Callable[[fx.Node, str], Match | None]
    replacement: Callable


_ARGMAX_BLOCK = ("[{scores}[..., {labels}] ⋗ {scores}[..., c]] along dim {dim}, for every class c != {labels} "
                 "(> before it, >= after: the first maximal index wins)")


REWRITES: tuple[Rewrite, ...] = (
    Rewrite(
        name="argmax_equals",
        pattern="scores.argmax(dim) == labels",
        rewrite="all over c != labels of (scores[labels] > scores[c]; >= for c after labels)",
        block=_ARGMAX_BLOCK,
        match=match_argmax_equals,
        replacement=rewrites.argmax_equals,
    ),
    Rewrite(
        name="argmax_differs",
        pattern="scores.argmax(dim) != labels",
        rewrite="not all over c != labels of (scores[labels] > scores[c]; >= for c after labels)",
        block=_ARGMAX_BLOCK,
        match=match_argmax_differs,
        replacement=rewrites.argmax_differs,
    ),
    Rewrite(
        name="one_hot_argmax",
        pattern="one_hot(scores.argmax(dim), C)",
        rewrite="entry c = all over c' != c of (scores[c] > scores[c']; >= for c' after c)",
        block="[{scores}[..., c] ⋗ {scores}[..., c']] along dim {dim}, for every pair of classes c != c' (> for c' before c, >= after)",
        match=match_one_hot_argmax,
        replacement=rewrites.one_hot_argmax,
    ),
    Rewrite(
        name="topk_contains",
        pattern="(scores.topk(k, dim).indices == labels[:, None]).any(dim)",
        rewrite="(sum over c != labels of [scores[c] > scores[labels]; >= for c after labels]) < k",
        block="[{scores}[..., c] ⋗ {scores}[..., {labels}]] along dim {dim}, for every class c != {labels} (a later class wins a tie, as in scikit-learn)",
        match=match_topk_contains,
        replacement=rewrites.topk_contains,
    ),
    Rewrite(
        name="stable_top_contains",
        pattern="(scores.argsort(dim=dim, stable=True).flip(dim)[..., :k] == labels[:, None]).any(dim)",
        rewrite="(sum over c != labels of [scores[c] > scores[labels]; >= for c after labels]) < k",
        block="[{scores}[..., c] ⋗ {scores}[..., {labels}]] along dim {dim}, for every class c != {labels} (a later class wins a tie: a stable ascending sort read backwards)",
        match=match_stable_top_contains,
        replacement=rewrites.stable_top_contains,
    ),
    Rewrite(
        name="argmax_in_region",
        pattern="region.gather(dim, scores.argmax(dim, keepdim=True))",
        rewrite="all over p outside the region of (max of scores inside > scores[p]; >= for p after the first max inside)",
        block="[max of {scores} inside {labels} ⋗ {scores}[p]] along dim {dim}, for every p outside it (the first maximal index wins)",
        match=match_argmax_in_region,
        replacement=rewrites.argmax_in_region,
    ),
    Rewrite(
        name="rank",
        pattern="scores.argsort(dim, descending).argsort(dim)",
        rewrite="rank of i = sum over j of [scores[j] > scores[i]; >= for j before i] (< when ascending; "
                "read backwards when the outer argsort is descending)",
        block="[{scores}[j] ⋗ {scores}[i]] along dim {dim} (descending={descending}), for every pair i, j (a stable sort: ties in index order)",
        match=match_rank,
        replacement=rewrites.rank,
    ),
    Rewrite(
        name="sort_order",
        pattern="scores.argsort(dim, descending) (or scores.sort(...).indices), used to order targets",
        rewrite="order[p] = the item whose rank is p (a stable sort: ties in index order)",
        block="[{scores}[j] ⋗ {scores}[i]] along dim {dim} (descending={descending}), for every pair i, j (a stable sort: ties in index order)",
        match=match_sort_order,
        replacement=rewrites.sort_order,
    ),
)


SUPPORTED = "; ".join(rule.pattern for rule in REWRITES)

