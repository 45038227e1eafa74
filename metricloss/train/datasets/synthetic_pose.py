"""A generated keypoint set for the pose task: no download, the same code path as MPII after loading.

Each image shows a "figure": J joints scattered around a random centre at a random scale, chained by
thin grey limbs (joint j to joint j+1), each joint a Gaussian blob of its own hue (evenly spaced
around the colour wheel), over a dark noisy background of a random tint. Decoys (``distractors``)
are blobs in a random joint's colour anywhere in the image, on no limb: colour alone does not find a
joint, its limbs do, as on people. A joint is occluded (not drawn, and marked not visible, so PCKh
does not count it) with probability ``occluded``; its limbs are still drawn.

The targets are MPII's: joints in heatmap pixels (a quarter of the image side, the hourglass's
output), the head size, and visibility. The head size is 0.6 x the diagonal of a square "head box"
as wide as the figure's scale, so PCKh@0.5's radius is 1-2 heatmap pixels at the defaults (MPII's is
about 3 of 64). Deterministic: the same seed gives the same images, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..task import Data, Split
from .heatmaps import to_heatmap
from metricloss.errors import InputError

STRIDE = 4  # heatmap side = image side / 4, as the hourglass's output


@dataclass(frozen=True)
class SyntheticPose:
    """The generated set's sizes. At the defaults: 32 MB, rendered in about two seconds on one core."""

    train: int = 2000
    validation: int = 300
    test: int = 300
    image_size: int = 64
    joints: int = 4
    occluded: float = 0.1
    distractors: int = 2
    noise: float = 0.04  # standard deviation of the pixel noise, on a 0-1 scale
    blob: float = 0.12  # blob standard deviation, as a fraction of the figure's scale

    def __post_init__(self):
        if self.image_size % STRIDE or self.image_size < 16:
            raise InputError(f"image_size must be a multiple of {STRIDE} and at least 16, got {self.image_size}")
        if self.joints < 1 or not 0 <= self.occluded < 1:
            raise InputError(f"need joints >= 1 and 0 <= occluded < 1, got {self.joints} and {self.occluded}")

    @property
    def heatmap_size(self) -> int:
        return self.image_size // STRIDE


def palette(joints: int) -> torch.Tensor:
    """``[J, 3]`` RGB colours of full saturation at evenly spaced hues: a distinct colour per joint."""
    hue = torch.arange(joints, dtype=torch.float32)[:, None] / joints * 6
    rgb = torch.stack([(hue - 3).abs() - 1, 2 - (hue - 2).abs(), 2 - (hue - 4).abs()], dim=-1)
    return rgb.squeeze(1).clamp(0, 1)


def generate(count: int, config: SyntheticPose, generator: torch.Generator, chunk: int = 256) -> Split:
    """``count`` images ``[N, 3, S, S]`` uint8 and targets ``(joints, head_size, visible)``."""
    parts = [_generate(min(chunk, count - start), config, generator) for start in range(0, count, chunk)]
    if not parts:
        parts = [_generate(0, config, generator)]
    return Split(torch.cat([p.inputs for p in parts]),
                 tuple(torch.cat([p.targets[i] for p in parts]) for i in range(3)))


def _generate(n: int, config: SyntheticPose, generator: torch.Generator) -> Split:
    size, j = config.image_size, config.joints

    def uniform(*shape, low=0.0, high=1.0):
        return low + (high - low) * torch.rand(*shape, generator=generator)

    centre = size * uniform(n, 1, 2, low=0.35, high=0.65)
    scale = size * uniform(n, low=0.15, high=0.25)
    points = (centre + scale[:, None, None] * uniform(n, j, 2, low=-1, high=1)).clamp(2, size - 3)
    visible = uniform(n, j) >= config.occluded
    distractors = size * uniform(n, config.distractors, 2, low=0.05, high=0.95)
    sigma = config.blob * scale[:, None, None]  # [N, 1, 1], per figure

    xs = torch.arange(size, dtype=torch.float32)
    # Layers: limbs (grey), decoys and joints (their hues). Each pixel shows the most opaque
    # layer over the background (one max over layers rather than a blend per layer).
    centres = torch.cat([distractors, points], dim=1)  # [N, D + J, 2]
    opacity = _blobs(centres, sigma, xs)
    opacity[:, config.distractors:] *= visible[..., None, None]
    decoy = torch.randint(j, (n, config.distractors), generator=generator)
    colours = palette(j)[torch.cat([decoy, torch.arange(j).expand(n, -1)], dim=1)]  # [N, D + J, 3]
    if j > 1:
        distance = _segment_distance(points[:, :-1], points[:, 1:], xs)  # [N, J - 1, S, S]
        limbs = 0.6 * torch.exp(-distance.square() / (2 * (0.35 * sigma[..., None]) ** 2)).amax(1, keepdim=True)
        opacity = torch.cat([limbs, opacity], dim=1)
        colours = torch.cat([torch.full((n, 1, 3), 0.5), colours], dim=1)
    alpha, layer = opacity.max(1)  # [N, S, S]
    colour = colours.gather(1, layer.flatten(1)[..., None].expand(-1, -1, 3))  # [N, S*S, 3]
    colour = colour.transpose(1, 2).reshape(n, 3, size, size)
    background = uniform(n, 3, 1, 1, low=0.05, high=0.25)
    image = background + alpha[:, None] * (colour - background)
    image = image + config.noise * torch.randn(image.shape, generator=generator)
    pixels = (image.clamp(0, 1) * 255).round().to(torch.uint8)

    heatmap = config.heatmap_size
    joints = to_heatmap(points, size, heatmap)
    head_size = 0.6 * math.sqrt(2) * scale * (heatmap / size)
    return Split(pixels, (joints, head_size, visible))


def _blobs(centres: torch.Tensor, sigma: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """``[N, K, S, S]`` opacity of Gaussian blobs at ``centres`` ``[N, K, 2]`` (separable: two 1-d
    Gaussians multiplied)."""
    across = torch.exp(-(xs - centres[..., 0, None]).square() / (2 * sigma * sigma))  # [N, K, S]
    down = torch.exp(-(xs - centres[..., 1, None]).square() / (2 * sigma * sigma))
    return down[..., :, None] * across[..., None, :]


def _segment_distance(a: torch.Tensor, b: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """Distance from every pixel to the segments ``a[:, l] -> b[:, l]``: ``[N, L, S, S]``."""
    ab = b - a  # [N, L, 2]
    ax = (xs - a[..., 0, None])[..., None, :]  # [N, L, 1, S]
    ay = (xs - a[..., 1, None])[..., :, None]  # [N, L, S, 1]
    bx, by = ab[..., 0, None, None], ab[..., 1, None, None]
    t = ((ax * bx + ay * by) / (bx * bx + by * by).clamp_min(1e-6)).clamp(0, 1)
    return torch.hypot(ax - t * bx, ay - t * by)


def load_synthetic_pose(seed: int, config: SyntheticPose = SyntheticPose()) -> Data:
    """Train, validation and test sets drawn from three streams of the seed (resizing one leaves
    the others as they were)."""
    seeds = torch.randint(2**62, (3,), generator=torch.Generator().manual_seed(seed)).tolist()
    train, validation, test = (generate(count, config, torch.Generator().manual_seed(s))
                               for count, s in zip((config.train, config.validation, config.test), seeds))
    source = (f"synthetic keypoint set (generated from seed {seed}: {config.train}/{config.validation}/"
              f"{config.test} images {config.image_size}x{config.image_size}, {config.joints} joints, "
              f"{config.heatmap_size}x{config.heatmap_size} heatmaps)")
    return Data(train=train, validation=validation, test=test, source=source, synthetic=True)
