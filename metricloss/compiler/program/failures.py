"""What the user is told when the metric's own code returns the wrong thing or fails on a batch.

A metric must return one number; and when the code after the comparisons raises on a batch, the
error names the user's line, found by running ``g`` node by node (a GraphModule's own error
names only generated code).
"""

from __future__ import annotations

import torch
import torch.fx as fx

from ...errors import InputError
from ..trace.locations import LOCATION


class _FailedAt(Exception):
    def __init__(self, node: fx.Node):
        super().__init__(node.name)
        self.node = node


class _NodeFinder(fx.Interpreter):
    """Runs a module node by node, to tell which of the user's lines raises."""

    def run_node(self, node: fx.Node):
        try:
            return super().run_node(node)
        except Exception as error:  # noqa: BLE001 - any error: the node is what we are after
            raise _FailedAt(node) from error


def failing_line(module: fx.GraphModule, arguments: tuple):
    """The user's ``file:line`` of the op that raises on ``arguments``, or None."""
    try:
        _NodeFinder(module).run(*arguments)
    except _FailedAt as failed:
        return failed.node.meta.get(LOCATION)
    except Exception:  # noqa: BLE001 - it failed outside any one node
        return None
    return None


def metric_value(value, device) -> torch.Tensor:
    """What a metric returned, as a 0-dim tensor; an InputError unless it is one number."""
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise InputError(f"a metric must return a single number; this one returned shape {tuple(value.shape)}")
        return value.reshape(())
    if isinstance(value, (int, float, bool)):
        return torch.tensor(float(value), device=device)
    raise InputError(f"a metric must return a single number; this one returned {type(value).__name__}")

