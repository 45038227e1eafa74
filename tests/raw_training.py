"""Training a metric's loss on raw scores (no model), as the zoo and the collection tests do."""

from __future__ import annotations

import torch

import metricloss as ml


def train_raw_scores(metric: ml.Metric, shape: torch.Size, targets: tuple, generator: torch.Generator,
                     seed: int, steps: int) -> tuple[float, float]:
    """Adam on a score tensor from a random start: (the metric before, the metric after)."""
    scores = torch.nn.Parameter(torch.randn(shape, generator=generator))
    loss_fn = ml.UniLoss(metric, generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.Adam([scores], lr=0.1)
    before = float(metric(scores.detach(), *targets))
    for _ in range(steps):
        optimizer.zero_grad()
        loss_fn(scores, *targets).backward()
        optimizer.step()
    return before, float(metric(scores.detach(), *targets))
