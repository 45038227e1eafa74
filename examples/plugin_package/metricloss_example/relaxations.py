"""An arctangent relaxation: heavier tails than the sigmoid, so far-off comparisons still pull."""

import math

import torch

from metricloss import Relaxation


def arctan(scale: float = 1.0) -> Relaxation:
    """``(2 / pi) * atan(d / scale)``, in (-1, 1)."""
    if not scale > 0:
        raise ValueError(f"arctan: scale must be positive, got {scale!r}")
    return Relaxation("arctan", {"scale": scale}, lambda d: torch.atan(d / scale) * (2 / math.pi))
