"""Configurations packed eight to a byte, and sums over their true bits by byte value.

Bit p of ``words[g, k]`` is binary k of configuration 8g + p. The sum of a vector over one
configuration's true bits is ``sum_v bit_p(v) H[v]`` with ``H`` the 256-bin histogram of the vector
by byte value: one pass over the binaries per eight configurations, and no float copy of any.
"""

from __future__ import annotations

import torch

_BITS: dict = {}


def pack_rows(points: torch.Tensor) -> torch.Tensor:
    """[A, N] bool -> [ceil(A / 8), N] uint8: bit p of byte g, k is ``points[8g + p, k]``."""
    count = points.shape[0]
    words = []
    for start in range(0, count, 8):  # a pass per row, eight rows to a byte
        word = points[start].contiguous().view(torch.uint8)  # bool bytes are 0 or 1
        for p in range(1, min(8, count - start)):
            word = word | (points[start + p].contiguous().view(torch.uint8) << p)
        words.append(word)
    return torch.stack(words) if words else points.new_zeros(0, points.shape[1], dtype=torch.uint8)


def histograms(values: torch.Tensor) -> bool:
    """Whether sums by byte value suit ``values``' device: on the CPU, unless torch is asked for
    deterministic algorithms (on a GPU a histogram adds with atomics, in no fixed order)."""
    return values.device.type == "cpu" and not torch.are_deterministic_algorithms_enabled()


def true_sums(words: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """[8 x groups, ...]: per packed configuration, the sum of ``values`` ([N], or [F, N]) over its
    true bits; differentiable in ``values``.

    Where ``histograms`` allows, 256-bin histograms (``index_add``; ``bincount`` for [F, N], which
    needs no gradient); elsewhere each group of eight is unpacked and multiplied, by column chunks.
    """
    if not histograms(values):
        return _by_unpacking(words, values)
    bits = byte_bits(values.device, values.dtype)
    if values.dim() == 1:
        return torch.cat([values.new_zeros(256).index_add(0, group.to(torch.int32), values) @ bits
                          for group in words])
    with torch.no_grad():
        per_row = [torch.cat([torch.bincount(group, row, minlength=256).to(values.dtype) @ bits for group in words])
                   for row in values]  # F is a handful
    return torch.stack(per_row, 1)


_UNPACK_COLUMNS = 1 << 20


def _by_unpacking(words: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    shifts = torch.arange(8, device=words.device, dtype=torch.uint8)[:, None]
    matrix = values if values.dim() > 1 else values[None]  # [F, N]
    totals = []
    for group in words:
        total = matrix.new_zeros(8, matrix.shape[0])
        for start in range(0, group.shape[0], _UNPACK_COLUMNS):
            bits = ((group[start:start + _UNPACK_COLUMNS][None] >> shifts) & 1).to(values.dtype)
            total = total + bits @ matrix[:, start:start + _UNPACK_COLUMNS].T
        totals.append(total)
    sums = torch.cat(totals) if totals else matrix.new_zeros(0, matrix.shape[0])
    return sums if values.dim() > 1 else sums[:, 0]


def byte_bits(device, dtype) -> torch.Tensor:
    """[256, 8]: bit p of each byte value, as ``dtype``."""
    key = (torch.device(device), dtype)
    if key not in _BITS:
        values = torch.arange(256, device=device)[:, None]
        _BITS[key] = ((values >> torch.arange(8, device=device)) & 1).to(dtype)
    return _BITS[key]
