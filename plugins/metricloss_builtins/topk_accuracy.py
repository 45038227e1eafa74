"""Top-k accuracy: the fraction of samples whose true class is among the k highest scores.

The top k is written as scikit-learn's ``top_k_accuracy_score`` computes it, the last k of a
stable ascending sort, rather than with ``topk``, whose tie order torch leaves open: so the code
run eagerly and the compiled metric agree on ties too. A class tied with the true one ranks above
it when it comes later, below it when it comes earlier. The compiled metric reads this spelling
as one comparison per rival class, as it reads a ``topk`` membership test. ``k`` is a whole
number from 1; with k at least the number of classes every sample is a hit and the value is 1, as
scikit-learn's.
"""

import metricloss
from metricloss_builtins import whole_number


@metricloss.metric(best=1.0, shapes={"scores": "N C", "labels": "N"}, classes={"labels": "C"})
def topk_accuracy(scores, labels, *, k=5):
    whole_number("k", k, "get_metric('topk_accuracy', k=5)", "a whole number from 1 (the size of the top)")
    top = min(k, scores.shape[1])  # k past the classes: every sample is a hit, as slicing gives
    best_first = scores.argsort(dim=1, stable=True).flip(1)
    return (best_first[:, :top] == labels[:, None]).any(1).float().mean()
