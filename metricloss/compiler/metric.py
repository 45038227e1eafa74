"""``@metric``: declare a metric as evaluation code; get back an exact, compiled ``Metric``.

Compiling happens once per binding of the metric's keyword-only parameters: trace, lower, split
at the comparisons, generate the pairs and re-expression modules. When the declaration says what
its inputs look like (``shapes=``, ``classes=``), a small synthetic batch is run through the
compiled code at decoration, so a metric whose ideal configuration cannot be found fails at the
user's ``def`` line rather than at the first training step.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from importlib import metadata
from typing import Any

import torch

from ..errors import CompileError, InputError, PluginError, SourceLocation
from .goals import Goal, Ideal
from .ideal import Proposal, find_ideal, propose
from .inputs import InputSpec
from .lowering import lower
from .partition import partition
from .binaries import Binaries
from .program import Program
from ..registry import GROUPS, REGISTRY
from .shapes import PerShape
from .trace import NeedsShapes, trace_metric

@dataclass(frozen=True, eq=False)
class Declaration:
    fn: Callable
    name: str
    best: float | None
    higher_is_better: bool
    spec: InputSpec
    ideal: Callable | None
    defaults: Mapping[str, Any]  # keyword-only parameters and their defaults (missing: required)
    location: SourceLocation

    @property
    def required(self) -> set[str]:
        return {k for k, v in self.defaults.items() if v is inspect.Parameter.empty}


@dataclass(frozen=True, eq=False)
class Compiled:
    """One binding of a declaration, compiled. Immutable: every per-batch choice (the ideal, the
    evaluation path) is made again from the batch, so no batch can change how another is scored."""

    declaration: Declaration
    params: Mapping[str, Any]
    program: Program
    lowered: tuple[str, ...]

    @property
    def goal(self) -> Goal:
        return Goal(self.declaration.best, self.declaration.higher_is_better)

    def ideal(self, binaries: Binaries, scores: torch.Tensor, targets: tuple) -> Ideal:
        """``b*`` for this batch, with its value and free face (``ideal.find_ideal``)."""
        decl = self.declaration
        with torch.no_grad():
            return find_ideal(self.program, binaries, scores, targets, self.goal, decl.spec.names[1:],
                              decl.ideal, decl.name)

    def propose(self, binaries: Binaries, scores: torch.Tensor, targets: tuple) -> Proposal | None:
        """The first candidate for ``b*``, to be settled by ``g``'s values (``ideal.propose``)."""
        decl = self.declaration
        with torch.no_grad():
            return propose(self.program, binaries, scores, targets, self.goal, decl.spec.names[1:],
                           decl.ideal, decl.name)


class Metric:
    """A compiled metric. Calling it gives the exact value, computed through its binaries.

    >>> import metricloss as ml
    >>> auc = ml.get_metric("auc")
    >>> auc(torch.tensor([0.9, 0.2, 0.6, 0.4]), torch.tensor([1, 0, 0, 1])).item()
    0.75
    """

    def __init__(self, declaration: Declaration, params: Mapping[str, Any]):
        self.declaration = declaration
        self.params = dict(params)
        self._compiled = _compile(declaration, tuple(sorted(self.params.items())))

    @property
    def per_shape(self) -> bool:
        """Whether the metric's code reads shapes as numbers, so it is compiled per shape."""
        return isinstance(self._compiled, PerShape)

    @property
    def compiled(self) -> Compiled:
        """The compiled metric, for a metric traced once for every shape (see ``compiled_for``)."""
        if isinstance(self._compiled, PerShape):
            raise CompileError(
                f"metric `{self.name}` is compiled for each input shape ({self._compiled.reason.construct} "
                f"at {self._compiled.where}): use `compiled_for(scores, *targets)`"
            )
        return self._compiled

    def compiled_for(self, scores: torch.Tensor, *targets) -> Compiled:
        """The compiled metric for inputs of these shapes (the same object for every shape, unless
        the code reads shapes as Python numbers)."""
        if isinstance(self._compiled, PerShape):
            self.check_inputs(scores, *targets)
            return self._compiled.compiled_for((scores, *targets))
        return self._compiled

    @property
    def name(self) -> str:
        return self.declaration.name

    @property
    def best(self) -> float | None:
        return self.declaration.best

    @property
    def higher_is_better(self) -> bool:
        return self.declaration.higher_is_better

    @property
    def program(self) -> Program:
        return self.compiled.program

    def check_inputs(self, scores, *targets) -> None:
        self.declaration.spec.check(f"metric `{self.name}`", scores, *targets)

    def binaries(self, scores: torch.Tensor, *targets) -> Binaries:
        self.check_inputs(scores, *targets)
        return self.compiled_for(scores, *targets).program.pairs(scores, targets)

    def __call__(self, scores: torch.Tensor, *targets, **params) -> torch.Tensor:
        """The exact value; ``params`` bind the metric's parameters for this call."""
        if params:
            return self.bind(**params)(scores, *targets)
        with torch.no_grad():
            program = self.compiled_for(scores, *targets).program
            return program.value(self.binaries(scores, *targets)).to(torch.float32)

    def bind(self, **params) -> Metric:
        unknown = set(params) - set(self.declaration.defaults)
        if unknown:
            raise InputError(
                f"metric `{self.name}` has no parameter {sorted(unknown)}; its parameters (arguments "
                f"with a default, or keyword-only) are {sorted(self.declaration.defaults) or 'none'}"
            )
        return Metric(self.declaration, {**self.params, **params})

    def __repr__(self) -> str:
        params = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"<Metric {self.name}{params} from {self.declaration.location}>"


def metric(
    fn: Callable | None = None,
    *,
    name: str | None = None,
    best: float | None = None,
    higher_is_better: bool = True,
    shapes: Mapping[str, str] | None = None,
    classes: Mapping[str, int | str] | None = None,
    ideal: Callable | None = None,
    location: SourceLocation | None = None,
    register: bool = True,
) -> Metric | Callable[[Callable], Metric]:
    """Compile ``fn(scores, *targets, *, **params)`` into a metric and register it under ``name``.

    ``best``: the metric's best value, checked against the derived ideal configuration.
    ``shapes``: einops-style dimensions per argument, e.g. ``{"scores": "N C", "labels": "N"}``.
    ``classes``: arguments holding class indices and how many classes (an int or a dim of shapes).
    ``ideal``: a function of the targets returning perfect scores, for metrics whose best
    configuration is not all-true/all-false per comparison block.
    ``location``: where messages say the metric was declared, for factories that generate ``fn``
    (default: ``fn``'s ``def`` line).
    ``register``: make the metric available by name (``get_metric``, ``UniLoss("name")``); off,
    it is only the returned object (a metric compiled for a look, as ``explain`` does with an
    undecorated function).
    """
    if fn is None:
        return functools.partial(
            metric, name=name, best=best, higher_is_better=higher_is_better,
            shapes=shapes, classes=classes, ideal=ideal, location=location, register=register,
        )
    if not callable(fn):
        raise CompileError(f"@metric decorates a function, got {type(fn).__name__}")
    location = location or _def_line(fn)
    name = name or fn.__name__
    signature = inspect.signature(fn)
    positional, defaults = [], {}
    for parameter in signature.parameters.values():
        # Targets are the positional arguments without a default after the scores; one with a
        # default (``def p_at_k(scores, labels, k=5)``) is a parameter, like a keyword-only one.
        if parameter.kind in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD) and (
                parameter.default is parameter.empty or not positional) and not defaults:
            positional.append(parameter.name)
        elif parameter.kind in (parameter.KEYWORD_ONLY, parameter.POSITIONAL_OR_KEYWORD):
            defaults[parameter.name] = parameter.default
        else:
            raise CompileError(
                f"metric `{name}` at {location}: `*{parameter.name}`/`**{parameter.name}` arguments "
                "cannot be traced; list the targets as positional arguments and parameters as "
                "keyword-only ones."
            )
    if not positional:
        raise CompileError(f"metric `{name}` at {location} must take the scores as its first argument")
    try:
        spec = InputSpec.parse(positional, shapes, classes)
    except CompileError as error:
        raise CompileError(f"metric `{name}` at {location}: {error}") from None
    declaration = Declaration(
        fn=fn, name=name, best=best, higher_is_better=higher_is_better, spec=spec, ideal=ideal,
        defaults=defaults, location=location,
    )
    missing = declaration.required
    bound = Metric(declaration, {k: v for k, v in defaults.items() if k not in missing}) if not missing else None
    result = bound if bound is not None else _Unbound(declaration)
    if register:
        _check_name_free(name, fn)
        REGISTRY.register("metric", name, result, str(location))
    return result


class _Unbound(Metric):
    """A metric whose required keyword-only parameters are not given yet: bind them to use it."""

    def __init__(self, declaration: Declaration):
        self.declaration = declaration
        self.params = {}
        self._compiled = None

    def __call__(self, scores, *targets):
        raise InputError(
            f"metric `{self.name}` needs {sorted(self.declaration.required)}: use "
            f"metricloss.get_metric({self.name!r}, ...) or .bind(...)"
        )

    def bind(self, **params) -> Metric:
        missing = self.declaration.required - set(params)
        if missing:
            raise InputError(f"metric `{self.name}` needs {sorted(missing)}")
        return Metric(self.declaration, {k: v for k, v in self.declaration.defaults.items()
                                         if k not in self.declaration.required} | params)


def get_metric(name: str | Metric, **params) -> Metric:
    """The registered metric called ``name``, with keyword-only parameters bound to ``params``."""
    found = name if isinstance(name, Metric) else REGISTRY.get("metric", name)
    return found.bind(**params) if params or isinstance(found, _Unbound) else found


def _check_name_free(name: str, fn: Callable) -> None:
    """A decorated metric may not take the name of an installed plugin it is not."""
    for point in metadata.entry_points(group=GROUPS["metric"]):
        if point.name == name and point.module != fn.__module__:
            dist = f"{point.dist.name} {point.dist.version}" if point.dist else point.value
            raise PluginError(
                f"a metric named {name!r} is already provided by {dist} ({point.value}); "
                "choose another name with @metric(name=...)"
            )


@functools.lru_cache(maxsize=None)
def _compile(declaration: Declaration, params: tuple) -> Compiled | PerShape:
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
        return per_shape
    compiled = _compile_graph(declaration, bound, graph)
    _probe(compiled, declaration.spec.synthetic(seed=0))
    return compiled


def _compile_graph(declaration: Declaration, bound: Mapping[str, Any], graph) -> Compiled:
    lowered = lower(graph, declaration.name)
    program = Program(declaration.name, graph, partition(graph, declaration.name))
    return Compiled(declaration, bound, program, tuple(lowered))


def _probe(compiled: Compiled, arguments) -> None:
    """Run a synthetic batch built from the declared shapes, to fail at decoration, not in training."""
    decl = compiled.declaration
    if arguments is None:
        return
    scores, *targets = arguments
    binaries = compiled.program.pairs(scores, tuple(targets))
    compiled.program.value(binaries)
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


def _def_line(fn: Callable) -> SourceLocation:
    """The ``def`` line of ``fn`` (its code starts at the first decorator)."""
    filename, line = fn.__code__.co_filename, fn.__code__.co_firstlineno
    try:
        source, _ = inspect.getsourcelines(fn)
    except (OSError, TypeError):
        return SourceLocation(filename, line)
    for offset, text in enumerate(source):
        if text.lstrip().startswith(("def ", "async def ")):
            return SourceLocation(filename, line + offset)
    return SourceLocation(filename, line)
