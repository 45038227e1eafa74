"""UniLoss written the way the paper's published code is: Python loops over pairs.

The yardstick for table c: how much metricloss's vectorised path buys over a straightforward
per-pair implementation of the published algorithm (princeton-vl/uniloss builds its binaries,
anchors and anchor values in Python loops). To make the comparison about speed only, each
function here computes what ``metricloss.UniLoss(metric)`` computes (docs/guide.md, "The loss"), with the same
binaries in the same order; ``tests/test_bench.py`` checks that on identical anchors.

Shared by all three metrics:

- 16 ideal, 16 good (``b*`` with one flip), 16 nearby (current binaries with one bit that
  disagrees with ``b*`` turned toward it) and 16 uniformly random anchors, built bit by bit;
- relaxation ``tanh(d / 2)`` of each difference, one scalar op per pair;
- inverse-distance weights ``1 / (|x - a| + 1e-8)`` and ``loss = g(b*) - interpolated g``,
  differentiated by autograd (the published code hand-wrote the gradient, with a sign error in
  the quotient-rule term).

The metrics' binaries (dead ones, constant whatever the scores, are left out as metricloss
leaves them out):

- average precision: positive ``i`` against every other positive ``j`` (``[s_j > s_i]``), then
  against every negative ``j``; ``AP = mean_i (1 + pos above i) / (1 + pos above i + neg above i)``;
  ``b*``: the positives in their current order (their order does not change AP at the ideal) and
  no negative above a positive;
- accuracy: sample ``i`` with label ``y`` against every other class ``c``: ``[s_iy > s_ic]``;
  a sample is right when all its binaries are true; ``b*``: all true;
- PCKh: for each visible joint, the best pixel inside its PCKh radius against every pixel
  outside (``[max inside > s_p]``); a joint is hit when all its binaries are true; ``b*``: all true.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import torch

EPS = 1e-8
ANCHORS_PER_KIND = 16


# ----------------------------------------------------------------------------- shared

def sample_anchors(hard: list[bool], ideal: list[bool], rng: random.Random) -> list[list[bool]]:
    """The four default anchor kinds, built bit by bit."""
    size = len(ideal)
    anchors = [list(ideal) for _ in range(ANCHORS_PER_KIND)]
    for _ in range(ANCHORS_PER_KIND):
        good = list(ideal)
        k = rng.randrange(size)
        good[k] = not good[k]
        anchors.append(good)
    disagree = [k for k in range(size) if hard[k] != ideal[k]]
    for _ in range(ANCHORS_PER_KIND):
        if disagree:
            near = list(hard)
            k = disagree[rng.randrange(len(disagree))]
        else:
            near = list(ideal)
            k = rng.randrange(size)
        near[k] = not near[k]
        anchors.append(near)
    for _ in range(ANCHORS_PER_KIND):
        anchors.append([rng.random() < 0.5 for _ in range(size)])
    return anchors


def interpolated_loss(relaxed: torch.Tensor, hard: list[bool], ideal: list[bool],
                      value: Callable[[list[bool]], float], rng: random.Random | None,
                      anchors: list[list[bool]] | None) -> torch.Tensor:
    """``g(b*) - sum_j w_j g(a_j) / sum_j w_j``, one anchor at a time."""
    if anchors is None:
        anchors = sample_anchors(hard, ideal, rng or random.Random(0))
    values = [value(anchor) for anchor in anchors]
    weighted_sum, weight_total = 0.0, 0.0
    for anchor, anchor_value in zip(anchors, values):
        point = torch.tensor([1.0 if bit else -1.0 for bit in anchor], device=relaxed.device)
        # Clamping at eps^2 keeps sqrt's gradient finite if x sits exactly on an anchor.
        distance = (relaxed - point).square().sum().clamp_min(EPS * EPS).sqrt()
        weight = 1.0 / (distance + EPS)
        weighted_sum = weighted_sum + weight * anchor_value
        weight_total = weight_total + weight
    return value(ideal) - weighted_sum / weight_total


def relax(differences: list[torch.Tensor]) -> torch.Tensor:
    return torch.stack([torch.tanh(difference / 2) for difference in differences])


# ----------------------------------------------------------------------------- average precision

def pair_indices(labels: list[int]) -> tuple[list[tuple[int, int]], int, int]:
    """``(j, i)`` for each binary ``[s_j > s_i]``, in metricloss's order; and P, N."""
    positives = [k for k, label in enumerate(labels) if label == 1]
    negatives = [k for k, label in enumerate(labels) if label == 0]
    pairs = [(j, i) for i in positives for j in positives if j != i]
    pairs += [(j, i) for i in positives for j in negatives]
    return pairs, len(positives), len(negatives)


def average_precision_from_binaries(bits: list[bool], n_pos: int, n_neg: int) -> float:
    """AP of one configuration, counting for each positive the items its binaries put above it."""
    if n_pos == 0:
        return float("nan")
    total = 0.0
    for i in range(n_pos):
        positives_above = 0
        for j in range(n_pos - 1):
            if bits[i * (n_pos - 1) + j]:
                positives_above += 1
        negatives_above = 0
        offset = n_pos * (n_pos - 1) + i * n_neg
        for j in range(n_neg):
            if bits[offset + j]:
                negatives_above += 1
        total += (1 + positives_above) / (1 + positives_above + negatives_above)
    return total / n_pos


def ideal_binaries(hard: list[bool], n_pos: int, n_neg: int) -> list[bool]:
    """b*: the positives in their current order, and no negative above a positive."""
    return hard[:n_pos * (n_pos - 1)] + [False] * (n_pos * n_neg)


def hard_binaries(scores: torch.Tensor, labels: list[int]) -> list[bool]:
    """The binaries evaluation would see: one comparison per pair."""
    values = scores.detach().tolist()
    pairs, _, _ = pair_indices(labels)
    return [values[j] > values[i] for j, i in pairs]


def uniloss_ap(scores: torch.Tensor, labels: torch.Tensor, rng: random.Random | None = None,
               anchors: list[list[bool]] | None = None) -> torch.Tensor:
    """The UniLoss of AP on one batch (0-d, differentiable in ``scores``); anchors drawn from ``rng``
    unless given (given anchors let a test compare this with metricloss on identical anchors)."""
    label_list = [int(label) for label in labels.tolist()]
    pairs, n_pos, n_neg = pair_indices(label_list)
    relaxed = relax([scores[j] - scores[i] for j, i in pairs])
    hard = hard_binaries(scores, label_list)
    ideal = ideal_binaries(hard, n_pos, n_neg)
    return interpolated_loss(relaxed, hard, ideal, lambda bits: average_precision_from_binaries(bits, n_pos, n_neg),
                             rng, anchors)


# ----------------------------------------------------------------------------- accuracy

def accuracy_pairs(labels: list[int], classes: int) -> list[tuple[int, int, int]]:
    """``(i, y, c)`` for each binary ``[s_iy > s_ic]``: sample by sample, classes in order."""
    return [(i, y, c) for i, y in enumerate(labels) for c in range(classes) if c != y]


def accuracy_from_binaries(bits: list[bool], samples: int, classes: int) -> float:
    correct = 0
    per_sample = classes - 1
    for i in range(samples):
        right = True
        for k in range(i * per_sample, (i + 1) * per_sample):
            if not bits[k]:
                right = False
                break
        correct += right
    return correct / samples


def uniloss_accuracy(scores: torch.Tensor, labels: torch.Tensor, rng: random.Random | None = None,
                     anchors: list[list[bool]] | None = None) -> torch.Tensor:
    samples, classes = scores.shape
    pairs = accuracy_pairs([int(label) for label in labels.tolist()], classes)
    relaxed = relax([scores[i, y] - scores[i, c] for i, y, c in pairs])
    values = scores.detach().tolist()
    hard = [values[i][y] > values[i][c] for i, y, c in pairs]
    ideal = [True] * len(pairs)
    return interpolated_loss(relaxed, hard, ideal, lambda bits: accuracy_from_binaries(bits, samples, classes),
                             rng, anchors)


# ----------------------------------------------------------------------------- PCKh

def pckh_pairs(heatmaps: list, joints: list, head_size: list, visible: list, threshold: float = 0.5):
    """For each visible joint with pixels in its region: ``((n, j), best pixel, [pixels outside])``,
    pixels as ``(y, x)`` in row-major order."""
    groups = []
    for n, (maps, positions, head, seen) in enumerate(zip(heatmaps, joints, head_size, visible)):
        radius = threshold * head
        for j, heatmap in enumerate(maps):
            if not seen[j]:
                continue
            jx, jy = positions[j]
            inside, outside = [], []
            for y, row in enumerate(heatmap):
                for x in range(len(row)):
                    near = (x - jx) ** 2 + (y - jy) ** 2 <= radius * radius
                    (inside if near else outside).append((y, x))
            if not inside:
                continue
            best = inside[0]
            for y, x in inside:
                if heatmap[y][x] > heatmap[best[0]][best[1]]:
                    best = (y, x)
            groups.append(((n, j), best, outside))
    return groups


def pckh_from_binaries(bits: list[bool], sizes: list[int], visible_joints: int) -> float:
    hits, offset = 0, 0
    for size in sizes:
        hit = True
        for k in range(offset, offset + size):
            if not bits[k]:
                hit = False
                break
        hits += hit
        offset += size
    return hits / visible_joints


def uniloss_pckh(heatmaps: torch.Tensor, joints: torch.Tensor, head_size: torch.Tensor, visible: torch.Tensor,
                 rng: random.Random | None = None, anchors: list[list[bool]] | None = None) -> torch.Tensor:
    values = heatmaps.detach().tolist()
    seen = visible.tolist()
    groups = pckh_pairs(values, joints.tolist(), head_size.tolist(), seen)
    differences, hard, sizes = [], [], []
    for (n, j), (by, bx), outside in groups:
        for y, x in outside:
            differences.append(heatmaps[n, j, by, bx] - heatmaps[n, j, y, x])
            hard.append(values[n][j][by][bx] > values[n][j][y][x])
        sizes.append(len(outside))
    visible_joints = sum(1 for sample in seen for flag in sample if flag)
    ideal = [True] * len(hard)
    return interpolated_loss(relax(differences), hard, ideal,
                             lambda bits: pckh_from_binaries(bits, sizes, visible_joints), rng, anchors)


LOSSES = {"average_precision": uniloss_ap, "accuracy": uniloss_accuracy, "pckh": uniloss_pckh}
