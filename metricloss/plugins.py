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

import functools
from collections.abc import Callable
from typing import Any

from .errors import InputError, SourceLocation
from .registry import GROUPS, REGISTRY


def _register(kind: str, factory: Callable | None, name: str | None):
    if factory is None:
        return functools.partial(_register, kind, name=name)
    code = getattr(factory, "__code__", None)
    source = str(SourceLocation(code.co_filename, code.co_firstlineno)) if code else repr(factory)
    REGISTRY.register(kind, name or factory.__name__, factory, source)
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


def get_plugin(kind: str, name: str) -> Any:
    """The registered plugin of ``kind`` called ``name`` (a factory, or a ``Metric``)."""
    if kind not in GROUPS:
        raise InputError(f"kind must be one of {sorted(GROUPS)}, got {kind!r}")
    return REGISTRY.get(kind, name)


def resolve(kind: str, part: Any) -> Any:
    """A part given by name is made by its factory with default parameters."""
    return get_plugin(kind, part)() if isinstance(part, str) else part
