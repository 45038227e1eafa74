"""The binaries of one batch as one flat vector of K, and as the blocks ``g`` takes.

Samplers, anchors and the ideal work on the flat K (one configuration is one row of bools);
``g`` takes one tensor per block in the block's own shape. These are the two conversions, for
one configuration and for a batch of them.
"""

from __future__ import annotations

import math

import torch


def flat(blocks, empty: torch.Tensor) -> torch.Tensor:
    """Blocks flattened into one vector (no extra copy for a single block)."""
    if not blocks:
        return empty
    return blocks[0].reshape(-1) if len(blocks) == 1 else torch.cat([b.reshape(-1) for b in blocks])


def split_blocks(configuration: torch.Tensor, shapes) -> list[torch.Tensor]:
    """One configuration ([K]) as the blocks of these shapes."""
    sizes = [math.prod(s) for s in shapes]
    return [part.reshape(shape) for part, shape in zip(configuration.split(sizes), shapes)]


def split_batched(configurations: torch.Tensor, shapes) -> list[torch.Tensor]:
    """Configurations ([A, K]) as the blocks of these shapes, each with A in front."""
    sizes = [math.prod(s) for s in shapes]
    count = configurations.shape[0]
    return [part.reshape(count, *shape) for part, shape in zip(configurations.split(sizes, dim=1), shapes)]
