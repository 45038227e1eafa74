"""How many aten ops one call runs, and how many of them make the host wait for a GPU.

On a GPU every aten op is at least one kernel launch, and an op whose result the host must read
(a shape that depends on the data, a Python number) stops the host until every queued kernel has
run: a *host synchronisation*. Small batches are dominated by these two counts, not by the size
of the work, and both are the same on the CPU as on CUDA: they are counted on whatever device the
benchmark runs on, by a ``TorchDispatchMode`` over one forward+backward (the mode sees each aten
op below autograd, forward and backward alike; composite ops arrive decomposed).

The ops counted as synchronisations (``SYNC_OPS`` and ``sync_reason``), each because its CUDA
kernel (or its caller) copies a value to the host:

- ``_local_scalar_dense``: ``.item()``, ``bool()``/``int()``/``float()`` of a tensor, ``if t:``,
  ``torch.allclose``;
- ``equal``: ``torch.equal`` returns a Python bool;
- ``nonzero`` (and ``argwhere``, ``torch.where(mask)``), ``masked_select``, ``unique`` in all its
  forms (``_unique``, ``_unique2``, ``unique_dim``, ``unique_consecutive``, ``unique_dim_consecutive``):
  the output's size is the data's;
- ``index`` / ``index_put`` with a bool index (``x[mask]``, ``x[mask] = v``): the mask becomes
  indices through ``nonzero``;
- ``repeat_interleave`` with a tensor of repeats and no ``output_size``: the output's size is
  the repeats' sum;
- ``bincount``: its length is the input's maximum; ``histc`` with ``min == max``: its range is the
  input's;
- a copy from a device to the CPU (``_to_copy`` or ``copy_``), which a CPU run never makes;
- ``Tensor.tolist()`` and ``Tensor.numpy()``, counted at the Python level (a ``TorchFunctionMode``):
  on the CPU they read memory without any aten op, on CUDA they copy to the host.

Not counted, though they may wait on some versions or paths: ``masked_scatter_``, ``multinomial``'s
argument checks, and ops of libraries outside torch.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import torch
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

SYNC_OPS = frozenset({
    "_local_scalar_dense", "equal", "nonzero", "masked_select", "_unique", "_unique2", "unique_dim",
    "unique_consecutive", "unique_dim_consecutive", "bincount",
})
HOST_READS = frozenset({"tolist", "numpy"})  # Tensor methods that read values without an aten op on the CPU


def _tensors(value) -> list[torch.Tensor]:
    if isinstance(value, torch.Tensor):
        return [value]
    if isinstance(value, (list, tuple)):
        return [t for item in value for t in _tensors(item)]
    return []


def sync_reason(op, args: tuple, kwargs: dict) -> str | None:
    """The name under which ``op(*args, **kwargs)`` counts as a host synchronisation, or None."""
    name = op._schema.name.split("::")[-1]
    if name in SYNC_OPS:
        return name
    if name in ("index", "index_put", "index_put_", "_index_put_impl_"):
        indices = args[1] if len(args) > 1 else kwargs.get("indices", ())
        if any(t.dtype in (torch.bool, torch.uint8) for t in _tensors(indices)):
            return f"{name} (bool mask)"
        return None
    if name == "repeat_interleave":  # the overloads with a tensor of repeats; an int repeats no sync
        if op._overloadname in ("Tensor", "self_Tensor") and kwargs.get("output_size") is None:
            return "repeat_interleave (no output_size)"
        return None
    if name == "histc":
        low = args[2] if len(args) > 2 else kwargs.get("min", 0)
        high = args[3] if len(args) > 3 else kwargs.get("max", 0)
        return "histc (min == max)" if low == high else None
    if name == "_to_copy":
        source, device = args[0] if args else None, kwargs.get("device")
        if (isinstance(source, torch.Tensor) and source.device.type != "cpu" and device is not None
                and torch.device(device).type == "cpu"):
            return "copy to the host"
        return None
    if name == "copy_" and len(args) > 1 and isinstance(args[1], torch.Tensor):
        if args[0].device.type == "cpu" and args[1].device.type != "cpu":
            return "copy to the host"
    return None


@dataclass
class Counts:
    """What one call ran: every aten op by name, and the synchronising ones by reason."""

    ops: Counter = field(default_factory=Counter)
    syncs: Counter = field(default_factory=Counter)

    @property
    def op_count(self) -> int:
        return sum(self.ops.values())

    @property
    def sync_count(self) -> int:
        return sum(self.syncs.values())


class _DispatchCounter(TorchDispatchMode):
    def __init__(self, counts: Counts, reading: list):
        super().__init__()
        self.counts, self.reading = counts, reading

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.counts.ops[func._schema.name.split("::")[-1]] += 1
        reason = sync_reason(func, args, kwargs)
        if reason is not None and not (self.reading and reason == "copy to the host"):
            self.counts.syncs[reason] += 1  # a tolist's own copy is counted once, as the tolist
        return func(*args, **kwargs)


class _HostReadCounter(TorchFunctionMode):
    def __init__(self, counts: Counts, reading: list):
        super().__init__()
        self.counts, self.reading = counts, reading

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, "__name__", "")
        if name not in HOST_READS or not args or not isinstance(args[0], torch.Tensor):
            return func(*args, **(kwargs or {}))
        self.counts.syncs[f"Tensor.{name}"] += 1
        self.reading.append(name)
        try:
            return func(*args, **(kwargs or {}))
        finally:
            self.reading.pop()


def count_ops(fn: Callable[[], object]) -> Counts:
    """The aten ops and host synchronisations of one call of ``fn`` (its backward included, when
    ``fn`` calls ``backward()``)."""
    counts, reading = Counts(), []
    with _HostReadCounter(counts, reading), _DispatchCounter(counts, reading):
        fn()
    return counts
