"""Batch augmentation for image classification: random crops of a padded image, and mirroring.

CIFAR's standard augmentation (He et al. 2016, used by the UniLoss paper): pad 4 pixels of black on
every side, crop a random 32x32 window, flip horizontally with probability one half. One draw per
image, the whole batch in one indexing operation.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from metricloss.errors import InputError


def crop_flip(pad: int, flip: bool = True) -> Callable[[torch.Tensor, torch.Generator], torch.Tensor]:
    """``augment(images [N, C, H, W], generator)``: shift by up to ``pad`` pixels, mirror if ``flip``."""
    if pad < 0:
        raise InputError(f"crop_flip: pad must be >= 0, got {pad}")

    def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        n, channels, height, width = images.shape
        padded = F.pad(images, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator)
        dx = torch.randint(0, 2 * pad + 1, (n, 1), generator=generator)
        rows = dy + torch.arange(height)
        cols = dx + torch.arange(width)
        if flip:
            mirrored = torch.rand(n, 1, generator=generator) < 0.5
            cols = torch.where(mirrored, cols.flip(1), cols)
        return padded[torch.arange(n)[:, None, None, None], torch.arange(channels)[None, :, None, None],
                      rows[:, None, :, None], cols[:, None, None, :]]

    return augment
