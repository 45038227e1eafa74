"""Metrics traced per input shape: the ones whose code reads a shape as a Python number.

``for c in range(scores.shape[1])``, ``len(labels)`` and ``if scores.shape[1] == 2`` cannot be
traced for every shape at once, so such a metric is traced again for each shape signature, as
``torch.compile`` guards on shapes, and the compiled programs are kept in a small LRU.

The batch dimension stays out of the signature whenever the code allows: on the first batch of
a signature the metric is traced at the batch's size and at one more, and when both graphs are
the same (a loop over classes, say) every batch size shares one program, so a ragged last batch
costs no new compile; each new batch size is traced once more (on meta tensors) to check that it
gives the same graph, as code like ``min(k, len(labels))`` reads the batch size only below k, and
one that does not gets a program of its own. When they differ, the code uses the batch size itself (``/ len(labels)``),
and each batch size gets its own program. When the second graph is *larger*, the code loops in
Python over the samples: it is still exact, but it unrolls into work per sample, and a warning
says so with the batched rewrite.
"""

from __future__ import annotations

import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
import torch.fx as fx

from ..errors import BatchLoopWarning, SourceLocation
from .trace.refusals import NeedsShapes
from .trace.tracing import trace_metric

CACHED_SIGNATURES = 16


class PerShape:
    """The compiled programs of one binding of a metric that needs concrete shapes."""

    def __init__(self, declaration, params: Mapping[str, Any], reason: NeedsShapes,
                 compile_graph: Callable[[fx.Graph], Any], names: Sequence[str]):
        self.declaration = declaration
        self.params = dict(params)
        self.reason = reason
        self._compile_graph = compile_graph
        self._names = tuple(names)
        self._programs: OrderedDict[tuple, Any] = OrderedDict()
        self._batch_free: dict[tuple, bool] = {}
        # Per signature shared by every batch size: the graph's structure and the sizes seen to
        # give it (``min(k, len(labels))`` reads the batch size only below k).
        self._shared: dict[tuple, tuple[list, set[int]]] = {}
        self._warned = False
        self.traces = 0  # how many graphs were traced, for tests and ``explain``

    @property
    def where(self) -> SourceLocation | None:
        return self.reason.where

    def compiled_for(self, arguments: Sequence[Any]):
        """The compiled program for arguments of these shapes, tracing it on first sight."""
        rest = tuple(_rest_signature(a) for a in arguments)
        graph = None
        if rest not in self._batch_free:
            graph, self._batch_free[rest] = self._check_batch(arguments)
            if self._batch_free[rest]:  # the size one more was traced the same in the check
                size = _batch_size(arguments)
                self._shared[rest] = (_structure(graph), {size, None if size is None else size + 1})
        elif self._batch_free[rest] and _batch_size(arguments) not in self._shared[rest][1]:
            # Two batch sizes gave one graph, but code like ``min(k, len(labels))`` reads the batch
            # size only at some sizes: a new size shares the program only if it traces the same.
            graph = self._trace(arguments)
            structure, sizes = self._shared[rest]
            if _structure(graph) == structure:
                sizes.add(_batch_size(arguments))
            else:
                self._batch_free[rest] = False
                self._programs.pop(rest, None)
        key = rest if self._batch_free[rest] else (rest, tuple(_batch_signature(a) for a in arguments))
        found = self._programs.get(key)
        if found is not None:
            self._programs.move_to_end(key)
            return found
        if graph is None:
            graph = self._trace(arguments)
        compiled = self._compile_graph(graph)
        self._programs[key] = compiled
        if len(self._programs) > CACHED_SIGNATURES:
            self._programs.popitem(last=False)
        return compiled

    def _trace(self, arguments: Sequence[Any]) -> fx.Graph:
        self.traces += 1
        examples = {name: _meta(argument) for name, argument in zip(self._names, arguments)}
        return trace_metric(self.declaration.fn, self.declaration.name, self.params, examples)

    def _check_batch(self, arguments: Sequence[Any]) -> tuple[fx.Graph, bool]:
        """The graph at these shapes, and whether it is the same at one more sample."""
        graph = self._trace(arguments)
        scores = arguments[0]
        if not isinstance(scores, torch.Tensor) or scores.dim() == 0:
            return graph, False
        batch = scores.shape[0]
        grown = [_grown(a, batch) for a in arguments]
        larger = self._trace(grown)
        same = _structure(graph) == _structure(larger)
        if len(larger.nodes) > len(graph.nodes) and not self._warned:
            self._warned = True
            where = self.reason.where
            warnings.warn_explicit(BatchLoopWarning(
                f"metric `{self.declaration.name}` loops in Python over the samples of a batch "
                f"({self.reason.construct} at {self.reason.where}): it is exact, but it unrolls into "
                f"{len(graph.nodes)} operations for a batch of {batch}, more for larger batches, and "
                "each new batch size is traced again. Write the per-sample step as one batched "
                "operation over dim 0 (`(scores.argmax(1) == labels).float().mean()` rather than "
                "a sum over `for i in range(len(labels))`)."
            ), BatchLoopWarning, where.filename if where else "<metric>", where.lineno if where else 0)
        return graph, same


def _meta(argument: Any) -> Any:
    if isinstance(argument, torch.Tensor):
        return torch.empty(argument.shape, dtype=argument.dtype, device="meta")
    return argument


def _grown(argument: Any, batch: int) -> Any:
    """The argument with one more sample, when its first dimension is the batch."""
    if isinstance(argument, torch.Tensor) and argument.dim() > 0 and argument.shape[0] == batch:
        return torch.empty((batch + 1, *argument.shape[1:]), dtype=argument.dtype, device="meta")
    return argument


def _rest_signature(argument: Any) -> tuple:
    if isinstance(argument, torch.Tensor):
        return (argument.dtype, argument.dim(), tuple(argument.shape[1:]))
    return (type(argument).__name__, argument if isinstance(argument, (int, float, bool, str)) else None)


def _batch_size(arguments: Sequence[Any]) -> int | None:
    return _batch_signature(arguments[0]) if arguments else None


def _batch_signature(argument: Any) -> int | None:
    return argument.shape[0] if isinstance(argument, torch.Tensor) and argument.dim() > 0 else None


def _structure(graph: fx.Graph) -> list[tuple]:
    """A graph's operations with node references as positions: equal when two traces did the
    same thing with the same constants."""
    index = {node: i for i, node in enumerate(graph.nodes)}

    def plain(value):
        return ("node", index[value]) if isinstance(value, fx.Node) else value
    return [(node.op, str(node.target), repr(fx.node.map_aggregate(node.args, plain)),
             repr(fx.node.map_aggregate(node.kwargs, plain))) for node in graph.nodes]
