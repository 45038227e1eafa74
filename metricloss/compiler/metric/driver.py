"""The compile driver: trace, lower, partition, generate, then probe on a synthetic batch.

Compiling happens once per binding of the metric's keyword-only parameters (the cache here).
When the declaration says what its inputs look like (``shapes=``, ``classes=``), a small
synthetic batch is run through the compiled code at decoration, so a metric whose ideal
configuration cannot be found fails at the user's ``def`` line rather than at the first training
step.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import torch

from ...errors import CompileError, InputError, MetricLossError
from ..lowering import lower
from ..partition import partition
from ..program import Program
from ..shapes import PerShape
from ..tie_order import warn_once
from ..trace import NeedsShapes, trace_metric
from .declaration import Compiled, Declaration, padded
from .selections import mask_selections


@functools.lru_cache(maxsize=None)
def compiled_binding(declaration: Declaration, params: tuple) -> Compiled | PerShape:
    return compile_metric(declaration, dict(params))


def compile_metric(declaration: Declaration, bound: Mapping[str, Any]) -> Compiled | PerShape:
    """Trace, lower, partition, generate and probe one binding, uncached (``Metric`` keeps one
    compiled object per binding; the compile-time benchmark times this). A metric whose code
    needs concrete shapes gets a ``PerShape`` that compiles each shape signature on first sight."""
    try:
        graph = trace_metric(declaration.fn, declaration.name, bound)
    except NeedsShapes as reason:
        per_shape = PerShape(declaration, bound, reason, lambda graph: _compile_graph(declaration, bound, graph),
                             declaration.spec.names)
        arguments = declaration.spec.synthetic(seed=0)
        if arguments is not None:
            _probe(per_shape.compiled_for(arguments), arguments)
            _probe_padding(declaration, lambda args: per_shape.compiled_for(args).program, arguments)
        return per_shape
    compiled = _compile_graph(declaration, bound, graph)
    arguments = declaration.spec.synthetic(seed=0)
    _probe(compiled, arguments)
    _probe_padding(declaration, lambda args: compiled.program, arguments)
    return compiled


def _compile_graph(declaration: Declaration, bound: Mapping[str, Any], graph) -> Compiled:
    selections = mask_selections(graph, declaration.spec.names)
    lowered, unstable = lower(graph, declaration.name)
    program = Program(declaration.name, graph, partition(graph, declaration.name))
    warn_once(declaration, unstable)  # once it compiles: a refused metric has more to say
    return Compiled(declaration, bound, program, tuple(lowered), selections, unstable)


def _probe(compiled: Compiled, arguments) -> None:
    """Run a synthetic batch built from the declared shapes, to fail at decoration, not in training."""
    decl = compiled.declaration
    if arguments is None:
        return
    scores, *targets = arguments
    try:
        binaries = compiled.program.pairs(scores, tuple(targets))
        compiled.program.value(binaries)
    except InputError as error:
        shapes = ", ".join(f"{name} {tuple(a.shape)}" for name, a in zip(decl.spec.names, arguments))
        raise CompileError(
            f"metric `{decl.name}` at {decl.location}: the code does not run on a batch of the declared "
            f"shapes ({shapes}): {error}. Correct shapes= (and classes=) to what the code reads"
        ) from None
    try:
        ideal = compiled.ideal(binaries, scores, tuple(targets))
    except InputError as error:
        raise CompileError(f"{error} (on a synthetic batch, checking the declaration at {decl.location})") from None
    if decl.ideal is None and decl.best is not None and ideal.defined and not compiled.goal.reaches(ideal.value):
        raise CompileError(
            f"metric `{decl.name}` at {decl.location}: no ideal configuration reaching best={decl.best} "
            f"was found on a synthetic batch (the best found is {ideal.value:.6g}, from "
            f"{ideal.source}). Pass ideal=, a function of the targets returning perfect scores "
            "(e.g. `ideal=lambda labels: labels.float()`), or correct best=."
        )


def _probe_padding(decl: Declaration, program_for: Callable, arguments) -> None:
    """padding= is a promise: one padded item appended to each list, scored above every real one,
    must leave the value as it is (``evaluator`` pads with a score of 0; any score must do)."""
    if not decl.padding or arguments is None:
        return
    scores, *targets = arguments
    names = decl.spec.names[1:]
    width = scores.shape[-1] + 1
    longer = (padded(scores, width, float(scores.abs().max()) + 1.0),
              *(padded(t, width, decl.padding[n]) if n in decl.padding else t for n, t in zip(names, targets)))
    try:
        program = program_for(arguments)
        value = program.value(program.pairs(scores, tuple(targets)))
        program = program_for(longer)
        again = program.value(program.pairs(longer[0], tuple(longer[1:])))
    except MetricLossError as error:
        again, reason = None, f"the code does not run on it: {error}"
    if again is not None:
        if torch.equal(again, value) or bool(torch.isnan(again).all() and torch.isnan(value).all()):
            return
        reason = f"the value changes from {float(value):.6g} to {float(again):.6g}"
    marks = ", ".join(f"{n} = {v:g}" for n, v in decl.padding.items())
    raise CompileError(
        f"metric `{decl.name}` at {decl.location}: padding= says an item with {marks} is padding the metric "
        f"ignores, but with one such item appended to each list of a synthetic batch {reason}. Mask such items "
        "out in the metric (as the built-in ranking metrics do), or drop padding="
    )
