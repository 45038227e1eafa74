"""Formulas of confusion counts: checked as arithmetic, then written as torch code by sympy.

A formula (a string or a sympy expression) may use the counts ``TP FP FN TN`` (and ``P = TP +
FN``, ``N = TN + FP``), numbers and declared parameters. A string is read by Python's ``ast``
parser, which only builds a syntax tree; every node is checked against an allow-list (names,
numbers, + - * / **, sqrt) and the sympy expression is then built from the tree node by node.
No part of the text is ever evaluated as Python (sympy's own ``parse_expr`` would ``eval`` it).
sympy's torch printer (``lambdify(..., modules="torch")``) turns the checked expression, and every
denominator into a test ``denominator != 0`` for scikit-learn's ``zero_division`` convention.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import sympy
import torch

from ..errors import CompileError, InputError

COUNTS = sympy.symbols("TP FP FN TN")
TP, FP, FN, TN = COUNTS
DERIVED = {sympy.Symbol("P"): TP + FN, sympy.Symbol("N"): TN + FP}
FUNCTIONS = {"sqrt": sympy.sqrt}

_LANGUAGE = (
    "a formula may use the counts TP, FP, FN, TN, P (= TP + FN) and N (= TN + FP), numbers, "
    "+ - * / ** and sqrt(...)"
)
_OPERATOR_NAMES = {
    ast.FloorDiv: "`//` (use /)", ast.Mod: "`%`", ast.MatMult: "`@`", ast.BitXor: "`^` (use ** for powers)",
    ast.BitAnd: "`&`", ast.BitOr: "`|`", ast.LShift: "`<<`", ast.RShift: "`>>`", ast.Invert: "`~`",
    ast.Not: "`not`",
}
_NODE_NAMES = {
    ast.Attribute: "attribute access", ast.IfExp: "a conditional expression (`... if ... else ...`)",
    ast.Compare: "a comparison", ast.BoolOp: "`and`/`or`", ast.Subscript: "indexing",
    ast.Lambda: "a lambda", ast.NamedExpr: "an assignment (`:=`)", ast.Starred: "`*` unpacking",
    ast.Tuple: "a tuple", ast.List: "a list", ast.Dict: "a dict", ast.Set: "a set",
    ast.JoinedStr: "an f-string", ast.ListComp: "a comprehension", ast.GeneratorExp: "a generator",
    ast.DictComp: "a comprehension", ast.SetComp: "a comprehension", ast.Await: "`await`",
    ast.Yield: "`yield`", ast.YieldFrom: "`yield from`", ast.Slice: "a slice",
}


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
            nonzero = _torch_code(denominator)(*counts) != 0
            defined = nonzero if defined is None else defined & nonzero
        result = _torch_code(expression)(*counts)
        return result if defined is None else torch.where(defined, result, self.zero_division)


def _torch_code(expression: sympy.Expr) -> Callable:
    """``f(TP, FP, FN, TN)`` as torch code, from sympy's torch printer."""
    return sympy.lambdify(COUNTS, expression, modules="torch")


class FormulaText(NamedTuple):
    """A count metric's formula for ``explain``: sympy's pretty print and LaTeX, and the counts."""

    pretty: str
    latex: str
    counts: str


def parse_formula(formula: str | sympy.Expr, parameters: Mapping[str, float] | None = None) -> sympy.Expr:
    """The sympy expression of ``formula``, checked to be arithmetic on counts and parameters.

    A string is checked as a Python syntax tree (names, numbers, arithmetic, ``sqrt``) and the
    expression is built from that tree by ``_to_sympy``: the text is never evaluated.
    """
    allowed = allowed_symbols(parameters or {})
    if isinstance(formula, str):
        formula = formula.strip()
        expression = _to_sympy(_check_syntax(formula, allowed), formula, allowed)
    elif isinstance(formula, sympy.Expr):
        expression = _own_symbols(formula, allowed)
    else:
        raise CompileError(
            f"a count formula is a string or a sympy expression, got {type(formula).__name__}"
        )
    _check_expression(expression, allowed)
    return expression


def denominators(expression: sympy.Expr) -> tuple[sympy.Expr, ...]:
    """Every base with counts in it raised to a negative power: where the formula divides."""
    found = []
    for node in sympy.preorder_traversal(expression):
        if (isinstance(node, sympy.Pow) and node.exp.is_negative and node.base not in found
                and node.base.free_symbols & set(COUNTS)):
            found.append(node.base)
    return tuple(found)


def allowed_symbols(parameters: Mapping[str, float]) -> dict[str, sympy.Symbol]:
    symbols = {s.name: s for s in (*COUNTS, *DERIVED)}
    return symbols | {name: sympy.Symbol(name) for name in parameters}


def _language(allowed: Mapping[str, sympy.Symbol]) -> str:
    extra = sorted(set(allowed) - {s.name for s in (*COUNTS, *DERIVED)})
    return _LANGUAGE + (f", and the parameters {', '.join(extra)}" if extra else "")


# Bounds that keep every formula cheap to check and print: no power tower, no huge number, no
# formula long enough to exhaust the parser's recursion.
MAX_CHARACTERS = 2_000
MAX_EXPONENT = 16
MAX_CONSTANT = 1e15
# The largest number a formula may build from its constants (10**MAX_DIGITS, about float64's
# range): ``((9**16)**16)**16`` passes the bounds above, but sympy would compute it exactly.
MAX_DIGITS = 300


def _check_syntax(text: str, allowed: Mapping[str, sympy.Symbol]) -> ast.Expression:
    """Reject, before any evaluation, every construct but names, numbers, arithmetic and sqrt."""
    if len(text) > MAX_CHARACTERS:
        raise CompileError(
            f"formula of {len(text):,} characters is longer than the {MAX_CHARACTERS:,} allowed; write "
            "a shorter expression of the counts"
        )
    try:
        tree = ast.parse(text, mode="eval")
    except (RecursionError, MemoryError):
        raise CompileError("formula is nested too deeply to read; write it with fewer parentheses") from None
    except SyntaxError as error:
        raise CompileError(
            f"formula {text!r} is not an arithmetic expression ({error.msg}, column "
            f"{error.offset}); {_language(allowed)}"
        ) from None
    for node in ast.walk(tree):
        problem = _syntax_problem(node, allowed)
        if problem:
            raise CompileError(f"formula {text!r} uses {problem}; {_language(allowed)}")
    return tree


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


def _to_sympy(tree: ast.Expression, text: str, allowed: Mapping[str, sympy.Symbol]) -> sympy.Expr:
    """The sympy expression of a checked syntax tree, built node by node from the leaves up.

    Only sympy's own numbers, symbols and arithmetic are called, on nodes ``_check_syntax``
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
                           f"{_language(allowed)}")
    raise CompileError(f"formula {text!r} uses `{ast.unparse(node)}`; {_language(allowed)}")


def _syntax_problem(node: ast.AST, allowed: Mapping[str, sympy.Symbol]) -> str | None:
    """What is not allowed about one syntax node, or None."""
    arithmetic = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.UAdd, ast.USub)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Pow):
        exponent = _constant_value(node.right)
        if exponent is None or abs(exponent) > MAX_EXPONENT:
            return (f"the power `{ast.unparse(node)}` (an exponent must be a number between "
                    f"-{MAX_EXPONENT} and {MAX_EXPONENT})")
        return None
    if isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Load, *arithmetic)):
        return None
    if type(node) in _OPERATOR_NAMES:
        return _OPERATOR_NAMES[type(node)]
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            if not abs(node.value) <= MAX_CONSTANT:  # also refuses inf and nan (1e400 reads as inf)
                return f"the number {ast.unparse(node)} (numbers must be finite, at most {MAX_CONSTANT:g} in size)"
            return None
        return f"the constant {node.value!r} (only real numbers are allowed)"
    if isinstance(node, ast.Name):
        if node.id in allowed or node.id in FUNCTIONS:
            return None
        return f"`{node.id}`, which is neither a count nor a parameter"
    if isinstance(node, ast.Call):
        function = ast.unparse(node.func)
        if function in FUNCTIONS and len(node.args) == 1 and not node.keywords:
            return None
        if function in FUNCTIONS:
            return f"`{ast.unparse(node)}` ({function} takes exactly one argument)"
        return f"the call `{ast.unparse(node)}` (the only function is sqrt)"
    what = _NODE_NAMES.get(type(node), f"`{type(node).__name__}`")
    snippet = ast.unparse(node) if isinstance(node, ast.expr) else ""
    return f"{what} `{snippet}`" if snippet else what


def _constant_value(node: ast.AST) -> float | None:
    """The number a syntax node spells (``2``, ``-0.5``), or None when it is not one."""
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
        value = _constant_value(node.operand)
        return None if value is None else (-value if isinstance(node.op, ast.USub) else value)
    if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
        return float(node.value)
    return None


def _own_symbols(expression: sympy.Expr, allowed: Mapping[str, sympy.Symbol]) -> sympy.Expr:
    """A user's sympy expression with its symbols replaced by ours (matched by name)."""
    unknown = sorted(s.name for s in expression.free_symbols if s.name not in allowed)
    if unknown:
        raise CompileError(
            f"formula {expression} uses {', '.join(unknown)}, which are neither counts nor "
            f"parameters; {_language(allowed)}"
        )
    return expression.xreplace({s: allowed[s.name] for s in expression.free_symbols})


def _check_expression(expression: sympy.Expr, allowed: Mapping[str, sympy.Symbol]) -> None:
    """Only symbols, finite real numbers, sums, products and numeric powers; at least one count."""
    for node in sympy.preorder_traversal(expression):
        if isinstance(node, sympy.Symbol):
            if node.name not in allowed or allowed[node.name] != node:
                raise CompileError(f"formula {expression} uses an unknown symbol {node}; {_language(allowed)}")
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
                f"formula {expression} contains `{node.func.__name__}` ({node}); {_language(allowed)}"
            )
    counts = {s.name for s in (*COUNTS, *DERIVED)}
    if not any(s.name in counts for s in expression.free_symbols):
        raise CompileError(f"formula {expression} does not depend on any count; {_language(allowed)}")
