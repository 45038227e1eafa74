"""The linear form of an element-wise op's result, when it has one.

Casts, negation, sums and differences of forms, products with weights that vary along one side,
and ``&``/``|`` of two comparisons of the same vectors keep a value countable by sorting; any
other op leaves a lazy value without a form, which reductions then read in slabs.
"""

from __future__ import annotations

import operator

import torch

from .lazy import Lazy, Outer
from .linear import Linear, Term, pure_comparison
from .tensors import same_values


def elementwise_linear(name: str, target, args: tuple, kwargs: dict, probe: torch.Tensor) -> Linear | None:
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
        outer = pure_comparison(forms[0])
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


def _combined(first: Linear, second: Linear, how: str) -> Linear | None:
    """``a & b`` or ``a | b`` of two comparisons of the same two vectors, as one comparison."""
    a, b = pure_comparison(first), pure_comparison(second)
    if a is None or b is None or a.negated or b.negated or not (same_values(a.row, b.row) and same_values(a.col, b.col)):
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
