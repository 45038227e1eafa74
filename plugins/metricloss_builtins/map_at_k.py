"""Mean average precision at k: per query, the precision at each relevant item within the first
k positions, summed and divided by min(k, relevant items); averaged over the queries.

Relevant means relevance above zero; negative relevance marks padding, ranked below every real
item. Ties keep index order. A query without a relevant item is left out of the mean. This is
the normalisation of TorchMetrics' ``retrieval_average_precision(top_k=k)`` and of recommender
systems' AP@k, so a perfect ranking scores 1 whatever the number of relevant items.
"""

import metricloss
import torch
from metricloss_builtins import whole_number


@metricloss.metric(best=1.0, shapes={"scores": "Q D", "relevance": "Q D"}, padding={"relevance": -1})
def map_at_k(scores, relevance, *, k=10):
    whole_number("k", k, "get_metric('map_at_k', k=10)", "a whole number of at least 1 (the cut-off)")
    listed = relevance >= 0
    order = scores.masked_fill(~listed, float("-inf")).argsort(dim=1, descending=True, stable=True)
    hits = (relevance.gather(1, order) > 0).float()[:, :k]
    positions = torch.arange(1, hits.shape[1] + 1, device=scores.device)
    precision = hits.cumsum(dim=1) / positions
    relevant = (relevance > 0).sum(dim=1)
    average = (precision * hits).sum(dim=1) / relevant.clamp(max=k)
    return average[relevant > 0].mean()
