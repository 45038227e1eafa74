"""ResNet for CIFAR (He et al., "Deep residual learning", CVPR 2016, §4.2): ResNet-20 and kin.

Three stages of ``n`` basic blocks (two 3x3 convolutions) at 16, 32 and 64 channels, the second
and third starting with stride 2; depth ``6n + 2``. Shortcuts are the paper's option A for CIFAR:
identity, subsampled and zero-padded in channels where a stage changes shape, so the shortcuts add
no parameters. The first convolution takes any number of channels and any size large enough for two
halvings: 3x32x32 for CIFAR, 1x8x8 for the bundled digits (stages at 8, 4 and 2 pixels).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from metricloss.errors import InputError


class BasicBlock(nn.Module):
    def __init__(self, channels_in: int, channels_out: int, stride: int):
        super().__init__()
        self.conv1 = nn.Conv2d(channels_in, channels_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(channels_out)
        self.conv2 = nn.Conv2d(channels_out, channels_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(channels_out)
        self.stride = stride
        self.extra_channels = channels_out - channels_in

    def shortcut(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride != 1:
            x = x[:, :, ::self.stride, ::self.stride]
        if self.extra_channels:
            half = self.extra_channels // 2
            x = F.pad(x, (0, 0, 0, 0, half, self.extra_channels - half))
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class ResNet(nn.Module):
    def __init__(self, blocks_per_stage: int, classes: int, in_channels: int = 3,
                 widths: tuple[int, int, int] = (16, 32, 64)):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(in_channels, widths[0], 3, 1, 1, bias=False),
                                  nn.BatchNorm2d(widths[0]), nn.ReLU())
        layers, channels = [], widths[0]
        for stage, width in enumerate(widths):
            for block in range(blocks_per_stage):
                stride = 2 if stage > 0 and block == 0 else 1
                layers.append(BasicBlock(channels, width, stride))
                channels = width
        self.stages = nn.Sequential(*layers)
        self.fc = nn.Linear(channels, classes)
        for module in self.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(module.weight, nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        features = self.stages(self.stem(x))
        return self.fc(features.mean((2, 3)))


def resnet(depth: int, classes: int, in_channels: int = 3) -> ResNet:
    """A CIFAR ResNet of ``depth = 6n + 2`` layers (20, 32, 44, 56, 110)."""
    if depth < 8 or (depth - 2) % 6:
        raise InputError(f"a CIFAR ResNet has depth 6n + 2 (20, 32, 44, 56, 110), got {depth}")
    return ResNet((depth - 2) // 6, classes, in_channels)


def resnet20(classes: int, in_channels: int = 3) -> ResNet:
    return resnet(20, classes, in_channels)
