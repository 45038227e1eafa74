"""A one-stack hourglass network (Newell, Yang & Deng, "Stacked hourglass networks", ECCV 2016).

Stem: a 7x7 convolution with stride 2, a residual module, 2x2 max pooling and two residual modules,
so heatmaps come out at a quarter of the input side (256 -> 64 on MPII). The hourglass: at each of
``depth`` levels a residual branch at the current resolution, and a pooled branch that recurses,
upsampled (nearest) and added back. Then a residual module, a 1x1 convolution with batch norm and
ReLU, and a 1x1 convolution to one heatmap per joint: ``[N, J, H/4, W/4]``.

Residual modules are the paper's pre-activation bottlenecks (BN-ReLU-1x1, BN-ReLU-3x3, BN-ReLU-1x1
at half width). The paper's network is ``channels=256, depth=4``; the synthetic pose set's default
is a few percent of its cost (``channels=32, depth=2``) so it trains on a CPU.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from metricloss.errors import InputError


class Residual(nn.Module):
    def __init__(self, channels_in: int, channels_out: int):
        super().__init__()
        middle = max(channels_out // 2, 1)
        self.branch = nn.Sequential(
            nn.BatchNorm2d(channels_in), nn.ReLU(), nn.Conv2d(channels_in, middle, 1),
            nn.BatchNorm2d(middle), nn.ReLU(), nn.Conv2d(middle, middle, 3, padding=1),
            nn.BatchNorm2d(middle), nn.ReLU(), nn.Conv2d(middle, channels_out, 1),
        )
        self.skip = nn.Identity() if channels_in == channels_out else nn.Conv2d(channels_in, channels_out, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.branch(x) + self.skip(x)


class Hourglass(nn.Module):
    """One level: ``residual(x) + upsample(inner(pool(x)))``, ``inner`` the next level down."""

    def __init__(self, depth: int, channels: int):
        super().__init__()
        self.up = Residual(channels, channels)
        self.down = Residual(channels, channels)
        self.inner = Hourglass(depth - 1, channels) if depth > 1 else Residual(channels, channels)
        self.after = Residual(channels, channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        low = self.after(self.inner(self.down(F.max_pool2d(x, 2))))
        return self.up(x) + F.interpolate(low, size=x.shape[-2:], mode="nearest")


class HourglassNet(nn.Module):
    def __init__(self, joints: int, channels: int = 256, depth: int = 4, in_channels: int = 3):
        super().__init__()
        if channels < 4 or depth < 1:
            raise InputError(f"an hourglass needs channels >= 4 and depth >= 1, got {channels} and {depth}")
        stem_width = max(channels // 4, 4)
        self.stem = nn.Sequential(
            nn.Conv2d(in_channels, stem_width, 7, stride=2, padding=3), nn.BatchNorm2d(stem_width), nn.ReLU(),
            Residual(stem_width, channels // 2), nn.MaxPool2d(2),
            Residual(channels // 2, channels // 2), Residual(channels // 2, channels),
        )
        self.hourglass = Hourglass(depth, channels)
        self.head = nn.Sequential(
            Residual(channels, channels), nn.Conv2d(channels, channels, 1), nn.BatchNorm2d(channels), nn.ReLU(),
            nn.Conv2d(channels, joints, 1),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.hourglass(self.stem(x)))


def hourglass(joints: int, channels: int = 256, depth: int = 4, in_channels: int = 3) -> HourglassNet:
    """A 1-stack hourglass giving ``joints`` heatmaps at a quarter of the input resolution."""
    return HourglassNet(joints, channels, depth, in_channels)
