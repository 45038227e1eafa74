"""Decorators that register the loss's parts, and lookups that turn names into parts.

A relaxation, sampler or interpolator plugin is a *factory*: a function of its parameters that
returns the part (``sigmoid(tau=0.5)``). A task plugin is a factory of a training task. They are
registered in-process with a decorator, or by a distribution's entry points (groups
``metricloss.relaxations``, ``metricloss.samplers``, ``metricloss.interpolators``,
``metricloss.tasks``); our own are declared in ``pyproject.toml`` like anyone else's.

    >>> import metricloss as ml
    >>> ml.get_plugin("relaxation", "sigmoid")(tau=0.5)
    Relaxation(name='sigmoid', params={'tau': 0.5})
"""

from __future__ import annotations

import importlib
import pickle
from collections.abc import Callable
from importlib import metadata
from typing import Any

from .errors import InputError, PluginError, SourceLocation
from .registry import GROUPS, REGISTRY, definition_fingerprint

# What a part given as an object (not a name) must be, and an example of one.
_PARTS = {
    "relaxation": ("Relaxation", "ml.sigmoid(tau=1.0)"),
    "sampler": ("Sampler", "ml.ideal(16)"),
    "interpolator": ("Interpolator", "ml.inverse_distance()"),
}


def _register(kind: str, factory: Callable | None, name: str | None):
    if name is not None and (not isinstance(name, str) or not name or any(c.isspace() for c in name)):
        raise PluginError(
            f"@metricloss.{kind}(name=...) must be a non-empty string without spaces (the name a "
            f"{kind} is looked up by), got {type(name).__name__} {name!r}"
        )
    if factory is None:
        def decorate(factory: Callable):
            if factory is None:
                raise PluginError(f"@metricloss.{kind}(name={name!r}) decorates a factory function, got None")
            return _register(kind, factory, name)
        return decorate
    if not callable(factory):
        raise PluginError(
            f"@metricloss.{kind} decorates a factory (a function of the {kind}'s parameters, each with a "
            f"default), got {type(factory).__name__} {factory!r}"[:300]
        )
    code = getattr(factory, "__code__", None)
    source = str(SourceLocation(code.co_filename, code.co_firstlineno)) if code else repr(factory)
    name = name or getattr(factory, "__name__", None)
    if not isinstance(name, str) or name == "<lambda>":
        raise PluginError(
            f"the {kind} at {source} has no name of its own (a lambda or a callable object); "
            f"register it with @metricloss.{kind}(name=\"my_{kind}\")"
        )
    _check_name_free(kind, name, factory)
    REGISTRY.register(kind, name, factory, source, fingerprint=definition_fingerprint(factory))
    return factory


def _check_name_free(kind: str, name: str, factory: Callable) -> None:
    """A decorated part may not take the name of an installed plugin it is not (that plugin's
    entry point would clash with it at the first lookup, far from here)."""
    module = getattr(factory, "__module__", None)
    for point in metadata.entry_points(group=GROUPS[kind]):
        if point.name == name and point.module != module:
            dist = f"{point.dist.name} {point.dist.version}" if point.dist else point.value
            raise PluginError(
                f"a {kind} named {name!r} is already provided by {dist} ({point.value}); choose another "
                f"name with @metricloss.{kind}(name=...)"
            )


def relaxation(factory: Callable | None = None, *, name: str | None = None):
    """Register a relaxation factory: ``@ml.relaxation def arctan(scale=1.0) -> Relaxation``."""
    return _register("relaxation", factory, name)


def sampler(factory: Callable | None = None, *, name: str | None = None):
    """Register an anchor-sampler factory returning a ``Sampler``."""
    return _register("sampler", factory, name)


def interpolator(factory: Callable | None = None, *, name: str | None = None):
    """Register an interpolator factory returning an ``Interpolator``."""
    return _register("interpolator", factory, name)


def task(factory: Callable | None = None, *, name: str | None = None):
    """Register a training-task factory."""
    return _register("task", factory, name)


def get_plugin(kind: str, name: str) -> Any:
    """The registered plugin of ``kind`` called ``name`` (a factory, or a ``Metric``)."""
    if kind not in GROUPS:
        raise InputError(f"kind must be one of {sorted(GROUPS)}, got {kind!r}")
    if not isinstance(name, str):
        raise PluginError(f"a {kind}'s name is a string (e.g. {sorted(GROUPS)[0]!r}), got {type(name).__name__} {name!r}")
    return REGISTRY.get(kind, name)


def resolve(kind: str, part: Any) -> Any:
    """A part given by name is made by its factory with default parameters; a part given as an
    object must be one (``ml.sigmoid(tau=1.0)``, not the factory ``ml.sigmoid``)."""
    if isinstance(part, str):
        return get_plugin(kind, part)()
    expected = _part_type(kind)
    if expected is not None and not isinstance(part, expected):
        type_name, example = _PARTS[kind]
        factories = {id(entry.plugin): entry.name for entry in REGISTRY.entries(kind)}
        called = ""
        if id(part) in factories:  # the factory itself, not what it makes
            called = f"; call the factory: `{factories[id(part)]}()` rather than `{factories[id(part)]}`"
        raise InputError(
            f"{kind} must be a {type_name} (e.g. {example}) or the name of a registered {kind}, got "
            f"{type(part).__name__} {part!r}"[:240] + called
        )
    return part


def _part_type(kind: str) -> type | None:
    from .contracts import _part_type as part_type

    return part_type(kind)


def part_reduce(kind: str, part: Any) -> tuple:
    """``__reduce__`` of a relaxation, sampler or interpolator: by reference, the registered factory
    of its name and its parameters (``remake_part``), as a function pickles by its name. A part whose
    name no registered factory carries cannot be found again and is refused, saying so."""
    entry = REGISTRY.entry(kind, part.name)
    if entry is None:
        raise pickle.PicklingError(
            f"the {kind} {part.name!r} cannot be pickled: a {kind} is pickled by the name of its factory, "
            f"and no {kind} is registered as {part.name!r}. Register its factory with @metricloss.{kind} "
            f"(or an entry point) under the name the {kind} carries"
        )
    factory = entry.plugin
    module, qualname = getattr(factory, "__module__", None), getattr(factory, "__qualname__", None)
    if module == "__main__" or not qualname or "<locals>" in qualname:
        module = None
    return remake_part, (kind, part.name, dict(part.params), module)


def remake_part(kind: str, name: str, params: dict, module: str | None = None) -> Any:
    """Unpickle a part (``part_reduce``): its factory's module imported (which registers it), the
    factory found by name and called with the parameters."""
    if module is not None:
        try:
            importlib.import_module(module)
        except ImportError:
            pass  # perhaps registered by an entry point or another module: the lookup says
    try:
        factory = REGISTRY.get(kind, name)
    except PluginError as error:
        raise PluginError(f"unpickling the {kind} {name!r}: {error}") from None
    return factory(**params)
