"""What each plugin kind must be, checked when a plugin registers.

As pluggy checks a hook implementation against its specification when it is registered, the
registry checks every plugin, from a decorator or an entry point, against its kind's contract
here, so that a wrong plugin fails where it is declared (or is reported among the plugins that
failed to load) instead of at the first training step. ``metricloss.testing`` checks the rest of
the behaviour (shapes, gradients, determinism) on real inputs.

- ``metric``: a ``Metric`` (what ``@metricloss.metric`` and ``count_metric`` return).
- ``relaxation``, ``sampler``, ``interpolator``: a factory whose every parameter has a default
  (a part given by name is made with the defaults) and which returns a ``Relaxation`` (``d`` ->
  relaxed binaries in (-1, 1), same shape, device and dtype), a ``Sampler`` (a
  ``SamplingContext`` -> anchors implementing ``Anchors``, drawn only from the context's
  generator) or an ``Interpolator`` (squared distances [A] and values [A] -> one number).
- ``task``: a factory whose every parameter has a default, returning an object with a task's
  fields (name, metrics, settings, load, model, scores, baseline, optimizer).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

TASK_FIELDS = ("name", "metrics", "settings", "load", "model", "scores", "baseline", "optimizer")


def problem(kind: str, plugin: Any) -> str | None:
    """What is wrong with ``plugin`` as a ``kind``, or None when it keeps the contract."""
    if kind == "metric":
        from .compiler.metric import Metric

        return None if isinstance(plugin, Metric) else f"is a {type(plugin).__name__}, not a Metric"
    if not callable(plugin):
        return f"is a {type(plugin).__name__}, not a factory (a function of its parameters)"
    required = _required_parameters(plugin)
    if required:
        return (f"takes required parameters {required}; every parameter of a {kind} factory needs a "
                "default, since a part given by name is made with the defaults")
    try:
        made = plugin()
    except Exception as error:  # whatever the factory raises, the plugin is unusable as declared
        return f"raised {type(error).__name__} when called with its defaults: {error}"
    expected = _part_type(kind)
    if expected is not None and not isinstance(made, expected):
        return f"returned a {type(made).__name__} when called with its defaults, not a {expected.__name__}"
    if kind == "task":
        missing = [name for name in TASK_FIELDS if not hasattr(made, name)]
        if missing:
            return f"returned a {type(made).__name__} without the task fields {missing}"
    return None


def _required_parameters(factory: Callable) -> list[str]:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):  # a builtin without a signature: nothing to check here
        return []
    return [p.name for p in parameters
            if p.default is inspect.Parameter.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)]


def _part_type(kind: str) -> type | None:
    if kind == "relaxation":
        from .loss.relaxations import Relaxation

        return Relaxation
    if kind == "sampler":
        from .loss.samplers import Sampler

        return Sampler
    if kind == "interpolator":
        from .loss.interpolators import Interpolator

        return Interpolator
    return None
