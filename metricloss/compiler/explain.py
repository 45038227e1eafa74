"""``explain``: what a metric compiled into, in words a user can check against their code.

Each block of binaries is shown as the comparison the user wrote (found on its line in their
source) beside what the trace made of it; in the re-expression a block is called after the
variable it was assigned to. The ideal configuration is derived on a small batch: the
declaration's synthetic one when it gives ``shapes=``, else a guessed one that the compiled metric
accepts and reaches its best on.
"""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import keyword
import math
import operator
import re
import warnings
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import sympy
import torch
import torch.fx as fx
from sympy.printing.pretty.stringpict import prettyForm

from ..errors import CompileError, MetricLossError, PluginError, short_path
from . import exact, ops
from .binaries import Binaries
from .counts import formula_of, formula_text
from .goals import Ideal
from .lowered import LOWERED_TEXT
from .metric import Compiled, Metric, get_metric, metric as declare
from .render import MIRRORED, Written, assigned_name, render, source_file
from .trace.locations import LOCATION


def find_metric(metric: str | Metric | Callable) -> Metric:
    """A registered name, a ``Metric``, a plain function, or ``package.module:function`` naming a
    metric in a module (imported for the purpose), as ``metricloss explain my_metrics:my_auc``
    takes it. A function that is not decorated is compiled as ``@metric`` would with its
    defaults, without registering it."""
    if isinstance(metric, str) and ":" in metric:
        return _from_module(metric)
    if not isinstance(metric, (str, Metric)) and inspect.isfunction(metric):
        return _undecorated(metric, f"{metric.__module__}.{metric.__qualname__}")
    return get_metric(metric)


def _from_module(reference: str) -> Metric:
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute or ":" in attribute:
        raise PluginError(
            f"{reference!r} is not package.module:function; write the module's import path, a colon "
            "and the function's name, e.g. my_metrics:my_auc"
        )
    try:
        module = importlib.import_module(module_name)
    except MetricLossError:  # the module declares a metric that does not compile: its own message
        raise
    except ModuleNotFoundError as error:
        if error.name is None or not (module_name == error.name or module_name.startswith(error.name + ".")):
            raise PluginError(  # the module was found; something it imports was not
                f"importing {module_name!r} for {reference!r} failed: {error}; install what it imports"
            ) from None
        raise PluginError(
            f"cannot import {module_name!r} for {reference!r}: {error}; run from the folder that "
            "holds it, or put that folder on PYTHONPATH"
        ) from None
    except Exception as error:  # a module that fails while importing: say so, not where explain is
        raise PluginError(
            f"importing {module_name!r} for {reference!r} failed: {type(error).__name__}: {error}. Run "
            f"`python -c 'import {module_name}'` to see where, and fix the module"
        ) from error
    try:
        found = getattr(module, attribute)
    except AttributeError:
        raise PluginError(f"module {module_name!r} has no {attribute!r} (from {reference!r})") from None
    if isinstance(found, Metric):
        return get_metric(found)
    if inspect.isfunction(found):
        return _undecorated(found, reference)
    raise PluginError(
        f"{reference!r} is {_article(type(found).__name__)} {type(found).__name__}, not a function or a metric: "
        "name a function "
        "`def f(scores, labels)` written as evaluation code (decorated with @metricloss.metric or not)"
    )


def _article(noun: str) -> str:
    return "an" if noun[:1].lower() in "aeiou" else "a"


def _undecorated(fn: Callable, reference: str) -> Metric:
    """``fn`` compiled as ``@metric`` would with default settings, not registered."""
    found = declare(fn, register=False)
    missing = sorted(found.declaration.required - set(found.params))
    if missing:
        raise PluginError(
            f"{reference!r} needs {missing} (keyword-only parameters without a default); give them "
            f"defaults to explain it, or in Python: metricloss.explain(metricloss.metric({fn.__name__}, "
            f"register=False).bind({', '.join(f'{name}=...' for name in missing)}))"
        )
    return found


def _compiled(metric: Metric, example: Sequence[torch.Tensor] | None) -> Compiled:
    """The compiled program explain reads. A metric that compiles per input shape
    (``Metric.compiled_for``) gives the program for the example batch's shapes; otherwise, or
    without an example, the metric's own."""
    compiled_for = getattr(metric, "compiled_for", None)
    if compiled_for is not None and example is not None:
        scores, *targets = example
        return compiled_for(scores, *targets)
    return metric.compiled


@dataclass(frozen=True)
class _Example:
    """A batch explain derives the ideal on, with everything computed from it."""

    arguments: tuple[torch.Tensor, ...]
    description: str
    binaries: Binaries
    ideal: Ideal


@dataclass(frozen=True)
class _Look:
    """What explain reads of one metric: its compiled program and, when one could be made, an
    example batch evaluated through it."""

    compiled: Compiled
    example: _Example | None


def _look(metric: Metric) -> _Look:
    decl = metric.declaration
    synthetic = decl.spec.synthetic(seed=0)
    if synthetic is not None:
        scores = synthetic[0]
        return _Look(*_evaluated(metric, synthetic, f"a synthetic batch (scores {tuple(scores.shape)})"))
    for description, arguments in _guesses(metric):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                compiled, example = _evaluated(
                    metric, arguments, f"an example batch ({description}; guessed, as the declaration has no shapes=)")
            except (MetricLossError, RuntimeError, IndexError, TypeError, ValueError):
                continue  # not a batch this metric takes
        goal = compiled.goal
        if example.ideal.defined and (goal.best is None or goal.reaches(example.ideal.value)):
            return _Look(compiled, example)
    try:
        return _Look(_compiled(metric, None), None)
    except CompileError as error:
        if not getattr(metric, "per_shape", False):
            raise
        shapes = ", ".join(f'"{name}": "..."' for name in decl.spec.names)
        raise CompileError(
            f"{error}. explain reads the program compiled for an example batch, and none could be "
            f"made: declare the inputs' shapes, e.g. @metricloss.metric(shapes={{{shapes}}}), and "
            "explain again"
        ) from None


def _evaluated(metric: Metric, arguments, description: str) -> tuple[Compiled, _Example]:
    scores, *targets = arguments
    compiled = _compiled(metric, arguments)
    metric.check_inputs(scores, *targets)
    binaries = compiled.program.pairs(scores, tuple(targets))
    ideal = compiled.ideal(binaries, scores, tuple(targets))
    return compiled, _Example(tuple(arguments), description, binaries, ideal)


def _guesses(metric: Metric) -> list[tuple[str, tuple[torch.Tensor, ...]]]:
    """Batches to try on a metric of (scores, labels) that declares no shapes, in order: binary
    labels with a score per item; class indices with a row of class scores per item; 0/1 labels
    of the scores' shape in rows (multi-label, ranking) and in images (segmentation masks); class
    indices per pixel. A guess is kept only if the compiled metric runs on it and its ideal is
    defined (and reaches best=)."""
    spec = metric.declaration.spec
    if len(spec.names) != 2 or spec.shapes:
        return []
    scores_name, labels_name = spec.names
    count = spec.classes.get(labels_name)
    classes = count if isinstance(count, int) and count > 1 else 3
    generator = torch.Generator().manual_seed(0)

    def binary(*shape: int) -> tuple[str, tuple[torch.Tensor, ...]]:
        labels = (torch.arange(math.prod(shape)) % 2)[torch.randperm(math.prod(shape), generator=generator)]
        return (f"{scores_name} {shape}, {labels_name} {shape} of 0 and 1",
                (torch.randn(shape, generator=generator), labels.reshape(shape)))

    def indices(*shape: int) -> tuple[str, tuple[torch.Tensor, ...]]:
        count = math.prod(shape)
        labels = (torch.arange(count) % classes)[torch.randperm(count, generator=generator)].reshape(shape)
        scores = torch.randn(shape[0], classes, *shape[1:], generator=generator)
        return (f"{scores_name} {tuple(scores.shape)}, {labels_name} {shape} of classes 0..{classes - 1}",
                (scores, labels))

    guesses = [binary(6)] if count in (None, 2) else []
    guesses.append(indices(2 * classes))
    if count in (None, 2):
        guesses += [binary(4, 3), binary(2, 3, 3)]
    guesses.append(indices(2, 2, 2))
    return guesses


def explain(metric: str | Metric | Callable) -> str:
    """The binary variables, the re-expression g, and the ideal configuration of a metric."""
    metric = find_metric(metric)
    look = _look(metric)
    compiled = look.compiled
    decl = metric.declaration
    program = compiled.program
    part = program.partition
    written = _written(part.blocks)
    names = _names(compiled, written)
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
    shown = _formula(metric, compiled, names)
    lines += ["", "re-expression g as a formula:"]
    lines += ["  " + line if line else "" for line in shown.pretty.splitlines()]
    lines += ["", "re-expression g as code (exact, evaluated on every anchor in one batched call):"]
    in_formula = {str(symbol) for symbol in shown.expression.free_symbols}
    targets = {node.name: node for node in part.target_inputs}
    lines += [f"  # {names[old]} = {_value_text(targets[old])}" for old in names
              if old in targets and str(_symbol(names[old])) not in in_formula]
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


def _exact_lines(look: _Look, names: dict[str, str]) -> list[str]:
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
    lines += [f"  {_label(index, names)}: {_READS[how]}" for index, how in enumerate(evaluation.blocks)]
    lines += [f"  the comparison at {short_path(str(where))}: {_READS[how]}"
              for where, how in evaluation.comparisons.items() if how != exact.WHOLE]
    return lines


def _label(index: int, names: dict[str, str]) -> str:
    """``b0``, or ``b0 (above)`` when the formula calls the block ``above``."""
    name = names.get(f"b{index}", f"b{index}")
    return f"b{index}" if name == f"b{index}" else f"b{index} ({name})"


def _block_lines(index: int, block, written: Written | None, names: dict[str, str]) -> list[str]:
    label = _label(index, names)
    lowered = block.node.meta.get(LOWERED_TEXT)
    if lowered:
        lines = [f"  {label} = {_without_node_names(lowered, block.node.graph)}"]
        if written is not None:
            lines.append(f"       lowered from your `{written.text}`")
    else:
        lhs, rhs = (render(a) for a in ops.operands(block.node))
        traced = f"{lhs} {block.symbol} {rhs}"
        if written is None:
            lines = [f"  {label} = [{traced}]"]
        elif _same_expression(written.text, traced):
            lines = [f"  {label} = [{written.text}]  (your code)"]
        else:
            lines = [f"  {label} = [{written.text}]  (your code; traced as {traced})"]
    lines.append(f"       at {block.location}")
    return lines


def _same_expression(written: str, traced: str) -> bool:
    """Whether two texts parse to the same expression (they differ in parentheses at most)."""
    try:
        return _ast_dump(written) == _ast_dump(traced)
    except SyntaxError:
        return False


def _ast_dump(text: str) -> str:
    return ast.dump(ast.parse(text, mode="eval"))


def _written(blocks) -> list[Written | None]:
    """Per block, the expression the user wrote for it, found on its line, or None.

    A block that a lowering rule produced is matched with the one lowered expression on its line
    (``scores.argmax(1) == labels``); any other with the comparison of its symbol, the k-th block
    of a symbol on a line with the k-th such comparison written there (a comparison written once
    and traced in a loop stands for every block it made). A comparison Python reflected
    (``0 < scores`` traced as ``scores > 0``) is matched by the mirrored symbol when none has
    the block's own.
    """
    result: list[Written | None] = [None] * len(blocks)
    lines: dict[tuple, list[int]] = defaultdict(list)
    for index, block in enumerate(blocks):
        if block.location is not None:
            lines[(block.location.filename, block.location.lineno)].append(index)
    for (_, line), indices in lines.items():
        source = source_file(blocks[indices[0]].location)
        if source is None:
            continue
        lowered = [i for i in indices if blocks[i].node.meta.get(LOWERED_TEXT)]
        if lowered:
            found = source.lowered(line)
            if len(found) == 1:
                for i in lowered:
                    result[i] = found[0]
        plain = [i for i in indices if not blocks[i].node.meta.get(LOWERED_TEXT)]
        written = source.comparisons(line)
        for i in plain:  # first the comparisons written just as traced (or mirrored)
            lhs, rhs = (render(a) for a in ops.operands(blocks[i].node))
            symbol = blocks[i].symbol
            traced = (f"{lhs} {symbol} {rhs}", f"{rhs} {MIRRORED.get(symbol, symbol)} {lhs}")
            result[i] = next((w for w in written if any(_same_expression(w.text, t) for t in traced)), None)
        exact = {id(w) for w in result if w is not None}
        plain = [i for i in plain if result[i] is None]
        written = [w for w in written if id(w) not in exact]
        for symbol in dict.fromkeys(blocks[i].symbol for i in plain):
            group = [i for i in plain if blocks[i].symbol == symbol]
            matching = ([w for w in written if w.symbol == symbol]
                        or [w for w in written if w.symbol == MIRRORED.get(symbol)])
            if matching and len(group) % len(matching) == 0:
                for k, i in enumerate(group):
                    result[i] = matching[k % len(matching)]
    return result


def _names(compiled: Compiled, written: list[Written | None]) -> dict[str, str]:
    """What the formula and the code call each input of g: a block after the variable the user
    assigned its comparison to, a target value after its variable; else ``b0, b1, ...`` and
    ``t0, t1, ...``. A name is used only when it is unique and clashes with nothing in g's code."""
    part = compiled.program.partition
    module = compiled.program.g_module
    inputs = [n.target for n in module.graph.nodes if n.op == "placeholder"]
    targets = {node.name: node for node in part.target_inputs}
    proposed: dict[str, str | None] = {}
    for index in range(len(part.blocks)):
        found = written[index] if index < len(written) else None
        proposed[f"b{index}"] = found.name if found is not None and found.symbol is not None else None
    for name in inputs[len(part.blocks):]:
        proposed[name] = assigned_name(targets[name]) if name in targets else None
    used = set(re.findall(r"[A-Za-z_]\w*", module.code)) - set(inputs)
    reserved = used | set(keyword.kwlist) | set(dir(builtins)) | {"torch", "self", "g"}
    counts = Counter(name for name in proposed.values() if name)
    names, unnamed = {}, 0
    for position, name in enumerate(inputs):
        wanted = proposed.get(name)
        if (wanted and wanted.isidentifier() and counts[wanted] == 1 and wanted not in reserved
                and not re.fullmatch(r"[bt]\d+", wanted)):
            names[name] = wanted
        elif position < len(part.blocks):
            names[name] = name
        else:
            names[name] = f"t{unnamed}"
            unnamed += 1
    return names


def _plain_names(compiled: Compiled) -> dict[str, str]:
    """``b0, b1, ...`` for the blocks and ``t0, t1, ...`` for the target values g reads."""
    inputs = [n.target for n in compiled.program.g_module.graph.nodes if n.op == "placeholder"]
    blocks = len(compiled.program.partition.blocks)
    return {name: name if i < blocks else f"t{i - blocks}" for i, name in enumerate(inputs)}


_NODE_REFERENCE = re.compile(r"`(\w+)` \(line (\d+)\)")


def _without_node_names(text: str, graph: fx.Graph) -> str:
    """A lowering's description with its references to traced values by node name (which the
    user never wrote) replaced by the variable they were assigned to, or by their line."""
    nodes = {node.name: node for node in graph.nodes}

    def replace(match: re.Match) -> str:
        node = nodes.get(match.group(1))
        name = assigned_name(node) if node is not None else None
        return f"`{name}` (line {match.group(2)})" if name else f"the value at line {match.group(2)}"

    return _NODE_REFERENCE.sub(replace, text)


def ideal_lines(metric: Metric) -> list[str]:
    """How b* is found, and what it is on an example batch when one can be made."""
    metric = find_metric(metric)
    look = _look(metric)
    return _ideal_lines(metric, look, _names(look.compiled, _written(look.compiled.program.blocks)))


def _ideal_lines(metric: Metric, look: _Look, names: dict[str, str]) -> list[str]:
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
        lines.append(f"    {_label(index, names)}: {state}")
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
    compiled = _look(metric).compiled
    chosen = _names(compiled, _written(compiled.program.blocks)) if names else _plain_names(compiled)
    return _formula(metric, compiled, chosen)


def _formula(metric: Metric, compiled: Compiled, names: dict[str, str]) -> Formula:
    declared = formula_text(metric)
    if declared is not None:
        return Formula(formula_of(metric).expression, f"{declared.pretty}\n\nwhere {declared.counts}",
                       declared.latex)
    symbols = {old: _symbol(new) for old, new in names.items()}
    expression = _sympify_graph(compiled.program.g_module.graph, symbols)
    pretty = sympy.pretty(expression, use_unicode=True)
    part = compiled.program.partition
    targets = {node.name: node for node in part.target_inputs}
    shown = {str(symbol) for symbol in expression.free_symbols}
    legend = [f"{names[old]} = {_value_text(targets[old])}" for old in names
              if old in targets and str(symbols[old]) in shown]
    if legend:
        pretty += "\n\nwhere " + "\n      ".join(legend)
    return Formula(expression, pretty, sympy.latex(expression))


def _value_text(node: fx.Node, limit: int = 100) -> str:
    """A target value g reads, as an expression over the user's variables, or where it was
    computed when that expression is long."""
    text = render(node, name_of=assigned_name)
    if len(text) <= limit and "…" not in text:
        return text
    location = node.meta.get(LOCATION)
    where = f" at {short_path(location.filename)}:{location.lineno}" if location is not None else ""
    return f"a value computed from the targets{where}"


def _symbol(name: str) -> sympy.Symbol:
    numbered = re.fullmatch(r"([bt])(\d+)", name)
    return sympy.Symbol(f"{numbered[1]}_{numbered[2]}") if numbered else _Name(name)


def _sympify_graph(graph: fx.Graph, symbols: dict[str, sympy.Symbol]) -> sympy.Expr:
    values: dict[fx.Node, object] = {}
    for node in graph.nodes:
        if node.op == "placeholder":
            values[node] = symbols.get(node.target) or _symbol(str(node.target))
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


def dot(metric: str | Metric | Callable) -> str:
    """The metric's traced graph in Graphviz DOT, coloured by role (score, block, g, target)."""
    metric = find_metric(metric)
    graph = _look(metric).compiled.program.partition.dependency_graph()
    colours = {"score": "lightblue", "block": "orange", "binary": "palegreen", "target": "lightgrey"}
    lines = [f'digraph "{metric.name}" {{', "  rankdir=LR;", "  node [shape=box, style=filled];"]
    for name, data in graph.nodes(data=True):
        label = f"{name}\\n{data['op']}".replace('"', "'")
        lines.append(f'  "{name}" [label="{label}", fillcolor={colours[data["role"]]}];')
    for source, target in graph.edges():
        lines.append(f'  "{source}" -> "{target}";')
    lines.append("}")
    return "\n".join(lines)
