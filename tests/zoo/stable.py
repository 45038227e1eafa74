"""Stable twins of the zoo's metrics whose tie order torch leaves open (``eager_ties=False``).

Each is its metric's code with the one change the tie-order warning asks for: ``stable=True``
passed to each ``argsort``/``sort`` of the scores (with ``dim`` by keyword, as torch then
requires), ``topk`` used as an order written as a stable descending sort's first k, and ``topk``
in a membership test written as scikit-learn's top k (a stable ascending sort read backwards).
Run eagerly, a twin is defined on tied scores, and ``tests/test_zoo.py`` holds the compiled
metric to it there. Sorts of the targets stay as written: torch runs them in the compiled
metric too.
"""

from __future__ import annotations

import math

import torch

# ---------------------------------------------------------------------------------------------
# classification


def topk_imagenet(output, target, k=3):
    with torch.no_grad():
        batch_size = target.size(0)
        _, pred = output.sort(dim=1, descending=True, stable=True)
        pred = pred[:, :k]
        pred = pred.t()
        correct = pred.eq(target.view(1, -1).expand_as(pred))
        correct_k = correct[:k].reshape(-1).float().sum(0, keepdim=True)
        return correct_k.mul_(100.0 / batch_size)


def topk_any(scores, labels, k=3):
    topk = scores.argsort(dim=1, stable=True).flip(1)[:, :k]
    return (labels.unsqueeze(1) == topk).any(dim=1).float().mean()


# ---------------------------------------------------------------------------------------------
# ranking, one list


def mann_whitney_auc(scores, labels):
    n_pos = (labels == 1).sum()
    n_neg = (labels == 0).sum()
    ranks = scores.argsort(stable=True).argsort() + 1
    rank_sum = ranks[labels == 1].sum()
    return (rank_sum - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def sort_cumsum_average_precision(scores, labels):
    _, indices = torch.sort(scores, descending=True, stable=True)
    sorted_labels = labels[indices].float()
    tp = torch.cumsum(sorted_labels, dim=0)
    precision = tp / torch.arange(1, len(labels) + 1)
    return (precision * sorted_labels).sum() / sorted_labels.sum()


def topk_precision(scores, labels, k=5):
    idx = torch.sort(scores, descending=True, stable=True).indices[:k]
    return labels[idx].float().sum() / k


def topk_recall(scores, labels, k=5):
    idx = scores.sort(descending=True, stable=True).indices[:k]
    return labels.gather(0, idx).sum() / labels.sum()


def topk_hit(scores, labels, k=3):
    top = torch.sort(scores, descending=True, stable=True).indices[:k]
    return (labels[top] == 1).any().float()


def sklearn_ndcg_at_k(scores, grades, k=5):
    order = torch.argsort(scores, descending=True, stable=True)
    gains = grades.float()[order][:k]
    discounts = 1.0 / torch.log2(torch.arange(2, k + 2).float())
    dcg = (gains * discounts).sum()
    ideal = torch.sort(grades.float(), descending=True).values[:k]
    return dcg / (ideal * discounts).sum()


# ---------------------------------------------------------------------------------------------
# ranking, queries


def torchmetrics_ndcg(preds, target, top_k=5):
    sorted_target = target.gather(-1, torch.argsort(preds, dim=-1, descending=True, stable=True))[:, :top_k]
    ideal_target = torch.sort(target, dim=-1, descending=True).values[:, :top_k]
    discount = 1.0 / torch.log2(torch.arange(sorted_target.shape[-1]) + 2.0)
    dcg = (sorted_target * discount).sum(dim=-1)
    idcg = (ideal_target * discount).sum(dim=-1)
    return (dcg / idcg).mean()


def exponential_gain_ndcg(scores, relevance, k=4):
    num_docs = scores.shape[1]
    order = scores.argsort(dim=1, descending=True, stable=True)
    ranked = torch.gather(relevance, 1, order)
    dcg = torch.zeros(scores.shape[0])
    idcg = torch.zeros(scores.shape[0])
    ideal = relevance.sort(dim=1, descending=True).values
    for i in range(min(k, num_docs)):
        dcg += (2.0 ** ranked[:, i] - 1) / math.log2(i + 2)
        idcg += (2.0 ** ideal[:, i] - 1) / math.log2(i + 2)
    return (dcg / idcg).mean()


def torchmetrics_mrr(preds, target):
    rr = []
    for q in range(preds.shape[0]):
        ranked = target[q][torch.argsort(preds[q], dim=-1, descending=True, stable=True)]
        position = torch.nonzero(ranked).view(-1)
        rr.append(1.0 / (position[0] + 1.0))
    return torch.stack(rr).mean()


def first_hit_mrr(scores, relevance):
    order = scores.argsort(dim=1, descending=True, stable=True)
    hits = relevance.gather(1, order) > 0
    first = hits.float().argmax(dim=1)
    return (1.0 / (first + 1).float()).mean()


def topk_gather_recall(scores, relevance, k=3):
    top = torch.sort(scores, dim=1, descending=True, stable=True).indices[:, :k]
    hits = relevance.gather(1, top) > 0
    return (hits.sum(1) / (relevance > 0).sum(1)).mean()


def topk_gather_precision(scores, relevance, k=3):
    _, top = scores.sort(dim=1, descending=True, stable=True)
    top = top[:, :k]
    return (relevance.gather(1, top) > 0).float().mean()


def hit_rate_at_k(scores, relevance, k=2):
    top = scores.sort(dim=-1, descending=True, stable=True).indices[..., :k]
    return (relevance.gather(-1, top) > 0).any(dim=-1).float().mean()


def mean_average_precision(scores, relevance):
    order = torch.argsort(scores, dim=1, descending=True, stable=True)
    rel = (relevance.gather(1, order) > 0).float()
    positions = torch.arange(1, rel.shape[1] + 1).float()
    precision_at_i = rel.cumsum(dim=1) / positions
    ap = (precision_at_i * rel).sum(dim=1) / rel.sum(dim=1)
    return ap.mean()


def r_precision_masked(scores, relevance):
    ranks = scores.argsort(dim=1, descending=True, stable=True).argsort(dim=1)
    relevant = relevance > 0
    r = relevant.sum(dim=1, keepdim=True)
    return ((ranks < r) & relevant).sum(1).div(r.squeeze(1)).mean()


# ---------------------------------------------------------------------------------------------
# multi-label


def label_wise_mean_ap(scores, labels):
    aps = []
    for j in range(labels.shape[1]):
        order = torch.argsort(scores[:, j], descending=True, stable=True)
        hits = labels[order, j].float()
        precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1)
        aps.append((precision * hits).sum() / hits.sum())
    return torch.stack(aps).mean()


# ---------------------------------------------------------------------------------------------
# regression


def spearman_double_argsort(preds, target):
    rank_p = preds.argsort(stable=True).argsort().float()
    rank_t = target.argsort().argsort().float()
    rank_p = rank_p - rank_p.mean()
    rank_t = rank_t - rank_t.mean()
    return (rank_p * rank_t).sum() / torch.sqrt((rank_p**2).sum() * (rank_t**2).sum())


def spearman_rho_formula(preds, target):
    n = preds.shape[0]
    d = (preds.argsort(stable=True).argsort() - target.argsort().argsort()).float()
    return 1 - 6 * (d**2).sum() / (n * (n**2 - 1))


# ---------------------------------------------------------------------------------------------
# recsys spellings


def topk_hit_count(scores, relevance, k=3):
    target = relevance.argmax(1)
    order = scores.sort(dim=1, descending=True, stable=True).indices[:, :k]
    hits = (order == target[:, None]).sum(1)
    return hits.float().mean()
