"""Relaxations: smooth stand-ins for a binary ``[d > 0]`` in the +-1 encoding.

Each maps a difference ``d`` to ``(-1, 1)``: odd, increasing, 0 at ``d = 0``. Their parameter sets
the score scale at which a comparison counts as decided.

    >>> relax = sigmoid(tau=1.0)
    >>> relax(torch.tensor([0.0])).item()
    0.0
    >>> linear(width=2.0)(torch.tensor([-5.0, 1.0, 5.0])).tolist()
    [-1.0, 0.5, 1.0]
    >>> round(gaussian_cdf(sigma=1.0)(torch.tensor([1.0])).item(), 4)  # 2 Phi(1) - 1
    0.6827
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
from ..errors import InputError
from ..contracts import factory_of
from ..part_pickling import part_reduce
from ..registry import REGISTRY, Kind


SATURATED = 1.0
"""``|x|`` at which a relaxed binary passes no gradient at all: the relaxation's output has rounded
to exactly +-1 (a difference far past its scale), so its slope is 0. A batch whose every relaxed
binary is here trains nothing whatever its loss, which is why ``UniLoss`` warns of it."""

NEARLY_SATURATED = 0.99
"""``|x|`` above which a relaxed binary counts as decided when a diagnosis reports how the binaries
sit: it still has a gradient, but a small one (the sigmoid's slope there is ``1 - x^2``, 2% of
its slope at 0), so a binary on the wrong side of ``b*`` there barely moves. Below ``SATURATED``
because a binary that is exactly saturated is already lost to training; this one is nearly so."""


@dataclass(frozen=True)
class Relaxation:
    """A smooth stand-in for a binary ``[d > 0]``: ``relax(d)`` maps score differences to (-1, 1),
    odd, increasing and 0 at 0 (+1 is true, -1 false). Made by a factory (``sigmoid(tau=1.0)``);
    ``name`` and ``params`` say which, and are how it pickles (by its registered factory).

    A plugin's factory returns one: ``Relaxation("arctan", {"scale": scale}, lambda d: ...)``.
    """

    name: str
    params: dict[str, Any]
    relax: Callable[[torch.Tensor], torch.Tensor] = field(repr=False)

    def __call__(self, differences: torch.Tensor) -> torch.Tensor:
        return self.relax(differences)

    def __reduce__(self):  # by reference: the registered factory's name and the parameters
        return part_reduce("relaxation", self)

    def __copy__(self) -> Relaxation:
        return self  # immutable

    def __deepcopy__(self, memo) -> Relaxation:
        return self


def positive(value: Any, factory: str, parameter: str) -> float:
    """``value`` as a float, or a ValueError naming the factory and parameter."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real)
            or not math.isfinite(value) or not value > 0):
        raise InputError(
            f"{factory}: {parameter} must be a positive finite number, got {value!r}; pass a number above 0, "
            f"e.g. {factory}({parameter}=1.0)"
        )
    return float(value)


def widened(values: torch.Tensor) -> torch.Tensor:
    """``values`` in float32 at least, the precision every step of the loss is computed in: the
    scale 1 / tau of a tiny tau overflows float16 (and a huge tau's underflows), a relaxed binary
    needs more than 8 bits near +-1, a squared distance sums K terms (past float16's 65504), and
    an interpolator's eps (1e-8) is 0 in float16. Autograd casts the gradient back."""
    return values.to(torch.promote_types(values.dtype, torch.float32))


def sigmoid(tau: float = 1.0) -> Relaxation:
    """``2 * sigmoid(d / tau) - 1``, computed as ``tanh(d / (2 tau))``; tau sets the score scale."""
    half = 0.5 / positive(tau, "sigmoid", "tau")
    return Relaxation("sigmoid", {"tau": tau}, lambda d: torch.tanh(widened(d) * half))


def linear(width: float = 1.0) -> Relaxation:
    """``clamp(d / width, -1, 1)``: exact hard binaries outside ``|d| < width``.

    Its gradient is zero outside the band, so comparisons already decided by more than ``width``
    stop pulling on the scores (a hinge-like margin); within the band every one pulls equally.
    """
    scale = 1.0 / positive(width, "linear", "width")
    return Relaxation("linear", {"width": width}, lambda d: (widened(d) * scale).clamp(-1.0, 1.0))


def gaussian_cdf(sigma: float = 1.0) -> Relaxation:
    """``2 Phi(d / sigma) - 1 = erf(d / (sigma sqrt 2))``: the probit analogue of ``sigmoid``.

    Its tails are Gaussian rather than exponential, so well-separated pairs saturate sooner.
    """
    scale = 1.0 / (positive(sigma, "gaussian_cdf", "sigma") * math.sqrt(2.0))
    return Relaxation("gaussian_cdf", {"sigma": sigma}, lambda d: torch.erf(widened(d) * scale))


REGISTRY.declare(Kind("relaxation", "metricloss.relaxations", factory_of(Relaxation), Relaxation, "ml.sigmoid(tau=1.0)"))
