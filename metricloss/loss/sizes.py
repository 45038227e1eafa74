"""How large one chunk of a big tensor op may be, by device.

On the CPU an allocation of tens of MB comes from fresh pages on every call (the C allocator
hands large blocks back to the system), and faulting them in costs several times the arithmetic
done on them: chunks there stay at a few MB, which the allocator reuses. CUDA's caching allocator
keeps its memory and every chunk costs kernel launches, so chunks there are larger.
"""

from __future__ import annotations

import torch

GPU_CHUNK_FACTOR = 16


def chunk_elements(cpu_elements: int, device: torch.device | str) -> int:
    """A chunk's size on ``device``, given its size on the CPU."""
    return cpu_elements if torch.device(device).type == "cpu" else cpu_elements * GPU_CHUNK_FACTOR
