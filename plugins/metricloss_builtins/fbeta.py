"""F-beta score: recall weighted beta times as much as precision (keyword ``beta=1.0``).

``(1 + beta**2) TP / ((1 + beta**2) TP + beta**2 FN + FP)``: beta = 0 is precision, beta = 1 is
F1. Equals scikit-learn's ``fbeta_score`` (``zero_division=0.0``).
"""

from metricloss import count_metric

fbeta = count_metric(
    "(1 + beta**2)*TP / ((1 + beta**2)*TP + beta**2*FN + FP)",
    name="fbeta",
    best=1.0,
    parameters={"beta": 1.0},
)
