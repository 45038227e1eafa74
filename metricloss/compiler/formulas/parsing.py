"""``parse_formula``: a formula (a string or a sympy expression) checked and made our own.

A string goes through the syntax check (``syntax.py``) and is built from its tree
(``building.py``); a sympy expression has its symbols matched to ours by name. Either way the
result is then checked as an expression: symbols, finite real numbers, sums, products and
numeric powers only, and at least one count.
"""

from __future__ import annotations

from collections.abc import Mapping

import sympy

from ...errors import CompileError
from . import building
from .symbols import COUNTS, DERIVED, allowed_symbols, language
from .syntax import check_syntax


def parse_formula(formula: str | sympy.Expr, parameters: Mapping[str, float] | None = None) -> sympy.Expr:
    """The sympy expression of ``formula``, checked to be arithmetic on counts and parameters.

    A string is checked as a Python syntax tree (names, numbers, arithmetic, ``sqrt``) and the
    expression is built from that tree by ``building.to_sympy``: the text is never evaluated.
    """
    allowed = allowed_symbols(parameters or {})
    if isinstance(formula, str):
        formula = formula.strip()
        expression = building.to_sympy(check_syntax(formula, allowed), formula, allowed)
    elif isinstance(formula, sympy.Expr):
        expression = _own_symbols(formula, allowed)
    else:
        raise CompileError(
            f"a count formula is a string or a sympy expression, got {type(formula).__name__}"
        )
    _check_expression(expression, allowed)
    return expression


def _own_symbols(expression: sympy.Expr, allowed: Mapping[str, sympy.Symbol]) -> sympy.Expr:
    """A user's sympy expression with its symbols replaced by ours (matched by name)."""
    unknown = sorted(s.name for s in expression.free_symbols if s.name not in allowed)
    if unknown:
        raise CompileError(
            f"formula {expression} uses {', '.join(unknown)}, which are neither counts nor "
            f"parameters; {language(allowed)}"
        )
    return expression.xreplace({s: allowed[s.name] for s in expression.free_symbols})


def _check_expression(expression: sympy.Expr, allowed: Mapping[str, sympy.Symbol]) -> None:
    """Only symbols, finite real numbers, sums, products and numeric powers; at least one count."""
    for node in sympy.preorder_traversal(expression):
        if isinstance(node, sympy.Symbol):
            if node.name not in allowed or allowed[node.name] != node:
                raise CompileError(f"formula {expression} uses an unknown symbol {node}; {language(allowed)}")
        elif isinstance(node, sympy.Number):
            if not (node.is_finite and node.is_real):
                raise CompileError(f"formula {expression} contains {node}; only finite real numbers are allowed")
        elif isinstance(node, sympy.Pow):
            if not isinstance(node.exp, sympy.Number):
                raise CompileError(
                    f"formula {expression} raises to the power {node.exp}; exponents must be numbers"
                )
        elif not isinstance(node, (sympy.Add, sympy.Mul)):
            raise CompileError(
                f"formula {expression} contains `{node.func.__name__}` ({node}); {language(allowed)}"
            )
    counts = {s.name for s in (*COUNTS, *DERIVED)}
    if not any(s.name in counts for s in expression.free_symbols):
        raise CompileError(f"formula {expression} does not depend on any count; {language(allowed)}")
