"""Contracts a plugin kind can require, checked when a plugin registers.

As pluggy checks a hook implementation against its specification when it is registered, the
registry checks every plugin, from a decorator or an entry point, against its kind's contract, so
that a wrong plugin fails where it is declared (or is listed among the plugins that failed to
load) instead of at the first training step. A kind picks its contract when it is declared to the
registry (``registry.Kind``); nothing here knows which kinds there are. ``metricloss.testing``
checks the rest of the behaviour (shapes, gradients, determinism) on real inputs.

Two shapes of contract cover the kinds: a plugin that *is* a value of a type (a ``Metric``), and a
*factory*, a function whose every parameter has a default (a part given by name is made with the
defaults), returning a value of a type or one with given fields (a task).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

# What is wrong with a plugin of the named kind, or None when it keeps the contract.
Contract = Callable[[Any, str], "str | None"]


def instance_of(expected: type) -> Contract:
    """A plugin that is a value of ``expected``."""
    def problem(plugin: Any, kind: str) -> str | None:
        return None if isinstance(plugin, expected) else f"is a {type(plugin).__name__}, not a {expected.__name__}"
    return problem


def callable_plugin(plugin: Any, kind: str) -> str | None:
    """A plugin that is called with arguments its kind documents."""
    return None if callable(plugin) else f"is a {type(plugin).__name__}, not a function"


def factory_of(makes: type | None = None, fields: tuple[str, ...] = ()) -> Contract:
    """A factory whose every parameter has a default and which returns a ``makes`` (when given)
    with the attributes ``fields``."""
    def problem(plugin: Any, kind: str) -> str | None:
        if not callable(plugin):
            return f"is a {type(plugin).__name__}, not a factory (a function of its parameters)"
        required = required_parameters(plugin)
        if required:
            return (f"takes required parameters {required}; every parameter of a {kind} factory needs a default, "
                    "since a part given by name is made with the defaults")
        try:
            made = plugin()
        except Exception as error:  # whatever the factory raises, the plugin is unusable as declared
            return f"raised {type(error).__name__} when called with its defaults: {error}"
        if makes is not None and not isinstance(made, makes):
            return f"returned a {type(made).__name__} when called with its defaults, not a {makes.__name__}"
        missing = [name for name in fields if not hasattr(made, name)]
        if missing:
            return f"returned a {type(made).__name__} without the {kind} fields {missing}"
        return None
    return problem


def required_parameters(factory: Callable) -> list[str]:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check here
        return []
    return [p.name for p in parameters
            if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]
