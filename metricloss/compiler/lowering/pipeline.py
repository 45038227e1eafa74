"""The lowering passes, in the order they run: one list, so the pipeline reads in one place.

Each pass rewrites the traced graph in place and returns a line per change (``explain`` lists
them). The order matters:

1. ``respell`` (``compiler/spellings/``): other spellings of an idiom (``max(s, 1)[1]``,
   ``s.sort(1).indices``, ``argmin``, ``sign``, ``abs(d) <= c``) become the one the table reads;
2. ``argmax_positions`` (``compiler/positions.py``): a comparison of a function of an arg-max
   position with targets (keypoints) becomes "the arg-max lies in a region", which the table
   then reads;
3. ``rewrite_table`` (``inlining.py``, rows in ``table.py``): every rank-type idiom becomes
   comparisons of scores;
4. ``score_equalities`` (``compiler/equalities.py``): ``==``/``!=`` of score values left after
   the table (ties with half credit) become two comparisons each.

Before any pass, ``tie_order.unstable_sorts`` reads the sorts whose tie order torch leaves open,
while they are still spelled as the user wrote them (``respell`` turns ``sort`` and ``topk`` into
``argsort``). After ``lower``, ``compiler/partition.py`` splits the graph at its comparisons.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch.fx as fx

from ..equalities import lower_score_equalities
from ..positions import lower_argmax_positions
from ..spellings import respell
from ..tie_order import UnstableSort, unstable_sorts
from .inlining import apply_rewrites


@dataclass(frozen=True)
class LoweringPass:
    """One rewrite of the traced graph: ``run(graph, metric)`` changes it in place and returns a
    line per change; ``metric`` names the metric in the errors it raises."""

    name: str
    run: Callable[[fx.Graph, str], list[str]]


def _respell(graph: fx.Graph, metric: str) -> list[str]:
    return respell(graph)


def _argmax_positions(graph: fx.Graph, metric: str) -> list[str]:
    return lower_argmax_positions(graph)


def _score_equalities(graph: fx.Graph, metric: str) -> list[str]:
    return lower_score_equalities(graph)


PASSES: tuple[LoweringPass, ...] = (
    LoweringPass("respell", _respell),
    LoweringPass("argmax_positions", _argmax_positions),
    LoweringPass("rewrite_table", apply_rewrites),
    LoweringPass("score_equalities", _score_equalities),
)


def lower(graph: fx.Graph, metric: str) -> tuple[list[str], tuple[UnstableSort, ...]]:
    """Run ``PASSES`` in order; return what they rewrote, and the sorts whose tie order torch
    leaves open, found while they still read as written."""
    unstable = unstable_sorts(graph)
    applied: list[str] = []
    for lowering_pass in PASSES:
        applied += lowering_pass.run(graph, metric)
    return applied, unstable
