"""A reduction computed a slab of rows (or columns) at a time.

What counting and searching cannot do (a ``max`` of a weighted block, a ``sum`` of a form that
is not linear) still need not hold the block whole: slabs of at most ``Run.chunk_for`` entries
are reduced one after another and the pieces joined, or combined when the slabs cut across a
reduced dim. Memory is bounded; the time is still that of every entry.
"""

from __future__ import annotations

import torch

from .lazy import Lazy
from .node_ops import concrete_call
from .reads import CHUNKED, Run


def reduced_in_slabs(node, name: str, args: tuple, kwargs: dict, subject: Lazy, dims: set[int], keepdim: bool,
                     dim, run: Run):
    """``node``'s reduction ``name`` over ``dims`` of ``subject``, slab by slab; NotImplemented
    for one whose slabs cannot be combined (an arg-max across every dim)."""
    rank = len(subject.shape)
    free = [d for d in (rank - 2, rank - 1) if d not in dims]
    if name in ("argmax", "argmin") and (dim is None or not free):
        return NotImplemented
    along = (free[0] if free else rank - 2) - rank  # -2 or -1
    size = subject.shape[along]
    per_slab = max(1, run.chunk_for(subject.device) // max(1, subject.numel // max(size, 1)))
    parts = [concrete_call(node, (subject.slab(along, start, min(start + per_slab, size)), *args[1:]), kwargs)
             for start in range(0, size, per_slab)]
    run.mark(subject, CHUNKED)
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
