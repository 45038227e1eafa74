"""A compiled metric: the pairs part and the re-expression ``g`` as two generated modules.

``pairs(scores, *targets)`` computes, for every binary block, the hard binaries (the user's own
comparison, so ties behave exactly as in their code) and the differences ``d`` whose sign they
are (with autograd from the scores), plus the target-only values ``g`` reads.
``g(*blocks, *target_values)`` is everything after the comparisons. Anchors are evaluated by
``torch.func.vmap`` over ``g``: one batched call, no loop over anchors.

``modules.py`` holds ``Program``, which runs the modules; ``dead_binaries.py`` finds a batch's
constant binaries; ``analyses.py`` what ``g``'s structure allows per shape of batch;
``layout.py`` the flat K and its blocks; ``failures.py`` what the user is told when the code
after the comparisons fails.
"""

from .analyses import CACHED_ANALYSES, Analysis
from .modules import CHUNK_ELEMENTS, Program

__all__ = ["CACHED_ANALYSES", "CHUNK_ELEMENTS", "Analysis", "Program"]
