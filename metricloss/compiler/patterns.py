"""The ideal's last resort: every comparison block all true or all false.

Used when no target describes perfect scores (or none reaches ``best=``). A pattern is kept
only if its configuration contradicts itself nowhere (no two binaries asserting that each of two
scores beats the other); blocks that cannot move ``g`` at the pattern are free.
"""

from __future__ import annotations

import itertools
import math

import torch

from .binaries import Binaries
from .goals import TOLERANCE, Goal, Ideal
from .program import Program

_MAX_BLOCKS_TRIED = 10  # 2**10 patterns in one call of g


def has_patterns(binaries: Binaries) -> bool:
    return 0 < len(binaries.shapes) <= _MAX_BLOCKS_TRIED


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


def best_pattern(program, binaries, scores, targets, goal: Goal, to_beat: float | None = None) -> Ideal | None:
    """The best self-consistent all-true/all-false block pattern, blocks that cannot move g free;
    None when none is better than ``to_beat`` (the value the caller already has): patterns are
    tried best first, and the check for contradictions, a sort of every binary, stops there."""
    if not has_patterns(binaries):
        return None
    patterns = list(itertools.product((True, False), repeat=len(binaries.shapes)))
    configurations = torch.stack([pattern_configuration(p, binaries) for p in patterns])
    values = program.values(binaries, configurations)
    elements = program.elements(scores, targets, binaries)
    order = sorted(range(len(patterns)), key=lambda i: -goal.key(float(values[i])))
    for index in order:
        value = float(values[index])
        if goal.key(value) == -math.inf or (to_beat is not None and goal.key(value) <= goal.key(to_beat)):
            return None
        if elements is not None and contradicts(binaries.restrict(configurations[index]), *elements):
            continue
        pattern = free_blocks(program, binaries, patterns[index], value)
        free = pattern_configuration(tuple(v is None for v in pattern), binaries) if None in pattern else None
        words = ", ".join(f"b{i} " + {True: "all true", False: "all false", None: "free"}[v]
                          for i, v in enumerate(pattern))
        return Ideal(pattern_configuration(pattern, binaries), value, free, f"a block pattern ({words})")
    return None


def contradicts(configuration: torch.Tensor, left: torch.Tensor, right: torch.Tensor) -> bool:
    """Whether two binaries assert that each of two score elements beats the other.

    ``b_k`` true says ``left_k`` wins; false says ``right_k`` does. A tie could satisfy two
    non-strict claims at once, but patterns that need one are not worth keeping as the ideal.
    """
    both = (left >= 0) & (right >= 0) & (left != right)
    if not bool(both.any()):
        return False
    configuration = configuration[both]
    winner = torch.where(configuration, left[both], right[both])
    loser = torch.where(configuration, right[both], left[both])
    span = int(torch.maximum(left.max(), right.max())) + 1
    claims = (winner * span + loser).sort().values  # one sort; each reversed claim is a search in it
    reversed_claims = loser * span + winner
    found = claims[torch.searchsorted(claims, reversed_claims).clamp_max(claims.numel() - 1)]
    return bool((found == reversed_claims).any())


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
    same = ((values - best).abs() <= TOLERANCE).all(1).tolist()
    return tuple(None if free else value for value, free in zip(pattern, same))
