"""Top-k accuracy: the fraction of samples whose true class is among the k highest scores.

torch does not say which of tied classes ``topk`` returns; the compiled metric follows
scikit-learn's ``top_k_accuracy_score``: a class tied with the true one ranks above it when it
comes later, below it when it comes earlier.
"""

import metricloss


@metricloss.metric(best=1.0, shapes={"scores": "N C", "labels": "N"}, classes={"labels": "C"})
def topk_accuracy(scores, labels, *, k=5):
    return (scores.topk(k, 1).indices == labels[:, None]).any(1).float().mean()
