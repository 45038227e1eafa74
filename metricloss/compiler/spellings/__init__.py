"""Other spellings of the questions the rewrite table answers, respelled first.

``torch.max(s, 1)[1]``, ``s.sort(1).indices``, ``s.argmin(1)``, ``torch.sign(d)`` and
``abs(d) <= c`` ask what ``argmax``, ``argsort`` and plain comparisons ask; spelling them that
way first lets one table of rules (``lowering.REWRITES``) read them all. Each respelling keeps
torch's value exactly, ties included: torch returns the first extreme index in every arg-max and
arg-min form, ``sign(0)`` is 0, and ``abs`` and a negated bound are exact.

- ``table.py``: ``RESPELLINGS``, applied in order by ``respell``;
- one module per family: ``orders.py`` (sort, topk, torch.max/min), ``argmax.py`` (arg-max and
  arg-min forms), ``comparisons.py`` (signs, absolute bounds, clamps, rounding), ``selections.py``
  (``where`` as ``masked_fill``, ``view_as``); the confusion-matrix ones are ``confusion.py``'s;
- ``operands.py``: what several families ask of a node's operands.
"""

from .orders import tests_membership
from .table import RESPELLINGS, Respelling, respell

__all__ = ["RESPELLINGS", "Respelling", "respell", "tests_membership"]
