"""References written from the definitions (or scikit-learn), shared by the exactness tests."""

from __future__ import annotations

import math

from sklearn.metrics import (
    balanced_accuracy_score,
    f1_score,
    fbeta_score,
    jaccard_score,
    matthews_corrcoef,
    precision_score,
    recall_score,
)

# The thresholded count metrics on predictions ``scores > threshold``.
BINARY_REFERENCES = {
    "f1": lambda y, p: f1_score(y, p, zero_division=0.0),
    "fbeta": lambda y, p: fbeta_score(y, p, beta=1.0, zero_division=0.0),
    "precision": lambda y, p: precision_score(y, p, zero_division=0.0),
    "recall": lambda y, p: recall_score(y, p, zero_division=0.0),
    "mcc": matthews_corrcoef,
    "iou": lambda y, p: jaccard_score(y, p, zero_division=0.0),
    "balanced_accuracy": balanced_accuracy_score,
}
# Defined (and equal to scikit-learn) even when the batch holds a single class.
ANY_LABELS = ("f1", "fbeta", "precision", "recall", "mcc", "iou")


def plain_pckh(heatmaps, joints, head_size, visible, threshold=0.5) -> float:
    """Loop over visible joints: the peak is the first maximal pixel (torch's argmax); a hit when
    it lies within threshold x head size of the joint."""
    hits = total = 0
    n, j, height, width = heatmaps.shape
    for i in range(n):
        for k in range(j):
            if not visible[i, k]:
                continue
            total += 1
            peak = int(heatmaps[i, k].flatten().argmax())
            y, x = divmod(peak, width)
            distance = math.hypot(x - float(joints[i, k, 0]), y - float(joints[i, k, 1]))
            hits += distance <= threshold * float(head_size[i])
    return hits / total
