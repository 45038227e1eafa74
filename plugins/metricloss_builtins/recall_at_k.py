"""Recall at k: the fraction of positives among the k highest-scored items."""

import torch

import metricloss


def _positives_first(labels):
    """Tie-free perfect scores: positives in [1, 1.5), negatives in [0, 0.5)."""
    return labels.float() + torch.arange(labels.shape[0], device=labels.device) / (2 * labels.shape[0])


@metricloss.metric(shapes={"scores": "N", "labels": "N"}, classes={"labels": 2},
                   ideal=_positives_first)
def recall_at_k(scores, labels, *, k=10):
    rank = scores.argsort(descending=True).argsort()
    hits = ((rank < k) & (labels == 1)).sum()
    return hits / (labels == 1).sum()
