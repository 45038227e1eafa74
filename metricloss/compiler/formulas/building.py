"""A formula's sympy expression, built from its checked syntax tree rather than from its text.

sympy's own reader (``parse_expr``) would ``eval`` the text; building the expression from the
tree calls nothing but sympy's numbers, symbols and arithmetic, and bounds the size of the
numbers before sympy computes them exactly.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Mapping

import sympy

from ...errors import CompileError
from .symbols import FUNCTIONS, language
from .syntax import MAX_DIGITS

_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
           ast.Pow: operator.pow}
_UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _operands(node: ast.AST) -> list[ast.AST]:
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.UnaryOp):
        return [node.operand]
    if isinstance(node, ast.Call):
        return list(node.args)
    return []


def to_sympy(tree: ast.Expression, text: str, allowed: Mapping[str, sympy.Symbol]) -> sympy.Expr:
    """The sympy expression of a checked syntax tree, built node by node from the leaves up.

    Only sympy's own numbers, symbols and arithmetic are called, on nodes ``syntax.check_syntax``
    admitted; anything else is refused here too. An explicit stack, not recursion, so a long
    chain (``- - - TP``) cannot exhaust Python's recursion limit. Each node carries a bound on the
    decimal digits of the numbers it can produce, checked before sympy computes a power.
    """
    built: dict[int, tuple[sympy.Expr, float]] = {}
    stack: list[tuple[ast.AST, bool]] = [(tree.body, False)]
    while stack:
        node, ready = stack.pop()
        if not ready:
            stack.append((node, True))
            stack.extend((child, False) for child in _operands(node))
            continue
        operands = [built.pop(id(child)) for child in _operands(node)]
        built[id(node)] = _build_node(node, operands, text, allowed)
    expression, _ = built[id(tree.body)]
    return expression


def _build_node(node: ast.AST, operands: list[tuple[sympy.Expr, float]], text: str,
                allowed: Mapping[str, sympy.Symbol]) -> tuple[sympy.Expr, float]:
    """One node's sympy value and digit bound, from its operands'."""
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        value = node.value
        digits = abs(math.log10(abs(value))) if value else 0.0
        return (sympy.Integer(value) if isinstance(value, int) else sympy.Float(value)), digits
    if isinstance(node, ast.Name) and node.id in allowed:
        return allowed[node.id], 0.0
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        (operand, digits), = operands
        return _UNARY[type(node.op)](operand), digits
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        (left, left_digits), (right, right_digits) = operands
        if isinstance(node.op, (ast.Add, ast.Sub)):
            digits = max(left_digits, right_digits)
        elif isinstance(node.op, ast.Pow):
            digits = left_digits * abs(float(right)) if right.is_Number else math.inf
        else:
            digits = left_digits + right_digits
        if digits > MAX_DIGITS:
            raise CompileError(
                f"formula {text!r} builds a number of up to about 10**{digits:.0f} in "
                f"`{ast.unparse(node)}` (at most 10**{MAX_DIGITS} is allowed); write smaller numbers"
            )
        return _BINARY[type(node.op)](left, right), digits
    if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in FUNCTIONS
            and len(operands) == 1 and not node.keywords):
        (argument, digits), = operands
        return FUNCTIONS[node.func.id](argument), digits
    if isinstance(node, ast.Name) and node.id in FUNCTIONS:
        raise CompileError(f"formula {text!r} uses the function {node.id} without calling it; "
                           f"{language(allowed)}")
    raise CompileError(f"formula {text!r} uses `{ast.unparse(node)}`; {language(allowed)}")
