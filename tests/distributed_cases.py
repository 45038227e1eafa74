"""The batches ``distributed_worker.py`` splits over two processes, and how it splits them.

Each case is a whole batch and the rows process 0 takes (process 1 takes the rest): the shards
are ragged on purpose, as a last batch is.
"""

from __future__ import annotations

import torch

SEED = 7
PROCESSES = 2


def _case(metric: str, scores: torch.Tensor, *targets: torch.Tensor, first: int, **extra) -> dict:
    return {"metric": metric, "scores": scores, "targets": targets, "first": first, **extra}


_g = torch.Generator().manual_seed(0)
CASES = {
    "auc, ragged 5 + 3": _case("auc", torch.randn(8, generator=_g), torch.tensor([1, 0, 0, 1, 0, 1, 1, 0]), first=5),
    "auc, ties": _case("auc", torch.randint(-1, 2, (12,), generator=_g).float(),
                       torch.tensor([1, 0, 1, 0, 0, 1, 1, 0, 1, 0, 0, 0]), first=6),
    "average precision, ragged 7 + 2": _case("average_precision", torch.randn(9, generator=_g),
                                             torch.tensor([0, 1, 0, 0, 1, 0, 0, 1, 0]), first=7),
    "accuracy, [N, C]": _case("accuracy", torch.randn(10, 4, generator=_g), torch.randint(0, 4, (10,), generator=_g),
                              first=4),
    "auc, the loss's own generator": _case("auc", torch.randn(8, generator=_g),
                                           torch.tensor([0, 1, 1, 0, 1, 0, 0, 1]), first=4, own_generator=True),
    "auc, one process holds every positive": _case("auc", torch.randn(8, generator=_g),
                                                   torch.tensor([1, 1, 1, 1, 0, 0, 0, 0]), first=4),
}


def shard(case: dict, rank: int) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
    rows = slice(0, case["first"]) if rank == 0 else slice(case["first"], None)
    return case["scores"][rows], tuple(t[rows] for t in case["targets"])
