"""Equality of score values, written as the two orderings it means.

``(p > n) + 0.5 * (p == n)`` (AUC with half credit for ties, Harrell's concordance index) asks
whether two scores are equal. Equality of reals has no relaxation of its own, but it is two
comparisons: ``a == b`` is ``(a >= b) & (a <= b)`` and ``a != b`` is ``(a > b) | (a < b)``, both
exact on every input, ties included. The two binaries share one difference ``a - b`` (with
opposite signs), as a ``>``/``>=`` pair does, so the relaxation sees ``d`` and ``-d``.

This runs after the lowering table, so the equalities left are those of score *values*: an
``argmax == labels`` or a top-k membership test has been rewritten into comparisons already,
and an equality of a comparison's result (``(s > 0) == labels``) is a test on binaries that
``g`` evaluates. Which operands carry score values is decided as the partition decides it
(``ops.passes_scores``), so the two never disagree.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx

from . import ops
from .lowered import LOWERED_FROM
from .trace.dependencies import SCORE_ARGUMENT
from .trace.locations import LOCATION

_NEGATED = {operator.ne, torch.ne, "ne"}


def lower_score_equalities(graph: fx.Graph) -> list[str]:
    """Respell every ``==``/``!=`` with a score-valued operand; return what was respelled."""
    valued: set[fx.Node] = set()
    applied = []
    for node in list(graph.nodes):
        if node.op == "placeholder":
            if node.meta.get(SCORE_ARGUMENT):
                valued.add(node)
            continue
        carried = [n for n in node.all_input_nodes if n in valued]
        if not carried:
            continue
        if ops.is_equality(node) and len(node.args) == 2:
            _respell(graph, node)
            applied.append("score_equality: a == b -> (a >= b) & (a <= b); a != b -> (a > b) | (a < b)")
        elif not (ops.is_metadata(node) or ops.is_hard_only(node) or ops.is_comparison(node)) \
                and ops.passes_scores(node, carried):
            valued.add(node)
    return applied


def _respell(graph: fx.Graph, node: fx.Node) -> None:
    lhs, rhs = node.args
    negated = node.target in _NEGATED
    first, second, combine = ((operator.gt, operator.lt, operator.or_) if negated
                              else (operator.ge, operator.le, operator.and_))
    with graph.inserting_before(node):
        before = set(graph.nodes)
        result = graph.call_function(combine, (graph.call_function(first, (lhs, rhs)),
                                               graph.call_function(second, (lhs, rhs))))
    for new in graph.nodes:
        if new not in before:
            new.meta[LOCATION] = node.meta.get(LOCATION)
            new.meta[LOWERED_FROM] = "score_equality"
    node.replace_all_uses_with(result)
    graph.erase_node(node)
