"""Balanced accuracy: the mean of the true positive and the true negative rates, (TP/P + TN/N) / 2.

Equals scikit-learn's ``balanced_accuracy_score`` on batches with both classes. A batch without
positives or without negatives gives ``zero_division`` (0), where scikit-learn averages the rates
of the classes present.
"""

from metricloss import count_metric

balanced_accuracy = count_metric("(TP/P + TN/N) / 2", name="balanced_accuracy", best=1.0)
