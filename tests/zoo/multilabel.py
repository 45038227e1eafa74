"""Multi-label metrics: ``scores`` [N, L] (logits, one per label) and ``labels`` [N, L] in {0, 1}."""

from __future__ import annotations

import torch


def label_wise_mean_ap(scores, labels):
    # mean over labels of each label's AP (sklearn's average_precision_score(average="macro")),
    # one label after another
    aps = []
    for j in range(labels.shape[1]):
        order = torch.argsort(scores[:, j], descending=True)
        hits = labels[order, j].float()
        precision = hits.cumsum(0) / torch.arange(1, len(hits) + 1)
        aps.append((precision * hits).sum() / hits.sum())
    return torch.stack(aps).mean()


def example_based_accuracy(scores, labels, threshold=0.5):
    # Jaccard index per sample: |Y & Z| / |Y | Z| (Godbole & Sarawagi), empty rows count 1
    preds = torch.sigmoid(scores) > threshold
    truth = labels.bool()
    inter = (preds & truth).sum(dim=1).float()
    union = (preds | truth).sum(dim=1).float()
    return torch.where(union == 0, 1.0, inter / union.clamp(min=1)).mean()


def example_based_f1(scores, labels):
    preds = (scores > 0).float()
    tp = (preds * labels).sum(1)
    return (2 * tp / (preds.sum(1) + labels.sum(1)).clamp(min=1)).mean()


def subset_accuracy(scores, labels):
    # sklearn.metrics.accuracy_score on multi-label indicators: exact match
    preds = (torch.sigmoid(scores) > 0.5).long()
    return (preds == labels).all(dim=1).float().mean()


def hamming_loss(scores, labels):
    preds = scores.sigmoid().round()
    return (preds != labels).float().mean()


def multilabel_micro_f1(scores, labels):
    # torchmetrics multilabel_f1_score(average="micro")
    preds = (scores.sigmoid() > 0.5).long()
    tp = ((preds == 1) & (labels == 1)).sum()
    fp = ((preds == 1) & (labels == 0)).sum()
    fn = ((preds == 0) & (labels == 1)).sum()
    return 2 * tp / (2 * tp + fp + fn)


def multilabel_macro_f1_loop(scores, labels):
    num_labels = scores.shape[1]
    preds = scores > 0
    f1 = []
    for j in range(num_labels):
        tp = (preds[:, j] & (labels[:, j] == 1)).sum()
        fp = (preds[:, j] & (labels[:, j] == 0)).sum()
        fn = (~preds[:, j] & (labels[:, j] == 1)).sum()
        f1.append(2 * tp / (2 * tp + fp + fn).clamp(min=1))
    return sum(f1) / num_labels


def coverage_error(scores, labels):
    # sklearn.metrics.coverage_error: how far down the ranking all true labels are covered
    true_min = torch.where(labels.bool(), scores, torch.inf).min(dim=1, keepdim=True).values
    coverage = (scores >= true_min).sum(dim=1).float()
    return coverage.mean()


def decided_pair_accuracy(scores, labels):
    # label pairs (relevant, irrelevant) the model orders without a tie, and orders right
    pos = labels.bool()
    pairs = pos[:, :, None] & ~pos[:, None, :]
    decided = scores[:, :, None] != scores[:, None, :]
    right = scores[:, :, None] > scores[:, None, :]
    return (right & decided & pairs).sum() / pairs.sum()


def best_relevant_beats_best_irrelevant(scores, labels):
    best_pos = torch.where(labels.bool(), scores, torch.full_like(scores, -1e9)).amax(1)
    best_neg = torch.where(labels.bool(), scores.new_full(scores.shape, -1e9), scores).amax(1)
    return (best_pos > best_neg).float().mean()
