"""The traced tensor: a torch.fx proxy that knows its example value when the tracer has one.

With example shapes, ``x.shape[1]`` and ``len(x)`` must be Python ints so that the metric's own
loops unroll; without them, such a read stops the symbolic trace (``NeedsShapes``) and the
metric is traced once per shape instead. In-place operators and item assignment are recorded
as calls that the cleanup passes make functional after the trace.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx

from .dependencies import shape_derived
from .refusals import LenOfAttribute, ProxyToNumber

UNKNOWN = object()  # an example value that could not be computed (a data-dependent shape)


class MetricProxy(fx.Proxy):
    """A proxy that answers shape questions with Python ints when its tracer has examples."""

    def __getattr__(self, attribute: str):
        if attribute.startswith("__") or attribute in ("tracer", "node"):
            return Attribute(self, attribute)
        example = self.tracer.example(self.node)
        if isinstance(example, torch.Tensor):
            if attribute in ("shape", "ndim", "dtype"):
                return getattr(example, attribute)
            if attribute in ("size", "dim", "numel"):
                return getattr(example, attribute)
        return Attribute(self, attribute)

    def __len__(self) -> int:
        example = self.tracer.example(self.node)
        if isinstance(example, (torch.Tensor, tuple)):
            return len(example)
        return self.tracer.shape_needed(self, "`len()` of a tensor", is_size=True)

    def __index__(self) -> int:
        return self.tracer.shape_needed(self, "a shape used as a Python int")

    def __setitem__(self, index, value) -> None:
        # Recorded here, made functional after the trace (``assignments.without_assignments``).
        self.tracer.create_proxy("call_function", operator.setitem, (self, index, value), {})

    # ``x += y`` on a tensor changes it in place (another name for it sees the change); the
    # trace records the in-place method, which ``mutations.without_mutations`` makes functional.
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
        raise ProxyToNumber("float", "float() argument must be a string or a real number, not 'Proxy'")

    def __int__(self) -> int:
        if shape_derived(self.node):
            return self.tracer.shape_needed(self, "`int()` of a shape")
        raise ProxyToNumber(
            "int", "int() argument must be a string, a bytes-like object or a real number, not 'Proxy'")


class Attribute(fx.proxy.Attribute):
    """torch.fx's proxy of an attribute not read yet (``x.shape`` without examples, or a method
    about to be called), whose ``len()`` raises a type of its own. It keeps torch.fx's class
    name, which Python's messages about it show."""

    def __getattr__(self, attribute: str):
        return Attribute(self, attribute)

    def __len__(self) -> int:
        raise LenOfAttribute()
