"""F-beta score: recall weighted beta times as much as precision (keyword ``beta=1.0``).

``(1 + beta**2) TP / ((1 + beta**2) TP + beta**2 FN + FP)``: beta = 0 is precision, beta = 1 is
F1. Equals scikit-learn's ``fbeta_score`` (``zero_division=0.0``); beta must be at least 0, as
scikit-learn requires.
"""

from metricloss import count_metric


def beta_at_least_zero(scores, labels, *, threshold, beta):
    if beta < 0:
        return f"beta must be at least 0 (0 is precision, 1 is F1), got {beta!r}; bind e.g. get_metric('fbeta', beta=2.0)"
    return None


fbeta = count_metric(
    "(1 + beta**2)*TP / ((1 + beta**2)*TP + beta**2*FN + FP)",
    name="fbeta",
    best=1.0,
    parameters={"beta": 1.0},
    check=beta_at_least_zero,
)
