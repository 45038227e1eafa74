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

from dataclasses import dataclass, field
from enum import Enum

import networkx as nx
import torch.fx as fx

from . import ops
from ..errors import CompileError
from .lowering import SUPPORTED

_HOW_TO = (
    "a metric must depend on scores only through comparisons such as `pos[:, None] > neg[None, :]` "
    "or `scores.argmax(1) == labels`; indexing, reshaping and monotone maps are allowed before them"
)


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
        return self.node.meta.get("location")


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
        raise CompileError(
            f"metric `{metric}` returns score values at {value.meta.get('location')} instead of a "
            f"number computed from comparisons; {_HOW_TO}."
        )
    target_inputs = sorted(
        {n for node, role in roles.items() if role is Role.BINARY
         for n in node.all_input_nodes if roles[n] is Role.TARGET},
        key=list(graph.nodes).index,
    )
    return Partition(roles, blocks, value, target_inputs)


def _returned_at(graph: fx.Graph, value):
    """Where the returned value was computed: its own line, or the last line of the metric."""
    if isinstance(value, fx.Node) and value.meta.get("location") is not None:
        return value.meta["location"]
    located = [n.meta["location"] for n in graph.nodes
               if n.op in ("call_function", "call_method") and n.meta.get("location")]
    return located[-1] if located else None


def _outside_comparison(node: fx.Node, metric: str) -> CompileError:
    return CompileError(
        f"metric `{metric}`: scores are used outside a comparison at {node.meta.get('location')} "
        f"(op `{ops.describe(node)}`); {_HOW_TO}. Reductions of scores (sum, mean, max) and "
        "products of scores with comparisons have no rewrite into comparisons; the rank-type "
        f"ops that do are: {SUPPORTED}."
    )
