"""The replacements of the lowering table: ordinary tensor code in comparisons, tie rules kept.

Each function is traced once per match and inlined where the matched node stood
(``lowering/inlining.py``). ``scores`` is the ranked tensor, the other tensors are targets; constants
(dim, k, ...) are bound when the rule matches. ``ops.beats`` gives a binary its own tie rule, so a
rewritten metric equals the original on tied scores too, wherever torch defines their order; where
it does not (``topk``, sorts without ``stable=True``), the docstring states the rule followed.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.fx as fx

from .bool_ops import true_counts
from .ops import beats, broadcast_with, hard_only, zero_one

# Recorded as single nodes (the compiler reads them), not traced through.
fx.wrap("beats")
fx.wrap("hard_only")
fx.wrap("zero_one")
fx.wrap("broadcast_with")


def _last(scores: torch.Tensor, dim: int) -> tuple[torch.Tensor, Any]:
    scores = scores.movedim(dim, -1)
    return scores, scores.shape[-1]


def _rivals(scores, labels, classes):
    """The true class's score [B, 1], its rivals' scores [B, C-1] and the rivals' class indices.

    A label outside [0, C) (``scores.argmax(1) == 5`` with three classes) names no entry: it reads
    entry 0 here, and ``_named`` says which labels name an entry.
    """
    flat = scores.reshape(-1, classes)
    index = labels.long().reshape(-1, 1).clamp(0, classes - 1)
    # The C - 1 other classes in increasing order: j, or j + 1 from the labelled class on (a gather,
    # not a boolean mask, whose nonzero() would cost a pass and a host sync).
    others = torch.arange(classes - 1, device=labels.device)[None, :]
    rival_classes = others + (others >= index).long()
    return flat.gather(-1, index), flat.gather(-1, rival_classes), rival_classes, index


def _named(labels, classes):
    """Which labels name one of the classes: an index outside [0, C) equals no arg-max."""
    return (labels >= 0) & (labels < classes)


def _with_labels(scores, labels):
    """``scores`` [..., C] and ``labels`` broadcast as ``scores.argmax(-1) == labels`` broadcasts
    them (``labels[:, None]`` against an arg-max over [N, C] compares every pair of samples)."""
    shape = broadcast_with(scores, labels)
    return scores.expand(shape), labels.expand(shape[:-1])


def argmax_equals(scores, labels, *, dim):
    """``scores.argmax(dim) == labels``: the labelled entry beats every other entry.

    torch's argmax returns the first maximal index, so the labelled entry must beat earlier
    entries strictly and may tie later ones.
    """
    scores, classes = _last(scores, dim)
    scores, labels = _with_labels(scores, labels)
    true_score, rivals, rival_classes, index = _rivals(scores, labels, classes)
    return beats(true_score, rivals, rival_classes > index).all(-1).reshape(labels.shape) & _named(labels, classes)


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
    return with_columns((won | itself).all(-1).long(), num_classes)


def with_columns(one_hot: torch.Tensor, count: int) -> torch.Tensor:
    """A one-hot of the C classes with ``count`` columns, as ``F.one_hot(index, count)`` gives:
    zero columns added past C; fewer columns only when no index falls past them (torch raises)."""
    classes = one_hot.shape[-1]
    if count is None or count == classes:
        return one_hot
    if count > classes:
        return torch.nn.functional.pad(one_hot, (0, count - classes))
    if bool(one_hot[..., count:].any()):
        from ..errors import InputError

        raise InputError(f"F.one_hot(scores.argmax(dim), {count}): a predicted class is {count} or more "
                         f"(the scores have {classes} classes); torch raises on this batch too")
    return one_hot[..., :count]


fx.wrap("with_columns")


def topk_contains(scores, labels, *, dim, k):
    """``labels`` is among the top-k entries iff fewer than k entries rank above it.

    torch does not specify which of tied entries topk returns; the rule here is scikit-learn's
    ``top_k_accuracy_score`` (a stable ascending sort read backwards): a later entry that ties
    the labelled one ranks above it, an earlier one does not.
    """
    hits, classes = _in_top_k(scores, labels, dim, k)
    return k_in_range(hits, k, classes, dim)


def stable_top_contains(scores, labels, *, dim, k):
    """``(scores.argsort(dim=dim, stable=True).flip(dim)[..., :k] == labels[:, None]).any(dim)``:
    scikit-learn's own spelling of its top k (a stable ascending sort read backwards), so torch
    defines on ties what ``topk_contains`` decides by rule. A k past the classes takes them all,
    as slicing does."""
    return _in_top_k(scores, labels, dim, k)[0]


def _in_top_k(scores, labels, dim, k):
    """Whether fewer than k entries rank above the labelled one, a later tied entry ranking above
    it; and the number of entries."""
    scores, classes = _last(scores, dim)
    batch = scores.shape[:-1]
    true_score, rivals, rival_classes, index = _rivals(scores, labels, classes)
    above = beats(rivals, true_score, rival_classes > index)
    return (count_true(above) < k).reshape(batch), classes


def count_true(values: torch.Tensor) -> torch.Tensor:
    """``values.sum(-1)``, as a long tensor: how many entries of each row are true.

    A bool row is counted by ``bool_ops.true_counts``: in 32-bit integers, which torch vectorises
    on the CPU (two to four times faster than 16-bit sums and than widening every entry to 64
    bits), or for large tensors eight bytes at a time; anything else (the float blocks of g's
    affine statistics) is summed as it is.
    """
    if values.dtype == torch.bool:
        return true_counts(values)
    return values.sum(-1)


fx.wrap("count_true")


def k_in_range(hits: torch.Tensor, k: int, classes: int, dim: int) -> torch.Tensor:
    """``hits``, once ``k`` is found within the ``classes`` entries: torch's topk raises otherwise."""
    if isinstance(k, int) and not 0 <= k <= classes:
        from ..errors import InputError

        raise InputError(f"scores.topk({k}) on scores with {classes} entries along dim {dim}: k is out of range "
                         f"(torch raises on this batch too); use a k from 1 to {classes}, or "
                         f"min(k, scores.shape[{dim}])")
    return hits


fx.wrap("k_in_range")


def rank(scores, *, dim, descending, backwards=False):
    """``scores.argsort(dim, descending).argsort(dim)``: how many entries come before each one.

    A stable sort keeps tied entries in index order, so entry j comes before entry i when it is
    strictly better, or tied and earlier. ``backwards``: the outer argsort is descending, which
    sorts the positions from the last: its entry q is the rank of entry n - 1 - q.
    """
    scores, classes = _last(scores, dim)
    order = torch.arange(classes, device=scores.device)
    earlier = order[None, :] < order[:, None]  # [i, j]: j comes before i in index order
    if descending:
        before = beats(scores[..., None, :], scores[..., :, None], earlier)  # [i, j]
    else:
        before = beats(scores[..., :, None], scores[..., None, :], earlier)
    ranks = count_true(before)
    if backwards:
        ranks = ranks.flip(-1)
    return ranks.movedim(-1, dim)


def sort_order(scores, *, dim, descending):
    """``scores.argsort(dim, descending)``: the order, computed from the ranks, in ``g``.

    The item at position p is the one whose rank is p (ranks of a stable sort are a permutation),
    so ``labels[order]``, ``order[:k]``, gathers of targets, cumulative sums along the order and
    position weights all run unchanged on it, exactly, with ties in index order.
    """
    ranks = rank(scores, dim=dim, descending=descending).movedim(dim, -1)
    return order_from_ranks(ranks).movedim(-1, dim)


def order_from_ranks(ranks: torch.Tensor) -> torch.Tensor:
    """The items of [..., n] ranks sorted by rank, equal ranks in index order.

    Real scores give a permutation, and sorting it gives the order exactly. An anchor that no
    scores produce (one flip: two items with one count, a position with none) still gets an
    order, the nearest one, so a flip moves one item by one place and g changes by what that move
    is worth, not by a broken order (an item dropped, another twice). O(n log n) per row.
    """
    return ranks.argsort(dim=-1, stable=True)


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
