"""``explain``: what a metric compiled into, in words a user can check against their code.

The report has the binary variables (each block beside the comparison the user wrote), the
lowering applied, ``g`` as a formula and as code, how the exact value reads each block at
validation sizes, and the ideal configuration on an example batch.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable

import torch.fx as fx

from ...errors import short_path
from .. import exact, ops
from ..lowered import LOWERED_TEXT
from ..metric import Metric
from ..render import Written, render
from .examples import Look, look_at
from .loading import find_metric
from .names import block_label, input_names, same_expression, without_node_names, written_expressions
from .symbolic import formula_for, symbol_for, value_text


def explain(metric: str | Metric | Callable) -> str:
    """The binary variables, the re-expression g, and the ideal configuration of a metric."""
    metric = find_metric(metric)
    look = look_at(metric)
    compiled = look.compiled
    decl = metric.declaration
    program = compiled.program
    part = program.partition
    written = written_expressions(part.blocks)
    names = input_names(compiled, written)
    direction = "higher is better" if decl.higher_is_better else "lower is better"
    best = f"; best {decl.best}" if decl.best is not None else ""
    params = "".join(f", {k}={v!r}" for k, v in metric.params.items())
    lines = [f"metric `{metric.name}`{params} ({direction}{best}), declared at {decl.location}", ""]
    lines.append(f"binary variables ({len(part.blocks)} block{'s' if len(part.blocks) != 1 else ''}; "
                 "b = [d > 0], d computed from the scores with autograd):")
    for index, block in enumerate(part.blocks):
        lines += _block_lines(index, block, written[index], names)
        twin = program.twins[index]
        if twin is not None:
            order = "in the other order" if twin[1] else "the same way"
            lines.append(f"       compares the same scores as b{twin[0]}, {order}: one difference, "
                         "values that differ only at ties")
    if compiled.lowered or compiled.unstable:
        lines += ["", "lowering:"] + [f"  {entry}" for entry in compiled.lowered]
        lines += [f"  {sort.explained()}" for sort in compiled.unstable]
    shown = formula_for(metric, compiled, names)
    lines += ["", "re-expression g as a formula:"]
    lines += ["  " + line if line else "" for line in shown.pretty.splitlines()]
    lines += ["", "re-expression g as code (exact, evaluated on every anchor in one batched call):"]
    in_formula = {str(symbol) for symbol in shown.expression.free_symbols}
    targets = {node.name: node for node in part.target_inputs}
    lines += [f"  # {names[old]} = {value_text(targets[old])}" for old in names
              if old in targets and str(symbol_for(names[old])) not in in_formula]
    lines += ["  " + line for line in _g_code(program.g_module, names)]
    lines.append("")
    lines += _exact_lines(look, names)
    lines.append("")
    lines += _ideal_lines(metric, look, names)
    return "\n".join(lines)


_READS = {
    exact.COUNTED: "its sums are counted by sorting: O(N log N), never held whole",
    exact.SEARCHED: "its first match along one side is found by a sorted search: O(N log N), never held whole",
    exact.CHUNKED: "read a slab of rows (or columns) at a time: bounded memory, time of every entry",
    exact.WHOLE: "held whole: an op on it needs every entry",
    exact.DIRECT: "computed as written (not a comparison of two vectors)",
    exact.UNREAD: "not read",
}


def _exact_lines(look: Look, names: dict[str, str]) -> list[str]:
    """How ``metric(scores, *targets)`` computes each block at validation sizes: the example batch
    evaluated as if its blocks were large."""
    lines = [f"exact value, metric(scores, *targets): blocks of {exact.DENSE_BELOW:,} binaries or more "
             "that compare two vectors are not built"]
    if look.example is None:
        return lines + ["  (no example batch: declare shapes= to see how each block is read)"]
    scores, *targets = look.example.arguments
    evaluation = look.compiled.program.evaluate(scores, tuple(targets), dense_below=0)
    if evaluation.fallback is not None:
        return lines + [f"  (the example batch could not be evaluated so: {evaluation.fallback})"]
    lines += [f"  {block_label(index, names)}: {_READS[how]}" for index, how in enumerate(evaluation.blocks)]
    lines += [f"  the comparison at {short_path(str(where))}: {_READS[how]}"
              for where, how in evaluation.comparisons.items() if how != exact.WHOLE]
    return lines


def _block_lines(index: int, block, written: Written | None, names: dict[str, str]) -> list[str]:
    label = block_label(index, names)
    lowered = block.node.meta.get(LOWERED_TEXT)
    if lowered:
        lines = [f"  {label} = {without_node_names(lowered, block.node.graph)}"]
        if written is not None:
            lines.append(f"       lowered from your `{written.text}`")
    else:
        lhs, rhs = (render(a) for a in ops.operands(block.node))
        traced = f"{lhs} {block.symbol} {rhs}"
        if written is None:
            lines = [f"  {label} = [{traced}]"]
        elif same_expression(written.text, traced):
            lines = [f"  {label} = [{written.text}]  (your code)"]
        else:
            lines = [f"  {label} = [{written.text}]  (your code; traced as {traced})"]
    lines.append(f"       at {block.location}")
    return lines


def ideal_lines(metric: Metric) -> list[str]:
    """How b* is found, and what it is on an example batch when one can be made."""
    metric = find_metric(metric)
    look = look_at(metric)
    return _ideal_lines(metric, look, input_names(look.compiled, written_expressions(look.compiled.program.blocks)))


def _ideal_lines(metric: Metric, look: Look, names: dict[str, str]) -> list[str]:
    decl = metric.declaration
    if decl.ideal is not None:
        lines = [f"ideal b*: the binaries of the perfect scores given by ideal= ({_describe(decl.ideal)})"]
    else:
        lines = [
            "ideal b*: found on each batch from perfect scores built from the targets (a target of "
            "the scores' shape as levels, class indices as the top class), items of one level in "
            "their current order; else each block all true or all false",
        ]
    example = look.example
    if example is None:
        shapes = ", ".join(f'"{name}": "N"' for name in decl.spec.names)
        lines.append(f"  (no example batch: declare shapes= for every argument, e.g. shapes={{{shapes}}}, "
                     "to see b* derived here)")
        return lines
    binaries, ideal = example.binaries, example.ideal
    free = 0 if ideal.free is None else int(ideal.free.sum())
    lines.append(f"  on {example.description}: from {ideal.source}; m* = {ideal.value:.6g}; "
                 f"{int(ideal.configuration.sum())} of {binaries.count} binaries true; {free} free "
                 "(the metric ignores them at b*)")
    configurations = ideal.configuration.split(binaries.sizes)
    frees = (ideal.free.split(binaries.sizes) if ideal.free is not None
             else [None] * len(binaries.sizes))
    deads = (binaries.dead.split(binaries.sizes) if binaries.dead is not None
             else [None] * len(binaries.sizes))
    for index, (configuration, block_free, dead) in enumerate(zip(configurations, frees, deads)):
        size, true = configuration.numel(), int(configuration.sum())
        if size == 0:
            state = "no binaries on this batch"
        elif true == size:
            state = f"{true} of {size} true (all true)"
        elif true == 0:
            state = f"0 of {size} true (all false)"
        else:
            state = f"{true} of {size} true"
        if block_free is not None and bool(block_free.any()):
            state += f"; {int(block_free.sum())} free"
        if dead is not None and bool(dead.any()):
            state += f"; {int(dead.sum())} constant whatever the scores"
        lines.append(f"    {block_label(index, names)}: {state}")
    return lines


def _describe(function: Callable) -> str:
    name = getattr(function, "__qualname__", None) or repr(function)
    try:
        where = f" at {short_path(inspect.getsourcefile(function))}:{inspect.getsourcelines(function)[1]}"
    except (OSError, TypeError):
        where = ""
    return f"{name}{where}"


def _g_code(module: fx.GraphModule, names: dict[str, str] | None = None) -> list[str]:
    """g's generated code, its parameters renamed to ``names`` (the formula's names)."""
    code = module.code.strip()
    for old, new in (names or {}).items():
        if old != new:
            code = re.sub(rf"(?<![\w.]){re.escape(old)}(?!\w)", new, code)
    lines = []
    for line in code.splitlines():
        line = line.rstrip()
        if not line.strip():
            continue
        line = re.sub(r"^def forward\(self, ", "def g(", line)
        line = re.sub(r";\s*([a-zA-Z_0-9]+ = )+None", "", line)  # fx frees temporaries; noise here
        lines.append(line.replace("    ", "  ", 1) if line.startswith("    ") else line)
    return lines
