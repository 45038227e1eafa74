"""The metrics metricloss ships, declared with the public decorator and found through entry points.

Nothing here is imported by ``metricloss`` itself: ``pyproject.toml`` names each metric under the
``metricloss.metrics`` entry-point group, exactly as a third-party package would.
"""

import math
import numbers

from metricloss import InputError


def whole_number(name: str, value, example: str, rule: str = "a whole number of at least 1") -> int:
    """A parameter that counts something (``k``), refused while the metric is compiled for it."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InputError(f"{name} must be {rule}, got {value!r}; bind e.g. {example}")
    return int(value)


def positive_number(name: str, value, example: str, zero: bool = False) -> float:
    """A parameter that scales something (a threshold, a weight), finite and above zero."""
    if (isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value)
            or not (value >= 0 if zero else value > 0)):
        bound = "at least 0" if zero else "above 0"
        raise InputError(f"{name} must be a finite number {bound}, got {value!r}; e.g. {example}")
    return float(value)


GAINS = ("exponential", "linear")


def gain_of(relevance, gain: str):
    """The gain of each item's relevance: ``2**rel - 1`` or ``rel``; padding (negative) gains 0."""
    if gain not in GAINS:
        raise InputError(f"gain must be one of {', '.join(map(repr, GAINS))}, got {gain!r}; e.g. "
                         "get_metric('ndcg_at_k', gain='linear') for scikit-learn's ndcg_score")
    grades = relevance.clamp(min=0).float()
    return 2.0 ** grades - 1 if gain == "exponential" else grades
