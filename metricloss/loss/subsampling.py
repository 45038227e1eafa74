"""Binary subsampling: relax only a fraction of the binaries on each step (the paper's CIFAR-100
setting).

The UniLoss paper trained CIFAR-100 with 20% of the binaries per step; its published code kept,
per sample, the comparisons against the highest-scoring other classes, the hardest ones. The
binaries left out are held at their hard values (+-1) and get no gradient.

    >>> import torch
    >>> choose = hardest(0.5)
    >>> choose(torch.tensor([3.0, -1.0, 0.5, 2.0]), torch.ones(4, dtype=torch.bool), None).tolist()
    [1, 2]
"""

from __future__ import annotations

import math
import numbers
import pickle
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from ..errors import InputError


@dataclass(frozen=True)
class Selection:
    """Which binaries to relax on a step (``UniLoss(selection=...)``): ``choose(differences,
    ideal, generator)`` returns the sorted indices of the live binaries to relax; the others keep
    their hard values and pass no gradient. Made by ``hardest(fraction)`` or
    ``random_fraction(fraction)``.
    """

    name: str
    params: dict[str, Any]
    choose: Callable[[torch.Tensor, torch.Tensor, torch.Generator | None], torch.Tensor] = field(repr=False)

    def __call__(self, differences, ideal, generator) -> torch.Tensor:
        """Indices (sorted) of the binaries to relax, among the live ones."""
        return self.choose(differences, ideal, generator)

    def __reduce__(self):  # by reference: the factory of its name and the parameters
        if _FACTORIES.get(self.name) is None:
            raise pickle.PicklingError(
                f"the selection {self.name!r} cannot be pickled: a selection is pickled by the name of its "
                f"factory, and only {sorted(_FACTORIES)} are known"
            )
        return _remake, (self.name, dict(self.params))

    def __copy__(self) -> Selection:
        return self  # immutable

    def __deepcopy__(self, memo) -> Selection:
        return self


def _fraction(fraction: float, factory: str) -> float:
    if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real) or not 0 < fraction <= 1:
        raise InputError(
            f"{factory}: fraction must be in (0, 1], got {fraction!r}; it is the share of binaries "
            f"relaxed per step, e.g. {factory}(0.2)"
        )
    return float(fraction)


def hardest(fraction: float = 0.2) -> Selection:
    """The binaries with the smallest margin toward the ideal (``d`` signed by ``b*``)."""
    fraction = _fraction(fraction, "hardest")

    def choose(differences, ideal, generator):
        margin = torch.where(ideal, differences, -differences).detach()
        count = max(1, math.ceil(fraction * margin.numel()))
        return margin.topk(count, largest=False).indices.sort().values

    return Selection("hardest", {"fraction": fraction}, choose)


def random_fraction(fraction: float = 0.2) -> Selection:
    """A uniformly random subset, drawn from the loss's generator."""
    fraction = _fraction(fraction, "random_fraction")

    def choose(differences, ideal, generator):
        count = max(1, math.ceil(fraction * differences.numel()))
        keys = torch.rand(differences.numel(), generator=generator, device=differences.device)
        return keys.topk(count).indices.sort().values

    return Selection("random_fraction", {"fraction": fraction}, choose)


_FACTORIES = {"hardest": hardest, "random_fraction": random_fraction}


def _remake(name: str, params: dict) -> Selection:
    return _FACTORIES[name](**params)
