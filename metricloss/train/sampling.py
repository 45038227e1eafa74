"""Which training samples each batch holds: shuffled, or class-balanced for rare positives.

A pairwise metric learns only from batches that hold both classes. At 10% positives a batch of
16 holds no positive one time in five (0.9^16) and a single one a third of the time, so AUC's
loss is undefined or rests on one score for most steps. The balanced sampler (as LibAUC's
``DualSampler``, Yuan et al. 2023) gives every batch the same share of positives, drawing the
positives again as often as needed, and keeps an epoch at the shuffled sampler's number of steps
so that the schedule (epochs, learning-rate steps) means the same thing.
"""

from __future__ import annotations

from collections.abc import Iterator

import torch

from metricloss.errors import InputError

SAMPLERS = ("shuffle", "balanced")


def parse_sampler(text: str) -> tuple[str, float | None]:
    """``shuffle``, ``balanced`` (half the batch positive) or ``balanced:SHARE``."""
    name, _, share = text.partition(":")
    if name not in SAMPLERS or (name == "shuffle" and share):
        raise InputError(f"sampler must be 'shuffle', 'balanced' or 'balanced:SHARE' (0 < SHARE < 1), got {text!r}")
    if name == "shuffle":
        return name, None
    try:
        value = 0.5 if not share else float(share)
    except ValueError:
        value = float("nan")
    if not 0 < value < 1:
        raise InputError(f"the balanced sampler's share of positives must be between 0 and 1, got {share!r}")
    return name, value


def shuffled_batches(size: int, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Shuffled batches of indices. A last batch of one sample is dropped: it breaks batch norm
    and holds no pair for a pairwise metric."""
    for index in torch.randperm(size, generator=generator).split(batch_size):
        if len(index) > 1 or size == 1:
            yield index


def balanced_batches(labels: torch.Tensor, batch_size: int, share: float,
                     generator: torch.Generator) -> Iterator[torch.Tensor]:
    """``len(labels) // batch_size`` batches, each with ``round(share * batch_size)`` positives
    (at least one, and at least one negative), drawn with replacement; negatives are drawn
    without replacement within an epoch, as far as they go."""
    labels = labels.reshape(len(labels), -1)[:, 0]  # the first column of one-hot or multi-label rows
    positives = torch.nonzero(labels > 0).flatten()
    negatives = torch.nonzero(labels <= 0).flatten()
    if len(positives) == 0 or len(negatives) == 0:
        raise InputError(
            "the balanced sampler needs positives and negatives in the training split, found "
            f"{len(positives)} and {len(negatives)}; use the shuffled sampler"
        )
    if batch_size < 2:
        raise InputError(f"the balanced sampler needs batches of at least 2, got {batch_size}")
    per_batch = min(max(1, round(share * batch_size)), batch_size - 1)
    steps = max(1, len(labels) // batch_size)
    drawn = torch.randint(len(positives), (steps, per_batch), generator=generator)
    order = negatives[torch.randperm(len(negatives), generator=generator)]
    rest = batch_size - per_batch
    repeats = -(-steps * rest // len(order))  # ceil: reuse the order when the epoch needs more
    order = order.repeat(repeats)[: steps * rest].reshape(steps, rest)
    for step in range(steps):
        yield torch.cat([positives[drawn[step]], order[step]])
