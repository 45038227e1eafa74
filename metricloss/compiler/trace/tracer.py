"""The tracer: records a metric as a torch.fx graph and refuses, at the user's line, what a
graph cannot hold.

Every node is tagged with the user's source line (``LOCATION``) and the first argument's
placeholder is marked as the scores (``SCORE_ARGUMENT``). Python control flow on tensor data is
refused with what to write instead; code that needs a shape as a number stops a symbolic trace
with ``NeedsShapes``. A *probing* tracer goes on past refused control flow instead, to learn
whether the rest of the metric would compile at all (``tracing.trace_metric``).
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Mapping
from typing import Any

import torch
import torch.fx as fx

from ...errors import CompileError
from ..ops import LEAF_FUNCTIONS
from .dependencies import SCORE_ARGUMENT, depends_on_scores, reads_arguments, shape_derived
from .locations import LOCATION, library_on_stack, user_location
from .proxy import UNKNOWN, MetricProxy
from .refusals import ControlFlowRefused, NeedsShapes, ProbeAbandoned

# Methods that take a value out of torch, and what to write instead.
_LEAVING_TORCH = {
    "numpy": "keep the computation in torch (`(scores.argmax(1) == labels).float().mean()` rather "
             "than numpy or scikit-learn on arrays)",
    "tolist": "keep the computation in torch: index, compare and reduce tensors instead of lists",
}

# How far a trace past refused control flow may go (conditions and sizes it made up, nodes it
# made), and how many elements of a tensor it loops over: a refusal waits for it, so it is short.
_PROBE_LIMITS = {"made up": 256, "nodes": 5_000}
_PROBE_UNROLL = 32


class MetricTracer(fx.Tracer):
    """A torch.fx tracer that remembers where each node came from and explains tracing limits.

    With ``examples`` (argument name -> meta tensor), every node's example value is computed as
    the node is made, so shapes read by the code are concrete.
    """

    def __init__(self, metric_name: str, examples: Mapping[str, Any] | None = None, probing: bool = False):
        super().__init__(autowrap_functions=LEAF_FUNCTIONS)
        self.metric_name = metric_name
        # Tracing on past refused control flow (``tracing._deeper_reason``), which only asks
        # where score values go: a condition on a tensor is taken as true, a loop over one runs
        # over its first elements, and a size the trace does not know is 2.
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
        return self._examples.get(node, UNKNOWN)

    def _example_of(self, node: fx.Node):
        if node.op == "placeholder":
            return self._examples_given.get(node.target, UNKNOWN)
        if node.op not in ("call_function", "call_method"):
            return UNKNOWN

        def value(argument: fx.Node):
            found = self._examples.get(argument, UNKNOWN)
            if found is UNKNOWN:
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
            return UNKNOWN
        finally:
            self.computing_examples = False

    def trace(self, root, concrete_args=None):
        with _factories_recorded(self):
            return super().trace(root, concrete_args)

    def shape_needed(self, proxy: fx.Proxy, construct: str, is_size: bool = False):
        """A shape read as a Python number: 2 when probing, else the refusal that fits.
        ``is_size``: the number is a size (``len()``) even when the proxy is not a shape read."""
        where = user_location()
        size = shape_derived(proxy.node) or is_size
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
        node.meta[LOCATION] = user_location()
        if kind == "placeholder" and not self._seen_scores:
            node.meta[SCORE_ARGUMENT] = True  # the first argument is the scores
            self._seen_scores = True
        return node

    def _probe_step(self, what: str) -> None:
        self._probe_counts[what] += 1
        if self._probe_counts[what] > _PROBE_LIMITS[what]:  # a `while` on a tensor, a long unroll
            raise ProbeAbandoned

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
        constants = length is not None and not reads_arguments(obj.node)
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
