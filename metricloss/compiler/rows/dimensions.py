"""The row walk: each node of ``g`` gets its row dimension, or joins ``rest``.

Nodes are visited in graph order with the values one evaluation gave (``recording.record``). A
node is a row node when a rule for its op (``rules_*.py``) says where its row dimension is; it is
in ``rest`` when it reads a node of ``rest`` or no rule applies; it is target-only when it reads
no binaries. A shape read from a row node is a constant of the split when it is another
dimension's size, and refuses the split when it is the number of rows, which ``part`` changes.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx

from .. import ops
from . import rules_indexing, rules_layout, rules_reductions
from .op_kinds import CASTS_LIKE, ELEMENTWISE, REDUCTIONS, SCANS, normal_dim, op_key, value_shape


class RowSplitRefused(Exception):
    """The split cannot be made (a row count read as a number, say)."""


class RowDimensions:
    """Row dimensions of g's nodes, from one evaluation's values."""

    def __init__(self, graph: fx.Graph, block_count: int, rows: int, seen: dict):
        self.graph = graph
        self.rows = rows
        self.seen = seen
        placeholders = [n for n in graph.nodes if n.op == "placeholder"]
        self.blocks = placeholders[:block_count]
        self.targets = placeholders[block_count:]
        self.row: dict[fx.Node, int] = {}  # row nodes -> their row dimension
        self.rest: set[fx.Node] = set()  # nodes after the frontier (they depend on the binaries)
        self.meta: dict[fx.Node, int] = {}  # the shape of a row node -> its row dimension
        # Per row node: argument -> dimension along which ``part`` slices that target.
        self.slices: dict[fx.Node, dict[fx.Node, int]] = {}
        self.rewrites: dict[fx.Node, tuple] = {}  # row node -> (helper, extra arguments)
        # Values read from a row node's metadata that do not depend on the rows (another
        # dimension's size, a dtype): constants of this split.
        self.constants: dict[fx.Node, object] = {}
        self.output: fx.Node | None = None
        for node in graph.nodes:
            self._visit(node)

    # -- the walk -----------------------------------------------------------------------------
    def _visit(self, node: fx.Node) -> None:
        if node.op == "output":
            self.output = node
            return
        if node.op == "placeholder":
            if node in self.blocks:
                self.row[node] = 0
            return
        if node.op == "get_attr":
            return
        inputs = node.all_input_nodes
        if any(n in self.meta for n in inputs):
            self._metadata_use(node)
            return
        if any(n in self.rest for n in inputs):
            self.rest.add(node)
            return
        if not any(n in self.row for n in inputs):
            return  # target-only: computed in full wherever it is needed
        if node.op == "call_function" and node.target is getattr:
            if node.args[1] == "shape":
                self.meta[node] = self.row[node.args[0]]
                return
            if node.args[1] in ("dtype", "device", "ndim", "is_cuda"):
                self.constants[node] = self.seen[node]  # does not change with the number of rows
                return
            self.rest.add(node)
            return
        if op_key(node) == "size":
            self._size(node)
            return
        if op_key(node) in ("dim", "ndimension"):
            self.constants[node] = self.seen[node]
            return
        if op_key(node) in ("numel", "nelement", len) or node.target is len:
            raise RowSplitRefused("a row node's element count is read")
        dim = self.rule(node)
        if dim is None:
            self.rest.add(node)
        else:
            self.row[node] = dim

    def _metadata_use(self, node: fx.Node) -> None:
        """A shape of a row node: a size of another dimension is a constant; the rows' is not."""
        if node.op == "call_function" and node.target is operator.getitem and node.args[0] in self.meta:
            source = node.args[0]
            index = node.args[1]
            ndim = len(self.seen[source])
            if isinstance(index, int) and normal_dim(index, ndim) != self.meta[source]:
                self.constants[node] = self.seen[node]
                return
        raise RowSplitRefused("the number of rows is read as a number")

    def _size(self, node: fx.Node) -> None:
        source = node.args[0]
        if source not in self.row:
            raise RowSplitRefused("size of a node after the frontier")
        dim = ops.argument(node, 1, "dim")
        if dim is None:
            self.meta[node] = self.row[source]
            return
        if isinstance(dim, int) and normal_dim(dim, len(self.shape(source))) != self.row[source]:
            self.constants[node] = self.seen[node]
            return
        raise RowSplitRefused("the number of rows is read as a number")

    def shape(self, node) -> tuple:
        """The recorded shape of a tensor node; the split is refused for anything else."""
        shape = value_shape(self.seen.get(node)) if isinstance(node, fx.Node) else None
        if shape is None:
            raise RowSplitRefused(f"no tensor value for {node}")
        return shape

    def is_tensor(self, value) -> bool:
        """Whether ``value`` is a node that gave a tensor."""
        return isinstance(value, fx.Node) and isinstance(self.seen.get(value), torch.Tensor)

    # -- the rules ------------------------------------------------------------------------------
    def rule(self, node: fx.Node) -> int | None:
        """The row dimension of a node that reads row nodes, or None when it starts ``rest``."""
        key = op_key(node)
        if node.op == "call_function" and key is operator.getitem:
            return rules_indexing.getitem(self, node)
        if node.op == "call_function" and key is getattr:
            return None
        if key in CASTS_LIKE:
            first = node.args[0]
            return self.row.get(first) if first in self.row else None
        if key in ("max", "min", torch.max, torch.min) and self.is_tensor(ops.argument(node, 1, "other")):
            return rules_reductions.elementwise(self, node)  # max(a, b): elementwise
        if key in ELEMENTWISE:
            return rules_reductions.elementwise(self, node)
        if key in REDUCTIONS:
            return rules_reductions.reduction(self, node)
        if getattr(key, "__name__", None) == "count_true":
            return rules_reductions.count_true(self, node)
        if key in SCANS:
            return rules_reductions.scan(self, node)
        if key in ("topk", torch.topk):
            return rules_reductions.along(self, node, ops.argument(node, 2, "dim", -1))
        if key in ("narrow", torch.narrow, "select", torch.select, "index_select", torch.index_select,
                   "unbind", torch.unbind):
            return rules_layout.narrowing(self, node)
        if key in ("movedim", "moveaxis", torch.movedim, torch.moveaxis):
            return rules_layout.movedim(self, node)
        if key in ("permute", torch.permute):
            return rules_layout.permute(self, node)
        if key in ("transpose", "swapaxes", "swapdims", torch.transpose, torch.swapaxes, torch.swapdims):
            return rules_layout.transpose(self, node)
        if key in ("t", torch.t):
            return rules_layout.transposed(self, node)
        if key in ("unsqueeze", torch.unsqueeze):
            return rules_layout.unsqueeze(self, node)
        if key in ("squeeze", torch.squeeze):
            return rules_layout.squeeze(self, node)
        if key in ("flatten", torch.flatten):
            return rules_layout.flatten(self, node)
        if key in ("unflatten", torch.unflatten):
            return rules_layout.unflatten(self, node)
        if key in ("reshape", "view", torch.reshape):
            return rules_layout.reshape(self, node)
        if key in ("expand", "expand_as"):
            return rules_layout.expand(self, node)
        if key in ("gather", torch.gather):
            return rules_indexing.gather(self, node)
        if key in ("scatter", "scatter_add", "scatter_reduce", torch.scatter, torch.scatter_add,
                   torch.scatter_reduce):
            return rules_indexing.scatter(self, node)
        if key in (torch.stack, torch.cat, torch.concat):
            return rules_indexing.join(self, node)
        if key is torch.nn.functional.one_hot:
            return self.only(node, node.args[0], self.row[node.args[0]])
        if key in ("matmul", "__matmul__", torch.matmul, operator.matmul):
            return rules_indexing.matmul(self, node)
        if getattr(key, "__name__", None) in ("with_columns", "k_in_range"):
            return rules_layout.along_columns(self, node)
        return None

    # -- what every rule asks -------------------------------------------------------------------
    def only(self, node: fx.Node, source, dim: int | None) -> int | None:
        """``node`` reads one row node (``source``) and no other binary-dependent node."""
        others = [n for n in node.all_input_nodes if n is not source and (n in self.row or n in self.rest)]
        if others or source not in self.row:
            return None
        if dim is None or self.shape(node)[dim] != self.rows:
            return None
        return dim

    def checked(self, node: fx.Node, source: fx.Node, dim: int) -> int | None:
        """``dim`` for a node whose only binary operand is ``source`` (tuples: their first tensor)."""
        others = [n for n in node.all_input_nodes if n is not source and (n in self.row or n in self.rest)]
        if others:
            return None
        value = self.seen.get(node)
        shapes = [v.shape for v in value] if isinstance(value, (tuple, list)) else [value.shape]
        if not all(len(s) > dim and s[dim] == self.rows for s in shapes):
            return None
        return dim

    def slice(self, node: fx.Node, target: fx.Node, dim: int) -> None:
        """``part`` reads ``target`` (an argument of ``node``) at its rows along ``dim``."""
        self.slices.setdefault(node, {})[target] = dim

    def tensor_operands(self, node: fx.Node) -> list[fx.Node]:
        """The arguments of ``node`` whose recorded value is a tensor, in order, once each."""
        found = []
        for arg in (*node.args, *node.kwargs.values()):
            for item in (arg if isinstance(arg, (tuple, list)) else (arg,)):
                if self.is_tensor(item) and item not in found:
                    found.append(item)
        return found
