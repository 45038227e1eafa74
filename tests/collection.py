"""Metrics written the way people write evaluation code, with batches to try them on.

Each entry is the undecorated function (the eager reference), the kind of batch it takes, and
whether higher is better. The tests compile each one and hold it to its own eager value, ties
included, and check that its loss is zero at perfect scores and that its ideal is realisable.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F

K = 3


def pairwise_auc(scores, labels):
    positives, negatives = scores[labels == 1], scores[labels == 0]
    return (positives[:, None] > negatives[None, :]).float().mean()


def auc_ties_half(scores, labels):
    positives, negatives = scores[labels == 1], scores[labels == 0]
    wins = (positives[:, None] > negatives[None, :]).float()
    ties_or_wins = (positives[:, None] >= negatives[None, :]).float()
    return ((wins + ties_or_wins) / 2).mean()


def thresholded_f1(scores, labels):
    predicted = scores > 0
    actual = labels == 1
    tp = (predicted & actual).sum()
    fp = (predicted & ~actual).sum()
    fn = (~predicted & actual).sum()
    return 2 * tp / (2 * tp + fp + fn)


def sigmoid_accuracy(scores, labels):
    return ((torch.sigmoid(scores) > 0.5) == labels.bool()).float().mean()


def precision_at_3(scores, labels):
    rank = scores.argsort(descending=True, stable=True).argsort(stable=True)
    return ((rank < K) & (labels == 1)).sum() / K


def kendall_concordance(scores, targets):
    concordant = (scores[:, None] > scores[None, :]) & (targets[:, None] > targets[None, :])
    discordant = (scores[:, None] < scores[None, :]) & (targets[:, None] > targets[None, :])
    pairs = (targets[:, None] > targets[None, :]).sum()
    return (concordant.sum() - discordant.sum()) / pairs


def kendall_tau_sign(scores, targets):
    agreement = torch.sign(scores[:, None] - scores[None, :]) * torch.sign(targets[:, None] - targets[None, :])
    n = scores.shape[0]
    return agreement.sum() / (n * (n - 1))


def spearman(scores, targets):
    n = scores.shape[0]
    rank_s = scores.argsort(stable=True).argsort(stable=True).float()
    rank_t = targets.argsort(stable=True).argsort(stable=True).float()
    rank_s, rank_t = rank_s - (n - 1) / 2, rank_t - (n - 1) / 2
    return (rank_s * rank_t).sum() / (rank_t * rank_t).sum()


def accuracy_argmax(scores, labels):
    return (scores.argmax(1) == labels).float().mean()


def error_rate(scores, labels):
    return (scores.argmax(dim=1) != labels).float().mean()


def tutorial_accuracy(scores, labels):
    _, predicted = torch.max(scores, 1)
    return (predicted == labels).float().mean()


def lowest_is_label(scores, labels):
    return (scores.min(dim=1).indices == labels).float().mean()


def precision_at(scores, labels, k=3):
    rank = scores.argsort(descending=True, stable=True).argsort(stable=True)
    return ((rank < k) & (labels == 1)).sum() / k


def softmax_argmax_accuracy(scores, labels):
    return (F.softmax(scores, dim=1).argmax(dim=1) == labels).float().mean()


def confident_top(scores, labels):
    return ((scores.max(1).values > 0) & (scores.argmax(1) == labels)).float().mean()


def top3_accuracy(scores, labels):
    return (scores.topk(K, 1).indices == labels[:, None]).any(1).float().mean()


def balanced_accuracy(scores, labels):
    classes = scores.shape[1]
    predicted = F.one_hot(scores.argmax(1), classes)
    actual = F.one_hot(labels, classes)
    recall = (predicted * actual).sum(0) / actual.sum(0).clamp_min(1)
    present = actual.sum(0) > 0
    return (recall * present).sum() / present.sum()


def macro_f1(scores, labels):
    classes = scores.shape[1]
    predicted = F.one_hot(scores.argmax(1), classes)
    actual = F.one_hot(labels, classes)
    tp = (predicted * actual).sum(0)
    fp = (predicted * (1 - actual)).sum(0)
    fn = ((1 - predicted) * actual).sum(0)
    f1 = 2 * tp / (2 * tp + fp + fn).clamp_min(1)
    present = (predicted + actual).sum(0) > 0
    return (f1 * present).sum() / present.sum()


def mean_iou(scores, labels):
    classes = scores.shape[1]
    predicted = F.one_hot(scores.argmax(1), classes).bool()
    actual = F.one_hot(labels, classes).bool()
    intersection = (predicted & actual).sum(0)
    union = (predicted | actual).sum(0)
    return (intersection / union.clamp_min(1))[union > 0].mean()


def softmax_confident(scores, labels):
    probabilities = torch.softmax(scores, dim=1)
    return (probabilities.gather(1, labels[:, None]) > 0.5).float().mean()


def recall_at_3(scores, relevance):
    rank = scores.argsort(dim=1, descending=True, stable=True).argsort(dim=1, stable=True)
    hits = ((rank < K) & (relevance > 0)).sum(1)
    return (hits / (relevance > 0).sum(1).clamp_min(1)).mean()


def mrr(scores, relevance):
    rank = scores.argsort(dim=1, descending=True, stable=True).argsort(dim=1, stable=True)
    first = torch.where(relevance > 0, rank, scores.shape[1]).amin(1)
    return (1.0 / (first + 1)).mean()


def ndcg_at_3(scores, relevance):
    rank = scores.argsort(dim=1, descending=True, stable=True).argsort(dim=1, stable=True)
    gains = 2.0 ** relevance - 1
    dcg = (gains / torch.log2(rank + 2.0) * (rank < K)).sum(1)
    ideal_gains = gains.sort(1, descending=True).values[:, :K]
    positions = torch.arange(ideal_gains.shape[1], device=scores.device)
    idcg = (ideal_gains / torch.log2(positions + 2.0)).sum(1)
    return (dcg / idcg.clamp_min(1e-12)).mean()


def ndcg_at_3_sorted(scores, relevance):
    order = scores.argsort(dim=1, descending=True, stable=True)
    gains = (2.0 ** relevance.gather(1, order) - 1)[:, :K]
    discounts = 1.0 / torch.log2(torch.arange(K, device=scores.device) + 2.0)
    ideal = (2.0 ** relevance.sort(dim=1, descending=True).values - 1)[:, :K]
    return ((gains * discounts).sum(1) / (ideal * discounts).sum(1).clamp_min(1e-12)).mean()


def mrr_sorted(scores, relevance):
    _, order = scores.sort(dim=1, descending=True, stable=True)
    first = (relevance.gather(1, order) > 0).to(torch.uint8).argmax(1)
    return (1.0 / (first + 1)).mean()


def ap_cumsum(scores, labels):
    order = scores.argsort(descending=True, stable=True)
    hits = labels[order].float()
    precision = hits.cumsum(0) / torch.arange(1, labels.shape[0] + 1, device=scores.device)
    return (precision * hits).sum() / hits.sum()


def multilabel_map(scores, relevance):
    relevant = relevance > 0
    at_or_above = scores[:, None, :] >= scores[:, :, None]  # [q, i, j]: j at or above i
    hits = (at_or_above & relevant[:, None, :]).sum(2)
    retrieved = at_or_above.sum(2)
    precision = hits / retrieved
    ap = (precision * relevant).sum(1) / relevant.sum(1).clamp_min(1)
    return ap.mean()


def hit_at_1(scores, relevance):
    return (relevance > 0).gather(1, scores.argmax(1, keepdim=True)).float().mean()


@dataclass(frozen=True)
class Entry:
    fn: Callable
    kind: str  # "binary" [N] + {0,1}; "graded" [N] + real; "classes" [N, C] + [N]; "queries" [Q, D] + [Q, D]
    higher_is_better: bool = True
    best: float | None = 1.0
    # torch does not specify which of tied entries topk returns: ties are held to scikit-learn's
    # rule elsewhere, not to the eager value.
    eager_ties: bool = True


COLLECTION = [
    Entry(pairwise_auc, "binary"),
    Entry(auc_ties_half, "binary"),
    Entry(thresholded_f1, "binary"),
    Entry(sigmoid_accuracy, "binary"),
    Entry(precision_at_3, "binary", best=None),
    Entry(precision_at, "binary", best=None),
    Entry(kendall_concordance, "graded"),
    Entry(spearman, "graded"),
    Entry(kendall_tau_sign, "graded", best=None),
    Entry(accuracy_argmax, "classes"),
    Entry(error_rate, "classes", higher_is_better=False, best=0.0),
    Entry(tutorial_accuracy, "classes"),
    Entry(softmax_argmax_accuracy, "classes"),
    Entry(confident_top, "classes"),
    Entry(lowest_is_label, "classes", higher_is_better=False, best=0.0),
    Entry(top3_accuracy, "classes", eager_ties=False),
    Entry(balanced_accuracy, "classes"),
    Entry(macro_f1, "classes"),
    Entry(mean_iou, "classes"),
    Entry(softmax_confident, "classes"),
    Entry(recall_at_3, "queries"),
    Entry(mrr, "queries"),
    Entry(ndcg_at_3, "queries", best=None),
    Entry(multilabel_map, "queries"),
    Entry(ndcg_at_3_sorted, "queries", best=None),
    Entry(mrr_sorted, "queries"),
    Entry(ap_cumsum, "binary"),
    Entry(hit_at_1, "queries"),
]


def batch(kind: str, generator: torch.Generator, ties: bool = False, size: int = 12, classes: int = 5):
    """(scores, targets) for one kind of metric; with ``ties``, integer scores from a small range."""
    if kind in ("binary", "graded"):
        shape = (size,)
    elif kind == "classes":
        shape = (size, classes)
    else:
        shape = (4, size)
    scores = (torch.randint(-2, 3, shape, generator=generator).float() if ties
              else torch.randn(shape, generator=generator))
    if kind == "binary":
        labels = torch.randint(0, 2, (size,), generator=generator)
        labels[:2] = torch.tensor([0, 1])
        return scores, (labels,)
    if kind == "graded":
        return scores, (torch.randint(0, 4, (size,), generator=generator).float() if ties
                        else torch.randn(size, generator=generator),)
    if kind == "classes":
        return scores, (torch.randint(0, classes, (size,), generator=generator),)
    # Two or three relevant items per query, graded 1 or 2, at random places.
    places = torch.rand(shape, generator=generator).argsort(1)[:, :3]
    grades = torch.randint(1, 3, places.shape, generator=generator)
    grades[:, 2] *= torch.randint(0, 2, (shape[0],), generator=generator)
    relevance = torch.zeros(shape, dtype=torch.long).scatter(1, places, grades)
    return scores, (relevance,)


def perfect(kind: str, scores: torch.Tensor, targets: tuple, generator: torch.Generator) -> torch.Tensor:
    """Perfect scores with ordinary separation: what is right at +20 (or ordered 20 apart), the
    rest anywhere below."""
    (target,) = targets
    if kind == "classes":
        out = torch.randn(scores.shape, generator=generator)
        out[torch.arange(scores.shape[0]), target] = 20.0
        return out
    if kind == "binary":
        return torch.where(target == 1, 20.0, -20.0) + torch.randn(scores.shape, generator=generator)
    levels = torch.unique(target, return_inverse=True)[1].float()
    return levels * 20.0 + torch.rand(scores.shape, generator=generator)
