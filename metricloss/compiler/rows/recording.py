"""One evaluation of ``g`` for the shapes of its nodes, and when its split may be kept.

The row split is read off shapes, so it holds for every batch whose blocks and target values
have the shapes (and types) of the one it was read from: ``signature`` is the key a program
caches it under. That is only true when no node's shape follows the data (``cacheable``): a
``nonzero`` or a boolean mask gives a different shape on the next batch of the same sizes. Such
a ``g`` is still recorded on every batch, but its split is kept under the shapes every node gave
(``recorded_shapes``): the walk reads nothing else, and batches whose masks select as many
entries share it.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx

from .op_kinds import DATA_SHAPED, holds_node, op_key


class _Recorder(fx.Interpreter):
    """Runs g once and keeps what every node gave: shapes for the analysis."""

    def __init__(self, module):
        super().__init__(module)
        self.seen: dict[fx.Node, object] = {}

    def run_node(self, node):
        result = super().run_node(node)
        self.seen[node] = result
        return result


def signature(blocks, target_values) -> tuple:
    """What the split depends on: the blocks' shapes and the target values' shapes and types."""
    def one(value):
        if isinstance(value, torch.Tensor):
            return ("tensor", tuple(value.shape), value.dtype)
        if isinstance(value, (int, float, bool, str, type(None), torch.dtype)):
            return ("value", type(value).__name__, value)
        return ("object", type(value).__name__)
    device = blocks[0].device if blocks else None
    return device, tuple(tuple(b.shape) for b in blocks), tuple(one(v) for v in target_values)


def recorded_shapes(seen: dict) -> tuple:
    """Every node's shape and dtype (and the value of a Python number) as ``record`` saw them:
    what a split of a ``g`` whose shapes follow the data is kept under, beside ``signature``."""
    def one(value):
        if isinstance(value, torch.Tensor):
            return tuple(value.shape), value.dtype
        if isinstance(value, (tuple, list)):
            return tuple(one(v) for v in value)
        if isinstance(value, (int, float, bool, str, type(None), torch.dtype, torch.device)):
            return type(value).__name__, value
        return type(value).__name__
    return tuple(one(value) for value in seen.values())


def cacheable(g_module: fx.GraphModule) -> bool:
    """Whether every node's shape in g follows from its inputs' shapes (so a split can be cached)."""
    for node in g_module.graph.nodes:
        key = op_key(node)
        if key in DATA_SHAPED:
            return False
        if key is operator.getitem and len(node.args) == 2 and holds_node(node.args[1]):
            return False  # advanced indexing: by a bool mask, its size follows the data
    return True


def record(g_module: fx.GraphModule, blocks: list[torch.Tensor], target_values: tuple) -> dict | None:
    """What every node of g gives on one configuration's ``blocks``, or None when g refuses them."""
    recorder = _Recorder(g_module)
    try:
        with torch.no_grad():
            recorder.run(*blocks, *target_values)
    except Exception:  # noqa: BLE001 - g refuses this configuration: no split, g itself runs
        return None
    return recorder.seen
