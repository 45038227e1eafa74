"""The names a count formula may use: the four counts, P and N, sqrt, and declared parameters.

Every message that refuses a formula ends with ``language``: what a formula may use, with the
metric's own parameters named, so the user can correct it without reading the source.
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy

COUNTS = sympy.symbols("TP FP FN TN")
TP, FP, FN, TN = COUNTS
DERIVED = {sympy.Symbol("P"): TP + FN, sympy.Symbol("N"): TN + FP}
FUNCTIONS = {"sqrt": sympy.sqrt}

LANGUAGE = (
    "a formula may use the counts TP, FP, FN, TN, P (= TP + FN) and N (= TN + FP), numbers, "
    "+ - * / ** and sqrt(...)"
)


def allowed_symbols(parameters: Mapping[str, float]) -> dict[str, sympy.Symbol]:
    """Every name a formula may use, by name: the counts, P and N, and the parameters."""
    symbols = {s.name: s for s in (*COUNTS, *DERIVED)}
    return symbols | {name: sympy.Symbol(name) for name in parameters}


def language(allowed: Mapping[str, sympy.Symbol]) -> str:
    """What a formula may use, for the end of every refusal."""
    extra = sorted(set(allowed) - {s.name for s in (*COUNTS, *DERIVED)})
    return LANGUAGE + (f", and the parameters {', '.join(extra)}" if extra else "")
