"""F1 score: the harmonic mean of precision and recall, 2TP / (2TP + FP + FN).

Binary: an item is predicted positive when its score is above ``threshold`` (default 0, for
logits). Equals scikit-learn's ``f1_score`` (``zero_division=0.0``).
"""

from metricloss import count_metric

f1 = count_metric("2*TP / (2*TP + FP + FN)", name="f1", best=1.0)
