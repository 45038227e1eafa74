"""The binary task's multi-layer perceptron (UniLoss, §5: 784-500-300 with ReLU on MNIST)."""

from __future__ import annotations

from collections.abc import Sequence

import torch


def mlp(inputs: int, hidden: Sequence[int] = (500, 300), outputs: int = 2) -> torch.nn.Sequential:
    """Flatten, then ``Linear + ReLU`` for each hidden width, then a linear output layer.

    ``inputs`` is the flattened input size: 784 for MNIST's 28x28, 64 for the 8x8 digits.
    """
    widths = [inputs, *hidden]
    layers: list[torch.nn.Module] = [torch.nn.Flatten()]
    for width_in, width_out in zip(widths, widths[1:]):
        layers += [torch.nn.Linear(width_in, width_out), torch.nn.ReLU()]
    layers.append(torch.nn.Linear(widths[-1], outputs))
    return torch.nn.Sequential(*layers)
