"""Recall (sensitivity, true positive rate): the fraction of positives predicted positive, TP / P.

Negatives do not enter it, so their comparisons are free at the ideal and get no gradient.
Equals scikit-learn's ``recall_score`` (``zero_division=0.0``: a batch without positives gives 0).
"""

from metricloss import count_metric

recall = count_metric("TP / (TP + FN)", name="recall", best=1.0)
