"""A reduction of a lazy value: counted by sorting, found by a sorted search, or read in slabs.

``sum``/``mean`` of a linear form over the block's rows, columns or both are counts
(``counting.py``), as are ``all``/``any``/``count_nonzero`` of a 0/1 form; ``argmax``/``argmin``
along one side of a plain comparison is a search (``searching.py``). Any other reduction is
computed a slab at a time (``slabs.py``): memory bounded, time that of every entry.
"""

from __future__ import annotations

import math

import torch

from .counting import counted_sum
from .lazy import Lazy
from .linear import pure_comparison
from .node_ops import concrete_call
from .reads import COUNTED, SEARCHED, Run
from .searching import first_match
from .slabs import reduced_in_slabs


def reduce_lazy(node, name: str, args: tuple, kwargs: dict, subject: Lazy, run: Run):
    """The reduction ``name`` (a kind of ``node_ops.REDUCTIONS``) of ``subject``, or
    NotImplemented when it is none the evaluator does without the whole block."""
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
        probe = concrete_call(node, (subject.probe, *args[1:]), kwargs)
    except (RuntimeError, TypeError):
        return NotImplemented
    linear = subject.linear
    last = {rank - 2, rank - 1}
    counted = None
    if name in ("sum", "mean") and linear is not None and dims & last and isinstance(probe, torch.Tensor):
        counted = _counted(subject, name, dims, probe.dtype, run)
    elif name in ("all", "any", "count_nonzero") and linear is not None and linear.binary and dims & last \
            and isinstance(probe, torch.Tensor):
        sums = counted_sum(subject, dims, torch.int64, run.cache)
        if sums is not None:
            size = math.prod(subject.shape[d] for d in dims)
            counted = {"all": sums == size, "any": sums > 0, "count_nonzero": sums}[name].to(probe.dtype)
    elif name in ("argmax", "argmin") and dim is not None and len(dims) == 1 and dims <= last:
        counted = _searched(subject, name, dims.pop() - rank)
        if counted is not None:
            run.mark(subject, SEARCHED)
            return counted if not keepdim else counted.unsqueeze(dim)
    if counted is not None:
        run.mark(subject, COUNTED)
        if not keepdim:
            counted = counted.reshape([s for d, s in enumerate(counted.shape) if d not in dims])
        return counted
    return reduced_in_slabs(node, name, args, kwargs, subject, dims, keepdim, dim, run)


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


def _counted(subject: Lazy, name: str, dims: set[int], dtype: torch.dtype, run: Run):
    sums = counted_sum(subject, dims, dtype, run.cache)
    if sums is None:
        return None
    if name == "mean":
        sums = sums.to(torch.float64) / math.prod(subject.shape[d] for d in dims)
    return sums.to(dtype)


def _searched(subject: Lazy, name: str, along: int) -> torch.Tensor | None:
    outer = pure_comparison(subject.linear)
    if outer is None or not subject.linear.binary:
        return None
    if name == "argmin":
        outer = outer.inverted()
    return first_match(outer, along, subject.shape[:-2])
