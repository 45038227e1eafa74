"""Differences taken before a monotone map, so that the relaxation can saturate.

``torch.sigmoid(s) > 0.5`` is the comparison ``s > 0``; its difference as written,
``sigmoid(s) - 0.5``, stays within (-0.5, 0.5) whatever the logits, so ``tanh(d / 2 tau)`` never
gets near +-1 and the loss keeps a floor at perfect scores. The binary's hard value stays the
user's own comparison (exact, saturation of the float sigmoid included); only the difference
that the relaxation sees is taken on the pre-image: ``s - logit(0.5)``.

Each rule maps a monotone increasing op to (its pre-image, the inverse applied to a threshold).
An op's result may pass through indexing and reshaping before the comparison; the same ops are
replayed on the pre-image. Both sides under the same op compare pre-images directly.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.fx as fx

from . import ops


def logit(threshold):
    """The inverse of the sigmoid (and of softmax's entries), +-inf outside (0, 1)."""
    if isinstance(threshold, torch.Tensor):
        return torch.logit(threshold if threshold.is_floating_point() else threshold.double())
    if threshold <= 0:
        return -math.inf
    if threshold >= 1:
        return math.inf
    return math.log(threshold / (1 - threshold))


def log(threshold):
    if isinstance(threshold, torch.Tensor):
        return torch.log(threshold if threshold.is_floating_point() else threshold.double())
    return math.log(threshold) if threshold > 0 else -math.inf


def atanh(threshold):
    if isinstance(threshold, torch.Tensor):
        return torch.atanh(threshold if threshold.is_floating_point() else threshold.double())
    if threshold <= -1:
        return -math.inf
    return math.inf if threshold >= 1 else math.atanh(threshold)


def exp_then_logit(threshold):
    """A log-probability threshold on the logit scale."""
    if isinstance(threshold, torch.Tensor):
        return logit(torch.exp(threshold if threshold.is_floating_point() else threshold.double()))
    return logit(math.exp(threshold)) if threshold < 700 else math.inf


def softmax_logit(values: torch.Tensor, dim: int) -> torch.Tensor:
    """``logit(softmax(values, dim))``: each entry minus the log-sum-exp of the others, in O(C).

    Subtracting one term from the log-sum-exp of all would cancel catastrophically for the entry
    that dominates it, so the others' sum is taken around the maximum m: for the arg-max itself it
    is the log-sum-exp of the rest (m masked out); for any other entry, ``m + log1p(R - e_i)``
    with ``R`` the rest's sum of ``exp(x - m)`` and ``e_i = exp(x_i - m) <= 1``: ``R - e_i`` is a
    sum of terms up to one, whose rounding the leading ``m`` makes negligible. Float64 inside.
    """
    moved = values.movedim(dim, -1)
    work = moved.double()
    top, at = work.max(-1, keepdim=True)
    without_top = work.scatter(-1, at, float("-inf"))
    rest_sum = (without_top - top).exp().sum(-1, keepdim=True)  # R, in [0, C - 1]
    others = top + torch.log1p((rest_sum - (work - top).exp()).clamp_min(0))
    for_top = without_top.logsumexp(-1, keepdim=True)
    others = others.scatter(-1, at, for_top)
    return (work - others).to(moved.dtype).movedim(-1, dim)


def unchanged(values: torch.Tensor, dim=None) -> torch.Tensor:
    """The pre-image of an elementwise map is its input."""
    return values


@dataclass(frozen=True)
class Preimage:
    keys: tuple  # the op as torch.fx records it (function and method names)
    preimage: Callable  # (the op's input, its dim or None) -> values on an unbounded scale
    inverse: Callable  # a threshold on the op's scale -> the same threshold on that scale
    takes_dim: bool = False


RULES = (
    Preimage((torch.sigmoid, "sigmoid"), unchanged, logit),
    Preimage((torch.exp, "exp"), unchanged, log),
    Preimage((torch.tanh, "tanh"), unchanged, atanh),
    Preimage((torch.softmax, "softmax", torch.nn.functional.softmax), softmax_logit, logit, takes_dim=True),
    Preimage((torch.log_softmax, "log_softmax", torch.nn.functional.log_softmax), softmax_logit,
             exp_then_logit, takes_dim=True),
)
_BY_KEY = {key: rule for rule in RULES for key in rule.keys}


def rule_of(node: fx.Node) -> Preimage | None:
    if node.op not in ("call_function", "call_method"):
        return None
    try:
        return _BY_KEY.get(node.target)
    except TypeError:
        return None


def _dim(node: fx.Node):
    if len(node.args) > 1:
        return node.args[1]
    return node.kwargs.get("dim")


def monotone_source(operand, is_score: Callable[[fx.Node], bool]):
    """(rule, map node, element-moving ops after it) when ``operand`` is a monotone map of scores
    seen through indexing and reshaping; None otherwise."""
    chain = []
    node = operand
    while isinstance(node, fx.Node) and is_score(node):
        rule = rule_of(node)
        if rule is not None:
            if rule.takes_dim and not isinstance(_dim(node), int):
                return None
            return rule, node, chain[::-1]
        sources = [n for n in node.all_input_nodes if is_score(n)]
        if not ops.moves_elements(node) or len(sources) != 1 or node.args[0] is not sources[0]:
            return None
        chain.append(node)
        node = sources[0]
    return None


def emit_difference(graph: fx.Graph, env: dict, lhs, rhs, is_score: Callable[[fx.Node], bool]) -> fx.Node:
    """Emit ``lhs - rhs`` into ``graph``, on pre-images where a monotone map allows it."""
    value = lambda a: fx.node.map_arg(a, lambda n: env[n])  # noqa: E731
    left, right = monotone_source(lhs, is_score), monotone_source(rhs, is_score)
    if left is not None and right is not None and left[0] is right[0]:
        return graph.call_function(operator.sub, (_emit_preimage(graph, env, *left), _emit_preimage(graph, env, *right)))
    for mapped, other, flip in ((left, rhs, False), (right, lhs, True)):
        if mapped is not None and not (isinstance(other, fx.Node) and is_score(other)):
            rule = mapped[0]
            threshold = graph.call_function(rule.inverse, (value(other),))
            pre = _emit_preimage(graph, env, *mapped)
            return graph.call_function(operator.sub, (threshold, pre) if flip else (pre, threshold))
    return graph.call_function(torch.sub, (value(lhs), value(rhs)))


def _emit_preimage(graph: fx.Graph, env: dict, rule: Preimage, node: fx.Node, chain: list[fx.Node]) -> fx.Node:
    dim = _dim(node) if rule.takes_dim else None
    current = graph.call_function(rule.preimage, (env[node.args[0]], dim))
    local = {node: current}
    for step in chain:
        current = graph.node_copy(step, lambda n: local.get(n, env.get(n)))
        local[step] = current
    return current
