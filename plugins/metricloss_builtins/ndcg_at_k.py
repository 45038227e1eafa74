"""Normalised discounted cumulative gain at k, per query, averaged over the queries.

Lists are padded to one length in a batch of queries: an item whose relevance is negative is
padding (TF-Ranking's and allRank's convention, -1), neither counted nor ranked: its score is
pushed below every real one before the sort. A validity mask becomes that with
``relevance.masked_fill(~valid, -1)``. Gains are ``2**rel - 1`` (Burges et al. 2005, the usual
choice in learning to rank) or ``rel`` (``gain="linear"``, scikit-learn's ``ndcg_score``);
discounts ``1 / log2(position + 2)`` over the first ``k`` positions. Tied scores keep their index
order (a stable sort). A query without a relevant item has no ideal DCG: it is left out of the
mean (0/0 is NaN, and ``nanmean`` skips it), so every batch with a relevant item can reach 1.
"""

import metricloss
import torch
from metricloss_builtins import gain_of, whole_number


@metricloss.metric(best=1.0, shapes={"scores": "Q D", "relevance": "Q D"}, padding={"relevance": -1})
def ndcg_at_k(scores, relevance, *, k=10, gain="exponential"):
    whole_number("k", k, "get_metric('ndcg_at_k', k=10)", "a whole number of at least 1 (the cut-off)")
    gains = gain_of(relevance, gain)
    listed = relevance >= 0
    order = scores.masked_fill(~listed, float("-inf")).argsort(dim=1, descending=True, stable=True)
    positions = torch.arange(scores.shape[1], device=scores.device)
    discounts = torch.where(positions < k, 1.0 / torch.log2(positions + 2.0), 0.0)
    dcg = (gains.gather(1, order) * discounts).sum(1)
    ideal_dcg = (gains.sort(dim=1, descending=True).values * discounts).sum(1)
    return (dcg / ideal_dcg).nanmean()
