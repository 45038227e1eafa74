"""The metric explain is asked about: a name, a ``Metric``, a function, or ``module:function``.

``metricloss explain my_metrics:my_auc`` imports the user's module for the purpose, and a
function there need not be decorated: it is compiled as ``@metric`` would with its defaults,
without registering it. Each way the import or the lookup can fail is told apart, so that the
message says whose code to fix.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable

from ...errors import MetricLossError, PluginError
from ..metric import Metric, get_metric, metric as declare


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
