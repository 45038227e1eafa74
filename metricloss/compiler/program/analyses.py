"""What ``g``'s structure allows on batches of one shape: its row split, its statistics' shapes.

Both are read off one evaluation of ``g`` on the hard binaries (``rows.record``), the first time
a signature of shapes is seen, and kept for the next batches of that signature, up to
``CACHED_ANALYSES`` of them. A ``g`` whose node shapes follow the data (``rows.cacheable``: a
mask selects the queries with a relevant item) is recorded on every batch, and its analysis kept
under the shapes every node gave as well. Nothing here changes the compiled metric: the cache
only saves work.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import torch
import torch.fx as fx

from ..affine_split import AffineSplit
from ..binaries import Binaries
from ..rows import RowSplit, cacheable, record, recorded_shapes, row_split, signature
from .layout import split_blocks

# Analyses of g kept per program: one per signature of block and target shapes.
CACHED_ANALYSES = 16


@dataclass(frozen=True)
class Analysis:
    """What the shapes of one batch allow, read off one evaluation of g (``Program.analysis``)."""

    rows: RowSplit | None  # g as a reduction over rows of a per-row part, or None
    scalar_statistics: bool  # g's affine statistics are single numbers on this batch



class AnalysisCache:
    """``Analysis`` per signature of shapes (``rows.signature``), the least recently used dropped.

    ``twins``: per block, the earlier block it is a twin of, or None (``codegen.twin_blocks``).
    """

    def __init__(self, g_module: fx.GraphModule, affine: AffineSplit | None, twins: tuple):
        self.g_module = g_module
        self.affine = affine
        self.twins = twins
        self._found: OrderedDict[tuple, Analysis] = OrderedDict()
        self._cacheable = cacheable(g_module)

    def of(self, binaries: Binaries) -> Analysis:
        """The analysis for batches shaped like this one: ``g`` runs once on its hard binaries
        for the shapes of its nodes, the first time these shapes are seen."""
        blocks = split_blocks(binaries.hard, binaries.shapes)
        key = signature(blocks, binaries.target_values)
        seen = None
        if not self._cacheable:  # the shapes of its nodes are part of the key: g runs for them
            seen = record(self.g_module, blocks, binaries.target_values)
            key = (key, None if seen is None else recorded_shapes(seen))
        found = self._found.get(key)
        if found is not None:
            self._found.move_to_end(key)
            return found
        if self._cacheable:
            seen = record(self.g_module, blocks, binaries.target_values)
        if seen is None:
            found = Analysis(None, False)
        else:
            named = {node.name: value for node, value in seen.items()}
            scalar = self.affine is not None and all(
                isinstance(named.get(name), torch.Tensor) and named[name].dim() == 0 for name in self.affine.nodes)
            split = row_split(self.g_module, len(self.twins), blocks, seen,
                              tuple(t is not None for t in self.twins))
            found = Analysis(split, scalar)
        self._found[key] = found
        while len(self._found) > CACHED_ANALYSES:
            self._found.popitem(last=False)
        return found
