"""Sums of a linear form over rows, columns or both, counted by sorting.

``#{j : a_i > b_j}`` is where ``a_i`` falls in ``sort(b)``; a weighted count is a cumulative sum
of the weights in sorted order read at that position. Ties are kept exactly (``>`` searches
left, ``>=`` right), and NaN, which compares false with everything, is taken back out.
"""

from __future__ import annotations

import math

import torch

from .lazy import Lazy
from .linear import Linear, Term
from .node_ops import COMPARE
from .tensors import batched, comparable, is_floating, same_values


def _weights(factors: tuple, shape, dtype, device) -> torch.Tensor | None:
    """The product of ``factors`` broadcast to ``shape``, in ``dtype``; None for no factors."""
    if not factors:
        return None
    product = torch.ones((), dtype=dtype, device=device)
    for factor in factors:
        product = product * (factor.to(dtype) if isinstance(factor, torch.Tensor) else factor)
    return product.expand(shape)


def _sorted_side(col: torch.Tensor, cache: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(ordered values, their positions, NaN mask or None) of one side, sorted once per call:
    AUC's ``>`` and ``>=`` blocks search the same negatives. NaN sorts as +inf; the caller
    takes it out of the counts."""
    for source, found in cache.get("sorted", ()):
        if same_values(source, col):
            return found
    missing, values = None, col
    if col.is_floating_point():
        missing = torch.isnan(col)
        values = col.masked_fill(missing, math.inf)
    found = (*torch.sort(values, dim=-1), missing)
    cache.setdefault("sorted", []).append((col, found))
    return found


def _row_sums(term: Term, batch, dtype, cache: dict) -> torch.Tensor:
    """[*batch, M]: the sum over columns of the term's entries, in ``dtype`` (int64 or float64)."""
    outer = term.outer
    row, col = batched(*comparable(outer.row, outer.col), batch)
    device = row.device
    M, N = row.shape[-1], col.shape[-1]
    weights = _weights(term.cols, col.shape, dtype, device)
    ordered, order, missing = _sorted_side(col, cache)
    op = "eq" if outer.op == "ne" else outer.op  # != is everything but ==
    if weights is None:  # plain counts: the number of columns below a position is the position
        everything = torch.full((*batch, 1), N, dtype=dtype, device=device)
        total = everything

        def below(side):
            return torch.searchsorted(ordered, row, side=side).to(dtype)
    else:
        everything = weights.sum(-1, keepdim=True)
        kept = weights if missing is None else weights.masked_fill(missing, 0)
        prefix = torch.cat([torch.zeros((*batch, 1), dtype=dtype, device=device),
                            kept.gather(-1, order).cumsum(-1)], -1)
        total = prefix[..., -1:]

        def below(side):
            return prefix.gather(-1, torch.searchsorted(ordered, row, side=side))
    if op == "gt":
        count = below("left")
    elif op == "ge":
        count = below("right")
    elif op == "lt":
        count = total - below("right")
    elif op == "le":
        count = total - below("left")
    else:
        count = below("right") - below("left")
    if missing is not None:  # NaN compares false with everything (true with !=)
        if weights is None:  # counted as +inf above: take those counts back out
            count = count - missing.sum(-1, keepdim=True).to(dtype) * COMPARE[op](row, math.inf).to(dtype)
        count = count.masked_fill(torch.isnan(row), 0)
    if outer.op == "ne":
        count = everything - count
    if outer.negated:
        count = everything - count
    rows = _weights(term.rows, (*batch, M), dtype, device)
    return count if rows is None else count * rows


def _offset_sums(offset, dims: set[int], shape: torch.Size, dtype, device) -> torch.Tensor:
    """An offset ([..., M or 1, N or 1], or a number) summed over ``dims`` of ``shape`` (kept)."""
    value = offset.to(dtype) if isinstance(offset, torch.Tensor) else torch.tensor(offset, dtype=dtype, device=device)
    value = value.reshape((1,) * (len(shape) - value.dim()) + tuple(value.shape))
    for dim in sorted(dims):
        if value.shape[dim] == 1:
            value = value * shape[dim]
        else:
            value = value.sum(dim, keepdim=True)
    return value


def _accumulator(linear: Linear, result: torch.dtype) -> torch.dtype:
    exact = not result.is_floating_point and not result.is_complex
    values = [f for t in linear.terms for f in (*t.rows, *t.cols)] + list(linear.offsets)
    return torch.int64 if exact and not any(is_floating(v) for v in values) else torch.float64


def counted_sum(lazy: Lazy, dims: set[int], dtype: torch.dtype, cache: dict) -> torch.Tensor:
    """The sum of a linear form over ``dims`` (every dim kept, of size 1 where summed), in the
    accumulator for ``dtype``."""
    linear = lazy.linear
    shape = lazy.shape
    rank = len(shape)
    rows_dim, cols_dim = rank - 2, rank - 1
    batch = shape[:-2]
    acc = _accumulator(linear, dtype)
    total = torch.zeros((), dtype=acc, device=lazy.device)
    for term in linear.terms:
        if cols_dim in dims:
            sums = _row_sums(term, batch, acc, cache)[..., :, None]  # [*batch, M, 1]
            if rows_dim in dims:
                sums = sums.sum(-2, keepdim=True)
        elif rows_dim in dims:
            flipped = Term(term.outer.transposed(), term.cols, term.rows)
            sums = _row_sums(flipped, batch, acc, cache)[..., None, :]  # [*batch, 1, N]
        else:
            return None
        total = total + sums
    for offset in linear.offsets:
        total = total + _offset_sums(offset, {rows_dim, cols_dim} & dims, shape, acc, lazy.device)
    batch_dims = tuple(d for d in dims if d < rows_dim)
    if batch_dims:
        total = total.sum(batch_dims, keepdim=True)
    return total.expand([1 if d in dims else size for d, size in enumerate(shape)])
