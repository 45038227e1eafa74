"""Where a joint lands on a heatmap: coordinates, and the Gaussian target heatmaps of the MSE baseline.

Heatmap pixel ``(x, y)`` is the point ``(x, y)`` (the PCKh metric's convention), and an image of
side ``S`` maps onto a heatmap of side ``H`` by pixel centres: image pixel centre ``u`` (0-based)
lands at ``(u + 0.5) * H / S - 0.5``.
"""

from __future__ import annotations

import torch


def to_heatmap(points: torch.Tensor, image_size: float, heatmap_size: int) -> torch.Tensor:
    """Image pixel coordinates (0-based, any shape) to heatmap pixel coordinates."""
    return (points + 0.5) * (heatmap_size / image_size) - 0.5


def gaussian_heatmaps(joints: torch.Tensor, visible: torch.Tensor, height: int, width: int,
                      sigma: float = 1.0) -> torch.Tensor:
    """``[N, J, H, W]``: ``exp(-|p - joint|^2 / 2 sigma^2)`` for visible joints, zero for the others.

    Newell et al. (2016) trained on these with sigma = 1 pixel at 64x64; the centre is the exact
    sub-pixel joint rather than its rounded pixel.
    """
    ys = torch.arange(height, device=joints.device, dtype=joints.dtype)
    xs = torch.arange(width, device=joints.device, dtype=joints.dtype)
    dy = ys[:, None] - joints[..., 1, None, None]
    dx = xs[None, :] - joints[..., 0, None, None]
    maps = torch.exp(-(dx * dx + dy * dy) / (2 * sigma * sigma))
    return maps * visible[..., None, None].to(maps.dtype)
