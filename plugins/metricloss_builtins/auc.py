"""Area under the ROC curve: the fraction of (positive, negative) pairs ranked correctly."""

import metricloss


@metricloss.metric(best=1.0, shapes={"scores": "N", "labels": "N"}, classes={"labels": 2})
def auc(scores, labels):
    positives, negatives = scores[labels == 1], scores[labels == 0]
    return (positives[:, None] > negatives[None, :]).float().mean()
