"""``explain``: what a metric compiled into, in words a user can check against their code."""

from __future__ import annotations

import importlib

import operator
import re
from dataclasses import dataclass

import sympy
import torch.fx as fx

from ..errors import PluginError
from . import ops
from .counts import formula_of, formula_text
from .metric import Metric, get_metric
from .render import render


def find_metric(metric: str | Metric) -> Metric:
    """A registered name, a ``Metric``, or ``package.module:function`` naming a decorated metric
    in a module (imported for the purpose), as ``metricloss explain my_metrics:my_auc`` takes it."""
    if isinstance(metric, str) and ":" in metric:
        module_name, _, attribute = metric.partition(":")
        try:
            found = getattr(importlib.import_module(module_name), attribute)
        except ImportError as error:
            raise PluginError(f"cannot import {module_name!r} for {metric!r}: {error}") from None
        except AttributeError:
            raise PluginError(f"module {module_name!r} has no {attribute!r} (from {metric!r})") from None
        if not isinstance(found, Metric):
            raise PluginError(
                f"{metric!r} is a {type(found).__name__}, not a metric: decorate it with @metricloss.metric"
            )
        return found
    return get_metric(metric)


def explain(metric: str | Metric) -> str:
    """The binary variables, the re-expression g, and the ideal configuration of a metric."""
    metric = find_metric(metric)
    compiled = metric.compiled
    decl = metric.declaration
    program = compiled.program
    part = program.partition
    direction = "higher is better" if decl.higher_is_better else "lower is better"
    best = f"; best {decl.best}" if decl.best is not None else ""
    params = "".join(f", {k}={v!r}" for k, v in metric.params.items())
    lines = [f"metric `{metric.name}`{params} ({direction}{best}), declared at {decl.location}", ""]
    lines.append(f"binary variables ({len(part.blocks)} block{'s' if len(part.blocks) != 1 else ''}; "
                 "b = [d > 0], d computed from the scores with autograd):")
    for index, block in enumerate(part.blocks):
        lowered = block.node.meta.get("lowered_text")
        if lowered:
            lines.append(f"  b{index} = {lowered}")
        else:
            lhs, rhs = (render(a) for a in ops.operands(block.node))
            lines.append(f"  b{index} = [{lhs} {block.symbol} {rhs}]")
        lines.append(f"       at {block.location}")
        twin = program.twins[index]
        if twin is not None:
            order = "in the other order" if twin[1] else "the same way"
            lines.append(f"       compares the same scores as b{twin[0]}, {order}: one difference, "
                         "values that differ only at ties")
    if compiled.lowered:
        lines += ["", "lowering:"] + [f"  {entry}" for entry in compiled.lowered]
    lines += ["", "re-expression g as a formula:"]
    lines += ["  " + line for line in formula(metric).pretty.splitlines()]
    lines += ["", "re-expression g as code (exact, evaluated on every anchor in one batched call):"]
    lines += ["  " + line for line in _g_code(program.g_module)]
    lines.append("")
    lines += ideal_lines(metric)
    return "\n".join(lines)


def ideal_lines(metric: Metric) -> list[str]:
    """How b* is found, and what it is on a synthetic batch when the declaration allows one."""
    decl = metric.declaration
    if decl.ideal is not None:
        lines = [f"ideal b*: the binaries of the perfect scores given by ideal= ({decl.ideal!r})"]
    else:
        lines = [
            "ideal b*: found on each batch from perfect scores built from the targets (a target of "
            "the scores' shape as levels, class indices as the top class), items of one level in "
            "their current order; else each block all true or all false",
        ]
    synthetic = decl.spec.synthetic(seed=0)
    if synthetic is not None:
        scores, *targets = synthetic
        binaries = metric.binaries(scores, *targets)
        ideal = metric.compiled.ideal(binaries, scores, tuple(targets))
        free = 0 if ideal.free is None else int(ideal.free.sum())
        lines.append(f"  on a synthetic batch (scores {tuple(scores.shape)}): from {ideal.source}; "
                     f"m* = {ideal.value:.6g}; {int(ideal.configuration.sum())} of {binaries.count} "
                     f"binaries true; {free} free (the metric ignores them at b*)")
    return lines


def _g_code(module: fx.GraphModule) -> list[str]:
    code = module.code.strip().splitlines()
    lines = []
    for line in code:
        line = line.rstrip()
        if not line.strip():
            continue
        line = re.sub(r"^def forward\(self, ", "def g(", line)
        line = re.sub(r";\s*([a-zA-Z_0-9]+ = )+None", "", line)  # fx frees temporaries; noise here
        lines.append(line.replace("    ", "  ", 1) if line.startswith("    ") else line)
    return lines


@dataclass(frozen=True)
class Formula:
    """The re-expression ``g`` as a sympy expression, with its pretty-printed and LaTeX forms."""

    expression: sympy.Expr
    pretty: str
    latex: str


_ARITHMETIC = {
    operator.add: lambda a, b: a + b, operator.sub: lambda a, b: a - b,
    operator.mul: lambda a, b: a * b, operator.truediv: lambda a, b: a / b,
    operator.pow: lambda a, b: a ** b, operator.neg: lambda a: -a,
    operator.lt: sympy.Lt, operator.le: sympy.Le, operator.gt: sympy.Gt, operator.ge: sympy.Ge,
    operator.and_: sympy.And, operator.or_: sympy.Or, operator.invert: sympy.Not,
}
_ARITHMETIC_METHODS = {"add": operator.add, "sub": operator.sub, "mul": operator.mul,
                       "div": operator.truediv, "neg": operator.neg}
# Ops that change only dtype or layout: invisible in a formula.
_TRANSPARENT = {"float", "double", "long", "int", "bool", "to", "reshape", "view", "movedim",
                "squeeze", "unsqueeze", "contiguous", "expand_as", "flatten"}


def formula(metric: str | Metric) -> Formula:
    """``g`` as a formula over the binary blocks ``b_i`` (and the target values it reads).

    Tensor reductions appear as functions (``mean``, ``sum``, ``all``) of whole blocks; a metric
    declared as a count formula shows that formula instead.
    """
    metric = find_metric(metric)
    declared = formula_text(metric)
    if declared is not None:
        return Formula(formula_of(metric).expression, f"{declared.pretty}\n\nwhere {declared.counts}",
                       declared.latex)
    expression = _sympify_graph(metric.program.g_module.graph)
    return Formula(expression, sympy.pretty(expression, use_unicode=True), sympy.latex(expression))


def _sympify_graph(graph: fx.Graph) -> sympy.Expr:
    values: dict[fx.Node, object] = {}
    for node in graph.nodes:
        if node.op == "placeholder":
            name = node.target
            values[node] = sympy.Symbol(f"b_{name[1:]}" if re.fullmatch(r"b\d+", name) else name)
            continue
        if node.op == "output":
            return sympy.sympify(values[node.args[0]])
        args = [values[a] if isinstance(a, fx.Node) else _constant(a) for a in node.args]
        target = node.target
        if node.op == "call_method" and target in _ARITHMETIC_METHODS:
            target = _ARITHMETIC_METHODS[target]
        if node.op == "call_method" and target in _TRANSPARENT:
            values[node] = args[0]
        elif target in _ARITHMETIC:
            try:
                values[node] = _ARITHMETIC[target](*args)
            except (TypeError, ValueError):  # e.g. And() of a non-boolean expression
                values[node] = sympy.Function(getattr(target, "__name__", str(target)))(*args)
        else:
            name = target if isinstance(target, str) else getattr(target, "__name__", str(target))
            values[node] = sympy.Function(name)(*[a for a in args if a is not None])
    raise ValueError("the re-expression graph has no output")


def _constant(value):
    if isinstance(value, bool) or value is None:
        return sympy.true if value is True else sympy.false if value is False else None
    if isinstance(value, (int, float)):
        return sympy.Integer(value) if isinstance(value, int) else sympy.Float(value)
    return sympy.Symbol(str(value))


def dot(metric: str | Metric) -> str:
    """The metric's traced graph in Graphviz DOT, coloured by role (score, block, g, target)."""
    metric = find_metric(metric)
    graph = metric.program.partition.dependency_graph()
    colours = {"score": "lightblue", "block": "orange", "binary": "palegreen", "target": "lightgrey"}
    lines = [f'digraph "{metric.name}" {{', "  rankdir=LR;", "  node [shape=box, style=filled];"]
    for name, data in graph.nodes(data=True):
        label = f"{name}\\n{data['op']}".replace('"', "'")
        lines.append(f'  "{name}" [label="{label}", fillcolor={colours[data["role"]]}];')
    for source, target in graph.edges():
        lines.append(f'  "{source}" -> "{target}";')
    lines.append("}")
    return "\n".join(lines)
