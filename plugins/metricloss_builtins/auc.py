"""Area under the ROC curve: the fraction of (positive, negative) pairs ranked correctly.

A tied pair counts one half, as in scikit-learn's ``roc_auc_score`` (the trapezoid under the ROC
curve): the mean of ``[positive > negative]`` and ``[positive >= negative]``. Both blocks compare
the same pairs, so away from ties they agree; a constant model scores 0.5.
"""

import metricloss


@metricloss.metric(best=1.0, shapes={"scores": "N", "labels": "N"}, classes={"labels": 2})
def auc(scores, labels):
    positives, negatives = scores[labels == 1], scores[labels == 0]
    above = positives[:, None] > negatives[None, :]
    at_or_above = positives[:, None] >= negatives[None, :]
    return (above.float() + at_or_above.float()).mean() / 2
