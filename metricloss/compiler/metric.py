"""``@metric``: declare a metric as evaluation code; get back an exact, compiled ``Metric``.

Compiling happens once per binding of the metric's keyword-only parameters: trace, lower, split
at the comparisons, generate the pairs and re-expression modules. When the declaration says what
its inputs look like (``shapes=``, ``classes=``), a small synthetic batch is run through the
compiled code at decoration, so a metric whose ideal configuration cannot be found fails at the
user's ``def`` line rather than at the first training step.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import importlib
import inspect
import math
import numbers
import operator
import pickle
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ..errors import CompileError, InputError, MetricLossError, PluginError, SourceLocation
from .goals import Goal, Ideal
from .ideal import Proposal, find_ideal, propose
from .ops import table as op_table
from .inputs import InputSpec
from .lowering import lower
from .partition import partition
from .binaries import Binaries
from .exact import Evaluation
from .program import Program
from ..contracts import instance_of
from ..fingerprints import definition_fingerprint
from ..registry import REGISTRY, Kind
from .shapes import PerShape
from .tie_order import UnstableSort, warn_once
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
    check: Callable | None = None  # check(scores, *targets, **params) -> a message, or None
    # Targets whose value marks an item of the last dimension as padding, which the metric ignores.
    padding: Mapping[str, float] = dataclasses.field(default_factory=dict)
    fingerprint: str = ""  # the definition (``fingerprints.definition_fingerprint``): equal means the same metric

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
    # Boolean masks of the targets that select items of the scores (``scores[labels == 1]``).
    selections: tuple[Selection, ...] = ()
    # Sorts of the scores whose tie order torch leaves open, and the rule followed instead.
    unstable: tuple[UnstableSort, ...] = ()

    @property
    def goal(self) -> Goal:
        return Goal(self.declaration.best, self.declaration.higher_is_better)

    def ideal(self, binaries: Binaries, scores: torch.Tensor, targets: tuple) -> Ideal:
        """``b*`` for this batch, with its value and free face (``ideal.find_ideal``)."""
        decl = self.declaration
        with torch.no_grad():
            return find_ideal(self.program, binaries, scores, targets, self.goal, decl.spec.names[1:],
                              _guarded_ideal(decl), decl.name)

    def propose(self, binaries: Binaries, scores: torch.Tensor, targets: tuple) -> Proposal | None:
        """The first candidate for ``b*``, to be settled by ``g``'s values (``ideal.propose``)."""
        decl = self.declaration
        with torch.no_grad():
            return propose(self.program, binaries, scores, targets, self.goal, decl.spec.names[1:],
                           _guarded_ideal(decl), decl.name)


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
        try:
            key = tuple(sorted(self.params.items()))
            hash(key)
        except TypeError:
            unhashable = sorted(k for k, v in self.params.items() if not _hashable(v))
            raise InputError(
                f"metric `{declaration.name}`: parameter {unhashable[0]}={self.params[unhashable[0]]!r} "
                "is not a constant the metric can be compiled for (not hashable); pass a number, a "
                "string or a tuple"
            ) from None
        try:
            self._compiled = _compile(declaration, key)
        except InputError as error:  # a parameter the metric's own code refuses while tracing
            if error.metric == declaration.name:
                raise
            raise InputError(f"metric `{declaration.name}`: {error}", metric=declaration.name) from None

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

    def check_tensors(self, scores, *targets, loss: bool = False) -> None:
        """An InputError unless each argument is a tensor (``InputSpec.check_tensors``); no sync."""
        who = f"UniLoss of metric `{self.name}`" if loss else f"metric `{self.name}`"
        self.declaration.spec.check_tensors(who, scores, *targets, parameters=tuple(self.declaration.defaults),
                                            loss=loss)

    def check_inputs(self, scores, *targets) -> None:
        """An InputError for the first thing wrong with these inputs (declared shapes, dtypes,
        devices, finite scores, class indices in range, the declaration's own ``check=``)."""
        decl = self.declaration
        decl.spec.check(f"metric `{self.name}`", scores, *targets, parameters=tuple(decl.defaults))
        if decl.check is not None:
            _run_check(decl, scores, targets, self.params)

    def binaries(self, scores: torch.Tensor, *targets) -> Binaries:
        return self.prepared(scores, *targets)[1]

    def prepared(self, scores: torch.Tensor, *targets) -> tuple[Compiled, Binaries]:
        """The compiled metric for these inputs and their binaries, the inputs checked once: what
        the loss needs of a batch before anything else."""
        compiled = self._checked(scores, targets)
        return compiled, compiled.program.pairs(scores, targets)

    def _checked(self, scores: torch.Tensor, targets: tuple) -> Compiled:
        """The inputs checked (once), then the compiled metric for their shapes."""
        self.check_inputs(scores, *targets)
        compiled = self._compiled.compiled_for((scores, *targets)) if self.per_shape else self._compiled
        if compiled.selections and self.declaration.spec.names[0] not in self.declaration.spec.shapes:
            _check_selections(compiled, scores, targets)
        return compiled

    def __call__(self, scores: torch.Tensor, *targets, **params) -> torch.Tensor:
        """The exact value; ``params`` bind the metric's parameters for this call."""
        return self.evaluate(scores, *targets, **params).value

    def evaluate(self, scores: torch.Tensor, *targets, **params) -> Evaluation:
        """The exact value (float32) and how it was computed: per block, whether its binaries were
        counted by sorting, searched, held in slabs, held whole, or computed as written (small
        blocks and comparisons that are not of two vectors); see ``compiler/exact.py``."""
        if params:
            return self.bind(**params).evaluate(scores, *targets)
        compiled = self._checked(scores, targets)
        with torch.no_grad():
            evaluation = compiled.program.evaluate(scores, targets)
        return dataclasses.replace(evaluation, value=evaluation.value.to(torch.float32))

    def bind(self, **params) -> Metric:
        unknown = set(params) - set(self.declaration.defaults)
        if unknown:
            known = sorted(self.declaration.defaults)
            close = difflib.get_close_matches(sorted(unknown)[0], known, n=1)
            hint = f". Did you mean {close[0]}=?" if close else ""
            raise InputError(
                f"metric `{self.name}` has no parameter {sorted(unknown)}; its parameters (arguments "
                f"with a default, or keyword-only) are {known or 'none'}{hint}"
            )
        return Metric(self.declaration, {**self.params, **params})

    def __repr__(self) -> str:
        params = "".join(f", {k}={v!r}" for k, v in self.params.items())
        return f"<Metric {self.name}{params} from {self.declaration.location}>"

    # A metric pickles by reference, as a function does: its name, where its declaration lives
    # (``module:qualname``) and its bound parameters. Unpickling finds the declaration again (it
    # imports the module, which registers it, or looks the name up) and binds the parameters, so
    # ``torch.save`` of a model holding a UniLoss stores no code, and a process that loads it
    # uses the definition it has installed.
    def __reduce__(self):
        module, qualname = self._reference()
        return _restore_metric, (self.name, module, qualname, dict(self.params))

    def __copy__(self) -> Metric:
        return self  # immutable: a copy would be the same metric

    def __deepcopy__(self, memo) -> Metric:
        return self

    def _reference(self) -> tuple[str | None, str | None]:
        """``(module, qualname)`` of a module-level declaration, else ``(None, None)`` when the name
        is registered to this definition; a PicklingError when neither finds it again."""
        decl = self.declaration
        module, qualname = getattr(decl.fn, "__module__", None), getattr(decl.fn, "__qualname__", "")
        found = _module_attribute(sys.modules.get(module), qualname)
        if _same_definition(found, decl):
            return module, qualname
        entry = REGISTRY.entry("metric", self.name)
        if entry is not None and _same_definition(entry.plugin, decl):
            return (module if module in sys.modules and module != "__main__" else None), None
        raise pickle.PicklingError(
            f"metric `{self.name}` (declared at {decl.location}) cannot be pickled: a metric is pickled by "
            f"reference, by its registered name or as module:qualname, and it is neither registered under "
            f"its name (register=False) nor a module-level name ({module}.{qualname}). Declare it at module "
            "level with @metricloss.metric, registered"
        )


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
    check: Callable | None = None,
    example: Callable | None = None,
    padding: Mapping[str, float] | None = None,
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
    ``check``: a function ``check(scores, *targets, **params)`` called on every call after the
    declared shapes and classes are checked, for what they cannot say (a value range, a parameter
    against a size); it returns a message saying what is wrong and what to do, or None. The
    message becomes an ``InputError`` naming the metric.
    ``example``: a function of a seed returning a valid batch ``(scores, *targets)``, for inputs
    whose valid values the shapes cannot describe (positive head sizes); the decoration check,
    ``explain`` and ``metricloss.testing`` use it instead of the batch built from ``shapes=``.
    ``padding``: targets whose value marks an item of the last dimension as padding, which the
    metric neither counts nor ranks (``{"relevance": -1}``, the built-in ranking metrics'
    convention). Lists of different lengths can then be padded to one length: ``evaluator``
    pads batches so, to concatenate them. Checked at decoration on the synthetic batch: one
    padded item must leave the value as it is.
    """
    if fn is None:
        return functools.partial(
            metric, name=name, best=best, higher_is_better=higher_is_better,
            shapes=shapes, classes=classes, ideal=ideal, location=location, register=register,
            check=check, example=example, padding=padding,
        )
    if not callable(fn) or not hasattr(fn, "__code__"):
        what = "a class" if inspect.isclass(fn) else f"a {type(fn).__name__}"
        raise CompileError(
            f"@metric decorates a Python function (`def metric(scores, labels): ...` or a lambda), got "
            f"{what} ({fn!r})"[:300]
        )
    if location is not None and not isinstance(location, SourceLocation):
        raise CompileError(
            f"@metric(location=...) must be a metricloss.errors.SourceLocation(filename, lineno), got "
            f"{type(location).__name__} {location!r}"
        )
    location = location or _def_line(fn)
    if name is not None and (not isinstance(name, str) or not name.strip() or name != name.strip()):
        raise CompileError(
            f"metric at {location}: name= must be a non-empty string without surrounding spaces "
            f"(the name `get_metric` and `UniLoss` look it up by), got {name!r}"
        )
    name = name or fn.__name__
    _check_options(name, location, best=best, higher_is_better=higher_is_better, ideal=ideal,
                   register=register, check=check)
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
        spec = InputSpec.parse(positional, shapes, classes, example)
    except CompileError as error:
        raise CompileError(f"metric `{name}` at {location}: {error}") from None
    if ideal is not None:
        _check_ideal_signature(name, location, ideal, spec.names[1:])
    padding = _check_padding(name, location, padding, spec.names[1:])
    if register and not name.isidentifier():
        raise CompileError(
            f"metric at {location}: {name!r} cannot be registered as a metric's name"
            f"{' (a lambda has no name of its own)' if name == '<lambda>' else ''}; pass "
            "name=\"my_metric\" (letters, digits and underscores), or register=False"
        )
    declaration = Declaration(
        fn=fn, name=name, best=float(best) if best is not None else None, higher_is_better=higher_is_better,
        spec=spec, ideal=ideal, defaults=defaults, location=location, check=check, padding=padding,
        fingerprint=definition_fingerprint(fn, name, best, higher_is_better, shapes, classes, ideal, check, example,
                                           padding),
    )
    missing = declaration.required
    bound = Metric(declaration, {k: v for k, v in defaults.items() if k not in missing}) if not missing else None
    result = bound if bound is not None else _Unbound(declaration)
    if register:
        REGISTRY.check_name_free("metric", name, fn.__module__, "@metric(name=...)")
        REGISTRY.register("metric", name, result, str(location), fingerprint=declaration.fingerprint)
    return result


class _Unbound(Metric):
    """A metric whose required keyword-only parameters are not given yet: bind them to use it."""

    def __init__(self, declaration: Declaration):
        self.declaration = declaration
        self.params = {}
        self._compiled = None

    def __call__(self, scores, *targets):
        return self.evaluate(scores, *targets)

    def evaluate(self, scores, *targets):
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


def _module_attribute(module, qualname: str):
    """``module.qualname`` (dotted), or None."""
    found = module
    for part in qualname.split(".") if qualname else ():
        if part == "<locals>" or found is None:
            return None
        found = getattr(found, part, None)
    return found if module is not None else None


def _same_definition(found, declaration: Declaration) -> bool:
    return (isinstance(found, Metric) and found.name == declaration.name
            and found.declaration.fingerprint == declaration.fingerprint)


def _restore_metric(name: str, module: str | None, qualname: str | None, params: dict) -> Metric:
    """Unpickle a metric (``Metric.__reduce__``): its declaration found again, its parameters bound."""
    found = None
    if module is not None:
        try:
            imported = importlib.import_module(module)  # declaring it there registers it too
        except ImportError:
            imported = None
        found = _module_attribute(imported, qualname or "")
    if not (isinstance(found, Metric) and found.name == name):
        try:
            found = REGISTRY.get("metric", name)
        except PluginError as error:
            where = f" (declared in {module}{'.' + qualname if qualname else ''})" if module else ""
            raise PluginError(f"unpickling metric `{name}`{where}: {error}") from None
    if params == found.params:
        return found
    return found.bind(**params)


def get_metric(name: str | Metric, **params) -> Metric:
    """The registered metric called ``name``, with keyword-only parameters bound to ``params``."""
    if not isinstance(name, (str, Metric)):
        raise PluginError(
            f"get_metric takes a metric's name (\"auc\") or a Metric (a function decorated with "
            f"@metricloss.metric), got {type(name).__name__} {name!r}"[:300]
        )
    found = name if isinstance(name, Metric) else REGISTRY.get("metric", name)
    return found.bind(**params) if params or isinstance(found, _Unbound) else found


def _check_options(name: str, location: SourceLocation, **options) -> None:
    """The decorator's other arguments, each refused with what it must be."""
    best = options["best"]
    if best is not None and (isinstance(best, bool) or not isinstance(best, numbers.Real) or not math.isfinite(best)):
        raise CompileError(
            f"metric `{name}` at {location}: best= must be a finite number (the metric's best value, "
            f"e.g. best=1.0) or None, got {type(best).__name__} {best!r}"
        )
    for flag in ("higher_is_better", "register"):
        if not isinstance(options[flag], bool):
            raise CompileError(
                f"metric `{name}` at {location}: {flag}= must be True or False, got "
                f"{type(options[flag]).__name__} {options[flag]!r}"
            )
    for hook, what in (("ideal", "a function of the targets returning perfect scores"),
                       ("check", "a function check(scores, *targets, **params) returning a message or None")):
        if options[hook] is not None and not callable(options[hook]):
            raise CompileError(
                f"metric `{name}` at {location}: {hook}= must be {what}, got "
                f"{type(options[hook]).__name__} {options[hook]!r}"
            )


def _check_ideal_signature(name: str, location: SourceLocation, ideal: Callable, targets: tuple[str, ...]) -> None:
    """ideal= is called with the targets, positionally (and ``shape=`` when it takes it)."""
    try:
        signature = inspect.signature(ideal)
    except (TypeError, ValueError):  # a builtin without a signature: found out at the first call
        return
    shape = signature.parameters.get("shape")
    takes_shape = shape is not None and shape.kind is inspect.Parameter.KEYWORD_ONLY
    try:
        signature.bind(*targets, **({"shape": None} if takes_shape else {}))
    except TypeError as error:
        raise CompileError(
            f"metric `{name}` at {location}: ideal= is called with the targets ({', '.join(targets) or 'none'}) "
            f"and cannot take them: {error}. Write it as `ideal=lambda {', '.join(targets)}: ...` returning "
            "perfect scores"
        ) from None


def _check_padding(name: str, location: SourceLocation, padding, targets: tuple[str, ...]) -> dict[str, float]:
    """padding= as a dict of target names to finite numbers."""
    if padding is None:
        return {}
    if not isinstance(padding, Mapping) or not padding:
        raise CompileError(
            f"metric `{name}` at {location}: padding= must map targets to the value that marks an item as "
            f"padding, e.g. padding={{{(targets or ('relevance',))[-1]!r}: -1}}; got {padding!r}"
        )
    for target, value in padding.items():
        if target not in targets:
            raise CompileError(
                f"metric `{name}` at {location}: padding= names {target!r}, which is not one of the targets "
                f"({', '.join(targets) or 'none'}); the scores are padded with 0, the targets named with their value"
            )
        if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
            raise CompileError(
                f"metric `{name}` at {location}: padding={{{target!r}: {value!r}}} must give a finite number, "
                "the value that marks an item as padding (-1 for relevance)"
            )
    return dict(padding)


def padded(tensor: torch.Tensor, width: int, value: float) -> torch.Tensor:
    """``tensor`` with its last dimension filled up to ``width`` with ``value``."""
    missing = width - tensor.shape[-1]
    if missing <= 0:
        return tensor
    return torch.cat([tensor, tensor.new_full((*tensor.shape[:-1], missing), value)], dim=-1)


def _guarded_ideal(decl: Declaration) -> Callable | None:
    """``decl.ideal``, with what it raises turned into an InputError pointing at it."""
    if decl.ideal is None:
        return None
    ideal = decl.ideal

    @functools.wraps(ideal)
    def guarded(*targets, **shape):
        try:
            return ideal(*targets, **shape)
        except MetricLossError:
            raise
        except Exception as error:
            from .trace import user_location_from

            where = user_location_from(error)
            raise InputError(
                f"metric `{decl.name}`: ideal= raised {type(error).__name__}: {error}"
                f"{f' at {where}' if where else ''} on targets of shapes "
                f"{[tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__ for t in targets]}; "
                "ideal= must return perfect scores (a float tensor of the scores' shape) for any batch"
            ) from error
    return guarded


def _run_check(decl: Declaration, scores: torch.Tensor, targets: tuple, params: Mapping[str, Any]) -> None:
    try:
        message = decl.check(scores, *targets, **params)
    except InputError as error:
        message = str(error)
    if message is None:
        return
    if not isinstance(message, str):
        raise CompileError(
            f"metric `{decl.name}` at {decl.location}: check= must return a message (str) or None, "
            f"got {type(message).__name__}"
        )
    raise InputError(message if f"`{decl.name}`" in message else f"metric `{decl.name}`: {message}")


@dataclass(frozen=True)
class Selection:
    """``x[mask]``: a mask computed element by element from targets selects from the scores."""

    targets: tuple[int, ...]  # positions (in the targets) of the tensors the mask is computed from
    location: SourceLocation | None


# One-operand ops whose result has the operand's shape, and element-wise ops of several operands
# (the result has their broadcast shape): what a mask's shape can be followed through.
_SAME_SHAPE = op_table.having("elementwise") | op_table.having("same_shape")
_ELEMENTWISE = op_table.having("binary")


def _elementwise_sources(node, placeholders: dict) -> set[str] | None:
    """The placeholders ``node`` is computed from element by element (scalars aside), or None when
    some step may change the shape (an index, a reduction, a view)."""
    import torch.fx as fx

    seen: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if current.op == "placeholder":
            seen.add(current.target)
            continue
        if current.op not in ("call_function", "call_method"):
            return None
        tensors = [a for a in (*current.args, *current.kwargs.values()) if isinstance(a, fx.Node)]
        others = [a for a in (*current.args, *current.kwargs.values()) if not isinstance(a, fx.Node)]
        if current.target in _SAME_SHAPE and len(tensors) == 1 and current.args and current.args[0] is tensors[0]:
            stack.append(tensors[0])
        elif current.target in _ELEMENTWISE and all(isinstance(o, (int, float, bool)) for o in others):
            stack.extend(tensors)
        else:
            return None
    return seen


def _mask_selections(graph, names: tuple[str, ...]) -> tuple[Selection, ...]:
    """Every ``x[mask]`` with ``x`` the scores (element by element) and ``mask`` computed element by
    element from targets: its shape is theirs, which a call can check against the scores'."""
    import torch.fx as fx

    found = []
    for node in graph.nodes:
        if not (node.op == "call_function" and node.target is operator.getitem and len(node.args) == 2
                and isinstance(node.args[1], fx.Node)):
            continue
        source = _elementwise_sources(node.args[0], {})
        mask = _elementwise_sources(node.args[1], {})
        if source != {names[0]} or not mask or names[0] in mask:
            continue
        found.append(Selection(tuple(names.index(m) - 1 for m in sorted(mask)), node.meta.get("location")))
    return tuple(found)


def _check_selections(compiled: Compiled, scores: torch.Tensor, targets: tuple) -> None:
    """A target's mask that selects whole rows of the scores is refused unless ``shapes=`` says the
    scores have those extra dimensions: the comparisons after it would pair rows element by element
    (``my_auc`` given [N, 2] logits compares column 0 with column 0 and 1 with 1)."""
    decl = compiled.declaration
    for selection in compiled.selections:
        masks = [targets[i] for i in selection.targets if isinstance(targets[i], torch.Tensor)]
        if not masks:
            continue
        rank = max(t.dim() for t in masks)
        extra = scores.shape[rank:]
        if rank >= scores.dim() or math.prod(extra) <= 1:
            continue
        names = [decl.spec.names[1 + i] for i in selection.targets]
        mask_shape = tuple(scores.shape[:rank])
        raise InputError(
            f"metric `{decl.name}`: the mask from {', '.join(names)} {tuple(masks[0].shape)} at "
            f"{selection.location} selects from scores of shape {tuple(scores.shape)}, so each item it "
            f"keeps is a row of {math.prod(extra)} scores, which the code after it compares element by "
            f"element. Pass scores of shape {mask_shape}, one per item (for two-class logits the "
            f"positive class's column, `scores[:, 1]`), or declare the shapes if rows are meant: "
            f"@metricloss.metric(shapes={{{decl.spec.names[0]!r}: ...}})"
        )


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


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
            _probe_padding(declaration, lambda args: per_shape.compiled_for(args).program, arguments)
        return per_shape
    compiled = _compile_graph(declaration, bound, graph)
    arguments = declaration.spec.synthetic(seed=0)
    _probe(compiled, arguments)
    _probe_padding(declaration, lambda args: compiled.program, arguments)
    return compiled


def _compile_graph(declaration: Declaration, bound: Mapping[str, Any], graph) -> Compiled:
    selections = _mask_selections(graph, declaration.spec.names)
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


REGISTRY.declare(Kind("metric", "metricloss.metrics", instance_of(Metric)))
