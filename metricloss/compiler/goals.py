"""What a metric aims at (``Goal``: its ``best=`` and direction) and, per batch, the binary
configuration that reaches it (``Ideal``)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

TOLERANCE = 1e-6


@dataclass(frozen=True)
class Ideal:
    """One batch's ideal: ``b*`` over all K binaries, its value, and its free face."""

    configuration: torch.Tensor  # [K] bool
    value: float  # m* = g(b*); NaN when the metric is undefined on the batch
    free: torch.Tensor | None  # [K] bool: binaries the metric ignores at b*, or None
    source: str  # how b* was found, in words

    @property
    def defined(self) -> bool:
        return math.isfinite(self.value)


@dataclass(frozen=True)
class Goal:
    """What the declaration says of the best value."""

    best: float | None
    higher_is_better: bool

    def reaches(self, value: float) -> bool:
        if self.best is None or not math.isfinite(value):
            return False
        if self.higher_is_better:
            return value >= self.best - TOLERANCE
        return value <= self.best + TOLERANCE

    def beyond(self, value: float) -> bool:
        """A value better than ``best=``: no scores produce it."""
        if self.best is None:
            return False
        return value > self.best + TOLERANCE if self.higher_is_better else value < self.best - TOLERANCE

    def key(self, value: float) -> float:
        """Larger is better; NaN and values beyond best= last."""
        if not math.isfinite(value) or self.beyond(value):
            return -math.inf
        return value if self.higher_is_better else -value
