"""Which op a node of ``g`` is, and the families of ops the row walk knows.

A node's op is its target for a call and nothing else; the walk looks each one up in these sets
to choose a rule. An op outside every family starts ``rest``, which is always correct (only
slower), so a family holds only ops whose effect on each dimension is known.
"""

from __future__ import annotations


import torch
import torch.fx as fx

from ..ops import table


def op_key(node: fx.Node):
    """The op a node calls (a function or a method name), or None for any other node."""
    return node.target if node.op in ("call_function", "call_method") else None


def value_shape(value) -> tuple | None:
    """The shape of a recorded value that is a tensor, else None."""
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def normal_dim(dim: int, ndim: int) -> int:
    """``dim`` counted from the front."""
    return dim + ndim if dim < 0 else dim


def holds_node(index) -> bool:
    """Whether an index reads a tensor (advanced indexing), possibly inside a tuple."""
    if isinstance(index, fx.Node):
        return True
    if isinstance(index, (tuple, list)):
        return any(holds_node(i) for i in index)
    return False


# Ops whose output can change shape with the data: a split read off one batch's shapes could not
# be kept for the next batch of the same input shapes.
DATA_SHAPED = {torch.nonzero, "nonzero", torch.masked_select, "masked_select", torch.unique, "unique",
               torch.argwhere, "argwhere"}

# Ops applied element by element (broadcasting): a row stays a row. A cast to another tensor's
# dtype reads only its first operand's values.
CASTS_LIKE = table.spellings("cast_like")
ELEMENTWISE = table.having("elementwise") - CASTS_LIKE
# Reductions over named dimensions: (dimension argument position).
REDUCTIONS = {
    "sum": 1, "mean": 1, "all": 1, "any": 1, "amax": 1, "amin": 1, "argmax": 1, "argmin": 1,
    "prod": 1, "count_nonzero": 1, "nansum": 1, "nanmean": 1, "logsumexp": 1, "std": 1, "var": 1,
    "max": 1, "min": 1, "median": 1, "nanmedian": 1, "mode": 1,
    torch.sum: 1, torch.mean: 1, torch.all: 1, torch.any: 1, torch.amax: 1, torch.amin: 1,
    torch.argmax: 1, torch.argmin: 1, torch.prod: 1, torch.count_nonzero: 1, torch.nansum: 1,
    torch.nanmean: 1, torch.logsumexp: 1, torch.std: 1, torch.var: 1, torch.max: 1, torch.min: 1,
    torch.median: 1, torch.nanmedian: 1, torch.mode: 1,
}
# Ops along named dimensions that keep the shape: (dimension argument position).
SCANS = {
    "cumsum": 1, "cumprod": 1, "cummax": 1, "cummin": 1, "softmax": 1, "log_softmax": 1, "sort": 1,
    "argsort": 1, "flip": 1, "logcumsumexp": 1,
    torch.cumsum: 1, torch.cumprod: 1, torch.cummax: 1, torch.cummin: 1, torch.softmax: 1,
    torch.log_softmax: 1, torch.sort: 1, torch.argsort: 1, torch.flip: 1, torch.logcumsumexp: 1,
    torch.nn.functional.softmax: 1, torch.nn.functional.log_softmax: 1,
}
# Ops along the last dimension when none is named.
DEFAULT_LAST = {"sort", "argsort", torch.sort, torch.argsort, "topk", torch.topk, "softmax", "log_softmax",
                torch.softmax, torch.log_softmax, torch.nn.functional.softmax, torch.nn.functional.log_softmax}

