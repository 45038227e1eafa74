"""Functions the per-row ``part`` module calls where a copy of ``g``'s node would not do.

``part`` runs on any subset of the rows, so a node that names the number of rows (a reshape to
[R, ...], an expand to R) is replaced by one that keeps whatever leading size it is given, and a
target with R entries along the row dimension is cut to the rows being evaluated. They are fx
leaves (``fx.wrap``): a trace of code that calls them keeps the call, not its inside.
"""

from __future__ import annotations

import torch
import torch.fx as fx


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


# ``all``/``any`` over one constant dimension, as ``part`` computes them.
FASTER = {"all": all_along, torch.all: all_along, "any": any_along, torch.any: any_along}


fx.wrap("select_rows")
fx.wrap("reshape_rows")
fx.wrap("expand_rows")
