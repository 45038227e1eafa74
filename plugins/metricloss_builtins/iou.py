"""Intersection over union (Jaccard index) of the predicted and the true positives.

``TP / (TP + FP + FN)``; equals scikit-learn's ``jaccard_score`` (``zero_division=0.0``).
"""

from metricloss import count_metric

iou = count_metric("TP / (TP + FP + FN)", name="iou", best=1.0)
