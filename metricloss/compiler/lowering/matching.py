"""What every matcher of the rewrite table asks of a node, and the ``Match`` it returns.

Matchers see the graph before the partition's taint analysis, so they ask
``trace.depends_on_scores`` which operand carries the scores; a match lists the scores first,
then the targets, and the constants (``dim``, ``k``) the replacement is written for.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.fx as fx

from ...errors import CompileError
from ..ops import argument, is_call
from ..trace import depends_on_scores
from ..trace.locations import LOCATION


@dataclass(frozen=True)
class Match:
    inputs: tuple[fx.Node, ...]  # scores first, then targets
    constants: dict[str, Any] = field(default_factory=dict)


def is_equality_test(node) -> bool:
    return is_call(node, "eq", torch.eq) or (
        isinstance(node, fx.Node) and node.op == "call_function" and node.target is operator.eq
    )


def is_inequality_test(node) -> bool:
    return is_call(node, "ne", torch.ne) or (
        isinstance(node, fx.Node) and node.op == "call_function" and node.target is operator.ne
    )


def scores_and_target(node: fx.Node, pick: Callable[[Any], bool]):
    """The operand of a binary op that ``pick`` accepts, and the other one if it is a target."""
    if len(node.args) != 2:
        return None
    for mine, other in (node.args, node.args[::-1]):
        if pick(mine) and isinstance(other, fx.Node) and not depends_on_scores(other):
            return mine, other
    return None


def constant_dim(node: fx.Node, metric: str, default=None) -> int:
    dim = argument(node, 1, "dim", default)
    if not isinstance(dim, int):
        raise CompileError(
            f"metric `{metric}`: `{node.target}` at {node.meta.get(LOCATION)} needs a constant "
            "`dim` to be rewritten into comparisons, e.g. `scores.argmax(1)`."
        )
    return dim

