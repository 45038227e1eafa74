"""Every size threshold of the loss's evaluation, in one value: ``Sizes``.

The loss chooses how to evaluate each batch from its size alone: small problems as one dense set
of anchors (the cost there is the number of ops, not their size), larger ones with sparse
base-plus-flips anchors and, where ``g`` allows, its affine statistics or its row split, the rest
in chunks. The chunks keep memory bounded. On the CPU an allocation of tens of MB comes from
fresh pages on every call (the C allocator hands large blocks back to the system), and faulting
them in costs several times the arithmetic done on them: chunks there stay at a few MB, which the
allocator reuses. CUDA's caching allocator keeps its memory and every chunk costs kernel
launches, so chunks there are ``gpu_factor`` times larger.

``UniLoss(..., sizes=Sizes(dense=0))`` forces the large-problem path on any batch (tests do).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch

from ..errors import InputError


@dataclass(frozen=True)
class Sizes:
    """Every size threshold of the loss's evaluation (``UniLoss(..., sizes=ml.Sizes(...))``).

    The loss picks how to evaluate a batch from its size alone; these numbers (elements, not
    bytes) draw the lines. ``dense``: anchors x live binaries up to which every anchor goes
    through ``g`` at once (0 forces the large-problem path); ``g_chunk``: binaries per call of
    ``g`` when anchors are made a chunk at a time; ``distance_chunk``: elements of the float copy
    of dense anchors per column chunk; ``checkpoint``: dense points above which float chunks are
    remade in the backward pass instead of kept (0: always); ``statistics_chunk``: elements of
    float64 anchors for ``g``'s affine statistics; ``random_chunk``: elements of the random-bit
    intermediate; ``gpu_factor``: how many times larger chunks are on a CUDA device. The defaults
    suit both a CPU and a GPU; change them to bound memory, or to force a path in a test.
    """

    dense: int = 1 << 18  # anchors x live binaries up to which every anchor goes through g at once
    g_chunk: int = 1 << 24  # binaries per call of g when anchors are made a chunk at a time
    distance_chunk: int = 1 << 22  # elements of the float copy of dense anchors, per column chunk
    checkpoint: int = 1 << 24  # dense points above which float chunks are remade in the backward
    # Unused since dense anchors reach the statistics and are drawn as packed bits (loss/packed.py);
    # kept so that code which sets them still runs.
    statistics_chunk: int = 1 << 21
    random_chunk: int = 1 << 21
    rows_chunk: int = 1 << 20  # binaries per call of g's per-row part (``compiler/rows/``)
    gpu_factor: int = 16  # chunks on a CUDA device are this many times larger

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            smallest = 0 if item.name in _THRESHOLDS else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < smallest:
                raise InputError(
                    f"Sizes: {item.name} must be a whole number of at least {smallest}, got {value!r}; "
                    f"the default is {item.default}"
                )

    def chunk(self, cpu_elements: int, device: torch.device | str) -> int:
        """A chunk's size on ``device``, given its size on the CPU."""
        return cpu_elements if torch.device(device).type == "cpu" else cpu_elements * self.gpu_factor


_THRESHOLDS = ("dense", "checkpoint")  # 0: always the other path (tests force it so)
DEFAULT = Sizes()
