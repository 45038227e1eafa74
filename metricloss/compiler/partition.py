"""Split a traced metric at its score comparisons.

Every node gets one role, propagated in graph order:

- ``score``: carries score values; only pass-through ops (``ops.passes_scores``) may produce it;
- ``block``: a comparison with a score operand: a tensor of binary variables;
- ``binary``: computed from blocks (and targets): the re-expression ``g``;
- ``target``: everything that never sees a score value (targets, constants, shapes).

Anything else is a CompileError at the user's line. A networkx graph of the result backs
``explain`` (and its DOT export).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass, field
from enum import Enum

import networkx as nx
import torch.fx as fx

from . import ops
from ..errors import CompileError
from .lowering import SUPPORTED
from .trace.dependencies import depends_on_scores, upstream
from .trace.locations import LOCATION

_HOW_TO = (
    "a metric must depend on scores only through comparisons such as `pos[:, None] > neg[None, :]` "
    "or `scores.argmax(1) == labels`; indexing, reshaping and monotone maps are allowed before them"
)


class ValuesNotComparisons(CompileError):
    """The metric's value is computed from score values themselves, not only from comparisons of
    them (a calibration error averages probabilities). No rewrite of the code can change that, so
    this refusal outranks any other the same code meets: a loop or an ``if`` written differently
    would only lead to it. ``reason`` is the message without the metric's name, for a message
    that names another construct first."""

    def __init__(self, metric: str, reason: str):
        super().__init__(f"metric `{metric}`: {reason}")
        self.reason = reason


class Role(Enum):
    SCORE = "score"
    BLOCK = "block"
    BINARY = "binary"
    TARGET = "target"


@dataclass(frozen=True)
class Block:
    """One comparison of scores: a tensor of binary variables ``[difference > 0]``."""

    node: fx.Node
    sign: int  # +1: difference = lhs - rhs; -1: rhs - lhs
    symbol: str

    @property
    def location(self):
        return self.node.meta.get(LOCATION)


@dataclass
class Partition:
    roles: dict[fx.Node, Role]
    blocks: list[Block]
    output: fx.Node
    target_inputs: list[fx.Node] = field(default_factory=list)  # target values that g reads

    def dependency_graph(self) -> nx.DiGraph:
        graph = nx.DiGraph()
        for node, role in self.roles.items():
            graph.add_node(node.name, role=role.value, op=str(node.target))
            for source in node.all_input_nodes:
                graph.add_edge(source.name, node.name)
        return graph


def partition(graph: fx.Graph, metric: str) -> Partition:
    roles: dict[fx.Node, Role] = {}
    blocks: list[Block] = []
    output = None
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    for node in graph.nodes:
        if node.op == "placeholder":
            roles[node] = Role.SCORE if node is placeholders[0] else Role.TARGET
            continue
        if node.op == "output":
            output = node
            continue
        inputs = node.all_input_nodes
        kinds = {roles[n] for n in inputs}
        score_operands = [n for n in inputs if roles[n] is Role.SCORE]
        has_binary = bool(kinds & {Role.BLOCK, Role.BINARY})
        if ops.is_metadata(node) or ops.is_hard_only(node):
            roles[node] = Role.TARGET
        elif has_binary and score_operands:
            raise _outside_comparison(node, metric)
        elif has_binary:
            roles[node] = Role.BINARY
        elif score_operands and ops.is_comparison(node):
            roles[node] = Role.BLOCK
            blocks.append(Block(node, ops.comparison_sign(node), ops.comparison_symbol(node)))
        elif score_operands and ops.passes_scores(node, score_operands):
            roles[node] = Role.SCORE
        elif score_operands and node.users and all(ops.is_metadata(user) for user in node.users):
            roles[node] = Role.SCORE  # only its shape is read (``labels.view_as(pred)``)
        elif score_operands:
            raise _outside_comparison(node, metric)
        else:
            roles[node] = Role.TARGET

    value = output.args[0]
    if not isinstance(value, fx.Node) or roles[value] is Role.TARGET:
        where = _returned_at(graph, value)
        raise CompileError(
            f"metric `{metric}` never compares scores{f' in the value returned at {where}' if where else ''} "
            "(its value does not depend on any comparison of them; a comparison that a clamp or relu "
            f"before it decides whatever the scores, like `relu(scores) > -1`, is a constant); {_HOW_TO}."
        )
    if roles[value] is Role.SCORE:
        raise ValuesNotComparisons(
            metric,
            f"returns score values at {value.meta.get(LOCATION)} instead of a number computed "
            f"from comparisons; {_HOW_TO}. {_NOT_A_LOSS}",
        )
    target_inputs = sorted(
        {n for node, role in roles.items() if role is Role.BINARY
         for n in node.all_input_nodes if roles[n] is Role.TARGET},
        key=list(graph.nodes).index,
    )
    return Partition(roles, blocks, value, target_inputs)


def _returned_at(graph: fx.Graph, value):
    """Where the returned value was computed: its own line, or the last line of the metric."""
    if isinstance(value, fx.Node) and value.meta.get(LOCATION) is not None:
        return value.meta[LOCATION]
    located = [n.meta[LOCATION] for n in graph.nodes
               if n.op in ("call_function", "call_method") and n.meta.get(LOCATION)]
    return located[-1] if located else None


_NOT_A_LOSS = (
    "The value it returns is computed from the score values themselves, not only from how they "
    "compare, so the metric is not a function of score comparisons and cannot become a UniLoss, "
    "however it is written (a calibration error, which averages probabilities, and a regression "
    "error are such metrics: train with a loss made for them and keep the metric for evaluation). "
    "If a threshold or a ranking was meant, compare the scores: `probs > 0.5`, "
    "`pos[:, None] > neg[None, :]`."
)


def _outside_comparison(node: fx.Node, metric: str) -> CompileError:
    op = ops.describe(node)
    if node.op == "call_function" and node.target is operator.getitem and isinstance(node.args[1], fx.Node) \
            and depends_on_scores(node.args[1]):
        op += "`: score values picked out by a comparison of the scores, as `probs[probs > lo]"
    where = f"scores are used outside a comparison at {node.meta.get(LOCATION)} (op `{op}`)"
    if not _positions_upstream(node) and _reaches_output(node):
        return ValuesNotComparisons(metric, f"{where}; {_HOW_TO}. {_NOT_A_LOSS}")
    return CompileError(
        f"metric `{metric}`: {where}; {_HOW_TO}. Reductions of scores (sum, mean, max) and "
        "products of scores with comparisons have no rewrite into comparisons; the rank-type "
        f"ops that do are: {SUPPORTED}."
    )


def _positions_upstream(node: fx.Node) -> bool:
    """Whether ``node`` may carry positions rather than score values: a rank-type op, or a max or
    min along a dim (whose indices are positions), at or before it. Positions are functions of
    comparisons, whatever the compiler makes of the code that reads them."""
    return upstream(node, lambda current: ops.is_rank_type(current) or (
        ops.selection(current) is not None and len(current.args) + len(current.kwargs) > 1))


def _reaches_output(node: fx.Node) -> bool:
    """Whether ``node``'s value reaches the returned value without passing a comparison, a
    rank-type op (positions are functions of comparisons, whatever the compiler makes of them)
    or a read of metadata: then the metric returns arithmetic on score values, and no op the
    compiler could learn would make it a function of comparisons."""
    seen, stack = set(), [node]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if current.op == "output":
            return True
        if current is not node and (ops.is_comparison(current) or ops.is_equality(current)
                                    or ops.is_rank_type(current) or ops.is_metadata(current)
                                    or ops.is_hard_only(current)):
            continue
        stack.extend(current.users)
    return False
