"""Precision: the fraction of predicted positives that are positive, TP / (TP + FP).

Its ideal predicts every positive above the threshold and every negative below it. Equals
scikit-learn's ``precision_score`` (``zero_division=0.0``: no predicted positive gives 0).
"""

from metricloss import count_metric

precision = count_metric("TP / (TP + FP)", name="precision", best=1.0)
