"""Re-expressions that are a reduction over rows of a function of each row alone.

Most metrics over a batch of samples, queries or joints are a mean (or a sum, or any reduction)
over the leading dimension of a quantity computed row by row: accuracy is the mean over samples
of "the true class beats every other class", NDCG the mean over queries of a ranking's gain. When
every block's leading dimension is that row dimension, ``g`` splits into

    g(blocks, targets) = rest(part(blocks, targets), targets)

where ``part`` computes a small *frontier* (the per-row values, [R, ...]) in which row r reads
only row r of every block, and ``rest`` is everything after it. An anchor that is a base with a
few flipped bits then changes only the frontier rows its flips fall in: ``part`` runs on those
rows alone, the other rows are the base's, and ``rest`` runs on [anchors, R, ...] frontiers.
Every value is still ``g``'s own, computed by the same operations on the same configuration.

The split is structural, read off ``g``'s graph with the shapes of one evaluation: a node is a
*row node* (with its row dimension's position) when it is the block itself, or an elementwise op,
a reduction or scan over other dimensions, a move of dimensions, basic indexing, a gather along
another dimension, or a reshape that keeps the leading rows, applied to row nodes and to target
values (a target that broadcasts along the row dimension with R entries is sliced to the rows
``part`` sees). Anything else (a reduction over rows, advanced indexing, an op not listed)
starts ``rest``. The split is refused when a shape read from a row node would change with the
number of rows, when the blocks do not share a leading dimension, or when the frontier is not
at most half the binaries (twins left out).

The parts, in the order a split is made:

- ``recording.py``: one evaluation of ``g`` for its nodes' shapes, and when that may be cached;
- ``dimensions.py``: the walk that gives each node its row dimension, or sends it to ``rest``;
- ``rules_reductions.py``, ``rules_layout.py``, ``rules_indexing.py``: the walk's rules, by
  family of op (``op_kinds.py`` names the families);
- ``frontier.py``: ``g`` cut at the frontier into the ``part`` and ``rest`` modules;
- ``part_ops.py``: the functions the ``part`` module calls where it cannot copy ``g``'s node.
"""

from .frontier import FRONTIER_SHARE, RowSplit, row_split
from .part_ops import all_along, any_along, expand_rows, reshape_rows, select_rows
from .recording import cacheable, record, recorded_shapes, signature

__all__ = [
    "FRONTIER_SHARE", "RowSplit", "all_along", "any_along", "cacheable", "expand_rows", "record", "recorded_shapes",
    "reshape_rows", "row_split", "select_rows", "signature",
]
