"""Accuracy: the fraction of samples whose true class has the highest score."""

import metricloss


@metricloss.metric(best=1.0, shapes={"scores": "N C", "labels": "N"}, classes={"labels": "C"})
def accuracy(scores, labels):
    return (scores.argmax(1) == labels).float().mean()
