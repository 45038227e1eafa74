"""``J`` as one weight per block, for statistics that weigh every binary of a block alike.

AUC is the mean of its comparisons: in ``s(a) = c + J a`` every binary of a block carries the
same weight. Finding ``J`` by autograd on float64 copies of the blocks (``loss/affine_statistics.py``)
costs several passes over millions of binaries, and every dense anchor then pays a weighted
histogram of that copy, to learn one number per block.

When the statistics' graph (``affine_split.py``) reads each block only through ops that treat
all its entries alike (casts, negation, ``1 - b``, sums and differences of such blocks, products
and quotients by numbers, reshapes and expansions, and reductions over every entry), a block
whose entries all equal ``z`` stays a tensor whose entries all equal one number, and the graph
can run on that number alone: a block is a ``Level`` (one 0-d value and the shape it stands
for), and a full sum is the value times the number of entries. ``c`` is the statistics at
``z = 0`` and the weight of each binary of block ``b`` is ``ds/dz_b`` over its size, by
autograd on a few 0-d leaves. Any other op on a block (indexing, a per-row sum, a product with a
target mask) leaves ``J`` to the dense path.
"""

from __future__ import annotations

import math
import numbers
import operator
from dataclasses import dataclass

import torch
import torch.fx as fx

from . import ops
from .affine_split import AffineSplit, kept_float64, masked, one_minus


class NotUniform(Exception):
    """The statistics read some block in a way that weighs its binaries unequally."""


@dataclass(frozen=True)
class Level:
    """A tensor of ``shape`` whose every entry is ``value`` (0-d, float64)."""

    value: torch.Tensor
    shape: torch.Size


_ELEMENTWISE_MASKS = frozenset({operator.mul, torch.mul, torch.multiply, "mul", "multiply", "__mul__", "__rmul__"})
_FULL_REDUCTIONS = {"sum": lambda value, size: value * size, "mean": lambda value, size: value}


def uniform_weights(split: AffineSplit, binaries) -> tuple[torch.Tensor, torch.Tensor] | None:
    """(``c`` [F], weights [F, blocks]) of ``binaries``' statistics, every block a variable of its
    own (a twin too: its bits differ from its source's at ties in the hard configuration), so
    that ``s(a) = c + weights @ (true bits of each block of a)`` for any configuration ``a``; or
    None when a statistic is not one number or weighs some block's binaries unequally. Only
    without dead binaries: anchors pin those to their hard values, which this form does not see."""
    if binaries.dead is not None:
        return None
    device = binaries.hard.device
    leaves = [torch.zeros((), dtype=torch.float64, device=device, requires_grad=True) for _ in binaries.shapes]
    with torch.enable_grad():  # the loss calls this under no_grad
        blocks = [Level(leaf, torch.Size(shape)) for leaf, shape in zip(leaves, binaries.shapes)]
        try:
            values = _Uniform(split.statistics).run(*blocks, *binaries.target_values)
        except NotUniform:
            return None
        if not isinstance(values, tuple) or any(
                not isinstance(v, torch.Tensor) or v.dim() != 0 or not v.is_floating_point() or not v.requires_grad
                for v in values):
            return None
        totals = []
        for index, value in enumerate(values):
            grads = torch.autograd.grad(value, leaves, retain_graph=index + 1 < len(values), allow_unused=True)
            totals.append(torch.stack([torch.zeros((), dtype=torch.float64, device=device) if g is None else g
                                       for g in grads]))
    sizes = torch.tensor([math.prod(shape) for shape in binaries.shapes], dtype=torch.float64, device=device)
    return torch.stack([v.detach() for v in values]).to(torch.float64), torch.stack(totals).to(torch.float64) / sizes


class _Uniform(fx.Interpreter):
    """Runs the statistics' graph with ``Level`` blocks; raises ``NotUniform`` on any op that
    would make a block's entries differ."""

    def call_function(self, target, args, kwargs):
        return _apply(target, target, args, kwargs)

    def call_method(self, target, args, kwargs):
        return _apply(target, lambda first, *rest, **kw: getattr(first, target)(*rest, **kw), args, kwargs)


def _apply(key, call, args, kwargs):
    levels = [a for a in args if isinstance(a, Level)]
    if any(isinstance(v, Level) for v in kwargs.values()) or any(
            isinstance(a, (list, tuple)) and any(isinstance(x, Level) for x in a) for a in args):
        raise NotUniform(key)
    if not levels:
        return call(*args, **kwargs)
    first = args[0]
    if key is kept_float64:
        return first
    if key is one_minus:
        return Level(1 - first.value, first.shape)
    if key is masked:
        return Level(first.value * _number(args[1]), first.shape)
    if kwargs:
        raise NotUniform(key)
    if key in ops.REDUCTIONS:
        if len(args) != 1 or math.prod(first.shape) == 0:  # over some dimensions; or a mean of nothing
            raise NotUniform(key)
        return _FULL_REDUCTIONS[getattr(key, "__name__", key)](first.value, math.prod(first.shape))
    if key in ops.RESHAPES and key not in (operator.getitem, "expand_as"):
        if not isinstance(first, Level) or len(levels) != 1:
            raise NotUniform(key)
        shape = call(torch.empty(first.shape, device="meta"), *args[1:]).shape
        return Level(first.value, shape)
    if key in ops.SIGN_CHANGES and len(args) == 1:
        return Level(-first.value, first.shape)
    if key in ops.SHIFTS or key in _ELEMENTWISE_MASKS or (key in ops.DIVISIONS and isinstance(first, Level)):
        if len(args) != 2 or (len(levels) == 2 and key not in ops.SHIFTS):
            raise NotUniform(key)  # a product of two blocks is not affine
        values = [a.value if isinstance(a, Level) else _number(a) for a in args]
        shape = torch.broadcast_shapes(*(a.shape for a in levels))
        return Level(call(*values), shape)
    raise NotUniform(key)


def _number(value):
    """A number or a 0-d tensor, the same for every entry; anything else varies by position."""
    if isinstance(value, bool) or isinstance(value, numbers.Number):
        return value
    if isinstance(value, torch.Tensor) and value.dim() == 0:
        return value.to(torch.float64) if value.dtype == torch.bool else value
    raise NotUniform(type(value).__name__)
