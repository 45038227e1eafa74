"""Lazy values: comparison blocks that are never held whole unless an op needs every entry.

A comparison ``x[..., :, None] op y[..., None, :]`` over two long vectors is kept as its two
operands (``Outer``); a difference of two float vectors likewise (``Difference``, whose sign is a
comparison); element-wise ops on them as the op and its arguments (``Map``). Any of them can
give a slab of rows or columns, or itself whole, when an op cannot do without the entries.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable

import torch

from .linear import Linear, Term
from .node_ops import COMPARE, FLIPPED


class Lazy(ABC):
    """A tensor of ``shape`` (at least two dims: [..., M, N]) that is never held whole unless an
    op needs it. ``probe`` is the value at one entry (every dim of size 1): dtype and device,
    and a cheap run of an op to learn its result type. ``linear``: the value as a weighted sum of
    comparisons, when it is one. ``labels``: the blocks (or written comparisons) it comes from."""

    shape: torch.Size
    probe: torch.Tensor
    linear: Linear | None
    labels: frozenset

    @property
    def dtype(self) -> torch.dtype:
        return self.probe.dtype

    @property
    def device(self) -> torch.device:
        return self.probe.device

    @property
    def numel(self) -> int:
        return math.prod(self.shape)

    @abstractmethod
    def slab(self, dim: int, start: int, stop: int) -> torch.Tensor:
        """Entries ``start:stop`` along ``dim`` (-2: rows, -1: columns), every other dim whole."""

    def whole(self) -> torch.Tensor:
        return self.slab(-2, 0, self.shape[-2])

    @abstractmethod
    def relabelled(self, labels: frozenset) -> Lazy:
        """The same value, reported under ``labels`` (where its comparisons were written)."""


class Outer(Lazy):
    """``op(row[..., i], col[..., j])`` (negated when ``negated``) for every i, j: shape
    broadcast(row batch, col batch) + [M, N]."""

    def __init__(self, row: torch.Tensor, col: torch.Tensor, op: str, negated: bool = False,
                 labels: frozenset = frozenset()):
        self.row, self.col, self.op, self.negated = row, col, op, negated
        self.shape = torch.Size((*torch.broadcast_shapes(row.shape[:-1], col.shape[:-1]), row.shape[-1], col.shape[-1]))
        self.probe = torch.zeros((1,) * len(self.shape), dtype=torch.bool, device=row.device)
        self.labels = labels
        self.linear = Linear((Term(self),), (), True)

    def slab(self, dim: int, start: int, stop: int) -> torch.Tensor:
        row, col = _sliced(self.row, self.col, dim, start, stop)
        value = COMPARE[self.op](row[..., :, None], col[..., None, :])
        return ~value if self.negated else value

    def relabelled(self, labels: frozenset) -> Outer:
        return Outer(self.row, self.col, self.op, self.negated, labels)

    def transposed(self) -> Outer:
        return Outer(self.col, self.row, FLIPPED[self.op], self.negated, self.labels)

    def inverted(self) -> Outer:
        return Outer(self.row, self.col, self.op, not self.negated, self.labels)


class Difference(Lazy):
    """``row[..., i] - col[..., j]`` (``col - row`` when not ``lhs_row``) of floating vectors.
    ``> 0`` and ``< 0`` of it are comparisons of the two vectors, as the lowering of
    ``sign(pos[:, None] - neg[None, :])`` reads it: rounding keeps the sign, finite floats subtract
    to zero only when equal, and infinities or NaN that subtract to NaN compare false either way.
    (``>= 0`` is not ``>=``: ``inf - inf`` is NaN.)"""

    def __init__(self, row: torch.Tensor, col: torch.Tensor, lhs_row: bool, labels: frozenset = frozenset()):
        self.row, self.col, self.lhs_row = row, col, lhs_row
        self.shape = torch.Size((*torch.broadcast_shapes(row.shape[:-1], col.shape[:-1]), row.shape[-1], col.shape[-1]))
        probe_row, probe_col = probe_of(row).reshape(()), probe_of(col).reshape(())
        self.probe = (probe_row - probe_col if lhs_row else probe_col - probe_row).reshape((1,) * len(self.shape))
        self.labels = labels
        self.linear = None

    def slab(self, dim: int, start: int, stop: int) -> torch.Tensor:
        row, col = _sliced(self.row, self.col, dim, start, stop)
        return row[..., :, None] - col[..., None, :] if self.lhs_row else col[..., None, :] - row[..., :, None]

    def relabelled(self, labels: frozenset) -> Difference:
        return Difference(self.row, self.col, self.lhs_row, labels)

    def compared(self, op: str) -> Outer | None:
        """``self op 0`` as a comparison of the two vectors, for ``>`` and ``<``."""
        if op not in ("gt", "lt"):
            return None
        return Outer(self.row, self.col, op if self.lhs_row else FLIPPED[op], labels=self.labels)


class Map(Lazy):
    """An element-wise op on lazy values, concrete tensors that broadcast against them and
    numbers: computed slab by slab."""

    def __init__(self, fn: Callable, args: tuple, kwargs: dict, probe: torch.Tensor, shape: torch.Size,
                 linear: Linear | None, labels: frozenset):
        self.fn, self.args, self.kwargs = fn, args, kwargs
        self.probe, self.shape, self.linear, self.labels = probe, shape, linear, labels

    def slab(self, dim: int, start: int, stop: int) -> torch.Tensor:
        def part(value):
            if isinstance(value, Lazy):
                return value.slab(dim, start, stop) if value.shape[dim] != 1 else value.slab(dim, 0, 1)
            if isinstance(value, torch.Tensor) and value.dim() >= -dim and value.shape[dim] != 1:
                return value.narrow(dim, start, stop - start)
            return value

        return self.fn(*map_values(self.args, part), **map_values(self.kwargs, part))

    def relabelled(self, labels: frozenset) -> Map:
        return Map(self.fn, self.args, self.kwargs, self.probe, self.shape, self.linear, labels)


def map_values(value, fn):
    if isinstance(value, tuple):
        return tuple(map_values(v, fn) for v in value)
    if isinstance(value, list):
        return [map_values(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: map_values(v, fn) for k, v in value.items()}
    return fn(value)


def lazies_in(value) -> list[Lazy]:
    found = []
    map_values(value, lambda v: found.append(v) if isinstance(v, Lazy) else None)
    return found


def probe_of(value):
    """An argument as its probe: a lazy value's, a tensor's first entry (every dim kept)."""
    if isinstance(value, Lazy):
        return value.probe
    if isinstance(value, torch.Tensor) and value.dim() > 0:
        return value[(slice(0, 1),) * value.dim()]
    return value


def flat_values(value) -> list:
    found = []
    map_values(value, found.append)
    return found


def outer_operands(lhs, rhs):
    """(row, col, lhs is the row side) when ``lhs op rhs`` compares every entry of one vector
    with every entry of another: [..., M, 1] against [..., 1, N], either way round."""
    if not (isinstance(lhs, torch.Tensor) and isinstance(rhs, torch.Tensor)):
        return None
    rank = max(lhs.dim(), rhs.dim())
    if rank < 2:
        return None
    lhs = lhs.reshape((1,) * (rank - lhs.dim()) + tuple(lhs.shape))
    rhs = rhs.reshape((1,) * (rank - rhs.dim()) + tuple(rhs.shape))
    if lhs.shape[-1] == 1 and rhs.shape[-2] == 1:
        return lhs[..., 0], rhs[..., 0, :], True
    if lhs.shape[-2] == 1 and rhs.shape[-1] == 1:
        return rhs[..., 0], lhs[..., 0, :], False
    return None


def _sliced(row: torch.Tensor, col: torch.Tensor, dim: int, start: int, stop: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The two vectors of an outer block with the slab ``start:stop`` of its rows (``dim`` -2) or
    of its columns taken."""
    return (row[..., start:stop], col) if dim == -2 else (row, col[..., start:stop])
