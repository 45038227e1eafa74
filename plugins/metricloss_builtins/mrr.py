"""Mean reciprocal rank: one over the position of each query's first relevant item, averaged.

An item is relevant when its relevance is above zero; negative relevance marks padding, which is
ranked below every real item (as in ``ndcg_at_k``). Ties keep index order. A query without a
relevant item is left out of the mean, so every batch with one can reach 1.
"""

import metricloss
import torch


@metricloss.metric(best=1.0, shapes={"scores": "Q D", "relevance": "Q D"}, padding={"relevance": -1})
def mrr(scores, relevance):
    listed = relevance >= 0
    order = scores.masked_fill(~listed, float("-inf")).argsort(dim=1, descending=True, stable=True)
    ranks = order.argsort(dim=1)
    first = torch.where(relevance > 0, ranks, scores.shape[1]).amin(dim=1)
    reciprocal = 1.0 / (first + 1.0)
    found = (relevance > 0).any(dim=1)
    return reciprocal[found].mean()
