"""What sympy does while a formula is read: a bound on its work that needs no clock.

A formula that would hang does so in sympy: a power tower computed digit by digit in one C call
(``9**9**9**9``), or an expression expanded term by term. ``SympyWork`` watches sympy's Python
frames through ``sys.setprofile`` (no name is patched): it counts the calls, and it looks at every
power before sympy computes it. A power of more than ``max_digits`` digits, or more than
``max_calls`` calls, stops the formula there with ``TooMuchWork``: the test fails at once with what
was asked, instead of hanging until the run's time limit. ``TooMuchWork`` is not an ``Exception``,
so no ``except Exception`` on the way can turn it into an ordinary refusal.
"""

from __future__ import annotations

import inspect
import math
import os
import sys

import sympy

SYMPY = os.path.dirname(sympy.__file__) + os.sep
POW = inspect.unwrap(sympy.Pow.__new__).__code__  # every sympy power is built here: Pow(b, e)


class TooMuchWork(BaseException):
    pass


def _short(number: sympy.Basic) -> str:
    text = str(number)
    return text if len(text) <= 24 else f"{text[:10]}...({len(text)} characters)"


def _log10(number: sympy.Basic) -> float:
    if number.is_Rational:  # integers and fractions exactly, however large
        return math.log10(abs(number.p)) - math.log10(number.q) if number.p else -math.inf
    return math.log10(abs(float(number))) if number else -math.inf


def digits(base: sympy.Basic, exponent: sympy.Basic) -> float:
    """About how many decimal digits ``base ** exponent`` has, for numbers; 0 for anything else."""
    if not (getattr(base, "is_Number", False) and getattr(exponent, "is_Number", False)):
        return 0.0
    scale = _log10(base)
    if scale in (0.0, -math.inf):  # 0 or +-1 to any power
        return 0.0
    return abs(scale * float(exponent))


class SympyWork:
    """``with SympyWork() as work:`` counts sympy's calls in the block (``work.calls``), and stops
    the block with ``TooMuchWork`` past ``max_calls`` calls or at a power past ``max_digits``."""

    def __init__(self, max_calls: int = 100_000, max_digits: float = 10_000):
        self.max_calls, self.max_digits = max_calls, max_digits
        self.calls = 0
        self.stopped: str | None = None

    def __enter__(self) -> SympyWork:
        self._previous = sys.getprofile()
        sys.setprofile(self._watch)
        return self

    def __exit__(self, *exc) -> None:
        sys.setprofile(self._previous)

    def _watch(self, frame, event, arg) -> None:
        if event != "call" or not frame.f_code.co_filename.startswith(SYMPY):
            return
        self.calls += 1
        if self.calls > self.max_calls:
            self._stop(f"more than {self.max_calls:,} calls into sympy")
        if frame.f_code is POW:
            base, exponent = frame.f_locals.get("b"), frame.f_locals.get("e")
            size = digits(base, exponent)
            if size > self.max_digits:
                self._stop(f"sympy was asked for {_short(base)} ** {_short(exponent)}, a number of about "
                           f"{size:.3g} digits")

    def _stop(self, reason: str) -> None:
        self.stopped = reason
        sys.setprofile(None)
        raise TooMuchWork(reason)
