"""The ideal configuration ``b*``: the binaries at which ``g`` takes its best value.

Nearly every metric is best when each block of comparisons is all true or all false (every
positive above every negative; the true class above every rival). Since block shapes depend on
the batch, the compiler learns a *pattern* (one entry per block) by trying every all-true/all-false
combination on a batch in one vectorised call, and reuses it.

Some blocks do not matter at the ideal: in average precision, once every positive is above every
negative, the order among positives cannot change the value. Pinning such a block to all-true
would put b* where no real scores can go (``p_i > p_j`` and ``p_j > p_i`` at once) and keep the loss
away from zero at a perfect ranking. Such a block is marked *free* (``None`` in the pattern) and
follows the current binaries instead.

A metric whose best configuration mixes true and false inside a block needs ``ideal=``: a function
of the targets returning scores that are perfect.
"""

from __future__ import annotations

import itertools
import math

import torch

from .program import Binaries, Program

_MAX_BLOCKS_TRIED = 12  # 2**12 patterns in one call


def pattern_configuration(pattern: tuple[bool | None, ...], binaries: Binaries,
                          free_bits: torch.Tensor | None = None) -> torch.Tensor:
    """The flat bool configuration: block i all ``pattern[i]``, or ``free_bits`` where it is None."""
    device = binaries.hard.device
    sizes = torch.tensor([math.prod(s) for s in binaries.shapes], device=device)
    values = torch.tensor([bool(v) for v in pattern], dtype=torch.bool, device=device)
    configuration = values.repeat_interleave(sizes, output_size=binaries.count)
    if None in pattern:
        free = torch.tensor([v is None for v in pattern], device=device)
        free = free.repeat_interleave(sizes, output_size=binaries.count)
        source = binaries.hard if free_bits is None else free_bits
        configuration = torch.where(free, source, configuration)
    return configuration


def best_pattern(program: Program, binaries: Binaries, higher_is_better: bool, best: float | None = None):
    """Try every all-true/all-false pattern.

    A pattern that beats the declared ``best`` is a configuration no scores can produce (every
    item ranked first at once, say) and is not taken. Returns ((pattern with free blocks, constant
    pattern), best value), or None if the blocks are too many to try.
    """
    blocks = len(binaries.shapes)
    if blocks > _MAX_BLOCKS_TRIED:
        return None
    patterns = list(itertools.product((True, False), repeat=blocks))
    configurations = torch.stack([pattern_configuration(p, binaries) for p in patterns])
    values = program.values(binaries, configurations)
    worst = float("-inf") if higher_is_better else float("inf")
    undefined = bool(torch.isnan(values).all())
    values = torch.where(torch.isnan(values), worst, values)
    if best is not None:
        beyond = values > best + 1e-6 if higher_is_better else values < best - 1e-6
        values = torch.where(beyond, worst, values)
    index = int(values.argmax() if higher_is_better else values.argmin())
    if undefined:
        return (patterns[index], patterns[index]), float("nan")
    value = float(values[index])
    if not math.isfinite(value):
        return (patterns[index], patterns[index]), value
    return (free_blocks(program, binaries, patterns[index], value), patterns[index]), value


def free_blocks(program: Program, binaries: Binaries, pattern: tuple[bool, ...], best: float):
    """Mark (None) each block whose value cannot move g away from ``best`` at this pattern.

    Tested with the block flipped to the other constant and to random bits, all in one call.
    """
    generator = torch.Generator(device=binaries.hard.device).manual_seed(0)
    random_bits = torch.rand(binaries.count, generator=generator, device=binaries.hard.device) < 0.5
    candidates = []
    for block in range(len(pattern)):
        flipped = pattern[:block] + (not pattern[block],) + pattern[block + 1:]
        loose = pattern[:block] + (None,) + pattern[block + 1:]
        candidates += [pattern_configuration(flipped, binaries),
                       pattern_configuration(loose, binaries, random_bits)]
    if not candidates:
        return pattern
    values = program.values(binaries, torch.stack(candidates)).view(len(pattern), 2)
    same = ((values - best).abs() <= 1e-6).all(1).tolist()
    return tuple(None if free else value for value, free in zip(pattern, same))
