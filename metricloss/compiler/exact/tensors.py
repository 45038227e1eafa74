"""Small facts about concrete tensors that counting, searching and keys share."""

from __future__ import annotations

import torch


def is_floating(value) -> bool:
    return isinstance(value, float) or isinstance(value, torch.Tensor) and (
        value.is_floating_point() or value.is_complex())


def same_values(a: torch.Tensor, b: torch.Tensor) -> bool:
    """The same values: one tensor, or views of the same memory laid out alike."""
    return a is b or (a.dtype == b.dtype and a.device == b.device and a.shape == b.shape
                      and a.stride() == b.stride() and a.data_ptr() == b.data_ptr())


def comparable(row: torch.Tensor, col: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both sides in the dtype torch compares them in, bool as uint8 (sorts and searches need
    a number)."""
    dtype = torch.promote_types(row.dtype, col.dtype)
    if dtype == torch.bool:
        dtype = torch.uint8
    return row.to(dtype), col.to(dtype)


def batched(row: torch.Tensor, col: torch.Tensor, batch) -> tuple[torch.Tensor, torch.Tensor]:
    return (row.expand(*batch, row.shape[-1]).contiguous(), col.expand(*batch, col.shape[-1]).contiguous())
