"""Recall at k: the fraction of positives among the k highest-scored items.

Ranks as in ``precision_at_k`` (a stable sort: ties keep index order). A perfect ranking is
worth min(1, k / positives), so no fixed ``best=`` is declared; a batch without positives is
undefined.
"""

import metricloss
from metricloss_builtins import whole_number


@metricloss.metric(shapes={"scores": "N", "labels": "N"}, classes={"labels": 2})
def recall_at_k(scores, labels, *, k=10):
    whole_number("k", k, "get_metric('recall_at_k', k=10)", "a whole number of at least 1 (the size of the top)")
    rank = scores.argsort(descending=True, stable=True).argsort(stable=True)
    hits = ((rank < k) & (labels == 1)).sum()
    return hits / (labels == 1).sum()
