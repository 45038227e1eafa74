"""Matthews correlation coefficient: the correlation of predictions and labels, in [-1, 1].

``(TP TN - FP FN) / sqrt((TP + FP)(TP + FN)(TN + FP)(TN + FN))``, 0 when a factor of the
denominator is zero, as scikit-learn's ``matthews_corrcoef`` returns.
"""

from metricloss import count_metric

mcc = count_metric(
    "(TP*TN - FP*FN) / sqrt((TP + FP)*(TP + FN)*(TN + FP)*(TN + FN))",
    name="mcc",
    best=1.0,
)
