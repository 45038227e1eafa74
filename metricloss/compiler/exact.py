"""The exact value at validation sizes: comparison blocks that are never held whole.

``metric(scores, *targets)`` is ``g`` at the hard binaries. Written out, AUC's block
``pos[:, None] > neg[None, :]`` over 30,000 samples is a [P, N] tensor of 2 * 10^8 entries (GBs
and tens of seconds), where scikit-learn sorts the scores. Most blocks are *outer comparisons*,
one vector along the rows and one along the columns, and most metrics read them only through
sums (AUC a mean, AP row sums, ranks a row sum). Such a sum is a count:

    #{j : a_i > b_j} = searchsorted(sort(b), a_i, side="left")     (>=: side="right")

row sums are that for every ``i``, column sums the same search the other way round, the whole
block's sum their total, and masks from the targets weight the counts (a cumulative sum of the
weights in sorted order). Sorting keeps torch's comparisons exactly, ties included.

The evaluator runs the metric's generated modules node by node (an ``fx.Interpreter``): the
pairs module without differences and masks (``codegen.values_graph``), then ``g``. A comparison
whose operands form an outer product ``x[..., :, None] op y[..., None, :]`` and which would have
at least ``dense_below`` entries is not computed: it stays a ``Lazy`` value. Ops on lazy values
are followed as far as they can be:

- element-wise ops (casts, sums of blocks, masks and weights from the targets, negation) build a
  new lazy value, and keep a *linear form* (a weighted sum of comparisons) while the op is affine;
- a sum or mean over the block's rows, columns or both of a linear form is counted by sorting,
  O(N log N) (``all``/``any``/``count_nonzero`` of a 0/1 form too);
- ``argmax``/``argmin`` along one side of an (integer) comparison, the first entry that matches,
  is a sorted search (ranks turned back into an order by hand: positions compared with ranks);
- ``beats(lhs, rhs, tie_wins)`` with a tie rule that is itself an outer comparison (ranks of a
  stable sort: ties in index order) is one comparison of combined integer keys;
- any other reduction is computed a slab of rows (or columns) at a time: memory bounded by
  ``chunk`` entries, the time still that of the whole block;
- anything else (a reshape, a cumulative sum, indexing) gets the block whole, as before.

Which of these each block took is reported (``Evaluation``). An error on the way sends the batch
through the written path (``Program.pairs`` then ``Program.value``), so a batch the metric
refuses is refused with the same message as ever.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from types import SimpleNamespace
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import torch
import torch.fx as fx

from . import ops
from .rewrites import count_true
from .trace.locations import LOCATION

# Blocks with fewer entries than this are computed as written: they cost less than the sorting.
DENSE_BELOW = 1 << 16
# Entries of one slab of a block computed in chunks (CPU; CUDA's are GPU_FACTOR times larger, as
# in ``loss/sizes.py``: the caching allocator keeps memory, and each slab costs launches).
CHUNK = 1 << 22
GPU_FACTOR = 16

# How a block's binaries were read, from cheapest to costliest; a block read in several ways
# reports the costliest.
DIRECT = "direct"  # below dense_below, or not an outer comparison: computed as written
COUNTED = "counted"  # sums of it counted by sorting, never held
SEARCHED = "searched"  # its first matching entry along one side found by a sorted search
CHUNKED = "chunked"  # held a slab of rows or columns at a time
WHOLE = "whole"  # held whole: an op the evaluator cannot do on slabs
UNREAD = "unread"
_COST = {UNREAD: 0, COUNTED: 1, SEARCHED: 2, CHUNKED: 3, WHOLE: 4}
READS = (DIRECT, COUNTED, SEARCHED, CHUNKED, WHOLE, UNREAD)


@dataclass(frozen=True)
class Evaluation:
    """One batch's exact value and how it was computed.

    ``blocks``: per block of the program (``b0``, ``b1``, ...), one of ``READS``. ``comparisons``:
    other comparisons in the metric large enough to be kept lazy (the positions of ``sort_order``,
    say), by where they were written. ``fallback``: why the batch went through the written path
    instead (an error the metric's own code raises on this batch, then raised again there).
    """

    value: torch.Tensor
    blocks: tuple[str, ...]
    comparisons: Mapping[str, str] = field(default_factory=dict)
    fallback: str | None = None


# --------------------------------------------------------------------------------------------
# Op names. A node's target (a function, or a method's name) -> one name per kind of op.

def _table(**groups) -> dict:
    table = {}
    for name, targets in groups.items():
        for target in targets:
            table[target] = name
    return table


_COMPARISONS = _table(
    gt=(operator.gt, torch.gt, torch.greater, "gt", "greater", "__gt__"),
    ge=(operator.ge, torch.ge, torch.greater_equal, "ge", "greater_equal", "__ge__"),
    lt=(operator.lt, torch.lt, torch.less, "lt", "less", "__lt__"),
    le=(operator.le, torch.le, torch.less_equal, "le", "less_equal", "__le__"),
    eq=(operator.eq, torch.eq, "eq", "__eq__"),
    ne=(operator.ne, torch.ne, torch.not_equal, "ne", "not_equal", "__ne__"),
)
_FLIPPED = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge", "eq": "eq", "ne": "ne"}
_NEGATED = {"gt": "le", "ge": "lt", "lt": "ge", "le": "gt", "eq": "ne", "ne": "eq"}
_COMPARE = {"gt": torch.gt, "ge": torch.ge, "lt": torch.lt, "le": torch.le, "eq": torch.eq, "ne": torch.ne}

# Element-wise ops the evaluator follows on lazy values; the affine ones keep a linear form.
_ELEMENTWISE = _table(
    cast=("float", "double", "half", "bfloat16", "long", "int", "short", "bool", "byte", "to", "type"),
    neg=(operator.neg, torch.neg, torch.negative, "neg", "negative", "__neg__"),
    invert=(operator.invert, torch.logical_not, torch.bitwise_not, "logical_not", "bitwise_not", "__invert__"),
    add=(operator.add, torch.add, "add", "__add__", "__radd__"),
    sub=(operator.sub, torch.sub, torch.subtract, "sub", "subtract", "__sub__", "__rsub__"),
    mul=(operator.mul, torch.mul, torch.multiply, "mul", "multiply", "__mul__", "__rmul__"),
    div=(operator.truediv, torch.div, torch.true_divide, "div", "true_divide", "__truediv__"),
    and_=(operator.and_, torch.logical_and, torch.bitwise_and, "logical_and", "bitwise_and", "__and__"),
    or_=(operator.or_, torch.logical_or, torch.bitwise_or, "logical_or", "bitwise_or", "__or__"),
    other=(operator.xor, operator.floordiv, operator.mod, operator.pow, operator.abs,
           torch.logical_xor, torch.bitwise_xor, torch.where,
           torch.maximum, torch.minimum, torch.clamp, torch.clip, torch.abs, torch.exp, torch.log,
           torch.sigmoid, torch.tanh, torch.sqrt, torch.pow, torch.floor_divide, torch.remainder,
           torch.isnan, torch.isfinite, torch.sign, torch.square, torch.reciprocal, torch.rsub,
           "logical_xor", "bitwise_xor", "__xor__", "__ror__",
           "__rand__", "__rxor__", "__floordiv__", "__mod__", "__pow__", "__rpow__", "__rtruediv__",
           "__abs__", "where", "maximum", "minimum", "clamp", "clip", "clamp_min", "clamp_max", "abs",
           "exp", "log", "sigmoid", "tanh", "sqrt", "pow", "floor_divide", "remainder", "isnan",
           "isfinite", "sign", "square", "reciprocal", "masked_fill", torch.masked_fill, "type_as"),
)
_ELEMENTWISE.update({target: "compare" for target in _COMPARISONS})
_REDUCTIONS = _table(
    sum=(torch.sum, "sum"), mean=(torch.mean, "mean"), count_nonzero=(torch.count_nonzero, "count_nonzero"),
    all=(torch.all, "all"), any=(torch.any, "any"), amax=(torch.amax, "amax"), amin=(torch.amin, "amin"),
    max=(torch.max, "max"), min=(torch.min, "min"), argmax=(torch.argmax, "argmax"),
    argmin=(torch.argmin, "argmin"),
)
_SUBTRACTIONS = {operator.sub, torch.sub, torch.subtract, "sub", "subtract", "__sub__"}
_IDENTITIES = {"contiguous", "clone", "detach", torch.clone, ops.hard_only}
_ATTRIBUTES = {"shape", "dtype", "device", "ndim", "is_cuda"}
_SHAPE_METHODS = {"size", "dim", "ndimension", "numel", torch.numel}
_NEW = {"new_zeros", "new_ones", "new_full", "new_empty", "new_tensor"}


def _name(table: dict, target) -> str | None:
    try:
        return table.get(target)
    except TypeError:  # an unhashable target
        return None


# --------------------------------------------------------------------------------------------
# Lazy values


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
        row, col = self.row, self.col
        if dim == -2:
            row = row[..., start:stop]
        else:
            col = col[..., start:stop]
        value = _COMPARE[self.op](row[..., :, None], col[..., None, :])
        return ~value if self.negated else value

    def relabelled(self, labels: frozenset) -> Outer:
        return Outer(self.row, self.col, self.op, self.negated, labels)

    def transposed(self) -> Outer:
        return Outer(self.col, self.row, _FLIPPED[self.op], self.negated, self.labels)

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
        probe_row, probe_col = _probe_of(row).reshape(()), _probe_of(col).reshape(())
        self.probe = (probe_row - probe_col if lhs_row else probe_col - probe_row).reshape((1,) * len(self.shape))
        self.labels = labels
        self.linear = None

    def slab(self, dim: int, start: int, stop: int) -> torch.Tensor:
        row, col = self.row, self.col
        if dim == -2:
            row = row[..., start:stop]
        else:
            col = col[..., start:stop]
        return row[..., :, None] - col[..., None, :] if self.lhs_row else col[..., None, :] - row[..., :, None]

    def relabelled(self, labels: frozenset) -> Difference:
        return Difference(self.row, self.col, self.lhs_row, labels)

    def compared(self, op: str) -> Outer | None:
        """``self op 0`` as a comparison of the two vectors, for ``>`` and ``<``."""
        if op not in ("gt", "lt"):
            return None
        return Outer(self.row, self.col, op if self.lhs_row else _FLIPPED[op], labels=self.labels)


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

        return self.fn(*_map_values(self.args, part), **_map_values(self.kwargs, part))

    def relabelled(self, labels: frozenset) -> Map:
        return Map(self.fn, self.args, self.kwargs, self.probe, self.shape, self.linear, labels)


def _map_values(value, fn):
    if isinstance(value, tuple):
        return tuple(_map_values(v, fn) for v in value)
    if isinstance(value, list):
        return [_map_values(v, fn) for v in value]
    if isinstance(value, dict):
        return {k: _map_values(v, fn) for k, v in value.items()}
    return fn(value)


def _lazies(value) -> list[Lazy]:
    found = []
    _map_values(value, lambda v: found.append(v) if isinstance(v, Lazy) else None)
    return found


def _probe_of(value):
    """An argument as its probe: a lazy value's, a tensor's first entry (every dim kept)."""
    if isinstance(value, Lazy):
        return value.probe
    if isinstance(value, torch.Tensor) and value.dim() > 0:
        return value[(slice(0, 1),) * value.dim()]
    return value


# --------------------------------------------------------------------------------------------
# Linear forms: sum over terms of row weights x column weights x comparison, plus offsets that
# vary along one side only.


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
        side = _side(factor)
        if side is None:
            return None
        offsets = []
        for offset in self.offsets:
            product = offset * factor
            if isinstance(product, torch.Tensor) and _side(product) is None:
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
        if _side(offset) is None:
            return None
        offset = -offset if sign < 0 else offset
        if isinstance(offset, torch.Tensor) and offset.dim() < 2:
            offset = offset.reshape((1,) * (2 - offset.dim()) + tuple(offset.shape))
        return Linear(self.terms, (*self.offsets, offset))


def _side(value):
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


def _pure(linear: Linear | None) -> Outer | None:
    """The comparison itself, when the form is one comparison without weights or offsets."""
    if linear is None or len(linear.terms) != 1 or linear.offsets:
        return None
    term = linear.terms[0]
    return term.outer if not term.rows and not term.cols else None


def _is_floating(value) -> bool:
    return isinstance(value, float) or isinstance(value, torch.Tensor) and (
        value.is_floating_point() or value.is_complex())


def _map_linear(name: str, target, args: tuple, kwargs: dict, probe: torch.Tensor) -> Linear | None:
    """The linear form of an element-wise op's result, or None when it has none."""
    if kwargs and not (name == "cast" and set(kwargs) <= {"dtype"}):
        return None
    lazy = [a for a in args if isinstance(a, Lazy)]
    forms = [a.linear for a in lazy]
    if any(f is None for f in forms) or not lazy:
        return None
    source = lazy[0]
    if name == "cast":
        if len(lazy) != 1 or args[0] is not source:
            return None
        if forms[0].binary:
            return forms[0]
        floats = (torch.float32, torch.float64)
        if probe.dtype in floats and source.dtype in (*floats, torch.int64, torch.int32):
            return Linear(forms[0].terms, forms[0].offsets)
        return None
    if len(args) == 1 and name == "neg" and probe.dtype != torch.bool:
        return forms[0].scaled(-1)
    if len(args) == 1 and name == "invert" and probe.dtype == torch.bool:
        outer = _pure(forms[0])
        if outer is None or (target in ("bitwise_not", torch.bitwise_not, operator.invert, "__invert__")
                             and source.dtype != torch.bool):
            return None
        return Linear((Term(outer.inverted()),), (), True)
    if len(args) != 2:
        return None
    first, second = args
    if name in ("add", "sub") and probe.dtype != torch.bool:
        sign = -1 if name == "sub" else 1
        if target in ("__rsub__",):
            return None
        if isinstance(first, Lazy) and isinstance(second, Lazy):
            return first.linear.plus(second.linear, sign)
        if isinstance(first, Lazy):
            return first.linear.shifted(second, sign)
        shifted = second.linear.scaled(sign)
        return None if shifted is None else shifted.shifted(first, 1)
    if name == "mul" and probe.dtype != torch.bool and len(lazy) == 1:
        other = second if first is source else first
        return source.linear.scaled(other)
    if name == "div" and len(lazy) == 1 and first is source and not isinstance(second, Lazy):
        if isinstance(second, torch.Tensor):
            reciprocal = 1 / second.to(torch.float64)
        elif isinstance(second, (int, float)) and not isinstance(second, bool) and second != 0:
            reciprocal = 1.0 / second
        else:
            return None
        return source.linear.scaled(reciprocal)
    if name in ("and_", "or_", "mul") and probe.dtype == torch.bool and len(lazy) == 2:
        return _combined(forms[0], forms[1], "or_" if name == "or_" else "and_")
    if (name == "and_" or name == "mul") and probe.dtype == torch.bool and len(lazy) == 1:
        other = second if first is source else first
        logical = target in (torch.logical_and, "logical_and")
        if source.dtype != torch.bool or not forms[0].binary or len(forms[0].terms) != 1 or forms[0].offsets:
            return None
        if isinstance(other, torch.Tensor):
            if other.dtype != torch.bool and not logical:
                return None
            mask = other != 0
        elif isinstance(other, bool):
            mask = other
        else:
            return None
        scaled = forms[0].scaled(mask)
        return None if scaled is None else Linear(scaled.terms, (), True)
    return None


# The outcomes (below, equal, above) for which each comparison holds: ``a >= b & a <= b`` is
# ``a == b``, ``a > b | a < b`` is ``a != b``.
_OUTCOMES = {"gt": {1}, "ge": {0, 1}, "lt": {-1}, "le": {-1, 0}, "eq": {0}, "ne": {-1, 1}}


def _same(a: torch.Tensor, b: torch.Tensor) -> bool:
    """The same values: one tensor, or views of the same memory laid out alike."""
    return a is b or (a.dtype == b.dtype and a.device == b.device and a.shape == b.shape
                      and a.stride() == b.stride() and a.data_ptr() == b.data_ptr())


def _combined(first: Linear, second: Linear, how: str) -> Linear | None:
    """``a & b`` or ``a | b`` of two comparisons of the same two vectors, as one comparison."""
    a, b = _pure(first), _pure(second)
    if a is None or b is None or a.negated or b.negated or not (_same(a.row, b.row) and _same(a.col, b.col)):
        return None
    outcomes = _OUTCOMES[a.op] & _OUTCOMES[b.op] if how == "and_" else _OUTCOMES[a.op] | _OUTCOMES[b.op]
    op = next((name for name, held in _OUTCOMES.items() if held == outcomes), None)
    if op is None:
        return None
    # NaN satisfies only !=: the combination must treat it as the single comparison does.
    nan = (a.op == "ne") and (b.op == "ne") if how == "and_" else (a.op == "ne") or (b.op == "ne")
    if nan != (op == "ne") and (a.row.is_floating_point() or a.col.is_floating_point()):
        return None
    return Linear((Term(Outer(a.row, a.col, op, labels=a.labels | b.labels)),), (), True)


# --------------------------------------------------------------------------------------------
# Counting by sorting


def _comparable(row: torch.Tensor, col: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sides in the dtype torch compares them in, bool as uint8 (sorts and searches need
    a number)."""
    dtype = torch.promote_types(row.dtype, col.dtype)
    if dtype == torch.bool:
        dtype = torch.uint8
    return row.to(dtype), col.to(dtype)


def _batched(row: torch.Tensor, col: torch.Tensor, batch) -> tuple[torch.Tensor, torch.Tensor]:
    return (row.expand(*batch, row.shape[-1]).contiguous(), col.expand(*batch, col.shape[-1]).contiguous())


def _weights(factors: tuple, shape, dtype, device) -> torch.Tensor | None:
    """The product of ``factors`` broadcast to ``shape``, in ``dtype``; None for no factors."""
    if not factors:
        return None
    product = torch.ones((), dtype=dtype, device=device)
    for factor in factors:
        product = product * (factor.to(dtype) if isinstance(factor, torch.Tensor) else factor)
    return product.expand(shape)


def _sorted(col: torch.Tensor, cache: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """(ordered values, their positions, NaN mask or None) of one side, sorted once per call:
    AUC's ``>`` and ``>=`` blocks search the same negatives. NaN sorts as +inf; the caller
    takes it out of the counts."""
    for source, found in cache.get("sorted", ()):
        if _same(source, col):
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
    row, col = _batched(*_comparable(outer.row, outer.col), batch)
    device = row.device
    M, N = row.shape[-1], col.shape[-1]
    weights = _weights(term.cols, col.shape, dtype, device)
    ordered, order, missing = _sorted(col, cache)
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
            count = count - missing.sum(-1, keepdim=True).to(dtype) * _COMPARE[op](row, math.inf).to(dtype)
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
    return torch.int64 if exact and not any(_is_floating(v) for v in values) else torch.float64


def _counted_sum(lazy: Lazy, dims: set[int], dtype: torch.dtype, cache: dict) -> torch.Tensor:
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


# --------------------------------------------------------------------------------------------
# Searching: the first entry along one side where a comparison holds


def _first_match(outer: Outer, along: int, batch) -> torch.Tensor | None:
    """For every column (along=-2) or row (along=-1), the index of the first entry along the
    other side where the (integer) comparison holds, 0 where none does: what ``argmax`` of the
    block (cast to numbers) gives. None for floating operands or ``!=``."""
    if along == -1:
        outer = outer.transposed()
    row, col = _batched(*_comparable(outer.row, outer.col), batch)
    if row.is_floating_point() or row.is_complex():
        return None
    op = _NEGATED[outer.op] if outer.negated else outer.op
    M = row.shape[-1]
    if op == "ne":
        return None
    if op in ("lt", "le"):
        row, col = -row.to(torch.int64), -col.to(torch.int64)
        op = "gt" if op == "lt" else "ge"
    if op == "eq":
        ordered, order = torch.sort(row, dim=-1, stable=True)
        position = torch.searchsorted(ordered, col, side="left")
        clamped = position.clamp_max(M - 1)
        found = (position < M) & (ordered.gather(-1, clamped) == col)
        return torch.where(found, order.gather(-1, clamped), 0)
    # The first i with row_i > c is the first i where the running maximum passes c.
    running = torch.cummax(row, dim=-1).values
    position = torch.searchsorted(running, col, side="right" if op == "gt" else "left")
    return torch.where(position < M, position, 0)


# --------------------------------------------------------------------------------------------
# beats(lhs, rhs, tie_wins) with an outer tie rule: one comparison of combined integer keys


def _dense_ranks(values: torch.Tensor) -> torch.Tensor:
    """Ranks 0, 1, ... of ``values`` along the last dim, equal values equal ranks."""
    ordered, order = torch.sort(values, dim=-1)
    new = torch.cat([torch.ones_like(ordered[..., :1], dtype=torch.bool), ordered[..., 1:] != ordered[..., :-1]], -1)
    ranks = new.cumsum(-1) - 1
    return torch.empty_like(ranks).scatter_(-1, order, ranks)


def _keyed(lhs_row: bool, row: torch.Tensor, col: torch.Tensor, tie, labels) -> Outer | None:
    """``beats`` as one comparison: ``row_i > col_j`` (``col_j > row_i`` unless ``lhs_row``),
    a tie won where ``tie`` holds."""
    row, col = _comparable(row, col)
    if not lhs_row:  # col_j > row_i is -row_i > -col_j
        if row.dtype == torch.uint8:
            row, col = row.to(torch.int64), col.to(torch.int64)
        row, col = -row, -col
    if isinstance(tie, (bool, torch.Tensor)) and not isinstance(tie, Lazy):
        if isinstance(tie, torch.Tensor) and tie.dim() != 0:
            return None
        return Outer(row, col, "ge" if bool(tie) else "gt", labels=labels) if isinstance(tie, bool) else None
    if not isinstance(tie, Outer) or tie.shape[-2:] != (row.shape[-1], col.shape[-1]):
        return None
    p, q = _comparable(tie.row, tie.col)
    if p.is_floating_point() and tie.negated:
        return None
    op = _NEGATED[tie.op] if tie.negated else tie.op
    if op not in ("gt", "ge", "lt", "le"):
        return None
    if op in ("lt", "le"):
        p, q = -p.to(torch.int64), -q.to(torch.int64)
    batch = torch.broadcast_shapes(row.shape[:-1], col.shape[:-1], p.shape[:-1], q.shape[:-1])
    row, col = _batched(row, col, batch)
    p, q = _batched(p, q, batch)
    M, N = row.shape[-1], col.shape[-1]
    values = _dense_ranks(torch.cat([row, col], -1))
    keys = _dense_ranks(torch.cat([p, q], -1))
    size = M + N
    combined = values * size + keys
    row_keys, col_keys = combined[..., :M], combined[..., M:]
    if row.is_floating_point():  # NaN beats nothing and is beaten by nothing
        row_keys = row_keys.masked_fill(torch.isnan(row), -1)
        col_keys = col_keys.masked_fill(torch.isnan(col), size * size)
    return Outer(row_keys, col_keys, "ge" if op in ("ge", "le") else "gt", labels=labels)


def _outer_operands(lhs, rhs):
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


# --------------------------------------------------------------------------------------------
# The interpreter


def _concrete_call(node: fx.Node, args: tuple, kwargs: dict):
    if node.op == "call_method":
        self, *rest = args
        return getattr(self, node.target)(*rest, **kwargs)
    return node.target(*args, **kwargs)


def _normal_dims(dim, rank: int) -> set[int] | None:
    if dim is None:
        return set(range(rank))
    if isinstance(dim, int) and not isinstance(dim, bool):
        dims = (dim,)
    elif isinstance(dim, (tuple, list)) and dim and all(isinstance(d, int) for d in dim):
        dims = tuple(dim)
    else:
        return None
    if any(not -rank <= d < rank for d in dims):
        return None
    return {d % rank for d in dims}


class _Run:
    """One evaluation: the settings and what each lazy value went through."""

    def __init__(self, dense_below: int, chunk: int):
        self.dense_below = dense_below
        self.chunk = chunk
        self.reads: dict = {}
        self.cache: dict = {}  # sides already sorted in this evaluation

    def mark(self, lazy: Lazy, how: str) -> None:
        for label in lazy.labels:
            if _COST[how] > _COST[self.reads.get(label, UNREAD)]:
                self.reads[label] = how

    def chunk_for(self, device: torch.device) -> int:
        return self.chunk if device.type == "cpu" else self.chunk * GPU_FACTOR


class _Interpreter(fx.Interpreter):
    def __init__(self, module: fx.GraphModule, run: _Run):
        super().__init__(module, garbage_collect_values=True)
        self.state = run

    def run_node(self, n: fx.Node):
        if n.op not in ("call_function", "call_method"):
            return super().run_node(n)
        with self._set_current_node(n):
            args, kwargs = self.fetch_args_kwargs_from_env(n)
            lazy = _lazies((args, kwargs))
            if not lazy:
                made = self._made_lazy(n, args, kwargs)
                return made if made is not None else _concrete_call(n, args, kwargs)
            return self._on_lazy(n, args, kwargs, lazy)

    # A comparison that would be large and is an outer product stays lazy.
    def _made_lazy(self, node: fx.Node, args: tuple, kwargs: dict) -> Lazy | None:
        target = node.target
        if target is ops.beats:
            if kwargs or len(args) != 3:
                return None
            op, (lhs, rhs, tie) = "beats", args
        else:
            op = _name(_COMPARISONS, target) or ("sub" if target in _SUBTRACTIONS else None)
            if op is None or kwargs or len(args) != 2:
                return None
            lhs, rhs = args
        found = _outer_operands(lhs, rhs)
        if found is None:
            return None
        if op == "sub" and not (found[0].is_floating_point() and found[1].is_floating_point()):
            return None  # integers may wrap around: their difference is not their comparison
        row, col, lhs_row = found
        shape = torch.broadcast_shapes(lhs.shape, rhs.shape)
        if math.prod(shape) < self.state.dense_below or math.prod(shape) == 0:
            return None
        labels = frozenset({_where(node)})
        if target is ops.beats:
            return _keyed(lhs_row, row, col, tie, labels)
        if op == "sub":
            return Difference(row, col, lhs_row, labels)
        return Outer(row, col, op if lhs_row else _FLIPPED[op], labels=labels)

    def _on_lazy(self, node: fx.Node, args: tuple, kwargs: dict, lazy: list[Lazy]):
        target = node.target
        subject = args[0] if args else None
        if node.op == "call_function" and target is getattr and isinstance(subject, Lazy):
            if args[1] in _ATTRIBUTES:
                return {"shape": subject.shape, "dtype": subject.dtype, "device": subject.device,
                        "ndim": len(subject.shape), "is_cuda": subject.device.type == "cuda"}[args[1]]
        if isinstance(subject, Lazy) and len(lazy) == 1:
            if target in _SHAPE_METHODS:
                stand_in = torch.empty(subject.shape, dtype=subject.dtype, device="meta")
                return _concrete_call(node, (stand_in, *args[1:]), kwargs)
            if target in _NEW:
                return _concrete_call(node, (subject.probe, *args[1:]), kwargs)
            if target in _IDENTITIES and len(args) == 1 and not kwargs:
                return subject
            if target in ("movedim", torch.movedim) and len(args) == 3 and not kwargs and all(
                    isinstance(a, int) for a in args[1:]) and args[1] % len(subject.shape) == args[2] % len(subject.shape):
                return subject
            if target in ("expand_as",) and len(args) == 2 and isinstance(args[1], torch.Tensor) \
                    and args[1].shape == subject.shape:
                return subject
        if target is ops.beats and len(args) == 3 and not kwargs and not isinstance(args[0], Lazy) \
                and not isinstance(args[1], Lazy):
            found = _outer_operands(args[0], args[1])
            if found is not None:
                keyed = _keyed(found[2], found[0], found[1], args[2], frozenset({_where(node)}))
                if keyed is not None:
                    return keyed
        compared = _name(_COMPARISONS, target)
        if compared is not None and len(args) == 2 and not kwargs:
            zero = [isinstance(a, (int, float)) and not isinstance(a, bool) and a == 0 for a in args]
            found = None
            if isinstance(args[0], Difference) and zero[1]:
                found = args[0].compared(compared)
            elif isinstance(args[1], Difference) and zero[0]:
                found = args[1].compared(_FLIPPED[compared])
            if found is not None:
                return found
        if target is count_true and isinstance(subject, Lazy) and len(lazy) == 1 and not kwargs:
            # the rank rewrites' row count: a sum over the last dim, as a long tensor
            as_sum = SimpleNamespace(op="call_method", target="sum", meta=node.meta, name=node.name)
            done = self._reduce(as_sum, "sum", (args[0], -1), {}, subject)
            if isinstance(done, torch.Tensor):
                return done.long()
        reduction = _name(_REDUCTIONS, target)
        if reduction is not None and isinstance(subject, Lazy) and len(lazy) == 1:
            done = self._reduce(node, reduction, args, kwargs, subject)
            if done is not NotImplemented:
                return done
        elementwise = _name(_ELEMENTWISE, target) or (
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
        args, kwargs = _map_values((args, kwargs), lambda v: whole[id(v)] if isinstance(v, Lazy) else v)
        return _concrete_call(node, args, kwargs)

    def _map(self, node, name, args, kwargs, lazy) -> Lazy | None:
        tensors = [a for a in _flat_values((args, kwargs)) if isinstance(a, (torch.Tensor, Lazy))]
        if any(isinstance(t, torch.Tensor) and t.numel() == 0 for t in tensors):
            return None
        try:
            shape = torch.broadcast_shapes(*(t.shape for t in tensors))
        except RuntimeError:
            return None
        if len(shape) < 2 or shape[-2:] != lazy[0].shape[-2:]:
            return None
        probe_args, probe_kwargs = _map_values((args, kwargs), _probe_of)
        probe = _concrete_call(node, probe_args, probe_kwargs)
        if not isinstance(probe, torch.Tensor) or probe.dim() != len(shape):
            return None
        linear = _map_linear(name, node.target, args, kwargs, probe)
        if linear is not None and any(t.outer.shape[-2:] != shape[-2:] for t in linear.terms):
            linear = None

        def fn(*a, **k):
            return _concrete_call(node, a, k)

        labels = frozenset().union(*(v.labels for v in lazy))
        return Map(fn, args, kwargs, probe, torch.Size(shape), linear, labels)

    def _reduce(self, node, name, args, kwargs, subject: Lazy):
        rank = len(subject.shape)
        if name in ("max", "min") and len(args) > 1 and isinstance(args[1], (torch.Tensor, Lazy)):
            return NotImplemented  # the element-wise maximum of two tensors
        dim = args[1] if len(args) > 1 else kwargs.get("dim")
        keepdim = args[2] if len(args) > 2 else kwargs.get("keepdim", False)
        extra = set(kwargs) - {"dim", "keepdim", "dtype"}
        if len(args) > 3 or extra or not isinstance(keepdim, bool):
            return NotImplemented
        dims = _normal_dims(dim, rank)
        if dims is None:
            return NotImplemented
        try:  # the result's dtype (and torch's own error for a reduction the dtype does not take)
            probe = _concrete_call(node, (subject.probe, *args[1:]), kwargs)
        except (RuntimeError, TypeError):
            return NotImplemented
        linear = subject.linear
        last = {rank - 2, rank - 1}
        counted = None
        if name in ("sum", "mean") and linear is not None and dims & last and isinstance(probe, torch.Tensor):
            counted = self._counted(subject, name, dims, probe.dtype)
        elif name in ("all", "any", "count_nonzero") and linear is not None and linear.binary and dims & last \
                and isinstance(probe, torch.Tensor):
            sums = _counted_sum(subject, dims, torch.int64, self.state.cache)
            if sums is not None:
                size = math.prod(subject.shape[d] for d in dims)
                counted = {"all": sums == size, "any": sums > 0, "count_nonzero": sums}[name].to(probe.dtype)
        elif name in ("argmax", "argmin") and dim is not None and len(dims) == 1 and dims <= last:
            counted = self._searched(subject, name, dims.pop() - rank)
            if counted is not None:
                self.state.mark(subject, SEARCHED)
                return counted if not keepdim else counted.unsqueeze(dim)
        if counted is not None:
            self.state.mark(subject, COUNTED)
            if not keepdim:
                counted = counted.reshape([s for d, s in enumerate(counted.shape) if d not in dims])
            return counted
        return self._chunked(node, name, args, kwargs, subject, dims, keepdim, dim)

    def _counted(self, subject: Lazy, name: str, dims: set[int], dtype: torch.dtype):
        sums = _counted_sum(subject, dims, dtype, self.state.cache)
        if sums is None:
            return None
        if name == "mean":
            sums = sums.to(torch.float64) / math.prod(subject.shape[d] for d in dims)
        return sums.to(dtype)

    def _searched(self, subject: Lazy, name: str, along: int) -> torch.Tensor | None:
        outer = _pure(subject.linear)
        if outer is None or not subject.linear.binary:
            return None
        if name == "argmin":
            outer = outer.inverted()
        return _first_match(outer, along, subject.shape[:-2])

    def _chunked(self, node, name, args, kwargs, subject: Lazy, dims, keepdim, dim):
        rank = len(subject.shape)
        free = [d for d in (rank - 2, rank - 1) if d not in dims]
        if name in ("argmax", "argmin") and (dim is None or not free):
            return NotImplemented
        along = (free[0] if free else rank - 2) - rank  # -2 or -1
        size = subject.shape[along]
        per_slab = max(1, self.state.chunk_for(subject.device) // max(1, subject.numel // max(size, 1)))
        parts = [_concrete_call(node, (subject.slab(along, start, min(start + per_slab, size)), *args[1:]), kwargs)
                 for start in range(0, size, per_slab)]
        self.state.mark(subject, CHUNKED)
        if len(parts) == 1:
            return parts[0]
        if free:  # slabs along a dim the reduction keeps: the pieces sit side by side
            out_dim = along if keepdim else along + sum(1 for d in dims if d > along + rank)
            first = parts[0]
            if isinstance(first, torch.Tensor):
                return torch.cat(parts, out_dim)
            joined = [torch.cat([p[i] for p in parts], out_dim) for i in range(len(first))]
            return type(first)(joined)
        # Slabs across every reduced dim: combine the partial results.
        if name in ("sum", "count_nonzero"):
            return torch.stack(parts).sum(0).to(parts[0].dtype)
        if name == "mean":
            weights = [min(per_slab, size - start) / size for start in range(0, size, per_slab)]
            return sum(p * w for p, w in zip(parts, weights)).to(parts[0].dtype)
        if name in ("all", "any", "amax", "amin", "max", "min") and isinstance(parts[0], torch.Tensor):
            reduce = {"all": torch.all, "any": torch.any, "amax": torch.amax, "max": torch.amax,
                      "amin": torch.amin, "min": torch.amin}[name]
            return reduce(torch.stack(parts), 0)
        return NotImplemented


def _flat_values(value) -> list:
    found = []
    _map_values(value, found.append)
    return found


def _where(node: fx.Node) -> str:
    location = node.meta.get(LOCATION)
    return str(location) if location is not None else node.name


# --------------------------------------------------------------------------------------------


def evaluate(values_module: fx.GraphModule, g_module: fx.GraphModule, block_count: int, scores: torch.Tensor,
             targets: tuple, dense_below: int = DENSE_BELOW, chunk: int = CHUNK):
    """g at the hard binaries, with large outer comparisons kept lazy. Returns (value, how each
    block was read, how other lazy comparisons were read); the value may be a Python number."""
    largest = max([t.numel() for t in (scores, *targets) if isinstance(t, torch.Tensor)], default=0)
    if largest * largest < dense_below:  # no comparison of two vectors taken from the inputs can be large
        with torch.no_grad():
            blocks, target_values = values_module.forward(scores, *targets)
            return g_module.forward(*blocks, *target_values), (DIRECT,) * block_count, {}
    run = _Run(dense_below, chunk)
    with torch.no_grad():
        blocks, target_values = _Interpreter(values_module, run).run(scores, *targets)
        blocks = tuple(b.relabelled(frozenset({_Block(i)})) if isinstance(b, Lazy) else b for i, b in enumerate(blocks))
        value = _Interpreter(g_module, run).run(*blocks, *target_values)
        if isinstance(value, Lazy):
            run.mark(value, WHOLE)
            value = value.whole()
    reads = tuple(run.reads.get(_Block(i), UNREAD) if isinstance(b, Lazy) else DIRECT for i, b in enumerate(blocks))
    others = {label: how for label, how in run.reads.items() if not isinstance(label, _Block)}
    return value, reads, others


@dataclass(frozen=True)
class _Block:
    index: int


