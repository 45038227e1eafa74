"""Hit rate at k: the fraction of queries with a relevant item among their first k positions.

Relevant means relevance above zero; negative relevance marks padding, ranked below every real
item. Ties keep index order. A query without a relevant item is left out of the mean.
"""

import metricloss
from metricloss_builtins import whole_number


@metricloss.metric(best=1.0, shapes={"scores": "Q D", "relevance": "Q D"}, padding={"relevance": -1})
def hit_rate_at_k(scores, relevance, *, k=10):
    whole_number("k", k, "get_metric('hit_rate_at_k', k=10)", "a whole number of at least 1 (the cut-off)")
    listed = relevance >= 0
    order = scores.masked_fill(~listed, float("-inf")).argsort(dim=1, descending=True, stable=True)
    hit = (relevance.gather(1, order)[:, :k] > 0).any(dim=1)
    return hit[(relevance > 0).any(dim=1)].float().mean()
