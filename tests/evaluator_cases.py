"""Batches for ``ml.evaluator`` on two processes (``evaluator_worker.py``), shared with the test that
computes the same value on one process."""

from __future__ import annotations

import torch

PROCESSES = 2

# name: (metric, parameters); each process gets batches_of(name, rank)
DISTRIBUTED = {
    "auc": ("auc", {}),
    "average_precision": ("average_precision", {}),
    "accuracy": ("accuracy", {}),
    "ndcg_at_k, lists of other lengths on each process": ("ndcg_at_k", {"k": 3}),
}


def batches_of(name: str, rank: int) -> list[tuple[torch.Tensor, ...]]:
    """Ragged batches on purpose: each process has another number of items, as with a last batch."""
    generator = torch.Generator().manual_seed(100 + rank)
    sizes = (7, 5) if rank == 0 else (6,)
    batches = []
    for size in sizes:
        if name in ("auc", "average_precision"):
            labels = (torch.rand(size, generator=generator) < 0.4).long()
            labels[0], labels[1] = 1, 0
            batches.append((torch.randint(-3, 4, (size,), generator=generator).float() / 2, labels))
        elif name == "accuracy":
            batches.append((torch.randn(size, 4, generator=generator), torch.randint(0, 4, (size,), generator=generator)))
        else:
            length = 5 + 2 * rank + len(batches)  # 5, 6 on process 0; 7 on process 1
            relevance = torch.randint(-1, 3, (size, length), generator=generator)
            batches.append((torch.randn(size, length, generator=generator), relevance))
    return batches
