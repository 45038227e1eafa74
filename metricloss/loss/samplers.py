"""Anchor samplers: where the interpolation of the metric is anchored (UniLoss, ECCV 2020).

Each factory returns a ``Sampler``: a named callable from a ``SamplingContext`` to anchors,
resampled on every call of the loss and drawn from the context's generator, so a seeded generator
gives the same loss twice.

    >>> [s.name for s in default_samplers()]
    ['ideal', 'good', 'nearby', 'random']
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from .anchors import Anchors, DenseAnchors, FlipAnchors, RandomAnchors
from .sizes import DEFAULT, Sizes
from ..errors import InputError
from ..contracts import factory_of
from ..part_pickling import part_reduce
from ..registry import REGISTRY, Kind


@dataclass(frozen=True)
class SamplingContext:
    """What a sampler sees of one batch; K counts the live binaries.

    ``elements`` is ``(left, right)``, two [K] long tensors: the flat index into the scores
    tensor of each binary's left and right side (``b_k = [s[left_k] > s[right_k]]``), -1 where a
    side is not a score (a constant or target threshold). None when the metric does not expose
    them; only element-level samplers need it.
    """

    ideal: torch.Tensor  # [K] bool: b*
    current: torch.Tensor  # [K] bool: the hard binaries of this batch
    generator: torch.Generator | None
    # The pair, or a function computing it on first use (only element-level samplers pay for it).
    elements: tuple[torch.Tensor, torch.Tensor] | Callable[[], tuple | None] | None = None
    sizes: Sizes = DEFAULT  # chunk sizes for anchors made bit by bit
    # (K, the live binaries' positions among all K), or a function computing it, when anchors
    # drawn bit by bit are cheaper to complete if drawn over every binary (some are dead, none
    # are twins: dead ones are then pinned by a ``where``); None to draw over the live ones.
    spread_over: tuple[int, torch.Tensor] | Callable[[], tuple | None] | None = None

    @property
    def spread(self) -> tuple[int, torch.Tensor] | None:
        if callable(self.spread_over):
            object.__setattr__(self, "spread_over", self.spread_over())
        return self.spread_over

    def element_ids(self) -> tuple[torch.Tensor, torch.Tensor] | None:
        if callable(self.elements):
            object.__setattr__(self, "elements", self.elements())
        return self.elements

    @property
    def size(self) -> int:
        return self.ideal.numel()

    @property
    def device(self) -> torch.device:
        return self.ideal.device


@dataclass(frozen=True)
class Sampler:
    """Draws anchor configurations of the binaries on each call of the loss: ``sample(context)``
    gets a ``SamplingContext`` (the ideal ``b*``, the current hard binaries, the loss's generator)
    and returns anchors implementing ``loss/anchors.py``'s ``Anchors``, drawn only from the
    context's generator. Made by a factory (``good(16, flips=1)``); ``name`` and ``params`` say
    which, and are how it pickles (by its registered factory).
    """

    name: str
    params: dict[str, Any]
    sample: Callable[[SamplingContext], Anchors] = field(repr=False)

    def __call__(self, context: SamplingContext) -> Anchors:
        return self.sample(context)

    def __reduce__(self):  # by reference: the registered factory's name and the parameters
        return part_reduce("sampler", self)

    def __copy__(self) -> Sampler:
        return self  # immutable

    def __deepcopy__(self, memo) -> Sampler:
        return self


def _count(count: int, what: str) -> int:
    if isinstance(count, bool) or not isinstance(count, int) or count < 0:
        raise InputError(
            f"{what}: count must be a non-negative int, got {count!r}; it is the number of anchors drawn per "
            f"call, e.g. {what}(16)"
        )
    return count


def ideal(count: int = 16) -> Sampler:
    """``count`` copies of the ideal configuration b* (their number weights the ideal)."""
    _count(count, "ideal")

    def sample(context: SamplingContext) -> Anchors:
        flips = torch.empty(count, 0, dtype=torch.long, device=context.device)
        return FlipAnchors(context.ideal, flips)

    return Sampler("ideal", {"count": count}, sample)


def good(count: int = 16, flips: int = 1) -> Sampler:
    """b* with ``flips`` distinct random bits inverted: configurations near the best."""
    _count(count, "good")
    if isinstance(flips, bool) or not isinstance(flips, int) or flips < 1:
        raise InputError(f"good: flips must be a positive int, got {flips!r}; it is the number of bits of b* "
                         "each anchor flips, e.g. good(16, flips=1)")

    def sample(context: SamplingContext) -> Anchors:
        chosen = distinct_indices(count, min(flips, context.size), context.size, context.generator, context.device)
        return FlipAnchors(context.ideal, chosen)

    return Sampler("good", {"count": count, "flips": flips}, sample)


def nearby(count: int = 16) -> Sampler:
    """The current hard configuration with one bit that disagrees with b* turned toward b*."""
    _count(count, "nearby")

    def sample(context: SamplingContext) -> Anchors:
        disagree = context.current != context.ideal
        if context.size == 0:
            return FlipAnchors(context.ideal, torch.empty(count, 0, dtype=torch.long, device=context.device))
        # The draw-th disagreeing bit, found in their running count (a nonzero of every index costs
        # four times as much over a million binaries; multinomial refuses over 2**24 categories).
        running = disagree.view(torch.uint8).cumsum(0, dtype=torch.int32 if context.size < 2**31 else torch.int64)
        disagreeing = int(running[-1])
        if disagreeing:
            draws = torch.randint(disagreeing, (count, 1), generator=context.generator, device=context.device)
            return FlipAnchors(context.current, torch.searchsorted(running, (draws + 1).to(running.dtype)))
        chosen = torch.randint(context.size, (count, 1), generator=context.generator, device=context.device)
        return FlipAnchors(context.ideal, chosen)

    return Sampler("nearby", {"count": count}, sample)


def random(count: int = 16) -> Sampler:
    """Uniformly random configurations: they keep the surface anchored far from b*."""
    _count(count, "random")

    def sample(context: SamplingContext) -> Anchors:
        spread = context.spread
        if spread is None:
            return RandomAnchors(random_words(count, context.size, context.generator, context.device), count,
                                 sizes=context.sizes)
        size, live = spread
        return RandomAnchors(random_words(count, size, context.generator, context.device), count, live,
                             context.sizes)

    return Sampler("random", {"count": count}, sample)


def random_words(rows: int, size: int, generator, device) -> torch.Tensor:
    """[ceil(rows / 8), size] uniform random bytes: the bits of ``rows`` random configurations,
    eight to a byte (``anchors.RandomAnchors``). Drawn as 64-bit integers over their whole range,
    eight bytes a draw (a draw per byte costs eight times as much)."""
    groups = (rows + 7) // 8
    draws = torch.empty(groups * ((size + 7) // 8), dtype=torch.int64, device=device)
    draws.random_(-(1 << 63), None, generator=generator)
    return draws.view(torch.uint8).view(groups, -1)[:, :size]


def random_bits(rows: int, size: int, generator, device, sizes: Sizes = DEFAULT) -> torch.Tensor:
    """[rows, size] uniform random bools (``random_words`` unpacked)."""
    return RandomAnchors(random_words(rows, size, generator, device), rows, sizes=sizes).configurations(0, rows)


ELEMENT_DIRECTIONS = ("top", "bottom", "both")


def element_nearby(count: int = 16, direction: str = "top") -> Sampler:
    """The current hard configuration with one score element moved to the top (or bottom).

    Each anchor draws an element e uniformly among those that appear in some binary and sets
    every comparison involving e as if e beat (``"top"``) or lost to (``"bottom"``) everything
    it is compared with; ``"both"`` draws the direction per anchor. A binary that compares e
    with itself keeps its hard value. Which bits change varies per anchor, so the anchors are
    dense: ``count x K`` bools (and a few masks of that size while they are built).
    """
    _count(count, "element_nearby")
    if not isinstance(direction, str) or direction not in ELEMENT_DIRECTIONS:
        raise InputError(f"element_nearby: direction must be one of {ELEMENT_DIRECTIONS}, got {direction!r}")

    def sample(context: SamplingContext) -> Anchors:
        left, right = _elements(context)
        candidates = torch.cat([left, right]).unique()
        candidates = candidates[candidates >= 0]
        rows = context.current.expand(count, -1)
        if candidates.numel() == 0:
            return DenseAnchors(rows.clone())
        chosen = candidates[torch.randint(candidates.numel(), (count, 1), generator=context.generator,
                                          device=context.device)]
        if direction == "both":
            top = torch.randint(0, 2, (count, 1), generator=context.generator, device=context.device).bool()
        else:
            top = torch.full((count, 1), direction == "top", device=context.device)
        wins, loses = left == chosen, right == chosen  # [count, K]: e on the left / on the right
        points = torch.where(wins & ~loses, top, rows)
        return DenseAnchors(torch.where(loses & ~wins, ~top, points))

    return Sampler("element_nearby", {"count": count, "direction": direction}, sample)


def _elements(context: SamplingContext) -> tuple[torch.Tensor, torch.Tensor]:
    if context.element_ids() is None:
        raise InputError(
            "element_nearby: this metric does not expose which score elements its binaries compare "
            "(SamplingContext.elements is None); use the ideal, good, nearby and random samplers instead"
        )
    left, right = context.element_ids()
    if left.shape != (context.size,) or right.shape != (context.size,):
        raise InputError(
            f"element_nearby: SamplingContext.elements must be two [{context.size}] tensors, one per "
            f"live binary, got shapes {tuple(left.shape)} and {tuple(right.shape)}"
        )
    return left, right


def default_samplers() -> list[Sampler]:
    return [ideal(), good(), nearby(), random()]


def distinct_indices(rows: int, per_row: int, size: int, generator, device) -> torch.Tensor:
    """``rows`` sets of ``per_row`` distinct indices in [0, size), by Floyd's sampling.

    Vectorised over rows; the loop runs over the ``per_row`` draws (a handful of flips), never
    over rows or indices.
    """
    chosen = torch.empty(rows, per_row, dtype=torch.long, device=device)
    if size == 0 or per_row == 0:
        return chosen[:, :0]
    for step, top in enumerate(range(size - per_row, size)):
        draw = torch.randint(top + 1, (rows,), generator=generator, device=device)
        taken = (chosen[:, :step] == draw[:, None]).any(1)
        chosen[:, step] = torch.where(taken, torch.full_like(draw, top), draw)
    return chosen


REGISTRY.declare(Kind("sampler", "metricloss.samplers", factory_of(Sampler), Sampler, "ml.ideal(16)"))
