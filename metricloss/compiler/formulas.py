"""Formulas of confusion counts: checked as arithmetic, then written as torch code by sympy.

A formula (a string or a sympy expression) may use the counts ``TP FP FN TN`` (and ``P = TP +
FN``, ``N = TN + FP``), numbers and declared parameters. Strings are checked as Python syntax
trees *before* sympy's parser sees them, so nothing but arithmetic is ever evaluated; sympy's
torch printer (``lambdify(..., modules="torch")``) turns the formula, and every denominator into
a test ``denominator != 0`` for scikit-learn's ``zero_division`` convention.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

import sympy
import torch
from sympy.parsing.sympy_parser import auto_number, parse_expr

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

    A string is checked as a Python syntax tree first (names, numbers, arithmetic, ``sqrt``), and
    only then handed to sympy's parser, with no builtins and only the count and parameter symbols
    in scope: no other Python is ever evaluated.
    """
    allowed = allowed_symbols(parameters or {})
    if isinstance(formula, str):
        formula = formula.strip()
        _check_syntax(formula, allowed)
        scope = {name: symbol for name, symbol in allowed.items()} | FUNCTIONS
        names = {"__builtins__": {}, "Integer": sympy.Integer, "Float": sympy.Float,
                 "Rational": sympy.Rational}
        expression = parse_expr(formula, local_dict=scope, global_dict=names,
                                transformations=(auto_number,))
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


def _check_syntax(text: str, allowed: Mapping[str, sympy.Symbol]) -> None:
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
