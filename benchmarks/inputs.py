"""The benchmarks' batches: scores and targets of each metric at a given size, from a seed.

One ``Case`` names a metric and a size; ``case.make`` gives a leaf score tensor that requires
grad and the metric's targets, on the device. Binary metrics get 10% positives, classification
uniform labels, PCKh heatmaps with every joint visible and a PCKh@0.5 radius of 5% of the
heatmap side (about 3 pixels of 64, as on MPII).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

POSITIVE_FRACTION = 0.1
SEED = 0
HEAD_FRACTION = 0.1  # head size / heatmap side: PCKh@0.5's radius is half of it


@dataclass(frozen=True)
class Case:
    metric: str
    batch: int
    classes: int = 0  # accuracy: classes per sample
    side: int = 0  # pckh: heatmap side
    joints: int = 16  # pckh: heatmaps per sample

    @property
    def label(self) -> str:
        if self.metric == "pckh":
            return f"pckh B={self.batch} J={self.joints} {self.side}x{self.side}"
        return f"{self.metric} B={self.batch}" + (f" C={self.classes}" if self.classes else "")

    def make(self, device, seed: int = SEED) -> tuple[torch.Tensor, tuple[torch.Tensor, ...]]:
        """Scores (a leaf that requires grad) and targets."""
        generator = torch.Generator().manual_seed(seed)
        if self.metric == "pckh":
            scores, targets = pose_batch(self.batch, self.joints, self.side, generator)
        elif self.classes:
            scores = torch.randn(self.batch, self.classes, generator=generator)
            targets = (torch.randint(self.classes, (self.batch,), generator=generator),)
        else:
            scores = torch.randn(self.batch, generator=generator)
            targets = (binary_labels(self.batch, generator),)
        return scores.to(device).requires_grad_(), tuple(t.to(device) for t in targets)

    def baseline(self) -> Callable[..., torch.Tensor]:
        """The loss the same scores are trained with without metricloss."""
        if self.metric == "pckh":
            from metricloss_builtins.task_pose import mse_to_gaussians

            return mse_to_gaussians
        if self.classes:
            return F.cross_entropy
        return lambda scores, labels: F.binary_cross_entropy_with_logits(scores, labels.to(scores.dtype))

    @property
    def baseline_name(self) -> str:
        return "MSE" if self.metric == "pckh" else "CE"


def binary_labels(batch: int, generator: torch.Generator) -> torch.Tensor:
    """10% positives (at least one, and at least one negative) at random positions."""
    positives = min(max(1, round(POSITIVE_FRACTION * batch)), batch - 1)
    labels = torch.zeros(batch, dtype=torch.long)
    labels[torch.randperm(batch, generator=generator)[:positives]] = 1
    return labels


def pose_batch(batch: int, joints: int, side: int, generator: torch.Generator):
    """Heatmaps ``[N, J, side, side]`` and PCKh's targets (joints, head size, visible)."""
    heatmaps = torch.randn(batch, joints, side, side, generator=generator) * 0.1
    margin = HEAD_FRACTION * side
    positions = margin + torch.rand(batch, joints, 2, generator=generator) * (side - 1 - 2 * margin)
    head_size = torch.full((batch,), HEAD_FRACTION * side)
    visible = torch.ones(batch, joints)
    return heatmaps, (positions, head_size, visible)


def loss_step(loss_fn, scores: torch.Tensor, targets: tuple) -> Callable[[], None]:
    """Loss forward + backward on fixed scores: the part of a step the loss itself adds."""
    def run():
        scores.grad = None
        loss_fn(scores, *targets).backward()
    return run


def make_uniloss(metric: str, device):
    import metricloss as ml

    return ml.UniLoss(metric, generator=torch.Generator(device=device).manual_seed(SEED))
