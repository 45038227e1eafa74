"""Precision at k: the fraction of the k highest-scored items that are positive.

The rank of an item is the classic double argsort; the compiler rewrites it into counts of
pairwise comparisons. A perfect ranking puts the positives first (``ideal=``); its value is
min(1, positives / k), so no fixed ``best=`` is declared.
"""

import metricloss
from metricloss_builtins.ranking import positives_first


@metricloss.metric(shapes={"scores": "N", "labels": "N"}, classes={"labels": 2},
                   ideal=positives_first)
def precision_at_k(scores, labels, *, k=10):
    rank = scores.argsort(descending=True).argsort()
    hits = ((rank < k) & (labels == 1)).sum()
    return hits / labels.new_tensor(k).clamp_max(labels.shape[0])  # k, or N for a smaller batch
