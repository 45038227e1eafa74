"""The problems ``metricloss peers`` trains on: bundled or generated data, no download.

``digits``: one digit of scikit-learn's 8x8 digits against the other nine (about 10% positives),
the binary task's MLP (``plugins/metricloss_builtins/task_binary.py``), scored by ``logit1 -
logit0`` and judged by AUC and AP. ``positive_fraction`` makes it harder: the training split keeps
only enough positives for that share of it (at least two); validation and test are untouched.

``blobs``: a generated binary segmentation set, random ellipses on noise (``blob_images``), a tiny
fully convolutional net, scored per pixel and judged by the IoU of the foreground pooled over the
whole split.

``ltr``: the ``ltr`` task's learning-to-rank data and scorer (``ltr_problem.py``).

A problem is a value: ``load(seed)`` gives the seed's ``Data`` (the split, the subsampling and the
generated images all follow the seed), ``model(data)`` the network (initialised from torch's global
generator, which the runner seeds), ``scores(output)`` the metric's scores, ``targets(labels)``
the matching labels, and ``baseline(output, labels)`` the usual loss.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F

from metricloss.errors import InputError
from metricloss.train.task import Data, Split

DIGITS = tuple(range(10))


SGD_LRS = (0.01, 0.05, 0.1, 0.2, 0.5)  # the grid of the problems trained by SGD
SGD_SMOKE_LR = 0.1


@dataclass(frozen=True)
class Schedule:
    """A problem's training settings (the command's options override them)."""

    epochs: int
    batch_size: int
    momentum: float | None  # SGD's; None where the problem brings its own optimizer


@dataclass(frozen=True)
class Problem:
    name: str  # "digits", "blobs", "ltr"
    label: str  # one line for tables: "digit 8 vs rest, 10% positives"
    key: str  # a short unique key for files and JSON: "digits-8", "digits-8-p0.02", "blobs", "ltr"
    # "ranking" (one score per sample), "segmentation" (one score per pixel) or "queries" (a score
    # per item of each query of a batch, [Q, D], relevance -1 on padding)
    kind: str
    metrics: tuple[str, ...]  # the labels reported; the learning rate is chosen on each in turn
    schedule: Schedule | Callable[[Data], Schedule]  # or read from the data (a task's settings for it)
    load: Callable[[int], Data]
    model: Callable[[Data], torch.nn.Module]
    scores: Callable[[torch.Tensor], torch.Tensor]  # network output -> flat scores
    targets: Callable[[torch.Tensor], torch.Tensor]  # labels of a batch -> flat labels, aligned with scores
    baseline: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]  # (output, labels) -> the usual loss
    details: dict = field(default_factory=dict)  # recorded in results.json
    # A label of ``metrics`` that is not a registered metric's name: the metric and its parameters.
    measures: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)
    # The one label every metric's learning rate is chosen on (None: each metric chooses its own).
    select_on: str | None = None
    lrs: tuple[float, ...] = SGD_LRS  # the grid when --lrs is not given
    smoke_lr: float = SGD_SMOKE_LR  # the learning rate of --smoke
    # (parameters, lr) -> the optimizer of every method without one of its own (None: SGD with the
    # schedule's momentum), and how results.json names it
    optimizer: Callable[[Any, float], torch.optim.Optimizer] | None = None
    optimizer_label: str = ""
    time_reference: str | None = None  # the method whose time per epoch the others' are divided by

    def schedule_for(self, data: Data) -> Schedule:
        return self.schedule(data) if callable(self.schedule) else self.schedule

    def measure(self, label: str) -> tuple[str, dict[str, Any]]:
        """The registered metric and its parameters behind ``label``."""
        return self.measures.get(label, (label, {}))


# The paper's binary schedule (UniLoss, §5.1): batch 16, 30 epochs, SGD with momentum 0.5.
DIGITS_SCHEDULE = Schedule(epochs=30, batch_size=16, momentum=0.5)
BLOBS_SCHEDULE = Schedule(epochs=20, batch_size=8, momentum=0.9)


def digits_problem(digit: int, positive_fraction: float | None = None) -> Problem:
    """Digit ``digit`` (label 1) against the rest (label 0) on scikit-learn's 8x8 digits."""
    if digit not in DIGITS:
        raise InputError(f"the positive class is a digit 0-9, got {digit!r}")
    if positive_fraction is not None and not 0 < positive_fraction <= 1:
        raise InputError(f"the positive fraction must be in (0, 1], got {positive_fraction!r}")
    from metricloss.train.datasets.digits import load_digits
    from metricloss.train.models.mlp import mlp
    from metricloss.train.models.standardize import fit

    def load(seed: int) -> Data:
        data = load_digits(seed)

        def relabel(split: Split) -> Split:
            return Split(split.inputs, ((split.targets[0] == digit).long(),))

        train = relabel(data.train)
        if positive_fraction is not None:
            train = subsample_positives(train, positive_fraction, seed)
        return Data(train=train, validation=relabel(data.validation), test=relabel(data.test),
                    source=f"{data.source}; digit {digit} against the rest")

    def model(data: Data) -> torch.nn.Module:
        inputs = data.train.inputs[0].numel()
        return torch.nn.Sequential(fit(data.train.inputs), mlp(inputs, (500, 300), 2))

    share = "about 10% positives" if positive_fraction is None else f"{positive_fraction:g} positives in training"
    key = f"digits-{digit}" + ("" if positive_fraction is None else f"-p{positive_fraction:g}")
    return Problem(
        name="digits", label=f"digit {digit} vs rest, {share}", key=key, kind="ranking",
        metrics=("auc", "average_precision"), schedule=DIGITS_SCHEDULE, load=load, model=model,
        scores=lambda output: output[:, 1] - output[:, 0],
        targets=lambda labels: labels,
        baseline=lambda output, labels: F.cross_entropy(output, labels),
        details={"digit": digit, "positive_fraction": positive_fraction,
                 "model": "standardize + MLP 64-500-300-2", "score": "logit1 - logit0"},
        time_reference="bce",
    )


def subsample_positives(split: Split, fraction: float, seed: int) -> Split:
    """``split`` with only enough positives (label 1) for them to be ``fraction`` of it, at least 2.

    Every negative is kept; the positives kept are drawn by ``seed``. A fraction at or above the
    split's own keeps it whole.
    """
    labels = split.targets[0]
    positives = torch.nonzero(labels == 1).flatten()
    negatives = torch.nonzero(labels != 1).flatten()
    if fraction >= 1:
        return split
    wanted = max(2, math.floor(fraction * len(negatives) / (1 - fraction) + 0.5))
    if wanted >= len(positives):
        return split
    order = torch.randperm(len(positives), generator=torch.Generator().manual_seed(10_000 + seed))
    kept = torch.cat([negatives, positives[order[:wanted]]]).sort().values
    return split.batch(kept)


# ---------------------------------------------------------------------------------------------
# blobs: generated binary segmentation


def blob_images(count: int, side: int, seed: int, noise: float = 0.8) -> tuple[torch.Tensor, torch.Tensor]:
    """``count`` images ``[count, 1, side, side]`` (float) and masks ``[count, side, side]`` (0/1).

    Each image holds one to three ellipses (random centre, semi-axes from 1.5 to side/4 pixels,
    random rotation) of a random brightness between 0.6 and 1.4 on a background of 0, with a
    smooth random gradient and Gaussian noise of standard deviation ``noise`` added over the whole
    image; the mask is the union of the ellipses. Drawn in batched tensor code from ``seed`` alone.
    """
    g = torch.Generator().manual_seed(seed)
    shapes = 3
    present = torch.ones(count, shapes, dtype=torch.bool)
    present[:, 1:] = torch.rand(count, shapes - 1, generator=g) < 0.5
    centre = torch.rand(count, shapes, 2, generator=g) * (side - 4) + 2
    axes = 1.5 + torch.rand(count, shapes, 2, generator=g) * (side / 4 - 1.5)
    angle = torch.rand(count, shapes, generator=g) * math.pi
    brightness = 0.6 + 0.8 * torch.rand(count, shapes, generator=g)
    ys, xs = torch.meshgrid(torch.arange(side, dtype=torch.float32), torch.arange(side, dtype=torch.float32),
                            indexing="ij")
    dy = ys[None, None] - centre[..., 0, None, None]
    dx = xs[None, None] - centre[..., 1, None, None]
    cos, sin = angle.cos()[..., None, None], angle.sin()[..., None, None]
    u = (dx * cos + dy * sin) / axes[..., 0, None, None]
    v = (-dx * sin + dy * cos) / axes[..., 1, None, None]
    inside = (u * u + v * v <= 1) & present[..., None, None]  # [count, shapes, side, side]
    mask = inside.any(1)
    light = (inside.float() * brightness[..., None, None]).amax(1)
    slope = (torch.rand(count, 2, generator=g) - 0.5) * 0.6
    gradient = (slope[:, 0, None, None] * (ys - side / 2) + slope[:, 1, None, None] * (xs - side / 2)) / side
    images = light + gradient + noise * torch.randn(count, side, side, generator=g)
    return images.unsqueeze(1), mask.long()


class TinySegmenter(torch.nn.Module):
    """Standardise, three 3x3 convolutions (8, 16, 8 channels, ReLU), a 1x1 convolution to one
    logit per pixel: ``[N, 1, H, W] -> [N, H, W]``."""

    def __init__(self, standardize: torch.nn.Module, width: int = 8):
        super().__init__()
        self.standardize = standardize
        self.body = torch.nn.Sequential(
            torch.nn.Conv2d(1, width, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(width, 2 * width, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(2 * width, width, 3, padding=1), torch.nn.ReLU(),
            torch.nn.Conv2d(width, 1, 1),
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        return self.body(self.standardize(inputs)).squeeze(1)


def blobs_problem(count: int = 400, side: int = 16) -> Problem:
    """Random ellipses on noise: 60% / 20% / 20% of ``count`` images for train / validation / test."""
    from metricloss.train.models.standardize import fit

    def load(seed: int) -> Data:
        images, masks = blob_images(count, side, seed)
        train_end, validation_end = round(0.6 * count), round(0.8 * count)
        part = lambda a, b: Split(images[a:b], (masks[a:b],))  # noqa: E731
        return Data(train=part(0, train_end), validation=part(train_end, validation_end),
                    test=part(validation_end, count), source=f"generated ellipses on noise ({count} images, "
                                                            f"{side}x{side}), drawn from the seed", synthetic=True)

    def model(data: Data) -> torch.nn.Module:
        return TinySegmenter(fit(data.train.inputs))

    return Problem(
        name="blobs", label=f"ellipses on noise, {side}x{side}, {count} images", key="blobs",
        kind="segmentation", metrics=("iou",), schedule=BLOBS_SCHEDULE, load=load, model=model,
        scores=lambda output: output.reshape(-1),
        targets=lambda labels: labels.reshape(-1),
        baseline=lambda output, labels: F.binary_cross_entropy_with_logits(output, labels.float()),
        details={"images": count, "side": side, "model": "standardize + 3x3 convs 8-16-8 + 1x1",
                 "score": "per-pixel logit, flattened"},
        time_reference="bce",
    )
