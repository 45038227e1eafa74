"""Mean reciprocal rank of the true class: 1 / (1 + number of classes scored above it)."""

import metricloss


@metricloss.metric(best=1.0, shapes={"scores": "N C", "labels": "N"}, classes={"labels": "C"})
def mean_reciprocal_rank(scores, labels):
    true_score = scores.gather(1, labels[:, None])
    above = (scores > true_score).sum(1)  # the true class against itself is a constant false
    return (1.0 / (1 + above)).mean()
