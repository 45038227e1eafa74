"""Ranking and retrieval metrics: AUC, average precision, precision/recall/hit rate at k, NDCG,
MRR, as written in TorchMetrics' retrieval functions, scikit-learn's definitions and notebooks.

One list: ``scores`` [N] with ``labels`` [N] in {0, 1} (binary) or grades [N] in {0..3}
(graded). Queries: ``scores`` [Q, D] with ``relevance`` [Q, D] (0 not relevant, 1 or 2).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# One ranked list, binary labels


def mann_whitney_auc(scores, labels):
    # AUC as the Mann-Whitney U statistic of the positives' ranks (1-based)
    n_pos = (labels == 1).sum()
    n_neg = (labels == 0).sum()
    ranks = scores.argsort().argsort() + 1
    rank_sum = ranks[labels == 1].sum()
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def sign_auc(scores, labels):
    # sign(s_p - s_n) is +1, 0 or -1: (sign + 1) / 2 counts a tie as one half
    pos = scores[labels == 1]
    neg = scores[labels == 0]
    return ((torch.sign(pos[:, None] - neg[None, :]) + 1) / 2).mean()


def sort_cumsum_average_precision(scores, labels):
    # AP: mean of the precision at the rank of each positive, after a descending sort
    _, indices = torch.sort(scores, descending=True)
    sorted_labels = labels[indices].float()
    tp = torch.cumsum(sorted_labels, dim=0)
    precision = tp / torch.arange(1, len(labels) + 1)
    return (precision * sorted_labels).sum() / sorted_labels.sum()


def topk_precision(scores, labels, k=5):
    idx = torch.topk(scores, k).indices
    return labels[idx].float().sum() / k


def topk_recall(scores, labels, k=5):
    idx = scores.topk(k).indices
    return labels.gather(0, idx).sum() / labels.sum()


def topk_hit(scores, labels, k=3):
    top = torch.topk(scores, k=k).indices
    return (labels[top] == 1).any().float()


# ---------------------------------------------------------------------------------------------
# One ranked list, graded relevance


def sklearn_ndcg_at_k(scores, grades, k=5):
    # sklearn.metrics.ndcg_score's definition (linear gains, log2 discounts), ties broken by sort
    order = torch.argsort(scores, descending=True)
    gains = grades.float()[order][:k]
    discounts = 1.0 / torch.log2(torch.arange(2, k + 2).float())
    dcg = (gains * discounts).sum()
    ideal = torch.sort(grades.float(), descending=True).values[:k]
    return dcg / (ideal * discounts).sum()


def graded_pairwise_accuracy(scores, grades):
    # the fraction of pairs with different grades that the scores order correctly
    better = grades[:, None] > grades[None, :]
    correct = (scores[:, None] > scores[None, :]) & better
    return correct.sum() / better.sum()


# ---------------------------------------------------------------------------------------------
# Queries [Q, D]


def torchmetrics_ndcg(preds, target, top_k=5):
    # torchmetrics.functional.retrieval.retrieval_normalized_dcg, batched over queries
    sorted_target = target.gather(-1, torch.argsort(preds, dim=-1, descending=True))[:, :top_k]
    ideal_target = torch.sort(target, dim=-1, descending=True).values[:, :top_k]
    discount = 1.0 / torch.log2(torch.arange(sorted_target.shape[-1]) + 2.0)
    dcg = (sorted_target * discount).sum(dim=-1)
    idcg = (ideal_target * discount).sum(dim=-1)
    return (dcg / idcg).mean()


def exponential_gain_ndcg(scores, relevance, k=4):
    # (2^rel - 1) / log2(i + 1), as in the LETOR notebooks; discounts by position in a loop
    num_docs = scores.shape[1]
    order = scores.argsort(dim=1, descending=True)
    ranked = torch.gather(relevance, 1, order)
    dcg = torch.zeros(scores.shape[0])
    idcg = torch.zeros(scores.shape[0])
    ideal = relevance.sort(dim=1, descending=True).values
    for i in range(min(k, num_docs)):
        dcg += (2.0 ** ranked[:, i] - 1) / math.log2(i + 2)
        idcg += (2.0 ** ideal[:, i] - 1) / math.log2(i + 2)
    return (dcg / idcg).mean()


def torchmetrics_mrr(preds, target):
    # torchmetrics' retrieval_reciprocal_rank, one query after another
    rr = []
    for q in range(preds.shape[0]):
        ranked = target[q][torch.argsort(preds[q], dim=-1, descending=True)]
        position = torch.nonzero(ranked).view(-1)
        rr.append(1.0 / (position[0] + 1.0))
    return torch.stack(rr).mean()


def first_hit_mrr(scores, relevance):
    order = scores.argsort(dim=1, descending=True)
    hits = relevance.gather(1, order) > 0
    first = hits.float().argmax(dim=1)
    return (1.0 / (first + 1).float()).mean()


def topk_gather_recall(scores, relevance, k=3):
    top = torch.topk(scores, k, dim=1).indices
    hits = relevance.gather(1, top) > 0
    return (hits.sum(1) / (relevance > 0).sum(1)).mean()


def topk_gather_precision(scores, relevance, k=3):
    _, top = scores.topk(k, dim=1)
    return (relevance.gather(1, top) > 0).float().mean()


def hit_rate_at_k(scores, relevance, k=2):
    top = scores.topk(k, dim=-1).indices
    return (relevance.gather(-1, top) > 0).any(dim=-1).float().mean()


def mean_average_precision(scores, relevance):
    order = torch.argsort(scores, dim=1, descending=True)
    rel = (relevance.gather(1, order) > 0).float()
    positions = torch.arange(1, rel.shape[1] + 1).float()
    precision_at_i = rel.cumsum(dim=1) / positions
    ap = (precision_at_i * rel).sum(dim=1) / rel.sum(dim=1)
    return ap.mean()


def r_precision_masked(scores, relevance):
    # R-precision: precision in the top R, R the number of relevant items, by a rank mask
    ranks = scores.argsort(dim=1, descending=True).argsort(dim=1)
    relevant = relevance > 0
    r = relevant.sum(dim=1, keepdim=True)
    return ((ranks < r) & relevant).sum(1).div(r.squeeze(1)).mean()


# ---------------------------------------------------------------------------------------------
# Recsys spellings: hit counts of top-k indices, one argsort read as an order and as ranks,
# candidates masked with a filled tensor


def topk_hit_count(scores, relevance, k=3):
    # the relevant item a query was built around (its most relevant, first among equals)
    target = relevance.argmax(1)
    hits = (scores.topk(k, dim=1).indices == target[:, None]).sum(1)
    return hits.float().mean()


def order_and_ranks(scores, relevance, k=2):
    # one stable argsort used as an order (precision@k) and, argsorted again, as ranks (MRR)
    order = scores.argsort(dim=1, descending=True, stable=True)
    ranks = order.argsort(dim=1)
    precision = (relevance.gather(1, order)[:, :k] > 0).float().mean(1)
    reciprocal = torch.where(relevance > 0, 1.0 / (ranks + 1).float(), 0.0).amax(1)
    return (precision + reciprocal).mean() / 2


def masked_candidates_top1(scores, relevance):
    # items outside the candidate set are pushed below every real score before the arg-max
    candidates = relevance >= 0
    masked = torch.where(candidates, scores, torch.full_like(scores, float("-inf")))
    top = masked.argmax(dim=1)
    return (relevance.gather(1, top[:, None]) > 0).float().mean()
