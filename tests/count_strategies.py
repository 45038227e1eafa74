"""Hypothesis strategies for count-formula metrics: thresholds, and batches that may lack a class.

Scores are multiples of 1/1000 in [-1, 1] (as in ``strategies.py``); the thresholds sit between
them (or outside the range, for all-positive and all-negative predictions), so no score ties one.
"""

import torch
from hypothesis import strategies as st

# Outside [-1, 1]: every item predicted positive (-2) or negative (2, the zero_division case).
THRESHOLDS = (-2.0, -0.3335, 0.0005, 0.4995, 2.0)


def thresholds():
    return st.sampled_from(THRESHOLDS)


@st.composite
def binary_batches_any_labels(draw, min_size=1, max_size=40):
    """(scores [N], labels [N]) with distinct scores; the labels may be all positive or all negative."""
    values = draw(st.lists(st.integers(-1000, 1000), min_size=min_size, max_size=max_size, unique=True))
    labels = draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    return torch.tensor(values, dtype=torch.float32) / 1000, torch.tensor(labels, dtype=torch.long)
