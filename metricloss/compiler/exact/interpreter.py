"""The interpreter: the metric's generated modules run with large comparisons kept lazy.

``evaluate`` runs the values module (``codegen.values_graph``) and then ``g`` through
``LazyInterpreter``. A comparison of two vectors with at least ``dense_below`` entries becomes a
lazy value (``lazy.py``); an op on lazy values is followed (attributes and shapes read off them,
element-wise ops as ``Map``, reductions in ``reductions.py``) or, failing that, given them
whole. What each block went through is recorded in a ``Run`` and returned.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from types import SimpleNamespace

import torch
import torch.fx as fx

from .. import ops
from ..rewrites import count_true
from ..trace.locations import LOCATION
from .elementwise import elementwise_linear
from .keys import keyed_beats
from .lazy import Difference, Lazy, Map, Outer, flat_values, lazies_in, map_values, outer_operands, probe_of
from .node_ops import (ATTRIBUTES, COMPARISONS, ELEMENTWISE, FLIPPED, IDENTITIES, NEW_TENSOR_METHODS, REDUCTIONS,
                       SHAPE_METHODS, SUBTRACTIONS, concrete_call, kind_of)
from .reads import CHUNK, DENSE_BELOW, DIRECT, UNREAD, WHOLE, Run
from .reductions import reduce_lazy


class LazyInterpreter(fx.Interpreter):
    """Runs a generated module node by node, keeping large outer comparisons lazy and following
    the ops on them as far as the other modules of this package can; anything else gets them
    whole."""

    def __init__(self, module: fx.GraphModule, run: Run):
        super().__init__(module, garbage_collect_values=True)
        self.state = run

    def run_node(self, n: fx.Node):
        if n.op not in ("call_function", "call_method"):
            return super().run_node(n)
        with self._set_current_node(n):
            args, kwargs = self.fetch_args_kwargs_from_env(n)
            lazy = lazies_in((args, kwargs))
            if not lazy:
                made = self._made_lazy(n, args, kwargs)
                return made if made is not None else concrete_call(n, args, kwargs)
            return self._on_lazy(n, args, kwargs, lazy)

    # A comparison that would be large and is an outer product stays lazy.
    def _made_lazy(self, node: fx.Node, args: tuple, kwargs: dict) -> Lazy | None:
        target = node.target
        if target is ops.beats:
            if kwargs or len(args) != 3:
                return None
            op, (lhs, rhs, tie) = "beats", args
        else:
            op = kind_of(COMPARISONS, target) or ("sub" if target in SUBTRACTIONS else None)
            if op is None or kwargs or len(args) != 2:
                return None
            lhs, rhs = args
        found = outer_operands(lhs, rhs)
        if found is None:
            return None
        if op == "sub" and not (found[0].is_floating_point() and found[1].is_floating_point()):
            return None  # integers may wrap around: their difference is not their comparison
        row, col, lhs_row = found
        shape = torch.broadcast_shapes(lhs.shape, rhs.shape)
        if math.prod(shape) < self.state.dense_below or math.prod(shape) == 0:
            return None
        labels = frozenset({where_written(node)})
        if target is ops.beats:
            return keyed_beats(lhs_row, row, col, tie, labels)
        if op == "sub":
            return Difference(row, col, lhs_row, labels)
        return Outer(row, col, op if lhs_row else FLIPPED[op], labels=labels)

    def _on_lazy(self, node: fx.Node, args: tuple, kwargs: dict, lazy: list[Lazy]):
        target = node.target
        subject = args[0] if args else None
        if node.op == "call_function" and target is getattr and isinstance(subject, Lazy):
            if args[1] in ATTRIBUTES:
                return {"shape": subject.shape, "dtype": subject.dtype, "device": subject.device,
                        "ndim": len(subject.shape), "is_cuda": subject.device.type == "cuda"}[args[1]]
        if isinstance(subject, Lazy) and len(lazy) == 1:
            if target in SHAPE_METHODS:
                stand_in = torch.empty(subject.shape, dtype=subject.dtype, device="meta")
                return concrete_call(node, (stand_in, *args[1:]), kwargs)
            if target in NEW_TENSOR_METHODS:
                return concrete_call(node, (subject.probe, *args[1:]), kwargs)
            if target in IDENTITIES and len(args) == 1 and not kwargs:
                return subject
            if target in ("movedim", torch.movedim) and len(args) == 3 and not kwargs and all(
                    isinstance(a, int) for a in args[1:]) and args[1] % len(subject.shape) == args[2] % len(subject.shape):
                return subject
            if target in ("expand_as",) and len(args) == 2 and isinstance(args[1], torch.Tensor) \
                    and args[1].shape == subject.shape:
                return subject
        if target is ops.beats and len(args) == 3 and not kwargs and not isinstance(args[0], Lazy) \
                and not isinstance(args[1], Lazy):
            found = outer_operands(args[0], args[1])
            if found is not None:
                keyed = keyed_beats(found[2], found[0], found[1], args[2], frozenset({where_written(node)}))
                if keyed is not None:
                    return keyed
        compared = kind_of(COMPARISONS, target)
        if compared is not None and len(args) == 2 and not kwargs:
            zero = [isinstance(a, (int, float)) and not isinstance(a, bool) and a == 0 for a in args]
            found = None
            if isinstance(args[0], Difference) and zero[1]:
                found = args[0].compared(compared)
            elif isinstance(args[1], Difference) and zero[0]:
                found = args[1].compared(FLIPPED[compared])
            if found is not None:
                return found
        if target is count_true and isinstance(subject, Lazy) and len(lazy) == 1 and not kwargs:
            # the rank rewrites' row count: a sum over the last dim, as a long tensor
            as_sum = SimpleNamespace(op="call_method", target="sum", meta=node.meta, name=node.name)
            done = reduce_lazy(as_sum, "sum", (args[0], -1), {}, subject, self.state)
            if isinstance(done, torch.Tensor):
                return done.long()
        reduction = kind_of(REDUCTIONS, target)
        if reduction is not None and isinstance(subject, Lazy) and len(lazy) == 1:
            done = reduce_lazy(node, reduction, args, kwargs, subject, self.state)
            if done is not NotImplemented:
                return done
        elementwise = kind_of(ELEMENTWISE, target) or (
            "beats" if target is ops.beats else None)
        if elementwise is not None:
            mapped = self._map(node, elementwise, args, kwargs, lazy)
            if mapped is not None:
                return mapped
        return self._whole(node, args, kwargs, lazy)

    def _whole(self, node, args, kwargs, lazy):
        for value in lazy:
            self.state.mark(value, WHOLE)
        whole = {id(v): v.whole() for v in lazy}
        args, kwargs = map_values((args, kwargs), lambda v: whole[id(v)] if isinstance(v, Lazy) else v)
        return concrete_call(node, args, kwargs)

    def _map(self, node, name, args, kwargs, lazy) -> Lazy | None:
        tensors = [a for a in flat_values((args, kwargs)) if isinstance(a, (torch.Tensor, Lazy))]
        if any(isinstance(t, torch.Tensor) and t.numel() == 0 for t in tensors):
            return None
        try:
            shape = torch.broadcast_shapes(*(t.shape for t in tensors))
        except RuntimeError:
            return None
        if len(shape) < 2 or shape[-2:] != lazy[0].shape[-2:]:
            return None
        probe_args, probe_kwargs = map_values((args, kwargs), probe_of)
        probe = concrete_call(node, probe_args, probe_kwargs)
        if not isinstance(probe, torch.Tensor) or probe.dim() != len(shape):
            return None
        linear = elementwise_linear(name, node.target, args, kwargs, probe)
        if linear is not None and any(t.outer.shape[-2:] != shape[-2:] for t in linear.terms):
            linear = None

        def fn(*a, **k):
            return concrete_call(node, a, k)

        labels = frozenset().union(*(v.labels for v in lazy))
        return Map(fn, args, kwargs, probe, torch.Size(shape), linear, labels)


def where_written(node: fx.Node) -> str:
    """The label a lazy comparison is reported under: the user's line, else its node's name."""
    location = node.meta.get(LOCATION)
    return str(location) if location is not None else node.name


def evaluate(values_module: fx.GraphModule, g_module: fx.GraphModule, block_count: int, scores: torch.Tensor,
             targets: tuple, dense_below: int = DENSE_BELOW, chunk: int = CHUNK):
    """g at the hard binaries, with large outer comparisons kept lazy. Returns (value, how each
    block was read, how other lazy comparisons were read); the value may be a Python number."""
    largest = max([t.numel() for t in (scores, *targets) if isinstance(t, torch.Tensor)], default=0)
    if largest * largest < dense_below:  # no comparison of two vectors taken from the inputs can be large
        with torch.no_grad():
            blocks, target_values = values_module.forward(scores, *targets)
            return g_module.forward(*blocks, *target_values), (DIRECT,) * block_count, {}
    run = Run(dense_below, chunk)
    with torch.no_grad():
        blocks, target_values = LazyInterpreter(values_module, run).run(scores, *targets)
        blocks = tuple(b.relabelled(frozenset({_Block(i)})) if isinstance(b, Lazy) else b for i, b in enumerate(blocks))
        value = LazyInterpreter(g_module, run).run(*blocks, *target_values)
        if isinstance(value, Lazy):
            run.mark(value, WHOLE)
            value = value.whole()
    reads = tuple(run.reads.get(_Block(i), UNREAD) if isinstance(b, Lazy) else DIRECT for i, b in enumerate(blocks))
    others = {label: how for label, how in run.reads.items() if not isinstance(label, _Block)}
    return value, reads, others


@dataclass(frozen=True)
class _Block:
    """A block's label, told apart from the written comparisons' (``where_written``)."""

    index: int
