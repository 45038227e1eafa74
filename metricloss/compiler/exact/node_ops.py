"""What the evaluator knows of a node's op: its kind, by name, and how to run it on tensors.

A node's target is a function (``torch.gt``, ``operator.gt``) or a method's name (``"gt"``,
``"__gt__"``); the tables map every spelling of an op to one name per kind, so that the
interpreter asks "a comparison? which?" once, whatever the metric wrote.
"""

from __future__ import annotations


import torch
import torch.fx as fx

from .. import ops
from ..ops import table


def _table(**groups) -> dict:
    """Every spelling of each group's op families, mapped to the group's name."""
    return {spelling: name for name, families in groups.items() for spelling in table.spellings(*families)}


COMPARISONS = _table(gt=("gt",), ge=("ge",), lt=("lt",), le=("le",), eq=("eq",), ne=("ne",))
FLIPPED = {"gt": "lt", "ge": "le", "lt": "gt", "le": "ge", "eq": "eq", "ne": "ne"}
NEGATED = {"gt": "le", "ge": "lt", "lt": "ge", "le": "gt", "eq": "ne", "ne": "eq"}
COMPARE = {"gt": torch.gt, "ge": torch.ge, "lt": torch.lt, "le": torch.le, "eq": torch.eq, "ne": torch.ne}

# Element-wise ops the evaluator follows on lazy values; the affine ones keep a linear form.
ELEMENTWISE = _table(
    neg=("neg",), invert=("not",), add=("add",), sub=("sub",), mul=("mul",), div=("div",), and_=("and",),
    or_=("or",),
    other=("xor", "floordiv", "mod", "pow", "reflected", "abs", "where", "extremum", "clamp", "exp", "log",
           "sigmoid", "tanh", "sqrt", "finiteness", "sign", "square", "reciprocal", "masked_fill"),
)
# A change of dtype by name (``type_as`` reads another tensor's: it is followed as any other op).
ELEMENTWISE.update({spelling: "cast" for spelling in table.spellings(
    "float_cast", "narrow_float_cast", "integer_cast", "bool_cast") | {"to", "type"}})
ELEMENTWISE["type_as"] = "other"
ELEMENTWISE.update({target: "compare" for target in COMPARISONS})
REDUCTIONS = _table(**{name: (name,) for name in (
    "sum", "mean", "count_nonzero", "all", "any", "amax", "amin", "argmax", "argmin")},
    max=("max", "max_function"), min=("min", "min_function"))
SUBTRACTIONS = table.spellings("sub")
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
