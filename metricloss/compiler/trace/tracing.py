"""``trace_metric``: the metric's code as a clean torch.fx graph, or a message at the user's line.

The tracer records the graph; what the traced code raises is turned here into a message that
names the line and says what to write instead (told apart by the exception's type); then the
cleanup passes leave a graph of values: no in-place changes, no assignments, no guards, each
expression once. A refusal of control flow is first checked against the rest of the metric: when
rewriting it would not make the metric compile anyway, the message says so the first time.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch.fx as fx

from ...errors import CompileError, MetricLossError
from .assignments import without_assignments
from .locations import library_in_traceback, user_location_from
from .mutations import without_mutations
from .read_through import read_through
from .refusals import ControlFlowRefused, LenOfAttribute, NeedsShapes, ProbeAbandoned, ProxyToNumber
from .repeated_expressions import merge_repeated_expressions
from .specialisation_guards import drop_specialisation_guards
from .tracer import MetricTracer


def trace_metric(fn: Callable, name: str, params: Mapping[str, Any],
                 examples: Mapping[str, Any] | None = None) -> fx.Graph:
    """Trace ``fn`` with its keyword-only parameters fixed to ``params``.

    The first positional argument is the scores; the rest are targets. Without ``examples`` the
    trace is symbolic and raises ``NeedsShapes`` where the code needs a concrete shape; with them
    (argument name -> a meta tensor of the batch's shape and dtype), shapes are Python ints.
    """
    try:
        return _trace(fn, name, params, examples)
    except ControlFlowRefused as refused:
        deeper = _deeper_reason(fn, name, params, examples)
        if deeper is None:
            raise
        raise CompileError(
            f"metric `{name}`: {refused.construct} at {refused.where} cannot be traced, but "
            f"{refused.fix} would not make the metric compile: {deeper.reason}"
        ) from None


def _deeper_reason(fn: Callable, name: str, params: Mapping[str, Any],
                   examples: Mapping[str, Any] | None):
    """Refused control flow is often not what keeps a metric from becoming a loss: a binned
    calibration error loops over its bins, and once the loop is batched, it is refused because it
    averages probabilities. To say so at the first refusal, the metric is traced on past the
    control flow (``MetricTracer.probing``) and split at its comparisons as the compiler would;
    the ``ValuesNotComparisons`` found there, or None when the rest would compile or the probe
    cannot tell."""
    from ..lowering import lower  # the later stages import this module
    from ..partition import ValuesNotComparisons, partition

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = _trace(fn, name, params, examples, probing=True)
            lower(graph, name)
            partition(graph, name)
    except ValuesNotComparisons as found:
        return found
    except Exception:  # what a made-up condition leads to says nothing about the user's code
        return None
    return None


def _trace(fn: Callable, name: str, params: Mapping[str, Any], examples: Mapping[str, Any] | None,
           probing: bool = False) -> fx.Graph:
    signature = inspect.signature(fn)
    positional = [
        p for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in params
    ]
    tracer = MetricTracer(name, examples, probing)
    try:
        graph = tracer.trace(fn, concrete_args=dict(params) or None)
    except (MetricLossError, NeedsShapes, ProbeAbandoned):  # our own errors say what they mean already
        raise
    except LenOfAttribute as error:
        if examples is None:
            raise NeedsShapes("`len()` of a shape", user_location_from(error)) from None
        raise CompileError(
            f"metric `{name}`: `len()` of a tensor at {user_location_from(error)} cannot be "
            "traced; use `tensor.shape[0]`."
        ) from None
    except ProxyToNumber as error:
        raise CompileError(
            f"metric `{name}`: `{error.conversion}(...)` of a tensor at {user_location_from(error)} turns "
            "it into a Python number the trace cannot follow; keep it a tensor (return the 0-d tensor, "
            "or use `.item()` only on the final value)."
        ) from None
    except RuntimeError as error:
        raise CompileError(
            f"metric `{name}` could not be traced: {error}. A metric must be written as tensor code "
            "on its arguments."
        ) from error
    except TypeError as error:
        where = user_location_from(error)
        library = library_in_traceback(error)
        if library is not None:
            raise CompileError(
                f"metric `{name}`: the scores are handed to {library} at {where}; a metric is traced "
                f"as torch code, which {library} cannot run on. Write it with torch operations on the "
                "tensors (comparisons, `argmax`, sums and means)."
            ) from None
        if examples is None:  # torch code that needs concrete sizes (``torch.zeros(C, C)``): per shape
            raise NeedsShapes(f"code the symbolic trace cannot follow ({error})", where) from None
        raise CompileError(
            f"metric `{name}` could not be traced at {where}: {error}. A metric "
            "must be written as tensor code on its arguments (methods and torch functions)."
        ) from error
    except Exception as error:  # whatever a library raises on a traced tensor: say where and why
        library = library_in_traceback(error)
        handed = f"the scores are handed to {library}, which cannot run on a traced tensor; " if library else ""
        raise CompileError(
            f"metric `{name}` could not be traced at {user_location_from(error)}: {handed}"
            f"{type(error).__name__}: {error}. A metric must be written as torch operations on its "
            "arguments (comparisons, `argmax`, sums and means)."
        ) from None
    graph.constants = tracer.root  # tensors the code made from Python values, read by get_attr nodes
    without_mutations(graph, name)  # first: the in-place calls have no users, dead code to fx
    drop_specialisation_guards(graph, len(positional))
    read_through(graph)
    without_assignments(graph)
    merge_repeated_expressions(graph)
    return graph
