"""A formula string checked as a Python syntax tree, before anything is built from it.

Python's ``ast`` parser only builds a tree; every node of it is checked against an allow-list
(names of counts and parameters, real numbers, + - * / ** and ``sqrt``), and the bounds below
keep every admitted formula cheap to build and print. A refusal names the construct, in the
user's words where the tree can give them.
"""

from __future__ import annotations

import ast
from collections.abc import Mapping

import sympy

from ...errors import CompileError
from .symbols import FUNCTIONS, language

# Bounds that keep every formula cheap to check and print: no power tower, no huge number, no
# formula long enough to exhaust the parser's recursion.
MAX_CHARACTERS = 2_000
MAX_EXPONENT = 16
MAX_CONSTANT = 1e15
# The largest number a formula may build from its constants (10**MAX_DIGITS, about float64's
# range): ``((9**16)**16)**16`` passes the bounds above, but sympy would compute it exactly.
MAX_DIGITS = 300

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


def check_syntax(text: str, allowed: Mapping[str, sympy.Symbol]) -> ast.Expression:
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
            f"{error.offset}); {language(allowed)}"
        ) from None
    for node in ast.walk(tree):
        problem = _syntax_problem(node, allowed)
        if problem:
            raise CompileError(f"formula {text!r} uses {problem}; {language(allowed)}")
    return tree


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
