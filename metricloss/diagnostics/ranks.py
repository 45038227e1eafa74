"""Spearman's rank correlation in torch: Pearson's correlation of average ranks.

Average ranks matter here: the exact metric ``g`` takes few distinct values on a batch (AUC moves
in steps of one pair), so many configurations tie, and tied values must share one rank.

    >>> round(spearman(torch.tensor([1.0, 2.0, 3.0, 4.0]), torch.tensor([10.0, 20.0, 20.0, 40.0])), 4)
    0.9487
    >>> spearman(torch.tensor([1.0, 2.0]), torch.tensor([5.0, 5.0]))  # a constant side: undefined
    nan
"""

from __future__ import annotations

import math

import torch


def average_ranks(values: torch.Tensor) -> torch.Tensor:
    """[n] -> [n] float64 ranks from 1, ties sharing the mean of the ranks they span."""
    order = values.argsort(stable=True)
    _, inverse, counts = torch.unique_consecutive(values[order], return_inverse=True, return_counts=True)
    ends = counts.cumsum(0).to(torch.float64)  # the last rank of each run of equal values
    mean_rank = ends - (counts.to(torch.float64) - 1) / 2
    ranks = torch.empty(values.numel(), dtype=torch.float64, device=values.device)
    ranks[order] = mean_rank[inverse]
    return ranks


def spearman(first: torch.Tensor, second: torch.Tensor) -> float:
    """Spearman's rho of two [n] tensors; NaN when n < 2 or either side is constant."""
    if first.numel() < 2:
        return math.nan
    a, b = average_ranks(first.reshape(-1)), average_ranks(second.reshape(-1))
    a, b = a - a.mean(), b - b.mean()
    scale = (a.square().sum() * b.square().sum()).sqrt()
    if float(scale) == 0.0:
        return math.nan
    return float((a * b).sum() / scale)
