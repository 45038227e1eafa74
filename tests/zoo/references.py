"""Plain definitions of the zoo's rank metrics, for tied scores.

``torch.topk``, ``argsort`` and ``sort`` without ``stable=True`` leave the order of tied entries
unspecified, so on tied scores those zoo entries are held to these definitions instead of their
own eager value: loops in numpy over an order in which tied items keep their index order (a
stable sort, the compiled rule for an order), or scikit-learn's ``top_k_accuracy_score`` for
top-k membership (a later class that ties the true one ranks above it).
"""

from __future__ import annotations

import math

import numpy as np
from sklearn.metrics import top_k_accuracy_score


def _np(x):
    return x.detach().double().numpy() if x.is_floating_point() else x.detach().numpy()


def descending(scores) -> np.ndarray:
    """Items from the highest score down; tied items in index order."""
    return np.argsort(-scores, kind="stable")


def ascending_ranks(values) -> np.ndarray:
    """Rank of each item from 0 (the lowest) up; tied items in index order."""
    ranks = np.empty(len(values), dtype=np.int64)
    ranks[np.argsort(values, kind="stable")] = np.arange(len(values))
    return ranks


# --- top-k membership: scikit-learn (or the order's first k)


def top_k_accuracy(scores, labels, k):
    return top_k_accuracy_score(_np(labels), _np(scores), k=k, labels=np.arange(scores.shape[1]))


def topk_imagenet(scores, labels):
    """The ImageNet example's top-k reads the first k rows of ``topk``'s order: the first k of a
    stable descending sort contain the label (here an earlier class that ties wins)."""
    s, y = _np(scores), _np(labels)
    return 100.0 * float(np.mean([y[i] in descending(s[i])[:3] for i in range(len(y))]))


def topk_any(scores, labels):
    return top_k_accuracy(scores, labels, 3)


# --- one list


def mann_whitney_auc(scores, labels):
    """The fraction of (positive, negative) pairs in which the positive ranks higher."""
    ranks, y = ascending_ranks(_np(scores)), _np(labels)
    pairs = [(p, n) for p in np.flatnonzero(y == 1) for n in np.flatnonzero(y == 0)]
    return sum(ranks[p] > ranks[n] for p, n in pairs) / len(pairs)


def average_precision(scores, labels):
    """The mean over positives of the precision of the list down to that positive."""
    y = _np(labels)[descending(_np(scores))]
    precisions = [y[: i + 1].sum() / (i + 1) for i in range(len(y)) if y[i] == 1]
    return sum(precisions) / len(precisions)


def topk_precision(scores, labels):
    return _np(labels)[descending(_np(scores))[:5]].sum() / 5


def topk_recall(scores, labels):
    y = _np(labels)
    return y[descending(_np(scores))[:5]].sum() / y.sum()


def topk_hit(scores, labels):
    return float((_np(labels)[descending(_np(scores))[:3]] == 1).any())


def dcg(gains, discount_of_position, k) -> float:
    return sum(gains[i] * discount_of_position(i) for i in range(min(k, len(gains))))


def sklearn_ndcg_at_k(scores, grades):
    g = _np(grades).astype(float)
    discount = lambda i: 1 / math.log2(i + 2)
    return dcg(g[descending(_np(scores))], discount, 5) / dcg(np.sort(g)[::-1], discount, 5)


# --- queries


def _per_query(metric):
    def mean_over_queries(scores, relevance):
        s, r = _np(scores), _np(relevance)
        return float(np.mean([metric(s[q], r[q]) for q in range(s.shape[0])]))
    mean_over_queries.__name__ = metric.__name__
    return mean_over_queries


@_per_query
def torchmetrics_ndcg(s, r):
    discount = lambda i: 1 / math.log2(i + 2)
    return dcg(r[descending(s)].astype(float), discount, 5) / dcg(np.sort(r)[::-1].astype(float), discount, 5)


@_per_query
def exponential_gain_ndcg(s, r):
    discount = lambda i: 1 / math.log2(i + 2)
    gains = 2.0 ** r.astype(float) - 1
    return dcg(gains[descending(s)], discount, 4) / dcg(np.sort(gains)[::-1], discount, 4)


@_per_query
def reciprocal_rank(s, r):
    ranked = r[descending(s)]
    return 1 / (np.flatnonzero(ranked > 0)[0] + 1)


@_per_query
def topk_gather_recall(s, r):
    return (r[descending(s)[:3]] > 0).sum() / (r > 0).sum()


@_per_query
def topk_gather_precision(s, r):
    return (r[descending(s)[:3]] > 0).mean()


@_per_query
def hit_rate_at_k(s, r):
    return float((r[descending(s)[:2]] > 0).any())


@_per_query
def mean_average_precision(s, r):
    return average_precision_np(s, (r > 0).astype(int))


@_per_query
def r_precision(s, r):
    relevant = int((r > 0).sum())
    return (r[descending(s)[:relevant]] > 0).sum() / relevant


def average_precision_np(s, y):
    y = y[descending(s)]
    precisions = [y[: i + 1].sum() / (i + 1) for i in range(len(y)) if y[i] == 1]
    return sum(precisions) / len(precisions)


# --- multi-label


def label_wise_mean_ap(scores, labels):
    s, y = _np(scores), _np(labels)
    return float(np.mean([average_precision_np(s[:, j], y[:, j]) for j in range(s.shape[1])]))


# --- regression: ranks of the predictions with ties in index order; ranks of the targets as
# torch's argsort gives them (the targets' side is not what is compiled)


def _ranks(preds, target):
    return ascending_ranks(_np(preds)).astype(float), _np(target.argsort().argsort()).astype(float)


def spearman_double_argsort(preds, target):
    rank_p, rank_t = _ranks(preds, target)
    rank_p, rank_t = rank_p - rank_p.mean(), rank_t - rank_t.mean()
    return (rank_p * rank_t).sum() / math.sqrt((rank_p**2).sum() * (rank_t**2).sum())


def spearman_rho_formula(preds, target):
    rank_p, rank_t = _ranks(preds, target)
    n = len(rank_p)
    return 1 - 6 * ((rank_p - rank_t) ** 2).sum() / (n * (n**2 - 1))


# --- recsys spellings


def topk_hit_count(scores, relevance):
    """Hits of the first three of a stable descending sort (a hit count reads topk's order)."""
    s, r = _np(scores), _np(relevance)
    return float(np.mean([int(np.argmax(r[q]) in descending(s[q])[:3]) for q in range(len(r))]))
