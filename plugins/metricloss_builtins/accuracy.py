"""Accuracy: the fraction of samples whose true class has the highest score.

On ties the prediction is torch's ``argmax``, the first maximal class, so a constant model is
right exactly on the samples of class 0 (scikit-learn's ``accuracy_score`` on that argmax).
"""

import metricloss


@metricloss.metric(best=1.0, shapes={"scores": "N C", "labels": "N"}, classes={"labels": "C"})
def accuracy(scores, labels):
    return (scores.argmax(1) == labels).float().mean()
