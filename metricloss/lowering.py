"""Lowering: rank-type ops on scores rewritten into comparisons, from one table of rules.

Users write ``(scores.argmax(1) == labels).float().mean()``; argmax is not a comparison, but
"the true class wins" is exactly "the true class's score beats every other class's score". Each
rule pairs a matcher over the traced graph with a replacement written as ordinary tensor code; the
replacement is traced once and inlined in place of the matched node, so the rest of the compiler
sees only comparisons.
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.fx as fx

from .errors import CompileError
from .render import render
from .trace import depends_on_scores


def argmax_equals(scores: torch.Tensor, labels: torch.Tensor, dim: int) -> torch.Tensor:
    """``scores.argmax(dim) == labels`` as ``all over c != labels of scores[labels] > scores[c]``."""
    scores = scores.movedim(dim, -1)
    classes = scores.shape[-1]
    index = labels.long().unsqueeze(-1)
    true_score = scores.gather(-1, index).reshape(-1, 1)
    rivals = scores[torch.arange(classes, device=labels.device) != index].reshape(-1, classes - 1)
    return (true_score > rivals).all(-1).reshape(labels.shape)


@dataclass(frozen=True)
class Rewrite:
    """One lowering rule: ``match`` returns the replacement's arguments, or None."""

    name: str
    pattern: str
    rewrite: str
    block: str  # the binaries it creates, with {scores}, {labels}, {dim} filled in for explain
    match: Callable[[fx.Node, str], tuple | None]
    replacement: Callable


def _argmax_of_scores(node: object) -> fx.Node | None:
    if not isinstance(node, fx.Node):
        return None
    if (node.op == "call_method" and node.target == "argmax") or (
        node.op == "call_function" and node.target is torch.argmax
    ):
        return node if depends_on_scores(node) else None
    return None


def _match_argmax_equals(node: fx.Node, metric: str) -> tuple | None:
    is_eq = (node.op == "call_function" and node.target in (operator.eq, torch.eq)) or (
        node.op == "call_method" and node.target == "eq"
    )
    if not is_eq or len(node.args) != 2:
        return None
    left, right = node.args
    argmax, labels = (left, right) if _argmax_of_scores(left) else (right, left)
    argmax = _argmax_of_scores(argmax)
    if argmax is None or not isinstance(labels, fx.Node) or depends_on_scores(labels):
        return None
    source = argmax.args[0]
    dim = argmax.args[1] if len(argmax.args) > 1 else argmax.kwargs.get("dim")
    keepdim = argmax.args[2] if len(argmax.args) > 2 else argmax.kwargs.get("keepdim", False)
    if not isinstance(dim, int) or keepdim:
        raise CompileError(
            f"metric `{metric}`: argmax at {argmax.meta.get('location')} needs a constant `dim` "
            "and keepdim=False to be lowered into comparisons; write `scores.argmax(dim) == labels`."
        )
    return source, labels, dim


REWRITES: tuple[Rewrite, ...] = (
    Rewrite(
        name="argmax_equals",
        pattern="scores.argmax(dim) == labels",
        rewrite="all over c != labels of (scores[labels] > scores[c])",
        block="[{scores}[..., {labels}] > {scores}[..., c]] along dim {dim}, for every class c != {labels}",
        match=_match_argmax_equals,
        replacement=argmax_equals,
    ),
)


def lower(graph: fx.Graph, metric: str) -> list[str]:
    """Apply every rule of ``REWRITES`` until none matches; return what was rewritten."""
    applied = []
    for node in list(graph.nodes):
        for rule in REWRITES:
            arguments = rule.match(node, metric)
            if arguments is None:
                continue
            *inputs, dim = arguments
            _inline(graph, node, rule, inputs, dim)
            applied.append(f"{rule.name}: {rule.pattern} -> {rule.rewrite}")
            break
    graph.eliminate_dead_code()
    return applied


def _inline(graph: fx.Graph, node: fx.Node, rule: Rewrite, inputs: list[fx.Node], dim: int) -> None:
    def replacement(scores, labels):
        return rule.replacement(scores, labels, dim)

    sub = fx.Tracer().trace(replacement)
    placeholders = [n for n in sub.nodes if n.op == "placeholder"]
    value_map = dict(zip(placeholders, inputs))
    with graph.inserting_before(node):
        before = set(graph.nodes)
        result = graph.graph_copy(sub, value_map)
    text = rule.block.format(scores=render(inputs[0]), labels=render(inputs[1]), dim=dim)
    for new in graph.nodes:
        if new not in before and new is not node:
            new.meta["location"] = node.meta.get("location")
            new.meta["lowered_from"] = rule.name
            new.meta["lowered_text"] = text
    node.replace_all_uses_with(result)
    graph.erase_node(node)
