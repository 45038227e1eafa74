"""Decorators that register the loss's parts and training tasks in-process.

A relaxation, sampler or interpolator plugin is a *factory*: a function of its parameters that
returns the part (``sigmoid(tau=0.5)``). A task plugin is a factory of a training task. They are
registered in-process with these decorators, or by a distribution's entry points (groups
``metricloss.relaxations``, ``metricloss.samplers``, ``metricloss.interpolators``,
``metricloss.tasks``); our own are declared in ``pyproject.toml`` like anyone else's. Metrics have
their own decorator, ``@metricloss.metric``.

    >>> import metricloss as ml
    >>> ml.get_plugin("relaxation", "sigmoid")(tau=0.5)
    Relaxation(name='sigmoid', params={'tau': 0.5})
"""

from __future__ import annotations

from collections.abc import Callable

from .errors import PluginError, SourceLocation
from .fingerprints import definition_fingerprint
from .registry import REGISTRY


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
    REGISTRY.check_name_free(kind, name, getattr(factory, "__module__", None), f"@metricloss.{kind}(name=...)")
    REGISTRY.register(kind, name, factory, source, fingerprint=definition_fingerprint(factory))
    return factory


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
