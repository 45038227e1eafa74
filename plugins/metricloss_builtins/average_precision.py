"""Average precision: the mean, over positives, of the precision among the items ranked above them.

For tie-free scores this is scikit-learn's ``average_precision_score``: precision at the rank of
positive ``i`` is ``(1 + positives above i) / (1 + items above i)``, the 1 being ``i`` itself.
"""

import metricloss


@metricloss.metric(best=1.0, shapes={"scores": "N", "labels": "N"}, classes={"labels": 2})
def average_precision(scores, labels):
    positives, negatives = scores[labels == 1], scores[labels == 0]
    positives_above = (positives[None, :] > positives[:, None]).sum(1)
    negatives_above = (negatives[None, :] > positives[:, None]).sum(1)
    return ((1 + positives_above) / (1 + positives_above + negatives_above)).mean()
