"""A checked count formula as torch code: its value on count tensors, zero division included.

sympy's torch printer (``lambdify(..., modules="torch")``) writes the formula, and each of its
denominators, as torch code; wherever a denominator is zero the value is ``zero_division``
(scikit-learn's convention), chosen with a ``torch.where`` so the code runs on traced values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import sympy
import torch

from ...errors import InputError
from .symbols import COUNTS, DERIVED


@dataclass(frozen=True, eq=False)
class CountFormula:
    """A checked formula of confusion counts, and the torch code it turned into.

    ``expression`` is kept as declared (with ``P``/``N`` and parameter symbols) for display;
    ``value`` evaluates it on count tensors once the parameters are bound.
    """

    expression: sympy.Expr
    parameters: Mapping[str, float]  # formula parameters and their defaults
    average: str
    zero_division: float

    def bound(self, parameters: Mapping[str, float]) -> sympy.Expr:
        """The formula in the counts alone: P and N expanded, parameters replaced by their values."""
        values = {sympy.Symbol(name): sympy.Float(parameters[name]) for name in self.parameters}
        expression = self.expression.xreplace(DERIVED).xreplace(values)
        if expression.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            raise InputError(
                f"the formula {self.expression} divides by zero with the parameters "
                f"{dict(parameters)}: bind other values"
            )
        return expression

    def value(self, counts: tuple[torch.Tensor, ...], parameters: Mapping[str, float]) -> torch.Tensor:
        """The formula on ``counts``, ``zero_division`` wherever one of its denominators is zero.

        Runs on traced values inside the generated metric: sympy's torch printer writes the
        formula and each denominator as torch code, and the zero test is a ``torch.where``.
        """
        expression = self.bound(parameters)
        defined = None
        for denominator in denominators(expression):
            nonzero = torch_code(denominator)(*counts) != 0
            defined = nonzero if defined is None else defined & nonzero
        result = torch_code(expression)(*counts)
        return result if defined is None else torch.where(defined, result, self.zero_division)


def torch_code(expression: sympy.Expr) -> Callable:
    """``f(TP, FP, FN, TN)`` as torch code, from sympy's torch printer."""
    return sympy.lambdify(COUNTS, expression, modules="torch")


class FormulaText(NamedTuple):
    """A count metric's formula for ``explain``: sympy's pretty print and LaTeX, and the counts."""

    pretty: str
    latex: str
    counts: str


def denominators(expression: sympy.Expr) -> tuple[sympy.Expr, ...]:
    """Every base with counts in it raised to a negative power: where the formula divides."""
    found = []
    for node in sympy.preorder_traversal(expression):
        if (isinstance(node, sympy.Pow) and node.exp.is_negative and node.base not in found
                and node.base.free_symbols & set(COUNTS)):
            found.append(node.base)
    return tuple(found)
