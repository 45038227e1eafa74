"""The exact value at validation sizes: comparison blocks that are never held whole.

``metric(scores, *targets)`` is ``g`` at the hard binaries. Written out, AUC's block
``pos[:, None] > neg[None, :]`` over 30,000 samples is a [P, N] tensor of 2 * 10^8 entries (GBs
and tens of seconds), where scikit-learn sorts the scores. Most blocks are *outer comparisons*,
one vector along the rows and one along the columns, and most metrics read them only through
sums (AUC a mean, AP row sums, ranks a row sum). Such a sum is a count:

    #{j : a_i > b_j} = searchsorted(sort(b), a_i, side="left")     (>=: side="right")

row sums are that for every ``i``, column sums the same search the other way round, the whole
block's sum their total, and masks from the targets weight the counts (a cumulative sum of the
weights in sorted order). Sorting keeps torch's comparisons exactly, ties included.

The evaluator runs the metric's generated modules node by node (an ``fx.Interpreter``): the
pairs module without differences and masks (``codegen.values_graph``), then ``g``. A comparison
whose operands form an outer product ``x[..., :, None] op y[..., None, :]`` and which would have
at least ``dense_below`` entries is not computed: it stays a ``Lazy`` value. Ops on lazy values
are followed as far as they can be:

- element-wise ops (casts, sums of blocks, masks and weights from the targets, negation) build a
  new lazy value, and keep a *linear form* (a weighted sum of comparisons) while the op is affine;
- a sum or mean over the block's rows, columns or both of a linear form is counted by sorting,
  O(N log N) (``all``/``any``/``count_nonzero`` of a 0/1 form too);
- ``argmax``/``argmin`` along one side of an (integer) comparison, the first entry that matches,
  is a sorted search (ranks turned back into an order by hand: positions compared with ranks);
- ``beats(lhs, rhs, tie_wins)`` with a tie rule that is itself an outer comparison (ranks of a
  stable sort: ties in index order) is one comparison of combined integer keys;
- any other reduction is computed a slab of rows (or columns) at a time: memory bounded by
  ``chunk`` entries, the time still that of the whole block;
- anything else (a reshape, a cumulative sum, indexing) gets the block whole, as before.

Which of these each block took is reported (``Evaluation``). An error on the way sends the batch
through the written path (``Program.pairs`` then ``Program.value``), so a batch the metric
refuses is refused with the same message as ever.

- ``interpreter.py``: ``evaluate`` and the interpreter that keeps comparisons lazy;
- ``lazy.py``: the lazy values (``Outer``, ``Difference``, ``Map``); ``linear.py``: their linear
  forms, and ``elementwise.py``: which element-wise ops keep one;
- ``reductions.py``: which way a reduction goes, to ``counting.py`` (sort and ``searchsorted``),
  ``searching.py`` (the first match along one side) or ``slabs.py`` (a slab at a time);
- ``keys.py``: ``beats`` with an outer tie rule as one comparison;
- ``reads.py``: the settings, how each block was read, ``Evaluation``; ``node_ops.py``: the op
  tables; ``tensors.py``: helpers on concrete tensors.
"""

from .interpreter import evaluate
from .reads import (CHUNK, CHUNKED, COUNTED, DENSE_BELOW, DIRECT, GPU_FACTOR, READS, SEARCHED, UNREAD, WHOLE,
                    Evaluation)

__all__ = [
    "CHUNK", "CHUNKED", "COUNTED", "DENSE_BELOW", "DIRECT", "GPU_FACTOR", "READS", "SEARCHED", "UNREAD", "WHOLE",
    "Evaluation", "evaluate",
]
