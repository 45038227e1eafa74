"""The ltr task's scorer: one MLP applied to every item of every query, a score per item.

The same network scores each item from its own features (a pointwise scorer, as in RankNet,
ListNet and LambdaMART's trees): ``[Q, D, F]`` features in, ``[Q, D]`` scores out. Padded
positions are scored too (their features are zeros); the losses and metrics ignore them.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch


def item_scorer(features: int, hidden: Sequence[int] = (64, 32)) -> torch.nn.Sequential:
    """``Linear + ReLU`` for each hidden width, a linear output of one score, over the last dimension.

    ``hidden=()`` is a linear scorer. The output has no bias: a shift of a query's scores changes
    no ranking metric, ListNet or UniLoss, so a bias would get only rounding noise as its gradient,
    which Adam scales up into steps of the full learning rate.
    """
    widths = [features, *hidden]
    layers: list[torch.nn.Module] = []
    for width_in, width_out in zip(widths, widths[1:]):
        layers += [torch.nn.Linear(width_in, width_out), torch.nn.ReLU()]
    layers += [torch.nn.Linear(widths[-1], 1, bias=False), torch.nn.Flatten(start_dim=-2)]  # [..., D, 1] -> [..., D]
    return torch.nn.Sequential(*layers)
