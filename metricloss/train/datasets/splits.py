"""Splitting a data set: the validation split is carved from the training split by the seed."""

from __future__ import annotations

import torch

from ..task import Split
from metricloss.errors import InputError


def carve(count: int, fraction: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sorted indices ``(kept, carved)`` of ``count`` rows, ``round(fraction * count)`` carved out.

    The same seed carves the same rows, whatever else the run draws from its random streams.
    """
    if not 0 <= fraction < 1:
        raise InputError(f"the carved fraction must be in [0, 1), got {fraction!r}")
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed))
    cut = round(fraction * count)
    return order[cut:].sort().values, order[:cut].sort().values


def carve_split(split: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """``split`` as (the rest, a carved ``fraction``), rows chosen by ``seed``."""
    kept, carved = carve(len(split), fraction, seed)
    return split.batch(kept), split.batch(carved)
