"""Linear forms: a lazy value as a weighted sum of comparisons, which sorting can count.

``sum_i sum_j w_i v_j [a_i > b_j]`` plus offsets that vary along one side only is what AUC's mean,
AP's row sums and a rank's row count are. A form is kept while the ops on a lazy value are affine
(casts, sums of blocks, masks and weights from the targets, negation); its sums over rows,
columns or both are then counts (``counting.py``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .lazy import Outer


@dataclass(frozen=True)
class Term:
    outer: Outer
    rows: tuple = ()  # factors per row: numbers, or tensors [..., M or 1] (right-aligned to the batch)
    cols: tuple = ()  # factors per column: numbers, or tensors [..., N or 1]


@dataclass(frozen=True)
class Linear:
    terms: tuple[Term, ...]
    offsets: tuple = ()  # numbers, or tensors of rank >= 2 with dim -1 or -2 of size 1
    binary: bool = False  # every entry is 0 or 1 (one term; 0/1 factors; no offsets)

    def scaled(self, factor) -> Linear | None:
        """Times ``factor``: a number, or a tensor that varies along rows or columns only."""
        side = side_of(factor)
        if side is None:
            return None
        offsets = []
        for offset in self.offsets:
            product = offset * factor
            if isinstance(product, torch.Tensor) and side_of(product) is None:
                return None
            offsets.append(product)
        terms = []
        for term in self.terms:
            kind, vector = side
            if kind == "cols":
                terms.append(Term(term.outer, term.rows, (*term.cols, vector)))
            else:
                terms.append(Term(term.outer, (*term.rows, vector), term.cols))
        return Linear(tuple(terms), tuple(offsets))

    def plus(self, other: Linear, sign: int) -> Linear:
        if sign < 0:
            other = other.scaled(-1)
        return Linear(self.terms + other.terms, self.offsets + other.offsets)

    def shifted(self, offset, sign: int) -> Linear | None:
        if side_of(offset) is None:
            return None
        offset = -offset if sign < 0 else offset
        if isinstance(offset, torch.Tensor) and offset.dim() < 2:
            offset = offset.reshape((1,) * (2 - offset.dim()) + tuple(offset.shape))
        return Linear(self.terms, (*self.offsets, offset))


def side_of(value):
    """("rows", vector) or ("cols", vector) for a number or a tensor that broadcasts against
    [..., M, N] along one side only; None for one that varies along both."""
    if isinstance(value, bool):
        return ("rows", int(value))
    if isinstance(value, (int, float)):
        return ("rows", value)
    if not isinstance(value, torch.Tensor):
        return None
    if value.dim() == 0:
        return ("rows", value)
    if value.dim() == 1:
        return ("cols", value)
    if value.shape[-1] == 1:
        return ("rows", value[..., 0])
    if value.shape[-2] == 1:
        return ("cols", value[..., 0, :])
    return None


def pure_comparison(linear: Linear | None) -> Outer | None:
    """The comparison itself, when the form is one comparison without weights or offsets."""
    if linear is None or len(linear.terms) != 1 or linear.offsets:
        return None
    term = linear.terms[0]
    return term.outer if not term.rows and not term.cols else None
