"""Interpolators: the metric's value at relaxed binaries, from its values at anchors.

An interpolator maps squared distances to the anchors ``[A]`` and the anchors' metric values
``[A]`` to one number, differentiably in the distances. Every one here is a convex combination
of the values, with weights that are finite (and have finite gradients) at zero distance.

    >>> idw = inverse_distance()
    >>> round(idw(torch.tensor([1.0, 4.0]), torch.tensor([1.0, 0.0])).item(), 4)
    0.6667
    >>> round(gaussian_kernel(bandwidth=1.0)(torch.tensor([0.0, 2.0]), torch.tensor([1.0, 0.0])).item(), 4)
    0.7311
    >>> nearest(k=1)(torch.tensor([9.0, 1.0, 4.0]), torch.tensor([0.0, 0.5, 1.0])).item()
    0.5
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from .relaxations import positive, widened
from ..errors import InputError
from ..contracts import factory_of
from ..part_pickling import part_reduce
from ..registry import REGISTRY, Kind


@dataclass(frozen=True)
class Interpolator:
    """Interpolates the metric at the relaxed binaries from its exact values at the anchors:
    ``interpolate(squared_distances [A], values [A])`` returns one number, a convex combination
    of the values, differentiable in the distances. Made by a factory
    (``inverse_distance(power=1.0)``); ``name`` and ``params`` say which, and are how it pickles.
    """

    name: str
    params: dict[str, Any]
    interpolate: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = field(repr=False)

    def __call__(self, squared_distances: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        return self.interpolate(squared_distances, values)

    def __reduce__(self):  # by reference: the registered factory's name and the parameters
        return part_reduce("interpolator", self)

    def __copy__(self) -> Interpolator:
        return self  # immutable

    def __deepcopy__(self, memo) -> Interpolator:
        return self


def _shepard(squared_distances: torch.Tensor, values: torch.Tensor, power: float, eps: float) -> torch.Tensor:
    # In float32 at least: eps (1e-8) is 0 in float16, and a point on an anchor would weigh 1/0.
    squared_distances = widened(squared_distances)
    # Clamping keeps sqrt's gradient finite when x sits exactly on an anchor (at eps**2, or at the
    # dtype's smallest normal number when eps**2 underflows to 0).
    floor = max(eps * eps, torch.finfo(squared_distances.dtype).tiny)
    distances = squared_distances.clamp_min(floor).sqrt()
    # w_j = (|x - a_j| + eps)^-power, normalised as a softmax of -power * log(...): the same
    # weights, without overflow where the nearest anchor is at distance 0 and power is large.
    weights = torch.softmax(-power * torch.log(distances + eps), dim=0)
    return (weights * values).sum()


def inverse_distance(power: float = 1.0, eps: float = 1e-8) -> Interpolator:
    """Shepard's (1968) inverse-distance weighting: ``w_j = 1 / (|x - a_j| + eps) ** power``."""
    positive(power, "inverse_distance", "power")
    positive(eps, "inverse_distance", "eps")

    def interpolate(squared_distances: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        return _shepard(squared_distances, values, power, eps)

    return Interpolator("inverse_distance", {"power": power, "eps": eps}, interpolate)


# The smallest squared bandwidth: the nearest anchor may be at distance exactly 0.
_MIN_SQUARED_BANDWIDTH = 1e-16


def gaussian_kernel(bandwidth: float | None = None) -> Interpolator:
    """Nadaraya-Watson regression: ``w_j = exp(-|x - a_j|^2 / (2 h^2))``, as a softmax (no underflow).

    ``bandwidth=None`` sets ``h^2`` to the squared distance of the nearest anchor, a local scale
    as in self-tuning kernels (autograd differentiates through it, so the gradient is that of
    the estimate). A fixed ``h`` cannot suit every batch, because ``|x - a|^2`` grows with the
    number of binaries K. The textbook median heuristic (h = the median anchor distance) is
    scale-free too, but it smooths over the anchors nearest to x, so the loss would not vanish
    at the ideal. Scaling by the nearest anchor makes the estimate exact at an anchor, as
    inverse-distance weighting is. A fixed ``h`` is exact there only when the other anchors
    (at least 2 apart in the +-1 encoding) are several ``h`` away.
    """
    if bandwidth is not None:
        positive(bandwidth, "gaussian_kernel", "bandwidth")

    def interpolate(squared_distances: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        # In float32 at least: the smallest squared bandwidth (1e-16) is 0 in float16.
        squared_distances = widened(squared_distances)
        if bandwidth is None:
            squared_bandwidth = squared_distances.min().clamp_min(_MIN_SQUARED_BANDWIDTH)
        else:
            squared_bandwidth = bandwidth * bandwidth
        weights = torch.softmax(-squared_distances / (2 * squared_bandwidth), dim=0)
        return (weights * values).sum()

    return Interpolator("gaussian_kernel", {"bandwidth": bandwidth}, interpolate)


def nearest(k: int = 32, power: float = 1.0, eps: float = 1e-8) -> Interpolator:
    """Inverse-distance weighting over only the ``k`` nearest anchors (all of them if fewer).

    Far anchors then cannot flatten the surface near x. The estimate jumps where the set of
    the k nearest changes; within one set it is differentiable in the distances. ``k`` should
    exceed any one sampler's count (16 by default): the nearest anchors are often all of one
    kind, e.g. the ``nearby`` ones, which for AUC share one value, and then the gradient is zero.
    """
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InputError(f"nearest: k must be a positive int, got {k!r}")
    positive(power, "nearest", "power")
    positive(eps, "nearest", "eps")

    def interpolate(squared_distances: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
        count = min(k, squared_distances.numel())
        chosen = torch.topk(-squared_distances.detach(), count, sorted=False).indices
        return _shepard(squared_distances[chosen], values[chosen], power, eps)

    return Interpolator("nearest", {"k": k, "power": power, "eps": eps}, interpolate)


REGISTRY.declare(Kind("interpolator", "metricloss.interpolators", factory_of(Interpolator), Interpolator, "ml.inverse_distance()"))
