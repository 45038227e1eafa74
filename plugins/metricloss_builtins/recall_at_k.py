"""Recall at k: the fraction of positives among the k highest-scored items."""

import metricloss
from metricloss_builtins.ranking import positives_first


@metricloss.metric(shapes={"scores": "N", "labels": "N"}, classes={"labels": 2},
                   ideal=positives_first)
def recall_at_k(scores, labels, *, k=10):
    rank = scores.argsort(descending=True).argsort()
    hits = ((rank < k) & (labels == 1)).sum()
    return hits / (labels == 1).sum()
