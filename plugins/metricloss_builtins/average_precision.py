"""Average precision: the mean, over positives, of the precision at that positive's score.

scikit-learn's ``average_precision_score`` takes one threshold per distinct score: the items
scored at or above a positive are predicted positive together, so tied items share a threshold.
Positive ``i`` contributes ``(positives scored >= s_i) / (items scored >= s_i)``, itself included;
a constant model scores the fraction of positives.
"""

import metricloss


@metricloss.metric(best=1.0, shapes={"scores": "N", "labels": "N"}, classes={"labels": 2})
def average_precision(scores, labels):
    positives, negatives = scores[labels == 1], scores[labels == 0]
    positives_at_or_above = (positives[None, :] >= positives[:, None]).sum(1)
    negatives_at_or_above = (negatives[None, :] >= positives[:, None]).sum(1)
    return (positives_at_or_above / (positives_at_or_above + negatives_at_or_above)).mean()
