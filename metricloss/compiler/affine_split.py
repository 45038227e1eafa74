"""Re-expressions that read the binaries only through a few affine sums.

AUC is the mean of one block; F1, MCC, precision and the other count metrics read TP, FP, FN and
TN, each a sum of (negated, masked) binaries. For such a ``g`` the sums at a configuration ``a``
are ``c + J a`` with ``J`` a handful of rows, so the anchors need not go through ``g`` one
dense row each: a base-plus-flips anchor costs O(flips) (a base's sums plus the flipped columns
of ``J``), a dense anchor one product with ``J``, and the rest of ``g`` runs on [A, F] sums.

The split is structural: starting from the blocks, a node is *affine* while it is a cast to a
float type, a sum or mean, a reshape or indexing by targets, a negation (``~b`` is ``1 - b``), a
sum or difference of affine nodes and targets, or an affine node masked by (``&``, ``*``) or
divided by something that is not a binary. The *statistics* are the affine nodes that feed
anything else. ``J`` comes from autograd on the affine part evaluated on float blocks, so it is
exact for what the graph says, and each batch checks that every statistic is a single number (a
per-class count vector would make ``J`` as large as the dense anchors it replaces).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.fx as fx

from . import ops


MAX_STATISTICS = 16



def one_minus(values: torch.Tensor) -> torch.Tensor:
    """``~b`` on a bool block, written for float blocks."""
    return 1 - values


def kept_float64(values: torch.Tensor) -> torch.Tensor:
    """A float cast of an affine node, written for float64 blocks: the statistics stay in float64
    (a cast to float32 would round J's weights and cost two passes over the binaries)."""
    return values if values.dtype == torch.float64 else values.double()


def masked(values: torch.Tensor, mask) -> torch.Tensor:
    """``b & m`` (or ``b * m``) with a target mask, written for float blocks."""
    return values * (mask.to(values.dtype) if isinstance(mask, torch.Tensor) else mask)


@dataclass(frozen=True)
class AffineSplit:
    """g = rest(statistics(blocks, targets), targets), with ``statistics`` affine in the blocks."""

    statistics: fx.GraphModule  # (float blocks..., targets...) -> tuple of statistics
    rest: fx.GraphModule  # (statistics..., targets...) -> the metric
    nodes: tuple[str, ...] = ()  # the statistics' nodes in g, by name


def affine_split(g_module: fx.GraphModule, block_count: int) -> AffineSplit | None:
    """Split ``g`` at its affine statistics, or None when it has none worth using."""
    g_graph = g_module.graph
    placeholders = [n for n in g_graph.nodes if n.op == "placeholder"]
    blocks = set(placeholders[:block_count])
    binary: set[fx.Node] = set()  # nodes that depend on a block
    affine: set[fx.Node] = set()
    output = None
    for node in g_graph.nodes:
        if node.op == "output":
            output = node
            continue
        if node in blocks:
            binary.add(node)
            affine.add(node)
            continue
        inputs = [n for n in node.all_input_nodes if n in binary]
        if not inputs:
            continue
        binary.add(node)
        if all(n in affine for n in inputs) and _affine_op(node, binary):
            affine.add(node)
    result = output.args[0]
    if not isinstance(result, fx.Node) or result not in binary:
        return None
    frontier = [n for n in g_graph.nodes if n in affine
                and (n is result or any(u not in affine for u in n.users))]
    if not frontier or any(n in blocks for n in frontier) or len(frontier) > MAX_STATISTICS:
        return None  # g reads a whole block (b.all(), a rank): every anchor needs g itself
    return AffineSplit(
        statistics=fx.GraphModule(g_module, _statistics_graph(g_graph, affine, binary, frontier)),
        rest=fx.GraphModule(g_module, _rest_graph(g_graph, affine, binary, frontier, result)),
        nodes=tuple(n.name for n in frontier),
    )


def _key(node: fx.Node):
    return node.target if node.op in ("call_function", "call_method") else None


def _affine_op(node: fx.Node, binary: set[fx.Node]) -> bool:
    """Whether ``node``, all of whose binary inputs are affine, is affine in them."""
    key = _key(node)
    operands = [n for n in node.all_input_nodes if n in binary]
    first = bool(node.args) and node.args[0] is (operands[0] if operands else None)
    if key in ops.FLOAT_CASTS:
        return first and len(operands) == 1 and _float_cast(node)
    if key in ops.REDUCTIONS | ops.RESHAPES | ops.NEGATIONS | ops.SIGN_CHANGES or _is_count(key):
        # One binary operand, first; the rest (dims, an index) must not be binary.
        return first and len(operands) == 1 and "dtype" not in node.kwargs
    if key in ops.SHIFTS:
        return len(node.args) == 2 and not node.kwargs
    if key in ops.MASKINGS:
        return len(node.args) == 2 and len(operands) == 1 and not node.kwargs
    if key in ops.DIVISIONS:
        return len(node.args) == 2 and first and len(operands) == 1 and not node.kwargs
    return False


def _is_count(key) -> bool:
    """``rewrites.count_true``: a sum over the last dimension (of float blocks, as a sum)."""
    return getattr(key, "__name__", None) == "count_true"


def _float_cast(node: fx.Node) -> bool:
    """Casts that keep a gradient: a cast to an integer type would cut J short."""
    if node.target in ("float", "double"):
        return True
    dtype = node.kwargs.get("dtype", node.args[1] if len(node.args) > 1 else None)
    return node.target == "to" and dtype in (torch.float32, torch.float64) and len(node.args) <= 2


def _statistics_graph(g_graph, affine, binary, frontier) -> fx.Graph:
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for node in g_graph.nodes:
        if node.op == "placeholder":
            env[node] = graph.placeholder(node.target)
        elif node.op == "output":
            continue
        elif node in affine:
            key = _key(node)
            if key in ops.NEGATIONS:
                env[node] = graph.call_function(one_minus, (env[node.args[0]],))
            elif key in ops.FLOAT_CASTS and node.args[0] in affine:
                env[node] = graph.call_function(kept_float64, (env[node.args[0]],))
            elif key in ops.MASKINGS:
                value, mask = node.args if node.args[0] in binary else node.args[::-1]
                env[node] = graph.call_function(masked, (env[value], fx.node.map_arg(mask, lambda n: env[n])))
            else:
                env[node] = graph.node_copy(node, lambda n: env[n])
        elif node not in binary:
            env[node] = graph.node_copy(node, lambda n: env[n])  # target-only: masks, counts
    graph.output(tuple(env[n] for n in frontier))
    graph.eliminate_dead_code()
    graph.lint()
    return graph


def _rest_graph(g_graph, affine, binary, frontier, result) -> fx.Graph:
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    statistics = {node: graph.placeholder(f"statistic_{i}") for i, node in enumerate(frontier)}
    for node in g_graph.nodes:
        if node.op == "placeholder":
            if node not in binary:
                env[node] = graph.placeholder(node.target)
        elif node.op == "output":
            continue
        elif node in statistics:
            env[node] = statistics[node]
        elif node not in affine:
            env[node] = graph.node_copy(node, lambda n: env[n])
    graph.output(env[result])
    graph.eliminate_dead_code()
    graph.lint()
    return graph
