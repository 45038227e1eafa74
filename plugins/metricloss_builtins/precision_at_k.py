"""Precision at k: the fraction of the k highest-scored items that are positive.

The rank of an item is the classic double argsort, read as a stable sort: tied items keep their
index order, so a constant model's top k are the first k items. The compiler rewrites the rank
into counts of pairwise comparisons. A perfect ranking (positives first) is worth
min(1, positives / k), so no fixed ``best=`` is declared.
"""

import metricloss
from metricloss_builtins import whole_number


@metricloss.metric(shapes={"scores": "N", "labels": "N"}, classes={"labels": 2})
def precision_at_k(scores, labels, *, k=10):
    whole_number("k", k, "get_metric('precision_at_k', k=10)", "a whole number of at least 1 (the size of the top)")
    rank = scores.argsort(descending=True, stable=True).argsort(stable=True)
    hits = ((rank < k) & (labels == 1)).sum()
    return hits / labels.new_tensor(k).clamp_max(labels.shape[0])  # k, or N for a smaller batch
