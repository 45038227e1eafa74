"""What the evaluator knows of a node's op: its kind, by name, and how to run it on tensors.

A node's target is a function (``torch.gt``, ``operator.gt``) or a method's name (``"gt"``,
``"__gt__"``); the tables map every spelling of an op to one name per kind, so that the
interpreter asks "a comparison? which?" once, whatever the metric wrote.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx

from .. import ops


def _table(**groups) -> dict:
    table = {}
    for name, targets in groups.items():
        for target in targets:
            table[target] = name
    return table


COMPARISONS = _table(
    gt=(operator.gt, torch.gt, torch.greater, "gt", "greater", "__gt__"),
    ge=(operator.ge, torch.ge, torch.greater_equal, "ge", "greater_equal", "__ge__"),
    lt=(operator.lt, torch.lt, torch.less, "lt", "less", "__lt__"),
    le=(operator.le, torch.le, torch.less_equal, "le", "less_equal", "__le__"),
    eq=(operator.eq, torch.eq, "eq", "__eq__"),
    ne=(operator.ne, torch.ne, torch.not_equal, "ne", "not_equal", "__ne__"),
)
FLIPPED = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge", "eq": "eq", "ne": "ne"}
NEGATED = {"gt": "le", "ge": "lt", "lt": "ge", "le": "gt", "eq": "ne", "ne": "eq"}
COMPARE = {"gt": torch.gt, "ge": torch.ge, "lt": torch.lt, "le": torch.le, "eq": torch.eq, "ne": torch.ne}

# Element-wise ops the evaluator follows on lazy values; the affine ones keep a linear form.
ELEMENTWISE = _table(
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
ELEMENTWISE.update({target: "compare" for target in COMPARISONS})
REDUCTIONS = _table(
    sum=(torch.sum, "sum"), mean=(torch.mean, "mean"), count_nonzero=(torch.count_nonzero, "count_nonzero"),
    all=(torch.all, "all"), any=(torch.any, "any"), amax=(torch.amax, "amax"), amin=(torch.amin, "amin"),
    max=(torch.max, "max"), min=(torch.min, "min"), argmax=(torch.argmax, "argmax"),
    argmin=(torch.argmin, "argmin"),
)
SUBTRACTIONS = {operator.sub, torch.sub, torch.subtract, "sub", "subtract", "__sub__"}
IDENTITIES = {"contiguous", "clone", "detach", torch.clone, ops.hard_only}
ATTRIBUTES = {"shape", "dtype", "device", "ndim", "is_cuda"}
SHAPE_METHODS = {"size", "dim", "ndimension", "numel", torch.numel}
NEW_TENSOR_METHODS = {"new_zeros", "new_ones", "new_full", "new_empty", "new_tensor"}


def kind_of(table: dict, target) -> str | None:
    try:
        return table.get(target)
    except TypeError:  # an unhashable target
        return None


def concrete_call(node: fx.Node, args: tuple, kwargs: dict):
    if node.op == "call_method":
        self, *rest = args
        return getattr(self, node.target)(*rest, **kwargs)
    return node.target(*args, **kwargs)
