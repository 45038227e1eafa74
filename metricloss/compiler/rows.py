"""Re-expressions that are a reduction over rows of a function of each row alone.

Most metrics over a batch of samples, queries or joints are a mean (or a sum, or any reduction)
over the leading dimension of a quantity computed row by row: accuracy is the mean over samples
of "the true class beats every other class", NDCG the mean over queries of a ranking's gain. When
every block's leading dimension is that row dimension, ``g`` splits into

    g(blocks, targets) = rest(part(blocks, targets), targets)

where ``part`` computes a small *frontier* (the per-row values, [R, ...]) in which row r reads
only row r of every block, and ``rest`` is everything after it. An anchor that is a base with a
few flipped bits then changes only the frontier rows its flips fall in: ``part`` runs on those
rows alone, the other rows are the base's, and ``rest`` runs on [anchors, R, ...] frontiers.
Every value is still ``g``'s own, computed by the same operations on the same configuration.

The split is structural, read off ``g``'s graph with the shapes of one evaluation: a node is a
*row node* (with its row dimension's position) when it is the block itself, or an elementwise op,
a reduction or scan over other dimensions, a move of dimensions, basic indexing, a gather along
another dimension, or a reshape that keeps the leading rows, applied to row nodes and to target
values (a target that broadcasts along the row dimension with R entries is sliced to the rows
``part`` sees). Anything else (a reduction over rows, advanced indexing, an op not listed)
starts ``rest``. The split is refused when a shape read from a row node would change with the
number of rows, when the blocks do not share a leading dimension, or when the frontier is not
at most half the binaries (twins left out).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import torch
import torch.fx as fx

from . import ops

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


def select_rows(values, dim: int, rows):
    """``values`` (a target with R entries along ``dim``) at the rows ``part`` evaluates."""
    if rows is None or not isinstance(values, torch.Tensor):
        return values
    return values.index_select(dim, rows)


def reshape_rows(values: torch.Tensor, rest: tuple) -> torch.Tensor:
    """``values.reshape(R, *rest)`` for any number of leading rows."""
    return values.reshape(values.shape[0], *rest)


def expand_rows(values: torch.Tensor, sizes: tuple) -> torch.Tensor:
    """``values.expand(*sizes)`` with the row dimension's size left as it is (``sizes`` holds -1)."""
    return values.expand(*sizes)


def all_along(values: torch.Tensor, dim: int, keepdim: bool = False) -> torch.Tensor:
    """``values.all(dim)``: for bools, the minimum of their bytes (torch's bool reduction is
    several times slower on a CPU than a byte minimum)."""
    if values.dtype == torch.bool and values.shape[dim] > 0:
        return values.view(torch.uint8).amin(dim, keepdim=keepdim).view(torch.bool)
    return values.all(dim, keepdim=keepdim)


def any_along(values: torch.Tensor, dim: int, keepdim: bool = False) -> torch.Tensor:
    """``values.any(dim)``: for bools, the maximum of their bytes."""
    if values.dtype == torch.bool and values.shape[dim] > 0:
        return values.view(torch.uint8).amax(dim, keepdim=keepdim).view(torch.bool)
    return values.any(dim, keepdim=keepdim)


_FASTER = {"all": all_along, torch.all: all_along, "any": any_along, torch.any: any_along}


fx.wrap("select_rows")
fx.wrap("reshape_rows")
fx.wrap("expand_rows")


class _Abort(Exception):
    """The split cannot be made (a row count read as a number, say)."""


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


# Ops whose output can change shape with the data: a split read off one batch's shapes could not
# be kept for the next batch of the same input shapes.
_DATA_SHAPED = {torch.nonzero, "nonzero", torch.masked_select, "masked_select", torch.unique, "unique",
                torch.argwhere, "argwhere"}


def cacheable(g_module: fx.GraphModule) -> bool:
    """Whether every node's shape in g follows from its inputs' shapes (so a split can be cached)."""
    for node in g_module.graph.nodes:
        key = _key(node)
        if key in _DATA_SHAPED:
            return False
        if key is operator.getitem and len(node.args) == 2 and _holds_node(node.args[1]):
            return False  # advanced indexing: by a bool mask, its size follows the data
    return True


def _holds_node(index) -> bool:
    if isinstance(index, fx.Node):
        return True
    if isinstance(index, (tuple, list)):
        return any(_holds_node(i) for i in index)
    return False


def record(g_module: fx.GraphModule, blocks: list[torch.Tensor], target_values: tuple) -> dict | None:
    """What every node of g gives on one configuration's ``blocks``, or None when g refuses them."""
    recorder = _Recorder(g_module)
    try:
        with torch.no_grad():
            recorder.run(*blocks, *target_values)
    except Exception:  # noqa: BLE001 - g refuses this configuration: no split, g itself runs
        return None
    return recorder.seen


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
        return _Analysis(g_module.graph, block_count, rows, seen).split(g_module, blocks, own)
    except _Abort:
        return None


def _key(node: fx.Node):
    return node.target if node.op in ("call_function", "call_method") else None


def _shape(value) -> tuple | None:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def _normal(dim: int, ndim: int) -> int:
    return dim + ndim if dim < 0 else dim


_ELEMENTWISE = {
    operator.add, operator.sub, operator.mul, operator.truediv, operator.floordiv, operator.mod,
    operator.pow, operator.and_, operator.or_, operator.xor, operator.invert, operator.neg, operator.pos,
    operator.abs, operator.eq, operator.ne, operator.lt, operator.le, operator.gt, operator.ge,
    torch.add, torch.sub, torch.subtract, torch.mul, torch.multiply, torch.div, torch.divide,
    torch.true_divide, torch.floor_divide, torch.remainder, torch.fmod, torch.pow, torch.float_power,
    torch.where, torch.clamp, torch.clip, torch.minimum, torch.maximum, torch.fmin, torch.fmax,
    torch.logical_and, torch.logical_or, torch.logical_not, torch.logical_xor, torch.bitwise_and,
    torch.bitwise_or, torch.bitwise_not, torch.bitwise_xor, torch.eq, torch.ne, torch.lt, torch.le,
    torch.gt, torch.ge, torch.greater, torch.greater_equal, torch.less, torch.less_equal,
    torch.not_equal, torch.abs, torch.neg, torch.negative, torch.sqrt, torch.rsqrt, torch.exp, torch.exp2,
    torch.log, torch.log2, torch.log10, torch.log1p, torch.expm1, torch.sigmoid, torch.tanh, torch.sign,
    torch.floor, torch.ceil, torch.round, torch.trunc, torch.isnan, torch.isfinite, torch.isinf,
    torch.nan_to_num, torch.reciprocal, torch.square, torch.masked_fill, torch.zeros_like,
    torch.ones_like, torch.full_like, torch.empty_like, torch.clamp_min, torch.clamp_max,
    torch.nn.functional.relu,
    "add", "sub", "subtract", "mul", "multiply", "div", "divide", "true_divide", "floor_divide",
    "remainder", "fmod", "pow", "float_power", "where", "clamp", "clip", "clamp_min", "clamp_max",
    "minimum", "maximum", "fmin", "fmax", "logical_and", "logical_or", "logical_not", "logical_xor",
    "bitwise_and", "bitwise_or", "bitwise_not", "bitwise_xor", "eq", "ne", "lt", "le", "gt", "ge",
    "greater", "greater_equal", "less", "less_equal", "not_equal", "abs", "neg", "negative", "sqrt",
    "rsqrt", "exp", "exp2", "log", "log2", "log10", "log1p", "expm1", "sigmoid", "tanh", "sign",
    "floor", "ceil", "round", "trunc", "isnan", "isfinite", "isinf", "nan_to_num", "reciprocal",
    "square", "masked_fill", "relu", "__and__", "__or__", "__xor__", "__invert__", "__rand__",
    "__ror__", "float", "double", "half", "bfloat16", "long", "int", "short", "bool", "byte", "char",
    "clone", "contiguous", "detach",
}
_CASTS_LIKE = {"to", "type_as", "type"}  # only the first operand's values matter
# Reductions and scans over named dimensions: (dimension argument position, keeps the shape).
_REDUCTIONS = {
    "sum": 1, "mean": 1, "all": 1, "any": 1, "amax": 1, "amin": 1, "argmax": 1, "argmin": 1,
    "prod": 1, "count_nonzero": 1, "nansum": 1, "nanmean": 1, "logsumexp": 1, "std": 1, "var": 1,
    "max": 1, "min": 1, "median": 1, "nanmedian": 1, "mode": 1,
    torch.sum: 1, torch.mean: 1, torch.all: 1, torch.any: 1, torch.amax: 1, torch.amin: 1,
    torch.argmax: 1, torch.argmin: 1, torch.prod: 1, torch.count_nonzero: 1, torch.nansum: 1,
    torch.nanmean: 1, torch.logsumexp: 1, torch.std: 1, torch.var: 1, torch.max: 1, torch.min: 1,
    torch.median: 1, torch.nanmedian: 1, torch.mode: 1,
}
_SCANS = {
    "cumsum": 1, "cumprod": 1, "cummax": 1, "cummin": 1, "softmax": 1, "log_softmax": 1, "sort": 1,
    "argsort": 1, "flip": 1, "logcumsumexp": 1,
    torch.cumsum: 1, torch.cumprod: 1, torch.cummax: 1, torch.cummin: 1, torch.softmax: 1,
    torch.log_softmax: 1, torch.sort: 1, torch.argsort: 1, torch.flip: 1, torch.logcumsumexp: 1,
    torch.nn.functional.softmax: 1, torch.nn.functional.log_softmax: 1,
}
_DEFAULT_LAST = {"sort", "argsort", torch.sort, torch.argsort, "topk", torch.topk, "softmax", "log_softmax",
                 torch.softmax, torch.log_softmax, torch.nn.functional.softmax, torch.nn.functional.log_softmax}


class _Analysis:
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
        if _key(node) == "size":
            self._size(node)
            return
        if _key(node) in ("dim", "ndimension"):
            self.constants[node] = self.seen[node]
            return
        if _key(node) in ("numel", "nelement", len) or node.target is len:
            raise _Abort("a row node's element count is read")
        dim = self._rule(node)
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
            if isinstance(index, int) and _normal(index, ndim) != self.meta[source]:
                self.constants[node] = self.seen[node]
                return
        raise _Abort("the number of rows is read as a number")

    def _size(self, node: fx.Node) -> None:
        source = node.args[0]
        if source not in self.row:
            raise _Abort("size of a node after the frontier")
        dim = ops.argument(node, 1, "dim")
        if dim is None:
            self.meta[node] = self.row[source]
            return
        if isinstance(dim, int) and _normal(dim, len(self._shape(source))) != self.row[source]:
            self.constants[node] = self.seen[node]
            return
        raise _Abort("the number of rows is read as a number")

    def _shape(self, node) -> tuple:
        shape = _shape(self.seen.get(node)) if isinstance(node, fx.Node) else None
        if shape is None:
            raise _Abort(f"no tensor value for {node}")
        return shape

    def _is_tensor(self, value) -> bool:
        return isinstance(value, fx.Node) and isinstance(self.seen.get(value), torch.Tensor)

    # -- the rules ------------------------------------------------------------------------------
    def _rule(self, node: fx.Node) -> int | None:
        key = _key(node)
        if node.op == "call_function" and key is operator.getitem:
            return self._getitem(node)
        if node.op == "call_function" and key is getattr:
            return None
        if key in _CASTS_LIKE:
            first = node.args[0]
            return self.row.get(first) if first in self.row else None
        if key in ("max", "min", torch.max, torch.min) and self._is_tensor(ops.argument(node, 1, "other")):
            return self._elementwise(node)  # max(a, b): elementwise
        if key in _ELEMENTWISE:
            return self._elementwise(node)
        if key in _REDUCTIONS:
            return self._reduction(node)
        if getattr(key, "__name__", None) == "count_true":  # rewrites.count_true: a sum over the last dim
            source = node.args[0]
            if source not in self.row:
                return None
            d = self.row[source]
            return None if d == len(self._shape(source)) - 1 else self._checked(node, source, d)
        if key in _SCANS:
            return self._scan(node)
        if key in ("topk", torch.topk):
            return self._along(node, ops.argument(node, 2, "dim", -1))
        if key in ("narrow", torch.narrow, "select", torch.select, "index_select", torch.index_select,
                   "unbind", torch.unbind):
            return self._narrowing(node)
        if key in ("movedim", "moveaxis", torch.movedim, torch.moveaxis):
            return self._movedim(node)
        if key in ("permute", torch.permute):
            return self._permute(node)
        if key in ("transpose", "swapaxes", "swapdims", torch.transpose, torch.swapaxes, torch.swapdims):
            return self._transpose(node)
        if key in ("t", torch.t):
            source = node.args[0]
            ndim = len(self._shape(source))
            return self._only(node, source, (1 - self.row[source]) if ndim == 2 else self.row[source])
        if key in ("unsqueeze", torch.unsqueeze):
            source = node.args[0]
            dim = _normal(ops.argument(node, 1, "dim"), len(self._shape(source)) + 1)
            d = self.row[source]
            return self._only(node, source, d + 1 if dim <= d else d)
        if key in ("squeeze", torch.squeeze):
            return self._squeeze(node)
        if key in ("flatten", torch.flatten):
            return self._flatten(node)
        if key in ("unflatten", torch.unflatten):
            source = node.args[0]
            dim = _normal(ops.argument(node, 1, "dim"), len(self._shape(source)))
            d = self.row[source]
            if dim == d:
                return None
            return self._only(node, source, d if dim > d else d + len(self._shape(node)) - len(self._shape(source)))
        if key in ("reshape", "view", torch.reshape):
            return self._reshape(node)
        if key in ("expand", "expand_as"):
            return self._expand(node)
        if key in ("gather", torch.gather):
            return self._gather(node)
        if key in ("scatter", "scatter_add", "scatter_reduce", torch.scatter, torch.scatter_add,
                   torch.scatter_reduce):
            return self._scatter(node)
        if key in (torch.stack, torch.cat, torch.concat):
            return self._join(node)
        if key is torch.nn.functional.one_hot:
            return self._only(node, node.args[0], self.row[node.args[0]])
        if key in ("matmul", "__matmul__", torch.matmul, operator.matmul):
            return self._matmul(node)
        if getattr(key, "__name__", None) in ("with_columns", "k_in_range"):
            source = node.args[0]
            if source not in self.row or any(a in self.row for a in node.args[1:] if isinstance(a, fx.Node)):
                return None
            ndim = len(self._shape(source))
            return self.row[source] if self.row[source] != ndim - 1 or key.__name__ == "k_in_range" else None
        return None

    def _only(self, node: fx.Node, source, dim: int | None) -> int | None:
        """``node`` reads one row node (``source``) and no other binary-dependent node."""
        others = [n for n in node.all_input_nodes if n is not source and (n in self.row or n in self.rest)]
        if others or source not in self.row:
            return None
        if dim is None or self._shape(node)[dim] != self.rows:
            return None
        return dim

    def _slice(self, node: fx.Node, target: fx.Node, dim: int) -> None:
        self.slices.setdefault(node, {})[target] = dim

    def _tensor_operands(self, node: fx.Node) -> list[fx.Node]:
        found = []
        for arg in (*node.args, *node.kwargs.values()):
            for item in (arg if isinstance(arg, (tuple, list)) else (arg,)):
                if self._is_tensor(item) and item not in found:
                    found.append(item)
        return found

    def _elementwise(self, node: fx.Node) -> int | None:
        out = self._shape(node)
        operands = self._tensor_operands(node)
        dim = None
        for operand in operands:
            if operand in self.row:
                here = self.row[operand] + len(out) - len(self._shape(operand))
                if dim is not None and here != dim:
                    return None
                dim = here
        if dim is None or out[dim] != self.rows:
            return None
        for operand in operands:
            if operand in self.row:
                continue
            shape = self._shape(operand)
            position = dim - (len(out) - len(shape))
            if 0 <= position < len(shape) and shape[position] != 1:
                if shape[position] != self.rows:
                    return None
                self._slice(node, operand, position)
        return dim

    def _dims(self, node: fx.Node, position: int):
        dims = ops.argument(node, position, "dim")
        if dims is None and "axis" in node.kwargs:
            dims = node.kwargs["axis"]
        return dims

    def _reduction(self, node: fx.Node) -> int | None:
        source = node.args[0]
        if source not in self.row:
            return None
        dims = self._dims(node, _REDUCTIONS[_key(node)])
        if dims is None or isinstance(dims, fx.Node):
            return None  # over every element, rows included
        ndim = len(self._shape(source))
        dims = [_normal(d, ndim) for d in (dims if isinstance(dims, (tuple, list)) else (dims,))]
        if not all(isinstance(d, int) for d in dims):
            return None
        d = self.row[source]
        if d in dims:
            return None
        keep = bool(node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 and isinstance(node.args[2], bool)
                                    else False))
        out = d if keep else d - sum(1 for x in dims if x < d)
        return self._checked(node, source, out)

    def _checked(self, node: fx.Node, source: fx.Node, dim: int) -> int | None:
        """``dim`` for a node whose only binary operand is ``source`` (tuples: their first tensor)."""
        others = [n for n in node.all_input_nodes if n is not source and (n in self.row or n in self.rest)]
        if others:
            return None
        value = self.seen.get(node)
        shapes = [v.shape for v in value] if isinstance(value, (tuple, list)) else [value.shape]
        if not all(len(s) > dim and s[dim] == self.rows for s in shapes):
            return None
        return dim

    def _scan(self, node: fx.Node) -> int | None:
        key = _key(node)
        default = -1 if key in _DEFAULT_LAST else None
        dims = self._dims(node, _SCANS[key])
        if dims is None:
            dims = default
        if dims is None:
            return None
        return self._along(node, dims)

    def _along(self, node: fx.Node, dims) -> int | None:
        source = node.args[0]
        if source not in self.row or isinstance(dims, fx.Node):
            return None
        ndim = len(self._shape(source))
        dims = [_normal(d, ndim) for d in (dims if isinstance(dims, (tuple, list)) else (dims,))]
        d = self.row[source]
        if d in dims:
            return None
        return self._checked(node, source, d)

    def _narrowing(self, node: fx.Node) -> int | None:
        source = node.args[0]
        if source not in self.row:
            return None
        key = _key(node)
        ndim = len(self._shape(source))
        dim = _normal(ops.argument(node, 1, "dim", 0), ndim)
        d = self.row[source]
        if dim == d:
            return None
        if key in ("index_select", torch.index_select):
            index = ops.argument(node, 2, "index")
            if isinstance(index, fx.Node) and (index in self.row or index in self.rest):
                return None
            return self._checked(node, source, d)
        if key in ("select", torch.select, "unbind", torch.unbind):
            return self._checked(node, source, d - 1 if dim < d else d)
        return self._checked(node, source, d)

    def _movedim(self, node: fx.Node) -> int | None:
        source = node.args[0]
        ndim = len(self._shape(source))
        sources = ops.argument(node, 1, "source")
        targets = ops.argument(node, 2, "destination")
        sources = [_normal(s, ndim) for s in (sources if isinstance(sources, (tuple, list)) else (sources,))]
        targets = [_normal(t, ndim) for t in (targets if isinstance(targets, (tuple, list)) else (targets,))]
        order = [None] * ndim  # output position -> input dimension
        for s, t in zip(sources, targets):
            order[t] = s
        remaining = iter(i for i in range(ndim) if i not in sources)
        order = [o if o is not None else next(remaining) for o in order]
        return self._only(node, source, order.index(self.row[source]))

    def _permute(self, node: fx.Node) -> int | None:
        source = node.args[0]
        dims = node.args[1:] if len(node.args) > 2 or not isinstance(node.args[1], (tuple, list)) else node.args[1]
        if "dims" in node.kwargs:
            dims = node.kwargs["dims"]
        ndim = len(self._shape(source))
        dims = [_normal(d, ndim) for d in dims]
        return self._only(node, source, dims.index(self.row[source]))

    def _transpose(self, node: fx.Node) -> int | None:
        source = node.args[0]
        ndim = len(self._shape(source))
        a, b = (_normal(x, ndim) for x in (node.args[1], node.args[2]))
        d = self.row[source]
        return self._only(node, source, b if d == a else a if d == b else d)

    def _squeeze(self, node: fx.Node) -> int | None:
        source = node.args[0]
        before, after = self._shape(source), self._shape(node)
        d = self.row[source]
        dims = ops.argument(node, 1, "dim")
        if dims is None:
            removed = [i for i, s in enumerate(before) if s == 1]
        else:
            dims = [_normal(x, len(before)) for x in (dims if isinstance(dims, (tuple, list)) else (dims,))]
            removed = [i for i in dims if before[i] == 1]
        if d in removed or len(before) - len(removed) != len(after):
            return None
        return self._only(node, source, d - sum(1 for i in removed if i < d))

    def _flatten(self, node: fx.Node) -> int | None:
        source = node.args[0]
        ndim = len(self._shape(source))
        if ndim == 0:
            return None
        start = _normal(ops.argument(node, 1, "start_dim", 0), ndim)
        end = _normal(ops.argument(node, 2, "end_dim", -1), ndim)
        d = self.row[source]
        if start <= d <= end and start != end:
            return None
        return self._only(node, source, d - (end - start) if d > end else d)

    def _reshape(self, node: fx.Node) -> int | None:
        source = node.args[0]
        out = self._shape(node)
        if self.row[source] != 0 or not out or out[0] != self.rows:
            return None
        if self._only(node, source, 0) is None:
            return None
        self.rewrites[node] = (reshape_rows, (tuple(out[1:]),))
        return 0

    def _expand(self, node: fx.Node) -> int | None:
        source = node.args[0]
        if source not in self.row:
            return None
        out = self._shape(node)
        d = self.row[source] + len(out) - len(self._shape(source))
        if self._only(node, source, d) is None:
            return None
        sizes = list(out)
        sizes[d] = -1
        self.rewrites[node] = (expand_rows, (tuple(sizes),))
        return d

    def _gather(self, node: fx.Node) -> int | None:
        source = node.args[0]
        dim = ops.argument(node, 1, "dim")
        index = ops.argument(node, 2, "index")
        if not isinstance(dim, int) or not self._is_tensor(index) or not self._is_tensor(source):
            return None
        if any(n in self.rest for n in (source, index)):
            return None
        ndim = len(self._shape(node))
        dim = _normal(dim, ndim)
        if index in self.row:
            d = self.row[index]
            if source in self.row and self.row[source] != d:
                return None
            if source not in self.row:
                self._slice(node, source, d)
        else:
            d = self.row[source]
            if self._shape(index)[d] != self.rows:
                return None
            self._slice(node, index, d)
        if dim == d or self._shape(node)[d] != self.rows:
            return None
        return d

    def _scatter(self, node: fx.Node) -> int | None:
        """``self.scatter*(dim, index, src)`` along another dimension than the rows'."""
        dim = ops.argument(node, 1, "dim")
        if not isinstance(dim, int):
            return None
        operands = [node.args[0], ops.argument(node, 2, "index"), ops.argument(node, 3, "src")]
        tensors = [o for o in operands if self._is_tensor(o)]
        if any(o in self.rest for o in tensors):
            return None
        rows = {self.row[o] for o in tensors if o in self.row}
        if len(rows) != 1:
            return None
        d = rows.pop()
        out = self._shape(node)
        if _normal(dim, len(out)) == d or out[d] != self.rows:
            return None
        for operand in tensors:
            if operand not in self.row:
                shape = self._shape(operand)
                if len(shape) != len(out) or shape[d] != self.rows:
                    return None
                self._slice(node, operand, d)
        return d

    def _join(self, node: fx.Node) -> int | None:
        tensors = node.args[0]
        if not isinstance(tensors, (tuple, list)) or not tensors:
            return None
        dim = ops.argument(node, 1, "dim", 0)
        out = self._shape(node)
        stacking = node.target is torch.stack
        ndim = len(out) - 1 if stacking else len(out)
        dim = _normal(dim, len(out) if stacking else ndim)
        rows = {self.row[t] for t in tensors if t in self.row}
        if len(rows) != 1 or any(t in self.rest for t in tensors if isinstance(t, fx.Node)):
            return None
        d = rows.pop()
        if not stacking and dim == d:
            return None
        for t in tensors:
            if t in self.row:
                continue
            if not self._is_tensor(t) or len(self._shape(t)) != ndim or self._shape(t)[d] != self.rows:
                return None
            self._slice(node, t, d)
        out_d = d + 1 if stacking and dim <= d else d
        return out_d if out[out_d] == self.rows else None

    def _matmul(self, node: fx.Node) -> int | None:
        left, right = node.args[0], node.args[1]
        if left not in self.row or (isinstance(right, fx.Node) and (right in self.row or right in self.rest)):
            return None
        if not self._is_tensor(right) or len(self._shape(right)) > 2:
            return None
        lshape = self._shape(left)
        d = self.row[left]
        if len(lshape) < 2 or d > len(lshape) - 2:
            return None
        out = d
        return out if self._shape(node)[out] == self.rows else None

    def _getitem(self, node: fx.Node) -> int | None:
        source, index = node.args
        if source not in self.row:
            return None
        value = self.seen.get(source)
        if isinstance(value, (tuple, list)):  # an element of (values, indices)
            return self.row[source] if isinstance(index, int) else None
        if _holds_node(index):
            return None  # advanced indexing
        index = index if isinstance(index, tuple) else (index,)
        ndim = len(self._shape(source))
        explicit = sum(1 for i in index if i is not None and i is not Ellipsis)
        d = self.row[source]
        in_dim, out_dim = 0, 0
        for item in index:
            if item is Ellipsis:
                skipped = ndim - explicit
                if in_dim <= d < in_dim + skipped:
                    return self._only(node, source, out_dim + d - in_dim)
                in_dim += skipped
                out_dim += skipped
            elif item is None:
                out_dim += 1
            elif isinstance(item, int):
                if in_dim == d:
                    return None
                in_dim += 1
            elif isinstance(item, slice):
                if in_dim == d:
                    if item != slice(None):
                        return None
                    return self._only(node, source, out_dim)
                in_dim += 1
                out_dim += 1
            else:
                return None
        # past the index: dimensions kept as they are
        return self._only(node, source, out_dim + d - in_dim)

    # -- the modules ----------------------------------------------------------------------------
    def split(self, g_module: fx.GraphModule, blocks, own) -> RowSplit:
        output = self.output.args[0]
        if not isinstance(output, fx.Node) or output not in self.rest:
            raise _Abort("g's value is not after the frontier")
        frontier = [n for n in self.graph.nodes if n in self.row
                    and any(u in self.rest or u is self.output for u in n.users)]
        if not frontier or any(not isinstance(self.seen.get(n), torch.Tensor) for n in frontier):
            raise _Abort("no frontier of tensors")
        # Against the blocks of their own: a twin (AUC's >= beside >) adds binaries, not variables.
        if FRONTIER_SHARE * sum(self.seen[n].numel() for n in frontier) > sum(b.numel() for b in own):
            raise _Abort("the frontier is not much smaller than the binaries")
        shapes = tuple(torch.Size((self.rows, *[s for i, s in enumerate(self.seen[n].shape) if i != self.row[n]]))
                       for n in frontier)
        return RowSplit(
            rows=self.rows,
            row_sizes=tuple(b.numel() // self.rows for b in blocks),
            part=fx.GraphModule(g_module, self._part_graph(frontier)),
            rest=fx.GraphModule(g_module, self._rest_graph(frontier, output)),
            frontier_shapes=shapes,
        )

    def _part_graph(self, frontier) -> fx.Graph:
        graph = fx.Graph()
        env: dict[fx.Node, fx.Node] = {}
        for node in self.graph.nodes:
            if node.op == "placeholder":
                env[node] = graph.placeholder(node.target)
        rows = graph.placeholder("rows")
        sliced: dict[tuple, fx.Node] = {}
        for node in self.graph.nodes:
            if node.op in ("placeholder", "output") or node in self.rest or node in self.meta:
                continue
            if node in self.constants:
                env[node] = self.constants[node]
                continue
            if node not in self.row:
                env[node] = graph.node_copy(node, lambda n: env[n])  # target-only
                continue
            cuts = self.slices.get(node, {})

            def mapped(n, cuts=cuts):
                if n in cuts:
                    key = (n, cuts[n])
                    if key not in sliced:
                        sliced[key] = graph.call_function(select_rows, (env[n], cuts[n], rows))
                    return sliced[key]
                return env[n]

            if node in self.rewrites:
                helper, extra = self.rewrites[node]
                env[node] = graph.call_function(helper, (mapped(node.args[0]), *extra))
            elif _key(node) in _FASTER and isinstance(ops.argument(node, 1, "dim"), int) \
                    and set(node.kwargs) <= {"dim", "keepdim"} and len(node.args) <= 3:
                keep = ops.argument(node, 2, "keepdim", False)
                env[node] = graph.call_function(
                    _FASTER[_key(node)], (mapped(node.args[0]), ops.argument(node, 1, "dim"), keep))
            else:
                env[node] = graph.node_copy(node, mapped)
        outputs = []
        for node in frontier:
            d = self.row[node]
            outputs.append(env[node] if d == 0 else graph.call_method("movedim", (env[node], d, 0)))
        graph.output(tuple(outputs))
        graph.eliminate_dead_code()
        graph.lint()
        return graph

    def _rest_graph(self, frontier, output) -> fx.Graph:
        graph = fx.Graph()
        env: dict[fx.Node, fx.Node] = {}
        inputs = [graph.placeholder(f"frontier_{i}") for i in range(len(frontier))]
        for node in self.targets:
            env[node] = graph.placeholder(node.target)
        for node, value in zip(frontier, inputs):
            d = self.row[node]
            env[node] = value if d == 0 else graph.call_method("movedim", (value, 0, d))
        for node in self.graph.nodes:
            if node.op in ("placeholder", "output") or node in env:
                continue
            if node in self.constants:
                env[node] = self.constants[node]
            elif node in self.rest or (node not in self.row and node not in self.meta):
                env[node] = graph.node_copy(node, lambda n: env[n])
        graph.output(env[output])
        graph.eliminate_dead_code()
        graph.lint()
        return graph
