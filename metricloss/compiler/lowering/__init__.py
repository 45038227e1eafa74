"""Lowering: rank-type ops on scores rewritten into comparisons, from one table of rules.

Users write ``(scores.argmax(1) == labels).float().mean()``; argmax is not a comparison, but
"the true class wins" is exactly "the true class's score beats every other class's score". Each
rule in ``REWRITES`` pairs a matcher over the traced graph with a replacement written as ordinary
tensor code; the replacement is traced once and inlined in place of the matched node, so the rest
of the compiler sees only comparisons. Every rule keeps torch's tie-breaking where torch defines
it (``ops.beats`` gives each binary its own tie rule: argmax's first maximal index, a stable
sort's index order), so a lowered metric equals the original on tied scores too. Where torch
leaves it open (``argsort``/``sort`` without ``stable=True``, ``topk``) a rule states one, and
``tie_order.py`` names each such call so that the user is told.

``pipeline.py`` holds the passes in the order they run (``PASSES``) and ``lower``, which runs
them; ``table.py`` the rewrite table; ``argmax_matchers.py`` and ``sort_matchers.py`` its
matchers (``matching.py``: what they share); ``inlining.py`` the pass that applies the table.
"""

from .matching import Match
from .pipeline import PASSES, LoweringPass, lower
from .table import REWRITES, SUPPORTED, Rewrite

__all__ = ["PASSES", "REWRITES", "SUPPORTED", "LoweringPass", "Match", "Rewrite", "lower"]
