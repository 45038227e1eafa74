"""How each block of binaries was read, and the state of one evaluation that records it.

The evaluator reports, per block, the costliest way any op read it: a block whose sums were
counted by sorting was never held, one read in slabs was held a slab at a time. ``explain`` and
the tests read the report (``Evaluation``); ``Run`` keeps it while the modules run.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

if TYPE_CHECKING:
    from .lazy import Lazy


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
COST = {UNREAD: 0, COUNTED: 1, SEARCHED: 2, CHUNKED: 3, WHOLE: 4}
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


class Run:
    """One evaluation: the settings and what each lazy value went through."""

    def __init__(self, dense_below: int, chunk: int):
        self.dense_below = dense_below
        self.chunk = chunk
        self.reads: dict = {}
        self.cache: dict = {}  # sides already sorted in this evaluation

    def mark(self, lazy: Lazy, how: str) -> None:
        for label in lazy.labels:
            if COST[how] > COST[self.reads.get(label, UNREAD)]:
                self.reads[label] = how

    def chunk_for(self, device: torch.device) -> int:
        return self.chunk if device.type == "cpu" else self.chunk * GPU_FACTOR
