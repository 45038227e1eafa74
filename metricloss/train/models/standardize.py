"""The first layer of every reference model: stored images (uint8) to standardised floats.

The data sets keep images as their files store them; the model owns its input scaling, measured
on the training split, so a checkpoint carries it and evaluation needs nothing but the model.
"""

from __future__ import annotations

import torch
from metricloss.errors import InputError


class Standardize(torch.nn.Module):
    """``(x - mean) / std`` per channel of ``[N, C, ...]`` inputs, in float32."""

    def __init__(self, mean: torch.Tensor, std: torch.Tensor):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("std", torch.as_tensor(std, dtype=torch.float32))

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        shape = (1, -1) + (1,) * (inputs.dim() - 2)
        return (inputs.float() - self.mean.view(shape)) / self.std.view(shape)

    def extra_repr(self) -> str:
        return f"channels={self.mean.numel()}"


def fit(inputs, limit: int = 10_000, chunk: int = 1_000) -> Standardize:
    """Per-channel mean and std of the first ``limit`` rows of ``inputs``, read ``chunk`` rows at a time.

    ``inputs`` is a tensor or a lazily decoded image set (``inputs[a:b]`` gives a tensor); the
    chunks keep the float64 sums from copying a whole uint8 data set.
    """
    count = min(len(inputs), limit)
    if count == 0:
        raise InputError("cannot standardise inputs from an empty training split")
    total = squares = None
    for start in range(0, count, chunk):
        block = inputs[start:min(start + chunk, count)].to(torch.float64)
        dims = [0] + list(range(2, block.dim()))
        block_total, block_squares = block.sum(dims), (block * block).sum(dims)
        total = block_total if total is None else total + block_total
        squares = block_squares if squares is None else squares + block_squares
    values = count * (inputs[0:1].numel() // inputs[0:1].shape[1])
    mean = total / values
    std = (squares / values - mean * mean).clamp_min(0).sqrt().clamp_min(1e-3)  # a blank channel stays 0
    return Standardize(mean.float(), std.float())
