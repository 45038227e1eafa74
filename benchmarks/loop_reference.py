"""UniLoss for average precision written the way the paper's published code is: Python loops.

This is the yardstick for ``loss_speed.py``: how much the vectorised ``metricloss`` path buys over
a straightforward per-pair implementation (the published code, princeton-vl/uniloss, builds its
binaries, anchors and anchor values in Python loops over pairs). To make the comparison about
speed only, it computes what ``metricloss.UniLoss("average_precision")`` computes (DESIGN.md §2),
with the same binaries in the same order, and ``loss_speed.py`` checks that on identical anchors:

- binaries, positive ``i`` against every other positive ``j`` (``[s_j > s_i]``; a positive
  against itself is a constant, left out as metricloss leaves out its dead binaries) and then
  against every negative ``j`` (``[s_j > s_i]``);
- AP of a configuration: ``mean_i (1 + pos above i) / (1 + pos above i + neg above i)``;
- the ideal ``b*`` the compiler derives for it: no negative above a positive, and the
  positive-positive binaries as they currently are (their order does not change AP at the ideal,
  so metricloss marks that block free rather than pinning it to an impossible all-true);
- 16 ideal, 16 good (``b*`` with one flip), 16 nearby (current binaries with one bit that disagrees
  with ``b*`` turned toward it) and 16 uniformly random anchors;
- relaxation ``tanh(d / 2)``, inverse-distance weights ``1 / (|x - a| + 1e-8)`` and
  ``loss = AP(b*) - interpolated AP``, differentiated by autograd.

Unlike the published code it differentiates with autograd instead of a hand-written gradient (the
hand-written one has a sign error in the quotient-rule term, DESIGN.md §2).
"""

from __future__ import annotations

import random

import torch

EPS = 1e-8
ANCHORS_PER_KIND = 16


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


def uniloss_ap(
    scores: torch.Tensor,
    labels: torch.Tensor,
    rng: random.Random | None = None,
    anchors: list[list[bool]] | None = None,
) -> torch.Tensor:
    """The UniLoss of AP on one batch (0-d, differentiable in ``scores``); anchors drawn from ``rng``
    unless given (given anchors let a test compare this with metricloss on identical anchors)."""
    label_list = [int(label) for label in labels.tolist()]
    pairs, n_pos, n_neg = pair_indices(label_list)
    relaxed = []
    for j, i in pairs:
        difference = scores[j] - scores[i]
        relaxed.append(torch.tanh(difference / 2))
    relaxed = torch.stack(relaxed)

    hard = hard_binaries(scores, label_list)
    ideal = ideal_binaries(hard, n_pos, n_neg)
    if anchors is None:
        anchors = sample_anchors(hard, ideal, rng or random.Random(0))
    values = [average_precision_from_binaries(anchor, n_pos, n_neg) for anchor in anchors]

    weighted_sum, weight_total = 0.0, 0.0
    for anchor, value in zip(anchors, values):
        point = torch.tensor([1.0 if bit else -1.0 for bit in anchor], device=scores.device)
        # Clamping at eps^2 keeps sqrt's gradient finite if x sits exactly on an anchor.
        distance = (relaxed - point).square().sum().clamp_min(EPS * EPS).sqrt()
        weight = 1.0 / (distance + EPS)
        weighted_sum = weighted_sum + weight * value
        weight_total = weight_total + weight
    best = average_precision_from_binaries(ideal, n_pos, n_neg)
    return best - weighted_sum / weight_total
