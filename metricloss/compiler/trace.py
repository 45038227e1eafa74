"""Tracing a metric into a torch.fx graph, with every node tagged by the user's source line.

A metric is first traced symbolically, for every shape at once. Code that needs a shape as a
Python number (``for c in range(scores.shape[1])``, ``len(labels)``, ``if scores.shape[1] == 2``)
stops that trace with ``NeedsShapes``; it is then traced again with example tensors on the meta
device, so shapes are plain ints and the loop unrolls (``shapes.py`` keeps one trace per shape
signature). Python control flow on score *values* cannot be traced in either mode: the error
names the line and says what to write instead, unless nothing would help: when the rest of the
metric uses score values themselves (a binned calibration error), the error says so first time.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import operator
import os
import sys
import warnings
from collections.abc import Callable, Mapping
from typing import Any

import torch
import torch.fx as fx

from ..errors import GENERATED_SOURCE, CompileError, MetricLossError, SourceLocation
from .ops import BOOLEAN_PRODUCERS, LEAF_FUNCTIONS, assigned, is_metadata

_TORCH_DIR = os.path.dirname(torch.__file__)
_OWN_DIR = os.path.dirname(os.path.dirname(__file__))  # the whole metricloss package
SCORE_ARGUMENT = "score_argument"  # node.meta key marking the scores placeholder
# Libraries a metric may hand the scores to by mistake: messages point at the user's line, not
# into them, and name them.
_NUMERIC_LIBRARIES = ("numpy", "sklearn", "scipy", "pandas")


def _library_of(filename: str) -> str | None:
    parts = filename.replace("\\", "/").split("/")
    return next((name for name in _NUMERIC_LIBRARIES if name in parts), None)


def user_location() -> SourceLocation | None:
    """The innermost frame on the stack that belongs to neither torch, metricloss nor a numeric
    library the scores were handed to."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith((_TORCH_DIR, _OWN_DIR, "<frozen", GENERATED_SOURCE)) \
                and _library_of(filename) is None:
            return SourceLocation(filename, frame.f_lineno)
        frame = frame.f_back
    return None


def library_on_stack() -> str | None:
    """numpy, sklearn, ... when one of them is on the stack between the user's code and here."""
    frame = sys._getframe(1)
    while frame is not None:
        library = _library_of(frame.f_code.co_filename)
        if library is not None:
            return library
        frame = frame.f_back
    return None


# Methods that take a value out of torch, and what to write instead.
_LEAVING_TORCH = {
    "numpy": "keep the computation in torch (`(scores.argmax(1) == labels).float().mean()` rather "
             "than numpy or scikit-learn on arrays)",
    "tolist": "keep the computation in torch: index, compare and reduce tensors instead of lists",
}


class ControlFlowRefused(CompileError):
    """Python control flow on tensor data (a loop over a tensor, an ``if`` on one), refused.

    ``construct`` names it and ``fix`` says what rewriting it means, so that a message can add
    that rewriting it would not help when the rest of the metric cannot be compiled anyway."""

    def __init__(self, message: str, construct: str, where: SourceLocation | None, fix: str):
        super().__init__(message)
        self.construct, self.where, self.fix = construct, where, fix


class _ProbeAbandoned(Exception):
    """A trace past a refusal ran into what it cannot follow, or ran too long: it tells nothing."""


class NeedsShapes(Exception):
    """The symbolic trace met code that needs a shape as a Python number; trace per shape."""

    def __init__(self, construct: str, where: SourceLocation | None):
        super().__init__(f"{construct} at {where}")
        self.construct, self.where = construct, where


def shape_derived(node: fx.Node) -> bool:
    """Whether ``node`` is computed from shapes (``x.shape[1]``, ``x.size(0) - 1``) and not from
    any tensor's values: a number the code may loop over once shapes are concrete."""
    seen, stack, found = set(), [node], False
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if is_metadata(current):
            found = True
        elif current.op == "placeholder":
            return False
        else:
            stack.extend(current.all_input_nodes)
    return found


def depends_on_scores(node: fx.Node) -> bool:
    """Whether score values (not just their shapes) reach ``node``."""
    return values_reach(node, lambda current: bool(current.meta.get(SCORE_ARGUMENT)))


def values_reach(node: fx.Node, source) -> bool:
    """Whether the values (not just the shape, dtype or device) of a node ``source`` accepts
    reach ``node``: a walk back through its inputs that stops at reads of metadata."""
    seen, stack = set(), [node]
    while stack:
        current = stack.pop()
        if current in seen:
            continue
        seen.add(current)
        if source(current):
            return True
        if not is_metadata(current):
            stack.extend(current.all_input_nodes)
    return False


_UNKNOWN = object()  # an example value that could not be computed (a data-dependent shape)


class MetricProxy(fx.Proxy):
    """A proxy that answers shape questions with Python ints when its tracer has examples."""

    def __getattr__(self, attribute: str):
        if attribute.startswith("__") or attribute in ("tracer", "node"):
            return super().__getattr__(attribute)
        example = self.tracer.example(self.node)
        if isinstance(example, torch.Tensor):
            if attribute in ("shape", "ndim", "dtype"):
                return getattr(example, attribute)
            if attribute in ("size", "dim", "numel"):
                return getattr(example, attribute)
        return super().__getattr__(attribute)

    def __len__(self) -> int:
        example = self.tracer.example(self.node)
        if isinstance(example, (torch.Tensor, tuple)):
            return len(example)
        return self.tracer.shape_needed(self, "`len()` of a tensor")

    def __index__(self) -> int:
        return self.tracer.shape_needed(self, "a shape used as a Python int")

    def __setitem__(self, index, value) -> None:
        # Recorded here, made functional after the trace (``_without_assignments``).
        self.tracer.create_proxy("call_function", operator.setitem, (self, index, value), {})

    # ``x += y`` on a tensor changes it in place (another name for it sees the change); the
    # trace records the in-place method, which ``_without_mutations`` makes functional.
    def __iadd__(self, other):
        return self._in_place("add_", other)

    def __isub__(self, other):
        return self._in_place("sub_", other)

    def __imul__(self, other):
        return self._in_place("mul_", other)

    def __itruediv__(self, other):
        return self._in_place("div_", other)

    def __ifloordiv__(self, other):
        return self._in_place("floor_divide_", other)

    def __imod__(self, other):
        return self._in_place("remainder_", other)

    def __ipow__(self, other):
        return self._in_place("pow_", other)

    def __iand__(self, other):
        return self._in_place("bitwise_and_", other)

    def __ior__(self, other):
        return self._in_place("bitwise_or_", other)

    def __ixor__(self, other):
        return self._in_place("bitwise_xor_", other)

    def _in_place(self, method: str, other):
        return self.tracer.create_proxy("call_method", method, (self, other), {})

    def __float__(self) -> float:
        raise TypeError("float() argument must be a string or a real number, not 'Proxy'")

    def __int__(self) -> int:
        if shape_derived(self.node):
            return self.tracer.shape_needed(self, "`int()` of a shape")
        raise TypeError("int() argument must be a string, a bytes-like object or a real number, not 'Proxy'")


class MetricTracer(fx.Tracer):
    """A torch.fx tracer that remembers where each node came from and explains tracing limits.

    With ``examples`` (argument name -> meta tensor), every node's example value is computed as
    the node is made, so shapes read by the code are concrete.
    """

    def __init__(self, metric_name: str, examples: Mapping[str, Any] | None = None, probing: bool = False):
        super().__init__(autowrap_functions=LEAF_FUNCTIONS)
        self.metric_name = metric_name
        # Tracing on past refused control flow (``_deeper_reason``), which only asks where score
        # values go: a condition on a tensor is taken as true, a loop over one runs over its first
        # elements, and a size the trace does not know is 2.
        self.probing = probing
        self._probe_counts = {"nodes": 0, "made up": 0}
        self._seen_scores = False
        self._examples_given = examples
        self._examples: dict[fx.Node, Any] = {}
        self.computing_examples = False

    def proxy(self, node: fx.Node) -> fx.Proxy:
        if self._examples_given is not None:
            self._examples[node] = self._example_of(node)
        return MetricProxy(node, self)

    def example(self, node: fx.Node):
        return self._examples.get(node, _UNKNOWN)

    def _example_of(self, node: fx.Node):
        if node.op == "placeholder":
            return self._examples_given.get(node.target, _UNKNOWN)
        if node.op not in ("call_function", "call_method"):
            return _UNKNOWN

        def value(argument: fx.Node):
            found = self._examples.get(argument, _UNKNOWN)
            if found is _UNKNOWN:
                raise LookupError
            return found
        self.computing_examples = True  # torch's own Python code calls the factories recorded below
        try:
            args = fx.node.map_arg(node.args, value)
            kwargs = fx.node.map_arg(node.kwargs, value)
            with torch.device("meta"), torch.no_grad():
                if node.op == "call_method":
                    return getattr(args[0], node.target)(*args[1:], **kwargs)
                return node.target(*args, **kwargs)
        except Exception:  # a data-dependent shape (boolean masks, .item()): not known here
            return _UNKNOWN
        finally:
            self.computing_examples = False

    def trace(self, root, concrete_args=None):
        with _factories_recorded(self):
            return super().trace(root, concrete_args)

    def shape_needed(self, proxy: fx.Proxy, construct: str):
        where = user_location()
        size = shape_derived(proxy.node) or construct.startswith("`len()`")
        if size and self.probing:
            self._probe_step("made up")
            return 2
        if self._examples_given is None and size:
            raise NeedsShapes(construct, where)
        if size:
            raise ControlFlowRefused(
                f"metric `{self.metric_name}`: {construct} at {where} depends on the data (the size "
                "of a boolean-mask selection, say), which the trace cannot know. Count with the mask "
                "instead: `mask.sum()` rather than `len(x[mask])`.",
                construct, where, "counting with the mask",
            )
        raise TypeError("'Proxy' object cannot be interpreted as an integer")

    def create_node(self, kind, target, args, kwargs, name=None, type_expr=None):
        if kind == "call_method" and target in _LEAVING_TORCH:
            raise CompileError(
                f"metric `{self.metric_name}`: `.{target}()` at {user_location()} takes the values out "
                f"of torch, where the trace cannot follow them; {_LEAVING_TORCH[target]}."
            )
        if kind == "call_method" and target == "detach" and isinstance(args[0], fx.Node) \
                and depends_on_scores(args[0]):
            raise CompileError(
                f"metric `{self.metric_name}`: `.detach()` of the scores at {user_location()} would cut "
                "the loss off from them; remove it (the exact value is computed without gradients "
                "anyway)."
            )
        if self.probing:
            self._probe_step("nodes")
        node = super().create_node(kind, target, args, kwargs, name, type_expr)
        node.meta["location"] = user_location()
        if kind == "placeholder" and not self._seen_scores:
            node.meta[SCORE_ARGUMENT] = True  # the first argument is the scores
            self._seen_scores = True
        return node

    def _probe_step(self, what: str) -> None:
        self._probe_counts[what] += 1
        if self._probe_counts[what] > _PROBE_LIMITS[what]:  # a `while` on a tensor, a long unroll
            raise _ProbeAbandoned

    def to_bool(self, obj: fx.Proxy) -> bool:
        where = user_location()
        if self.probing:
            self._probe_step("made up")
            return True
        if self._examples_given is None and shape_derived(obj.node):
            raise NeedsShapes("a condition on a shape", where)
        if depends_on_scores(obj.node):
            raise ControlFlowRefused(
                f"metric `{self.metric_name}`: a comparison of scores drives Python control flow at "
                f"{where} (an `if`, `and`/`or`, `not` or `bool()` on a tensor). A metric is traced "
                "once and must be branch-free tensor code: combine comparisons with `&`, `|`, `~` "
                "and choose values with `torch.where(condition, a, b)`.",
                "a comparison of scores drives Python control flow", where, "`torch.where` instead of `if`",
            )
        raise ControlFlowRefused(
            f"metric `{self.metric_name}`: a tensor drives Python control flow at {where}. "
            "A metric is traced once for every batch, so it cannot branch on data: use "
            "`torch.where(condition, a, b)` or masks instead of `if`.",
            "a tensor drives Python control flow", where, "`torch.where` instead of `if`",
        )

    def iter(self, obj: fx.Proxy):
        where = user_location()
        library = library_on_stack()
        if library is not None:
            raise CompileError(
                f"metric `{self.metric_name}`: the scores are handed to {library} at "
                f"{where}; a metric is traced as torch code, which {library} cannot run on. "
                "Write it with torch operations on the tensors (comparisons, `argmax`, sums and "
                "means), as in the guide's examples."
            )
        example = self.example(obj.node)
        length = len(example) if isinstance(example, torch.Tensor) and example.dim() > 0 else None
        if self.probing:
            return iter([obj[i] for i in range(min(length or 2, _PROBE_UNROLL))])
        if self._examples_given is None and shape_derived(obj.node):
            raise NeedsShapes("a loop over a shape", where)
        constants = length is not None and not _reads_arguments(obj.node)
        by_position = (" A loop over a few constants (thresholds, bin edges) may also run over their "
                       "positions: `for i in range(len(edges))` with `edges[i]`.") if constants else ""
        raise ControlFlowRefused(
            f"metric `{self.metric_name}`: iterating over a tensor at {where} cannot be "
            "traced. Write the loop as a batched tensor operation (broadcasting, indexing, "
            f"`.sum(dim)`).{by_position}",
            "iterating over a tensor", where, "writing the loop batched",
        )

    def keys(self, obj: fx.Proxy):
        raise CompileError(
            f"metric `{self.metric_name}`: `**` unpacking of a tensor at {user_location()} cannot "
            "be traced."
        )


# How far a trace past refused control flow may go (conditions and sizes it made up, nodes it
# made), and how many elements of a tensor it loops over: a refusal waits for it, so it is short.
_PROBE_LIMITS = {"made up": 256, "nodes": 5_000}
_PROBE_UNROLL = 32


def _reads_arguments(node: fx.Node) -> bool:
    """Whether an argument's values (not just its shape, dtype or device) reach ``node``."""
    return values_reach(node, lambda current: current.op == "placeholder")


# ``torch.zeros(num_classes)`` (or ``torch.zeros(3, 3)``) gets no traced argument and would run
# once, as a constant; a metric that fills it (``recalls[c] = ...``, ``cm.index_put_(...)``) needs
# it in the graph, or the later reads would see the constant unchanged.
_FACTORIES = ("zeros", "ones", "empty", "full", "arange", "eye", "linspace")


@contextlib.contextmanager
def _factories_recorded(tracer: fx.Tracer):
    originals = {name: getattr(torch, name) for name in _FACTORIES}

    def recorded(original):
        @functools.wraps(original)
        def factory(*args, **kwargs):
            if tracer.computing_examples:
                return original(*args, **kwargs)
            return tracer.create_proxy("call_function", original, args, kwargs)
        return factory
    try:
        for name, original in originals.items():
            setattr(torch, name, recorded(original))
        yield
    finally:
        for name, original in originals.items():
            setattr(torch, name, original)


def trace_metric(fn: Callable, name: str, params: Mapping[str, Any],
                 examples: Mapping[str, Any] | None = None) -> fx.Graph:
    """Trace ``fn`` with its keyword-only parameters fixed to ``params``.

    The first positional argument is the scores; the rest are targets. Without ``examples`` the
    trace is symbolic and raises ``NeedsShapes`` where the code needs a concrete shape; with them
    (argument name -> a meta tensor of the batch's shape and dtype), shapes are Python ints.
    """
    try:
        return _trace(fn, name, params, examples)
    except ControlFlowRefused as refused:
        deeper = _deeper_reason(fn, name, params, examples)
        if deeper is None:
            raise
        raise CompileError(
            f"metric `{name}`: {refused.construct} at {refused.where} cannot be traced, but "
            f"{refused.fix} would not make the metric compile: {deeper.reason}"
        ) from None


def _deeper_reason(fn: Callable, name: str, params: Mapping[str, Any],
                   examples: Mapping[str, Any] | None):
    """Refused control flow is often not what keeps a metric from becoming a loss: a binned
    calibration error loops over its bins, and once the loop is batched, it is refused because it
    averages probabilities. To say so at the first refusal, the metric is traced on past the
    control flow (``MetricTracer.probing``) and split at its comparisons as the compiler would;
    the ``ValuesNotComparisons`` found there, or None when the rest would compile or the probe
    cannot tell."""
    from .lowering import lower  # the later stages import this module
    from .partition import ValuesNotComparisons, partition

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            graph = _trace(fn, name, params, examples, probing=True)
            lower(graph, name)
            partition(graph, name)
    except ValuesNotComparisons as found:
        return found
    except Exception:  # what a made-up condition leads to says nothing about the user's code
        return None
    return None


def _trace(fn: Callable, name: str, params: Mapping[str, Any], examples: Mapping[str, Any] | None,
           probing: bool = False) -> fx.Graph:
    signature = inspect.signature(fn)
    positional = [
        p for p in signature.parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) and p.name not in params
    ]
    tracer = MetricTracer(name, examples, probing)
    try:
        graph = tracer.trace(fn, concrete_args=dict(params) or None)
    except (MetricLossError, NeedsShapes, _ProbeAbandoned):  # our own errors say what they mean already
        raise
    except RuntimeError as error:
        if "len" in str(error) and "symbolic tracing" in str(error):
            if examples is None:
                raise NeedsShapes("`len()` of a shape", user_location_from(error)) from None
            raise CompileError(
                f"metric `{name}`: `len()` of a tensor at {user_location_from(error)} cannot be "
                "traced; use `tensor.shape[0]`."
            ) from None
        raise CompileError(
            f"metric `{name}` could not be traced: {error}. A metric must be written as tensor code "
            "on its arguments."
        ) from error
    except TypeError as error:
        where = user_location_from(error)
        if "'Proxy'" in str(error) and str(error).startswith(("float()", "int()", "bool()", "complex()")):
            raise CompileError(
                f"metric `{name}`: `{str(error).split('(')[0]}(...)` of a tensor at {where} turns it into "
                "a Python number the trace cannot follow; keep it a tensor (return the 0-d tensor, "
                "or use `.item()` only on the final value)."
            ) from None
        library = _library_in_traceback(error)
        if library is not None:
            raise CompileError(
                f"metric `{name}`: the scores are handed to {library} at {where}; a metric is traced "
                f"as torch code, which {library} cannot run on. Write it with torch operations on the "
                "tensors (comparisons, `argmax`, sums and means)."
            ) from None
        if examples is None:  # torch code that needs concrete sizes (``torch.zeros(C, C)``): per shape
            raise NeedsShapes(f"code the symbolic trace cannot follow ({error})", where) from None
        raise CompileError(
            f"metric `{name}` could not be traced at {where}: {error}. A metric "
            "must be written as tensor code on its arguments (methods and torch functions)."
        ) from error
    except Exception as error:  # whatever a library raises on a traced tensor: say where and why
        library = _library_in_traceback(error)
        handed = f"the scores are handed to {library}, which cannot run on a traced tensor; " if library else ""
        raise CompileError(
            f"metric `{name}` could not be traced at {user_location_from(error)}: {handed}"
            f"{type(error).__name__}: {error}. A metric must be written as torch operations on its "
            "arguments (comparisons, `argmax`, sums and means)."
        ) from None
    graph.constants = tracer.root  # tensors the code made from Python values, read by get_attr nodes
    _without_mutations(graph, name)  # first: the in-place calls have no users, dead code to fx
    _drop_specialisation_guards(graph, len(positional))
    _read_through(graph)
    _without_assignments(graph)
    merge_repeated_expressions(graph)
    return graph


def merge_repeated_expressions(graph: fx.Graph) -> None:
    """Keep one node for each expression written more than once (``pos[:, None]`` in two
    comparisons), so that comparisons of the same two values are seen to be the same pairs."""
    seen: dict = {}
    for node in list(graph.nodes):
        if node.op not in ("call_function", "call_method") or str(node.target).endswith("_"):
            continue  # in-place methods have effects
        try:
            key = (node.op, node.target, _frozen(node.args), _frozen(node.kwargs))
            first = seen.setdefault(key, node)
        except TypeError:  # an unhashable argument: keep the node
            continue
        if first is not node:
            node.replace_all_uses_with(first)
            graph.erase_node(node)


def _frozen(value):
    if isinstance(value, (tuple, list)):
        return (type(value).__name__, *(_frozen(v) for v in value))
    if isinstance(value, dict):
        return ("dict", *sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, slice):
        return ("slice", _frozen(value.start), _frozen(value.stop), _frozen(value.step))
    if isinstance(value, float) and value != value:
        return ("nan",)
    hash(value)
    return (type(value).__name__, value) if not isinstance(value, fx.Node) else value


def user_location_from(error: BaseException) -> SourceLocation | None:
    """The innermost non-library frame of an exception's traceback."""
    found = None
    tb = error.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith((_TORCH_DIR, _OWN_DIR)) and _library_of(filename) is None:
            found = SourceLocation(filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def _library_in_traceback(error: BaseException) -> str | None:
    tb = error.__traceback__
    while tb is not None:
        library = _library_of(tb.tb_frame.f_code.co_filename)
        if library is not None:
            return library
        tb = tb.tb_next
    return None


def _read_through(graph: fx.Graph) -> None:
    """``scores.data`` is the scores, and ``.item()`` of a value is that value as a 0-d tensor
    (``correct.sum().item() / total`` returns a number built from the binaries; a ``.item()``
    that would steer Python control flow never gets here: ``to_bool`` refuses it)."""
    for node in list(graph.nodes):
        reads = (node.op == "call_function" and node.target is getattr and node.args[1] == "data") or (
            node.op == "call_method" and node.target == "item" and len(node.args) == 1)
        if reads:
            node.replace_all_uses_with(node.args[0])
            graph.erase_node(node)


def _without_assignments(graph: fx.Graph) -> None:
    """``x[i] = v`` becomes ``x = assigned(x, i, v)``: later reads of ``x`` see the new value, and
    no node of the graph mutates another."""
    order = {node: position for position, node in enumerate(graph.nodes)}
    for node in list(graph.nodes):
        if not (node.op == "call_function" and node.target in (operator.setitem, torch.Tensor.__setitem__)):
            continue
        target, index, value = node.args
        with graph.inserting_after(node):
            new = graph.call_function(assigned, (target, index, value))
        new.meta.update(node.meta)
        for user in list(target.users):
            if user is not node and user is not new and order.get(user, len(order)) > order[node]:
                user.replace_input_with(target, new)
        graph.erase_node(node)
        order = {n: position for position, n in enumerate(graph.nodes)}


# Ops whose result may share memory with their input (a view, or the input itself when nothing
# changes): an in-place change of either is seen through the other.
_ALIASING_METHODS = {
    "view", "view_as", "reshape", "reshape_as", "t", "transpose", "permute", "squeeze", "unsqueeze",
    "expand", "expand_as", "narrow", "select", "diagonal", "movedim", "moveaxis", "swapaxes", "flatten",
    "unflatten", "contiguous", "float", "double", "half", "long", "int", "bool", "to", "type_as",
    "detach", "split", "chunk", "unbind", "as_strided", "view_as_real",
}
_ALIASING_FUNCTIONS = {
    operator.getitem, torch.reshape, torch.flatten, torch.squeeze, torch.unsqueeze, torch.transpose,
    torch.permute, torch.narrow, torch.select, torch.movedim, torch.moveaxis, torch.swapaxes, torch.diagonal,
    torch.t, torch.split, torch.chunk, torch.unbind, torch.broadcast_to, torch.detach, torch.as_strided,
}


_CASTS = {"float", "double", "half", "long", "int", "bool", "to", "type_as"}


def _aliases(node: fx.Node) -> bool:
    """Whether ``node``'s result may share memory with another tensor of the graph."""
    if node.op == "placeholder":
        return True
    if node.op == "call_method" and node.target in _CASTS and node.target != "bool":
        source = node.args[0]  # a cast of a comparison's bools to numbers is a new tensor
        return not (isinstance(source, fx.Node) and source.op in ("call_function", "call_method")
                    and source.target in BOOLEAN_PRODUCERS)
    if node.op == "call_method":
        return node.target in _ALIASING_METHODS
    if node.op == "call_function":
        return node.target in _ALIASING_FUNCTIONS or (node.target is getattr and node.args[1] in ("T", "mT", "data"))
    return False


def _in_place_method(node: fx.Node) -> str | None:
    """The out-of-place name of an in-place tensor method (``mul_`` -> ``mul``), else None."""
    if node.op != "call_method" or not isinstance(node.target, str):
        return None
    name = node.target
    if not name.endswith("_") or name.startswith("_") or not isinstance(node.args[0], fx.Node):
        return None
    functional = name[:-1]
    return functional if hasattr(torch.Tensor, functional) else None


def _without_mutations(graph: fx.Graph, metric: str) -> None:
    """``x.mul_(c)``, ``x += y``: the change becomes ``x = x.mul(c)``, so that later reads of ``x``
    (under any name: Python names are one node) see it, as they do eagerly. A change to a tensor
    that shares memory with another (an argument, a view, a slice) would be seen through that one
    too, which a functional graph cannot follow: refused at its line with the rewrite."""
    order = {node: position for position, node in enumerate(graph.nodes)}
    for node in list(graph.nodes):
        functional = _in_place_method(node)
        if functional is None:
            continue
        target = node.args[0]
        views = [user for user in target.users if user is not node and order[user] < order[node] and _aliases(user)]
        if _aliases(target) or views:
            what = ("an argument of the metric" if target.op == "placeholder"
                    else "a tensor that shares memory with another (a view, a slice or a cast)")
            raise CompileError(
                f"metric `{metric}`: `.{node.target}()` (or an augmented assignment such as `+=`) at "
                f"{node.meta.get('location')} changes {what} in place, which the trace cannot follow "
                f"into the tensors it shares memory with. Write it out of place: `x = x.{functional}(...)` "
                "(or `x = x + y`)."
            )
        with graph.inserting_after(node):
            new = graph.call_method(functional, node.args, dict(node.kwargs))
        new.meta.update(node.meta)
        node.replace_all_uses_with(new)
        for user in list(target.users):
            if user is not new and order.get(user, len(order)) > order[node]:
                user.replace_input_with(target, new)
        graph.erase_node(node)
        order = {n: position for position, n in enumerate(graph.nodes)}


def _drop_specialisation_guards(graph: fx.Graph, positional: int) -> None:
    """torch.fx keeps bound keyword-only parameters as placeholders guarded by asserts.

    The compiled metric is specialised to one binding for good, so the guards and the placeholders
    after the positional ones go.
    """
    for node in list(graph.nodes):
        if node.op == "call_function" and node.target is torch._assert:
            graph.erase_node(node)
    graph.eliminate_dead_code()
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    for node in placeholders[positional:]:
        graph.erase_node(node)
