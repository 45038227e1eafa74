"""Formulas of confusion counts: checked as arithmetic, then written as torch code by sympy.

A formula (a string or a sympy expression) may use the counts ``TP FP FN TN`` (and ``P = TP +
FN``, ``N = TN + FP``), numbers and declared parameters. A string is read by Python's ``ast``
parser, which only builds a syntax tree; every node is checked against an allow-list (names,
numbers, + - * / **, sqrt) and the sympy expression is then built from the tree node by node.
No part of the text is ever evaluated as Python (sympy's own ``parse_expr`` would ``eval`` it).
sympy's torch printer (``lambdify(..., modules="torch")``) turns the checked expression, and every
denominator into a test ``denominator != 0`` for scikit-learn's ``zero_division`` convention.

``symbols.py``: the names a formula may use; ``syntax.py``: the check of a string's syntax
tree; ``building.py``: the expression built from the tree; ``parsing.py``: ``parse_formula``,
all three in turn; ``count_formula.py``: the checked formula as torch code.
"""

from .count_formula import CountFormula, FormulaText, denominators, torch_code
from .parsing import parse_formula
from .symbols import COUNTS, DERIVED, FN, FP, FUNCTIONS, TN, TP, allowed_symbols
from .syntax import MAX_CHARACTERS, MAX_CONSTANT, MAX_DIGITS, MAX_EXPONENT

__all__ = [
    "COUNTS", "DERIVED", "FN", "FP", "FUNCTIONS", "MAX_CHARACTERS", "MAX_CONSTANT", "MAX_DIGITS",
    "MAX_EXPONENT", "TN", "TP", "CountFormula", "FormulaText", "allowed_symbols", "denominators",
    "parse_formula", "torch_code",
]
