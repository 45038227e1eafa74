"""``g`` as a sympy formula over the blocks and the target values it reads.

The graph of ``g`` is walked once: arithmetic and comparisons become sympy's, ops that change
only dtype or layout vanish, tensor reductions appear as functions (``mean``, ``sum``, ``all``)
of whole blocks. A metric declared as a count formula shows that formula instead. sympy is
imported here, and this package is imported only when explain is asked for.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import sympy
import torch.fx as fx
from sympy.printing.pretty.stringpict import prettyForm

from ...errors import short_path
from ..counts import formula_of, formula_text
from ..metric import Compiled, Metric
from ..ops import table
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


# What each op family is in a formula: sympy's own operators, relations and logic.
_FORMULAS = {family: op for family, op in table.OPERATORS.items()}
_FORMULAS.update({"gt": sympy.Gt, "ge": sympy.Ge, "lt": sympy.Lt, "le": sympy.Le, "eq": sympy.Eq, "ne": sympy.Ne,
                  "and": sympy.And, "or": sympy.Or, "not": sympy.Not})
# Ops that change only dtype or layout: invisible in a formula.
_TRANSPARENT = table.having("cast") | table.spellings("view", "copy", "expand") | {"movedim"}


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
    expression = _sympify_graph(compiled.program.g_module, symbols)
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


class _Symbolic(fx.Interpreter):
    """``g`` run on sympy symbols instead of tensors: each op becomes its term of the formula, an
    op sympy has no operator for a function of its arguments (``mean(b_1)``)."""

    def __init__(self, module: fx.GraphModule, symbols: dict[str, sympy.Symbol]):
        super().__init__(module)
        self.symbols = symbols

    def run_node(self, node: fx.Node):
        if node.op in ("call_function", "call_method"):
            return _term(node.target, [_argument(a, self.env) for a in node.args])
        return super().run_node(node)

    def placeholder(self, target, args, kwargs):
        return self.symbols.get(target) or symbol_for(str(target))

    def get_attr(self, target, args, kwargs):
        return sympy.Function(_function_name(target))()

    def output(self, target, args, kwargs):
        return sympy.sympify(args[0])


def _term(target, args: list):
    if target in _TRANSPARENT:
        return args[0]
    build = _FORMULAS.get(table.family(target))
    if build is not None:
        try:
            return build(*args)
        except (TypeError, ValueError):  # e.g. And() of a non-boolean expression
            pass
    return sympy.Function(_function_name(target))(*[a for a in args if a is not None])


def _sympify_graph(module: fx.GraphModule, symbols: dict[str, sympy.Symbol]) -> sympy.Expr:
    placeholders = [n for n in module.graph.nodes if n.op == "placeholder"]
    return _Symbolic(module, symbols).run(*[None] * len(placeholders))


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
