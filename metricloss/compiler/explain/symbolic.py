"""``g`` as a sympy formula over the blocks and the target values it reads.

The graph of ``g`` is walked once: arithmetic and comparisons become sympy's, ops that change
only dtype or layout vanish, tensor reductions appear as functions (``mean``, ``sum``, ``all``)
of whole blocks. A metric declared as a count formula shows that formula instead. sympy is
imported here, and this package is imported only when explain is asked for.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass

import sympy
import torch.fx as fx
from sympy.printing.pretty.stringpict import prettyForm

from ...errors import short_path
from ..counts import formula_of, formula_text
from ..metric import Compiled, Metric
from ..render import assigned_name, render
from ..trace.locations import LOCATION
from .examples import look_at
from .loading import find_metric
from .names import input_names, plain_names, written_expressions


@dataclass(frozen=True)
class Formula:
    """The re-expression ``g`` as a sympy expression, with its pretty-printed and LaTeX forms."""

    expression: sympy.Expr
    pretty: str
    latex: str


class _Name(sympy.Symbol):
    """A symbol printed exactly as the user spelled it (``at_or_above``, not ``at`` with
    subscripts)."""

    def _pretty(self, printer):
        return prettyForm(self.name)

    def _latex(self, printer):
        return r"\mathit{%s}" % self.name.replace("_", r"\_")


_ARITHMETIC = {
    operator.add: lambda a, b: a + b, operator.sub: lambda a, b: a - b,
    operator.mul: lambda a, b: a * b, operator.truediv: lambda a, b: a / b,
    operator.pow: lambda a, b: a ** b, operator.neg: lambda a: -a,
    operator.lt: sympy.Lt, operator.le: sympy.Le, operator.gt: sympy.Gt, operator.ge: sympy.Ge,
    operator.eq: sympy.Eq, operator.ne: sympy.Ne,
    operator.and_: sympy.And, operator.or_: sympy.Or, operator.invert: sympy.Not,
}
_ARITHMETIC_METHODS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
                       "div": operator.truediv, "neg": operator.neg, "eq": operator.eq,
                       "ne": operator.ne, "gt": operator.gt, "ge": operator.ge, "lt": operator.lt,
                       "le": operator.le, "logical_and": operator.and_, "logical_or": operator.or_,
                       "logical_not": operator.invert}
# Ops that change only dtype or layout: invisible in a formula.
_TRANSPARENT = {"float", "double", "long", "int", "bool", "to", "reshape", "view", "movedim",
                "squeeze", "unsqueeze", "contiguous", "expand_as", "flatten"}


def formula(metric: str | Metric | Callable, names: bool = False) -> Formula:
    """``g`` as a formula over the binary blocks ``b_i`` and the target values ``t_j`` it reads.

    Tensor reductions appear as functions (``mean``, ``sum``, ``all``) of whole blocks; a metric
    declared as a count formula shows that formula instead. With ``names`` (as ``explain``
    prints it), a block or target value the user assigned to a variable is called by that name.
    """
    metric = find_metric(metric)
    compiled = look_at(metric).compiled
    chosen = input_names(compiled, written_expressions(compiled.program.blocks)) if names else plain_names(compiled)
    return formula_for(metric, compiled, chosen)


def formula_for(metric: Metric, compiled: Compiled, names: dict[str, str]) -> Formula:
    declared = formula_text(metric)
    if declared is not None:
        return Formula(formula_of(metric).expression, f"{declared.pretty}\n\nwhere {declared.counts}",
                       declared.latex)
    symbols = {old: symbol_for(new) for old, new in names.items()}
    expression = _sympify_graph(compiled.program.g_module.graph, symbols)
    pretty = sympy.pretty(expression, use_unicode=True)
    part = compiled.program.partition
    targets = {node.name: node for node in part.target_inputs}
    shown = {str(symbol) for symbol in expression.free_symbols}
    legend = [f"{names[old]} = {value_text(targets[old])}" for old in names
              if old in targets and str(symbols[old]) in shown]
    if legend:
        pretty += "\n\nwhere " + "\n      ".join(legend)
    return Formula(expression, pretty, sympy.latex(expression))


def value_text(node: fx.Node, limit: int = 100) -> str:
    """A target value g reads, as an expression over the user's variables, or where it was
    computed when that expression is long."""
    text = render(node, name_of=assigned_name)
    if len(text) <= limit and "…" not in text:
        return text
    location = node.meta.get(LOCATION)
    where = f" at {short_path(location.filename)}:{location.lineno}" if location is not None else ""
    return f"a value computed from the targets{where}"


def symbol_for(name: str) -> sympy.Symbol:
    numbered = re.fullmatch(r"([bt])(\d+)", name)
    return sympy.Symbol(f"{numbered[1]}_{numbered[2]}") if numbered else _Name(name)


def _sympify_graph(graph: fx.Graph, symbols: dict[str, sympy.Symbol]) -> sympy.Expr:
    values: dict[fx.Node, object] = {}
    for node in graph.nodes:
        if node.op == "placeholder":
            values[node] = symbols.get(node.target) or symbol_for(str(node.target))
            continue
        if node.op == "output":
            return sympy.sympify(values[node.args[0]])
        args = [_argument(a, values) for a in node.args]
        target = node.target
        if node.op == "call_method" and target in _ARITHMETIC_METHODS:
            target = _ARITHMETIC_METHODS[target]
        if node.op == "call_method" and target in _TRANSPARENT:
            values[node] = args[0]
        elif target in _ARITHMETIC:
            try:
                values[node] = _ARITHMETIC[target](*args)
            except (TypeError, ValueError):  # e.g. And() of a non-boolean expression
                values[node] = sympy.Function(_function_name(target))(*args)
        else:
            values[node] = sympy.Function(_function_name(target))(*[a for a in args if a is not None])
    raise ValueError("the re-expression graph has no output")


def _argument(value, values: dict):
    if isinstance(value, fx.Node):
        return values[value]
    if isinstance(value, (list, tuple)) and any(isinstance(v, fx.Node) for v in value):
        # torch.stack([a, b]): the values, not the node names
        return sympy.Tuple(*(sympy.Symbol(repr(v)) if (c := _argument(v, values)) is None else c
                             for v in value))
    return _constant(value)


def _function_name(target) -> str:
    name = target if isinstance(target, str) else getattr(target, "__name__", str(target))
    return name.rstrip("_") or name  # operator.and_ reads as `and`


def _constant(value):
    if isinstance(value, bool) or value is None:
        return sympy.true if value is True else sympy.false if value is False else None
    if isinstance(value, (int, float)):
        return sympy.Integer(value) if isinstance(value, int) else sympy.Float(value)
    return sympy.Symbol(str(value))
