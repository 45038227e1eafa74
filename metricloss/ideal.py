"""The ideal configuration ``b*``: the binaries at which ``g`` takes its best value.

Nearly every metric is best when each block of comparisons is all true or all false (every
positive above every negative; the true class above every rival). Since block shapes depend on
the batch, the compiler learns a *pattern* (one truth value per block) by trying every pattern on a
batch in one vectorised call, and reuses it. A metric whose best configuration mixes true and false
inside a block needs ``ideal=``: a function of the targets returning scores that are perfect.
"""

from __future__ import annotations

import itertools
import math

import torch

from .program import Binaries, Program

_MAX_BLOCKS_TRIED = 12  # 2**12 patterns in one call


def pattern_configuration(pattern: tuple[bool, ...], binaries: Binaries) -> torch.Tensor:
    """The flat bool configuration that fills block i with ``pattern[i]``."""
    sizes = torch.tensor([math.prod(s) for s in binaries.shapes], device=binaries.hard.device)
    values = torch.tensor(pattern, dtype=torch.bool, device=binaries.hard.device)
    return values.repeat_interleave(sizes, output_size=binaries.count)


def best_pattern(program: Program, binaries: Binaries, higher_is_better: bool):
    """Try every all-true/all-false pattern; return (pattern, value), or None if blocks are too many."""
    blocks = len(binaries.shapes)
    if blocks > _MAX_BLOCKS_TRIED:
        return None
    patterns = list(itertools.product((True, False), repeat=blocks))
    configurations = torch.stack([pattern_configuration(p, binaries) for p in patterns])
    values = program.values(binaries, configurations)
    values = torch.where(torch.isnan(values), float("-inf") if higher_is_better else float("inf"), values)
    index = int(values.argmax() if higher_is_better else values.argmin())
    return patterns[index], float(values[index])
