"""The one table of what traced ops mean: every op the compiler reads, by family, in all its
spellings, and the traits each family has.

A user writes one op in several ways (``a > b``, ``torch.gt(a, b)``, ``torch.greater(a, b)``,
``a.gt(b)``, ``a.__gt__(b)``); a traced node's target is whichever they wrote. Every pass asks a
question of a node ("is it a comparison? elementwise? a cast?") through this table, so a spelling
added here is understood everywhere at once, and two passes cannot disagree about an op.
"""

from __future__ import annotations

import operator

import torch
import torch.nn.functional as F

# family -> its spellings: a function or operator (``call_function``), or a method name
# (``call_method``, including the dunders fx records for reflected operators).
FAMILIES: dict[str, tuple] = {
    # comparisons and equalities
    "gt": (operator.gt, torch.gt, torch.greater, "gt", "greater", "__gt__"),
    "ge": (operator.ge, torch.ge, torch.greater_equal, "ge", "greater_equal", "__ge__"),
    "lt": (operator.lt, torch.lt, torch.less, "lt", "less", "__lt__"),
    "le": (operator.le, torch.le, torch.less_equal, "le", "less_equal", "__le__"),
    "eq": (operator.eq, torch.eq, "eq", "__eq__"),
    "ne": (operator.ne, torch.ne, torch.not_equal, "ne", "not_equal", "__ne__"),
    # arithmetic
    "add": (operator.add, torch.add, "add", "__add__", "__radd__"),
    "sub": (operator.sub, torch.sub, torch.subtract, "sub", "subtract", "__sub__"),
    "mul": (operator.mul, torch.mul, torch.multiply, "mul", "multiply", "__mul__", "__rmul__"),
    "div": (operator.truediv, torch.div, torch.divide, torch.true_divide, "div", "divide", "true_divide",
            "__truediv__"),
    "floordiv": (operator.floordiv, torch.floor_divide, "floor_divide", "__floordiv__"),
    "mod": (operator.mod, torch.remainder, torch.fmod, "remainder", "fmod", "__mod__"),
    "pow": (operator.pow, torch.pow, torch.float_power, "pow", "float_power", "__pow__"),
    # the operands swapped (``x.__rsub__(1)`` is ``1 - x``): not the family of the unswapped op
    "reflected": ("__rsub__", "__rtruediv__", "__rpow__", torch.rsub),
    "neg": (operator.neg, torch.neg, torch.negative, "neg", "negative", "__neg__"),
    "pos": (operator.pos,),
    "abs": (operator.abs, torch.abs, "abs", "__abs__"),
    "sqrt": (torch.sqrt, torch.rsqrt, "sqrt", "rsqrt"),
    "square": (torch.square, "square"),
    "hypot": (torch.hypot,),
    "rounding": (torch.floor, torch.ceil, torch.trunc, torch.round, "floor", "ceil", "trunc", "round"),
    "reciprocal": (torch.reciprocal, "reciprocal"),
    "sign": (torch.sign, "sign"),
    "extremum": (torch.maximum, torch.minimum, torch.fmax, torch.fmin, "maximum", "minimum", "fmax", "fmin"),
    "clamp": (torch.clamp, torch.clip, torch.clamp_min, torch.clamp_max, "clamp", "clip", "clamp_min",
              "clamp_max"),
    "where": (torch.where, "where"),
    "nan_to_num": (torch.nan_to_num, "nan_to_num"),
    # monotone maps
    "sigmoid": (torch.sigmoid, F.sigmoid, "sigmoid"),
    "tanh": (torch.tanh, "tanh"),
    "exp": (torch.exp, torch.exp2, torch.expm1, "exp", "exp2", "expm1"),
    "log": (torch.log, torch.log2, torch.log10, torch.log1p, "log", "log2", "log10", "log1p"),
    "softmax": (torch.softmax, F.softmax, "softmax"),
    "log_softmax": (torch.log_softmax, F.log_softmax, "log_softmax"),
    "relu": (F.relu, torch.relu, "relu"),
    # logic
    "and": (operator.and_, torch.logical_and, torch.bitwise_and, "logical_and", "bitwise_and", "__and__",
            "__rand__"),
    "or": (operator.or_, torch.logical_or, torch.bitwise_or, "logical_or", "bitwise_or", "__or__", "__ror__"),
    "xor": (operator.xor, torch.logical_xor, torch.bitwise_xor, "logical_xor", "bitwise_xor", "__xor__",
            "__rxor__"),
    "not": (operator.invert, torch.logical_not, torch.bitwise_not, "logical_not", "bitwise_not", "__invert__"),
    "finiteness": (torch.isnan, torch.isfinite, torch.isinf, "isnan", "isfinite", "isinf"),
    # casts: a change of dtype, the values kept
    "float_cast": ("float", "double"),
    "narrow_float_cast": ("half", "bfloat16"),
    "integer_cast": ("long", "int", "short", "byte", "char"),
    "bool_cast": ("bool",),
    "cast_like": ("to", "type_as", "type"),  # the dtype (or device) named by another operand
    "copy": ("clone", "contiguous"),
    "detach": ("detach", torch.detach),
    # fills: a tensor of the operand's shape, its values not read
    "fill_like": (torch.zeros_like, torch.ones_like, torch.full_like, torch.empty_like),
    "masked_fill": (torch.masked_fill, "masked_fill"),
    "all": (torch.all, "all"),
    "any": (torch.any, "any"),
    # structure: elements selected, repeated or rearranged, their values untouched
    "getitem": (operator.getitem,),
    "view": (torch.reshape, torch.flatten, torch.squeeze, torch.unsqueeze, "view", "reshape", "flatten",
             "unflatten", "squeeze", "unsqueeze"),
    "transpose": (torch.permute, torch.transpose, torch.movedim, "permute", "transpose", "t", "movedim"),
    "expand": (torch.broadcast_to, "expand", "expand_as"),
    "take": (torch.gather, torch.index_select, torch.take_along_dim, torch.narrow, torch.select, torch.masked_select,
             torch.diagonal, "gather", "index_select", "masked_select", "take_along_dim", "narrow", "select",
             "diagonal"),
    "join": (torch.cat, torch.concat, torch.stack),
    "part": (torch.unbind, torch.split, torch.chunk, "split", "chunk", "unbind"),
    "repeat": (torch.flip, torch.roll, torch.tile, "flip", "roll", "repeat", "tile"),
    # metadata: the result carries no value of its operand
    "metadata": ("size", "dim", "numel", torch.numel, "new_zeros", "new_ones", "new_full", "new_empty",
                 "new_tensor"),
    # reductions
    "sum": (torch.sum, "sum"),
    "mean": (torch.mean, "mean"),
    "count_nonzero": (torch.count_nonzero, "count_nonzero"),
    "amax": (torch.amax, "amax"),
    "amin": (torch.amin, "amin"),
    # ``x.max(dim)`` reads one element per slice; ``torch.max`` is also the element-wise maximum of two
    "max": ("max",),
    "min": ("min",),
    "max_function": (torch.max,),
    "min_function": (torch.min,),
    # positions and bins: which element wins, where a value falls among thresholds
    "argmax": (torch.argmax, "argmax"),
    "argmin": (torch.argmin, "argmin"),
    "rank": (torch.argsort, torch.sort, torch.topk, torch.kthvalue, torch.msort, torch.bucketize, torch.searchsorted,
             "argsort", "sort", "topk", "kthvalue", "msort"),
}

# trait -> the families that have it.
TRAITS: dict[str, frozenset[str]] = {
    "ordering": frozenset({"gt", "ge", "lt", "le"}),  # a comparison of two values' order
    "strict": frozenset({"gt", "lt"}),
    "greater": frozenset({"gt", "ge"}),  # true when the left operand is the larger
    "equality": frozenset({"eq", "ne"}),
    # computed element by element: the result has the operands' broadcast shape
    "elementwise": frozenset({
        "gt", "ge", "lt", "le", "eq", "ne", "add", "sub", "mul", "div", "floordiv", "mod", "pow", "reflected",
        "neg", "pos",
        "abs", "sqrt", "square", "hypot", "rounding", "reciprocal", "sign", "extremum", "clamp", "where",
        "nan_to_num", "sigmoid", "tanh", "exp", "log", "relu", "and", "or", "xor", "not", "finiteness",
        "float_cast", "narrow_float_cast", "integer_cast", "bool_cast", "cast_like", "copy", "detach",
        "fill_like", "masked_fill",
    }),
    # a result of the operand's shape, from one tensor operand
    "same_shape": frozenset({"softmax", "log_softmax"}),
    # elementwise of two operands, the ones a shape check follows (comparisons, logic, + - * /)
    "binary": frozenset({"gt", "ge", "lt", "le", "eq", "ne", "and", "or", "xor", "add", "sub", "mul", "div"}),
    # arithmetic on numbers (positions, counts): integer division and remainders included
    "arithmetic": frozenset({"add", "sub", "mul", "div", "floordiv", "mod", "pow", "neg", "abs", "sqrt",
                             "square", "hypot", "rounding", "float_cast", "narrow_float_cast", "integer_cast",
                             "cast_like"}),
    "cast": frozenset({"float_cast", "narrow_float_cast", "integer_cast", "bool_cast", "cast_like"}),
    # to a floating type without losing precision: what an affine statistic may pass through
    "wide_float_cast": frozenset({"float_cast"}),
    # a dtype change that keeps every element where it is
    "conversion": frozenset({"float_cast", "narrow_float_cast", "cast_like"}),
    # a comparison, a logical op or a finiteness test: its result is bool
    "boolean": frozenset({"gt", "ge", "lt", "le", "eq", "ne", "and", "or", "xor", "not", "finiteness",
                          "bool_cast", "all", "any"}),
    # only select, repeat or rearrange elements (or convert them): scores pass through unchanged
    "structural": frozenset({"getitem", "view", "transpose", "expand", "take", "join", "part", "repeat", "copy",
                             "float_cast", "narrow_float_cast", "cast_like"}),
    "reshape": frozenset({"getitem", "view", "transpose", "expand", "copy"}),
    "selection": frozenset({"amax", "amin", "max", "min", "masked_fill"}),  # one score element's value per slice
    "metadata": frozenset({"metadata", "fill_like"}),
    "monotone": frozenset({"sigmoid", "tanh", "exp", "log", "softmax", "log_softmax", "neg"}),
    "shift": frozenset({"add", "sub"}),
    "scaling": frozenset({"mul", "div"}),
    "masking": frozenset({"and", "mul"}),  # zero wherever the mask is zero, whatever the other operand
    "covering": frozenset({"or"}),  # true wherever the mask is true
    "negation": frozenset({"not"}),
    "sign_change": frozenset({"neg"}),
    "division": frozenset({"div"}),
    "reduction": frozenset({"sum", "mean"}),
    "rank": frozenset({"rank", "argmax", "argmin"}),
}

_FAMILY_OF: dict = {}
for _family, _spellings in FAMILIES.items():
    for _spelling in _spellings:
        if _spelling in _FAMILY_OF:
            raise AssertionError(f"{_spelling!r} is spelled in two op families")
        _FAMILY_OF[_spelling] = _family


# The operator each family of Python's arithmetic, comparisons and logic computes (what a formula shows).
OPERATORS = {
    "add": operator.add, "sub": operator.sub, "mul": operator.mul, "div": operator.truediv, "pow": operator.pow,
    "floordiv": operator.floordiv, "mod": operator.mod, "neg": operator.neg, "pos": operator.pos,
    "gt": operator.gt, "ge": operator.ge, "lt": operator.lt, "le": operator.le, "eq": operator.eq,
    "ne": operator.ne, "and": operator.and_, "or": operator.or_, "xor": operator.xor, "not": operator.invert,
}


def family(target) -> str | None:
    """The family of a node's target (``torch.greater`` -> "gt"), or None for an op not in the table."""
    try:
        return _FAMILY_OF.get(target)
    except TypeError:  # an unhashable target
        return None


def spellings(*families: str) -> frozenset:
    """Every spelling of the named families."""
    return frozenset(s for name in families for s in FAMILIES[name])


def having(trait: str) -> frozenset:
    """Every spelling of every family with ``trait``."""
    return spellings(*TRAITS[trait])
