"""Test inputs: hypothesis strategies for tie-free scores (the exactness invariant holds only without
ties), and fixed seeded batches."""

import os

import torch
from hypothesis import strategies as st

# The device the exactness suites run on: CPU by default; benchmarks/gpu_check.sh sets cuda.
DEVICE = torch.device(os.environ.get("METRICLOSS_TEST_DEVICE", "cpu"))


@st.composite
def binary_batches(draw, min_size=2, max_size=60):
    """(scores [N], labels [N]) with distinct scores and at least one positive and one negative."""
    values = draw(st.lists(st.integers(-10**6, 10**6), min_size=min_size, max_size=max_size, unique=True))
    labels = draw(st.lists(st.booleans(), min_size=len(values), max_size=len(values)))
    labels[0], labels[-1] = True, False
    return torch.tensor(values, dtype=torch.float32) / 1000, torch.tensor(labels, dtype=torch.long)


@st.composite
def multiclass_batches(draw, max_rows=40, max_classes=12):
    """(scores [N, C], labels [N]) with distinct scores in every row, C >= 2."""
    rows = draw(st.integers(1, max_rows))
    classes = draw(st.integers(2, max_classes))
    seed = draw(st.integers(0, 2**31 - 1))
    generator = torch.Generator().manual_seed(seed)
    scale = draw(st.sampled_from([1e-2, 1.0, 50.0]))
    scores = torch.stack([torch.randperm(classes, generator=generator) for _ in range(rows)]).float()
    scores = scale * (scores + 0.1 * torch.rand(rows, 1, generator=generator))
    labels = torch.randint(classes, (rows,), generator=generator)
    return scores, labels


def seeded_binary_batch(seed: int = 0, n: int = 40):
    """Scores (a leaf with grad) and 0/1 labels, about 30% positives, with at least one of each."""
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(n, generator=generator, requires_grad=True)
    labels = (torch.rand(n, generator=generator) < 0.3).long()
    labels[0], labels[1] = 1, 0
    return scores, labels
