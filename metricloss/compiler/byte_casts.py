"""Casts of bool tensors in the modules that evaluate ``g``, done through their bytes.

``g`` turns its comparisons into numbers the way metrics are written: ``(pred == y).float()``,
``b.double()``, ``b.to(torch.float32)``. On the CPU, torch converts a bool tensor to a number
type an element at a time, about ten times slower than it converts the same bytes read as
``uint8`` (a bool is one byte holding 0 or 1), and ``g`` runs on every anchor. (Strided bytes
convert slowly too: a block cut from a row of configurations is made contiguous first, which
copies bytes, not floats.) The modules that
only compute values get each such cast replaced by ``cast``, which reads a bool operand's bytes
and gives the same tensor (values, dtype, a new tensor); every other operand, and every cast it
does not recognise, goes through the method as written. ``g``'s own graph, which the row split,
the affine statistics, the exact evaluator and ``explain`` read, keeps the user's spelling.
"""

from __future__ import annotations

import torch
import torch.fx as fx

from .ops import table

# Method -> the dtype it gives, for the casts named by their dtype.
_NAMED = {"float": torch.float32, "double": torch.float64, "half": torch.float16, "bfloat16": torch.bfloat16,
          "long": torch.int64, "int": torch.int32, "short": torch.int16, "byte": torch.uint8, "char": torch.int8}
# The casts of the op table that name a dtype (``to`` and ``type`` may name a device instead).
_REWRITTEN = table.spellings("float_cast", "narrow_float_cast", "integer_cast", "cast_like") & \
    (set(_NAMED) | {"to", "type", "type_as"})


def cast(values, method: str, *args, **kwargs):
    """``values.<method>(*args, **kwargs)``, through the bytes when ``values`` is a bool tensor
    and the call only changes its dtype to a number type."""
    dtype = _target_dtype(values, method, args, kwargs)
    if dtype is None:
        return getattr(values, method)(*args, **kwargs)
    converted = values.contiguous().view(torch.uint8).to(dtype)  # strided bytes convert slowly
    return converted.clone() if dtype == torch.uint8 else converted  # a cast gives a new tensor


def as_numbers(bits: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """``bits.to(dtype)`` for a bool tensor, through its bytes (the loss's own casts of
    configurations to weights and signs); any other tensor as ``.to`` does it."""
    if bits.dtype != torch.bool or dtype == torch.bool:
        return bits.to(dtype)
    return bits.contiguous().view(torch.uint8).to(dtype)


def with_byte_casts(module: fx.GraphModule) -> fx.GraphModule:
    """A copy of ``module`` whose dtype casts go through ``cast``; ``module`` itself is unchanged."""
    graph = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    changed = False
    for node in module.graph.nodes:
        if node.op == "call_method" and node.target in _REWRITTEN:
            args = fx.map_arg(node.args, lambda n: env[n])
            env[node] = graph.call_function(cast, (args[0], node.target, *args[1:]),
                                            fx.map_arg(node.kwargs, lambda n: env[n]))
            env[node].meta = dict(node.meta)
            changed = True
        else:
            env[node] = graph.node_copy(node, lambda n: env[n])
    return fx.GraphModule(module, graph) if changed else module


def _target_dtype(values, method: str, args: tuple, kwargs: dict) -> torch.dtype | None:
    if not isinstance(values, torch.Tensor) or values.dtype != torch.bool:
        return None
    dtype = None
    if method in _NAMED:
        if not args and not kwargs:
            dtype = _NAMED[method]
    elif method == "type_as":
        if len(args) == 1 and not kwargs and isinstance(args[0], torch.Tensor):
            dtype = args[0].dtype
    elif len(args) == 1 and not kwargs:  # to, type: a dtype alone, positional or by keyword
        dtype = args[0]
    elif not args and set(kwargs) == {"dtype"}:
        dtype = kwargs["dtype"]
    if not isinstance(dtype, torch.dtype):
        return None
    if dtype == torch.bool or dtype.is_complex:
        return None
    return dtype
