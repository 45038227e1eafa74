"""Rendering a traced value as a Python-like expression, for messages and ``explain``, and finding
the expression a traced value came from in the user's own source."""

from __future__ import annotations

import ast
import linecache
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field

import torch.fx as fx

from ..errors import GENERATED_SOURCE
from .trace.locations import LOCATION

_OPERATORS = {
    operator.eq: "==", operator.ne: "!=", operator.gt: ">", operator.ge: ">=", operator.lt: "<",
    operator.le: "<=", operator.add: "+", operator.sub: "-", operator.mul: "*",
    operator.truediv: "/", operator.and_: "&", operator.or_: "|",
}
_UNARY = {operator.invert: "~", operator.neg: "-"}


def render(value, depth: int = 0, name_of: Callable[[fx.Node], str | None] | None = None) -> str:
    """A Python-like expression for a score/target-side value (for reading, not for running).

    ``name_of`` may name a node's inner values (the user's variables): those are not expanded.
    """
    if not isinstance(value, fx.Node):
        if isinstance(value, slice):
            parts = [render(x, depth, name_of) if x is not None else "" for x in (value.start, value.stop)]
            text = ":".join(parts)
            return text + (f":{value.step}" if value.step is not None else "")
        if isinstance(value, tuple):
            return ", ".join(render(v, depth, name_of) for v in value)
        if isinstance(value, list):
            return f"[{', '.join(render(v, depth, name_of) for v in value)}]"
        return repr(value)
    if depth > 0 and name_of is not None:
        name = name_of(value)
        if name is not None:
            return name
    if depth > 6:
        return "…"
    node = value
    args = [render(a, depth + 1, name_of) for a in node.args]
    if node.op == "placeholder":
        return str(node.target)
    if node.op == "call_function" and node.target is operator.getitem:
        return f"{args[0]}[{args[1]}]"
    if node.op == "call_function" and node.target is getattr:
        return f"{args[0]}.{node.args[1]}"
    if node.op == "call_function" and node.target in _OPERATORS:
        return f"({args[0]} {_OPERATORS[node.target]} {args[1]})"
    if node.op == "call_function" and node.target in _UNARY and len(args) == 1:
        return f"{_UNARY[node.target]}{args[0]}"
    kwargs = [f"{k}={render(v, depth + 1, name_of)}" for k, v in node.kwargs.items()]
    if node.op == "call_method":
        return f"{args[0]}.{node.target}({', '.join(args[1:] + kwargs)})"
    name = getattr(node.target, "__name__", str(node.target))
    return f"{name}({', '.join(args + kwargs)})"


# --- the user's own source, for ``explain`` ------------------------------------------------------
#
# A traced node knows the user's line (``node.meta[LOCATION]``); the expression as written is
# found on it with ``ast``. Nothing here is needed to compile or run a metric: when the source
# cannot be read (generated code, a file that is gone, a line that does not parse), every lookup
# answers None and ``explain`` shows the traced rendering instead.

_COMPARE_SYMBOLS = {ast.Gt: ">", ast.GtE: ">=", ast.Lt: "<", ast.LtE: "<=", ast.Eq: "==", ast.NotEq: "!="}
_CALL_SYMBOLS = {
    "gt": ">", "greater": ">", "ge": ">=", "greater_equal": ">=", "lt": "<", "less": "<",
    "le": "<=", "less_equal": "<=", "eq": "==", "ne": "!=", "not_equal": "!=",
}
MIRRORED = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}
# Calls whose result the compiler lowers into comparisons (argmax == labels, ranks, top-k, ...).
_LOWERED_CALLS = {"argmax", "argmin", "argsort", "sort", "topk", "max", "min", "gather", "one_hot",
                  "msort", "kthvalue"}
_BINARY_OPERATORS = {
    ast.Add: "add", ast.Sub: "sub", ast.Mult: "mul", ast.Div: "truediv", ast.FloorDiv: "floordiv",
    ast.Mod: "mod", ast.Pow: "pow", ast.BitAnd: "and_", ast.BitOr: "or_", ast.BitXor: "xor",
    ast.MatMult: "matmul",
}
_UNARY_OPERATORS = {ast.Invert: "invert", ast.USub: "neg"}
_COMPARE_NAMES = {ast.Gt: "gt", ast.GtE: "ge", ast.Lt: "lt", ast.LtE: "le", ast.Eq: "eq", ast.NotEq: "ne"}


@dataclass(frozen=True)
class Written:
    """An expression as the user wrote it: its source text, its comparison symbol (None for a call
    that was lowered), and the variable it is assigned to (``above = p > n``), if any."""

    text: str
    symbol: str | None
    name: str | None
    node: ast.AST = field(compare=False, repr=False)


class SourceFile:
    """One user source file, parsed: the expressions written on each line."""

    def __init__(self, source: str, tree: ast.Module):
        self.source, self.tree = source, tree
        self.parents: dict[ast.AST, ast.AST] = {}
        for parent in ast.walk(tree):
            for child in ast.iter_child_nodes(parent):
                self.parents[child] = parent

    def segment(self, node: ast.AST) -> str | None:
        text = ast.get_source_segment(self.source, node)
        return None if text is None else re.sub(r"\s*\n\s*", " ", text)

    def _on_line(self, line: int, kinds) -> list[ast.AST]:
        found = [n for n in ast.walk(self.tree) if isinstance(n, kinds) and n.lineno == line]
        if not found:  # the line is inside a longer expression
            found = [n for n in ast.walk(self.tree) if isinstance(n, kinds)
                     and n.lineno <= line <= (n.end_lineno or n.lineno)]
        return sorted(found, key=lambda n: (n.lineno, n.col_offset))

    def comparisons(self, line: int) -> list[Written]:
        """Each comparison on ``line`` (``a > b``, each pair of ``a < b < c``, ``a.gt(b)``,
        ``torch.gt(a, b)``), in the order written."""
        found = []
        for node in self._on_line(line, (ast.Compare, ast.Call)):
            if isinstance(node, ast.Compare):
                operands = [node.left, *node.comparators]
                for index, op in enumerate(node.ops):
                    symbol = _COMPARE_SYMBOLS.get(type(op))
                    if symbol is None:  # `in`, `is`: not a comparison of values
                        continue
                    if len(node.ops) == 1:
                        text = self.segment(node)
                    else:
                        left, right = self.segment(operands[index]), self.segment(operands[index + 1])
                        text = None if left is None or right is None else f"{left} {symbol} {right}"
                    if text is not None:
                        found.append(Written(text, symbol, self.assigned_to(node) if len(node.ops) == 1
                                             else None, node))
            elif _called(node) in _CALL_SYMBOLS:
                text = self.segment(node)
                if text is not None:
                    found.append(Written(text, _CALL_SYMBOLS[_called(node)], self.assigned_to(node), node))
        return found

    def lowered(self, line: int) -> list[Written]:
        """The outermost expressions on ``line`` that the compiler lowers: ``x == labels`` (with
        an arg-max inside) and calls such as ``argmax``, ``argsort``, ``topk``, ``gather``."""
        candidates = [
            n for n in self._on_line(line, (ast.Compare, ast.Call))
            if isinstance(n, ast.Compare) and all(isinstance(op, (ast.Eq, ast.NotEq)) for op in n.ops)
            or isinstance(n, ast.Call) and _called(n) in _LOWERED_CALLS | {"eq", "ne"}
        ]
        outermost = [n for n in candidates if not any(self._inside(n, other) for other in candidates)]
        written: dict[str, Written] = {}  # one per text: `(pred == c) & ... | (pred == c)` is one
        for node in outermost:
            text = self.segment(node)
            if text is not None:
                written.setdefault(text, Written(text, None, self.assigned_to(node), node))
        return list(written.values())

    def _inside(self, node: ast.AST, other: ast.AST) -> bool:
        parent = self.parents.get(node)
        while parent is not None:
            if parent is other:
                return True
            parent = self.parents.get(parent)
        return False

    def assigned_to(self, node: ast.AST) -> str | None:
        """``name`` when ``node`` is the whole value of ``name = ...`` (or ``name: T = ...``)."""
        parent = self.parents.get(node)
        if isinstance(parent, ast.Assign) and parent.value is node and len(parent.targets) == 1:
            target = parent.targets[0]
        elif isinstance(parent, ast.AnnAssign) and parent.value is node and parent.simple:
            target = parent.target
        else:
            return None
        return target.id if isinstance(target, ast.Name) else None

    def assignment(self, line: int) -> tuple[str, ast.AST, int, int] | None:
        """(name, value, first line, last line) of the ``name = value`` statement on ``line``."""
        statements = [n for n in ast.walk(self.tree) if isinstance(n, (ast.Assign, ast.AnnAssign))
                      and n.lineno <= line <= (n.end_lineno or n.lineno) and n.value is not None]
        if not statements:
            return None
        statement = min(statements, key=lambda n: (n.end_lineno or n.lineno) - n.lineno)
        name = self.assigned_to(statement.value)
        if name is None:
            return None
        return name, statement.value, statement.lineno, statement.end_lineno or statement.lineno


def _called(node: ast.Call) -> str | None:
    function = node.func
    if isinstance(function, ast.Attribute):
        return function.attr
    if isinstance(function, ast.Name):
        return function.id
    return None


def operation_name(value: ast.AST) -> str | None:
    """What a traced node computing ``value`` would be called (``eq``, ``add``, ``sum``, ...)."""
    if isinstance(value, ast.Compare) and len(value.ops) == 1:
        return _COMPARE_NAMES.get(type(value.ops[0]))
    if isinstance(value, ast.BinOp):
        return _BINARY_OPERATORS.get(type(value.op))
    if isinstance(value, ast.UnaryOp):
        return _UNARY_OPERATORS.get(type(value.op))
    if isinstance(value, ast.Call):
        return _called(value)
    if isinstance(value, ast.Subscript):
        return "getitem"
    if isinstance(value, ast.Attribute):
        return f"getattr:{value.attr}"
    return None


def node_operation(node: fx.Node) -> str | None:
    """The traced counterpart of ``operation_name``."""
    if node.op == "call_method":
        return str(node.target)
    if node.op == "call_function":
        if node.target is getattr:
            return f"getattr:{node.args[1]}"
        return getattr(node.target, "__name__", None)
    return None


_FILES: dict[str, tuple[str, SourceFile | None]] = {}


def source_file(location) -> SourceFile | None:
    """The parsed file a ``SourceLocation`` points into, or None (generated code, no such file,
    a file that does not parse)."""
    if location is None or location.filename.startswith((GENERATED_SOURCE, "<")):
        return None
    linecache.checkcache(location.filename)
    source = "".join(linecache.getlines(location.filename))
    if not source:
        return None
    cached = _FILES.get(location.filename)
    if cached is not None and cached[0] == source:
        return cached[1]
    try:
        parsed = SourceFile(source, ast.parse(source, location.filename))
    except (SyntaxError, ValueError):
        parsed = None
    _FILES[location.filename] = (source, parsed)
    return parsed


def assigned_name(node: fx.Node) -> str | None:
    """The variable the user assigned ``node``'s value to (``actual = labels == 1``), when the
    node is the last one traced from that statement and computes its whole value; else None."""
    location = node.meta.get(LOCATION)
    found = source_file(location)
    if found is None:
        return None
    assignment = found.assignment(location.lineno)
    if assignment is None:
        return None
    name, value, first, last = assignment
    if operation_name(value) != node_operation(node):
        return None
    same_statement = [n for n in node.graph.nodes if (where := n.meta.get(LOCATION)) is not None
                      and where.filename == location.filename and first <= where.lineno <= last]
    return name if same_statement and same_statement[-1] is node else None
