"""Relaxations: smooth stand-ins for a binary ``[d > 0]`` in the +-1 encoding.

    >>> relax = sigmoid(tau=1.0)
    >>> relax(torch.tensor([0.0])).item()
    0.0
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch


@dataclass(frozen=True)
class Relaxation:
    name: str
    params: dict[str, Any]
    relax: Callable[[torch.Tensor], torch.Tensor] = field(repr=False)

    def __call__(self, differences: torch.Tensor) -> torch.Tensor:
        return self.relax(differences)


def sigmoid(tau: float = 1.0) -> Relaxation:
    """``2 * sigmoid(d / tau) - 1``, computed as ``tanh(d / (2 tau))``; tau sets the score scale."""
    if not tau > 0:
        raise ValueError(f"sigmoid: tau must be positive, got {tau!r}")
    half = 0.5 / tau
    return Relaxation("sigmoid", {"tau": tau}, lambda d: torch.tanh(d * half))
