"""``g`` cut at its per-row frontier: the ``part`` and ``rest`` modules of a row split.

The frontier is every row node that a node of ``rest`` (or the output) reads. ``part`` is a copy
of ``g`` up to the frontier, with targets cut to the rows it is given and each frontier value's
row dimension moved first; ``rest`` takes the frontier values and the targets and copies
everything after. The cut is refused when it would save little: a frontier as large as the
binaries makes ``rest`` cost what ``g`` does.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.fx as fx

from .. import ops
from ..bool_ops import with_fast_bools
from .counted import counted_part
from .dimensions import RowDimensions, RowSplitRefused
from .op_kinds import op_key
from .part_ops import FASTER, select_rows

# The frontier must be at most this fraction of the binaries (of blocks that are not twins):
# otherwise the rest of g costs what g does.
FRONTIER_SHARE = 2


@dataclass(frozen=True)
class RowSplit:
    """g = rest(part(blocks, targets, rows), targets), with ``part`` computed row by row."""

    rows: int  # R, the leading dimension of every block
    row_sizes: tuple[int, ...]  # binaries per row, per block
    part: fx.GraphModule  # (blocks [P, ...]..., targets..., rows [P] or None) -> frontier, rows first
    rest: fx.GraphModule  # (frontier [R, ...]..., targets...) -> the metric
    frontier_shapes: tuple[torch.Size, ...]  # each frontier value's shape for R rows, rows first
    # ``part`` after its blocks' counts, when it reads each block only through ``count_true``
    # (counted.py): (counts [P, ...]..., targets..., rows) -> the frontier. None otherwise.
    counted: fx.GraphModule | None = None


def row_split(g_module: fx.GraphModule, block_count: int, blocks: list[torch.Tensor],
              seen: dict, twins: tuple = ()) -> RowSplit | None:
    """Split g at its per-row frontier for blocks of these shapes, or None when it has none.

    ``seen``: what ``record`` gave for one configuration of these shapes; ``twins``: per block,
    whether it is a twin of another (it adds binaries, not variables).
    """
    if not blocks or any(b.dim() == 0 for b in blocks):
        return None
    rows = blocks[0].shape[0]
    if rows < 2 or any(b.shape[0] != rows for b in blocks):
        return None
    try:
        own = [b for b, twin in zip(blocks, twins or (None,) * len(blocks)) if not twin]
        return _cut(RowDimensions(g_module.graph, block_count, rows, seen), g_module, blocks, own)
    except RowSplitRefused:
        return None


def _cut(walk: RowDimensions, g_module: fx.GraphModule, blocks, own) -> RowSplit:
    output = walk.output.args[0]
    if not isinstance(output, fx.Node) or output not in walk.rest:
        raise RowSplitRefused("g's value is not after the frontier")
    frontier = [n for n in walk.graph.nodes if n in walk.row
                and any(u in walk.rest or u is walk.output for u in n.users)]
    if not frontier or any(not isinstance(walk.seen.get(n), torch.Tensor) for n in frontier):
        raise RowSplitRefused("no frontier of tensors")
    # Against the blocks of their own: a twin (AUC's >= beside >) adds binaries, not variables.
    if FRONTIER_SHARE * sum(walk.seen[n].numel() for n in frontier) > sum(b.numel() for b in own):
        raise RowSplitRefused("the frontier is not much smaller than the binaries")
    shapes = tuple(torch.Size((walk.rows, *[s for i, s in enumerate(walk.seen[n].shape) if i != walk.row[n]]))
                   for n in frontier)
    part = with_fast_bools(fx.GraphModule(g_module, _part_graph(walk, frontier)))
    return RowSplit(
        rows=walk.rows,
        row_sizes=tuple(b.numel() // walk.rows for b in blocks),
        part=part,
        rest=with_fast_bools(fx.GraphModule(g_module, _rest_graph(walk, frontier, output))),
        frontier_shapes=shapes,
        counted=counted_part(part, len(blocks)) if all(b.dim() >= 2 for b in blocks) else None,
    )


def _part_graph(walk: RowDimensions, frontier) -> fx.Graph:
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for node in walk.graph.nodes:
        if node.op == "placeholder":
            env[node] = graph.placeholder(node.target)
    rows = graph.placeholder("rows")
    sliced: dict[tuple, fx.Node] = {}
    for node in walk.graph.nodes:
        if node.op in ("placeholder", "output") or node in walk.rest or node in walk.meta:
            continue
        if node in walk.constants:
            env[node] = walk.constants[node]
            continue
        if node not in walk.row:
            env[node] = graph.node_copy(node, lambda n: env[n])  # target-only
            continue
        cuts = walk.slices.get(node, {})

        def mapped(n, cuts=cuts):
            if n in cuts:
                key = (n, cuts[n])
                if key not in sliced:
                    sliced[key] = graph.call_function(select_rows, (env[n], cuts[n], rows))
                return sliced[key]
            return env[n]

        if node in walk.rewrites:
            helper, extra = walk.rewrites[node]
            env[node] = graph.call_function(helper, (mapped(node.args[0]), *extra))
        elif op_key(node) in FASTER and isinstance(ops.argument(node, 1, "dim"), int) \
                and set(node.kwargs) <= {"dim", "keepdim"} and len(node.args) <= 3:
            keep = ops.argument(node, 2, "keepdim", False)
            env[node] = graph.call_function(
                FASTER[op_key(node)], (mapped(node.args[0]), ops.argument(node, 1, "dim"), keep))
        else:
            env[node] = graph.node_copy(node, mapped)
    outputs = []
    for node in frontier:
        d = walk.row[node]
        outputs.append(env[node] if d == 0 else graph.call_method("movedim", (env[node], d, 0)))
    graph.output(tuple(outputs))
    graph.eliminate_dead_code()
    graph.lint()
    return graph


def _rest_graph(walk: RowDimensions, frontier, output) -> fx.Graph:
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    inputs = [graph.placeholder(f"frontier_{i}") for i in range(len(frontier))]
    for node in walk.targets:
        env[node] = graph.placeholder(node.target)
    for node, value in zip(frontier, inputs):
        d = walk.row[node]
        env[node] = value if d == 0 else graph.call_method("movedim", (value, 0, d))
    for node in walk.graph.nodes:
        if node.op in ("placeholder", "output") or node in env:
            continue
        if node in walk.constants:
            env[node] = walk.constants[node]
        elif node in walk.rest or (node not in walk.row and node not in walk.meta):
            env[node] = graph.node_copy(node, lambda n: env[n])
    graph.output(env[output])
    graph.eliminate_dead_code()
    graph.lint()
    return graph
