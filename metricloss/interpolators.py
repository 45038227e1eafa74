"""Interpolators: the metric's value at relaxed binaries, from its values at anchors.

An interpolator maps squared distances to the anchors ``[A]`` and the anchors' metric values
``[A]`` to one number, differentiably in the distances.

    >>> idw = inverse_distance()
    >>> round(idw(torch.tensor([1.0, 4.0]), torch.tensor([1.0, 0.0])).item(), 4)
    0.6667
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class Interpolator:
    name: str
    params: dict[str, Any]
    interpolate: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = field(repr=False)

    def __call__(self, squared_distances: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        return self.interpolate(squared_distances, values)


def inverse_distance(power: float = 1.0, eps: float = 1e-8) -> Interpolator:
    """Shepard's (1968) inverse-distance weighting: ``w_j = 1 / (|x - a_j| + eps) ** power``."""
    if not power > 0:
        raise ValueError(f"inverse_distance: power must be positive, got {power!r}")

    def interpolate(squared_distances: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        # Clamping at eps**2 keeps sqrt's gradient finite when x sits exactly on an anchor.
        distances = squared_distances.clamp_min(eps * eps).sqrt()
        weights = (distances + eps).pow(-power)
        return (weights * values).sum() / weights.sum()

    return Interpolator("inverse_distance", {"power": power, "eps": eps}, interpolate)
