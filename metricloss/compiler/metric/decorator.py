"""``@metric``: its options checked at the user's ``def`` line, then the declaration registered.

Every option is refused where it is written when it is not what it must be (``best='1'``,
``name=3``, an ``ideal=`` that does not take the targets), instead of a traceback at the first
training step or a metric that cannot be looked up.
"""

from __future__ import annotations

import functools
import inspect
import math
import numbers
from collections.abc import Callable, Mapping


from ...errors import CompileError, InputError, SourceLocation
from ...fingerprints import definition_fingerprint
from ...registry import REGISTRY
from ..inputs import InputSpec
from .compiled_metric import Metric, Unbound
from .declaration import Declaration


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
    result = bound if bound is not None else Unbound(declaration)
    if register:
        REGISTRY.check_name_free("metric", name, fn.__module__, "@metric(name=...)")
        REGISTRY.register("metric", name, result, str(location), fingerprint=declaration.fingerprint)
    return result


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
