"""What a lowering leaves on the nodes it makes, under ``node.meta``.

``lowering.py`` writes both keys and ``explain`` reads ``LOWERED_TEXT``; ``equalities.py``, which
``lowering.py`` imports and runs, writes ``LOWERED_FROM`` too. Defined in ``lowering.py``, the
keys would make ``equalities.py`` import the module that imports it: they live here instead.
"""

# The name of the rule that made the node: a ``Rewrite`` of ``lowering.REWRITES``, or
# ``"score_equality"`` (``equalities.py``).
LOWERED_FROM = "lowered_from"
# The rewrite in words (``scores.argmax(1) == labels -> ...``), which explain prints beside the
# expression the user wrote; only on the node a rewrite returns.
LOWERED_TEXT = "lowered_text"
