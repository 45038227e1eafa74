"""The ideal configuration ``b*``: binaries with the metric's best value that real scores produce.

A binary configuration is not always realisable: ``s_a > s_b`` and ``s_b > s_a`` together, or
"every class beats every other class", are what no scores can do, and ``g`` may well give them a
value at or beyond the metric's best. The loss's zero is defined by ``m* = g(b*)``, so ``b*`` is
built from scores. For each batch, in a fixed order:

1. ``ideal=`` of the declaration, when given: the binaries of the perfect scores it returns;
2. *perfect scores from the targets*: a target of the scores' shape (binary labels, relevance
   grades, a regression target) read as levels, higher level, higher score (then lower level,
   higher score); class indices missing one dimension of the scores, as a one-hot along it.
   Items of one level are ordered by their current scores, so ``b*`` agrees with the current
   binaries wherever the levels do not decide (the order among positives in AP, among the
   wrong classes in accuracy); then by position, for metrics that break ties between equal
   targets by index as a stable sort does. The first candidate that reaches ``best=`` is taken; without
   ``best=``, or when none reaches it, the best value among them;
3. only when 2 does not reach ``best=``: each comparison block all true or all false, a pattern
   kept only if its configuration contradicts itself nowhere (no two binaries asserting that
   each of two scores beats the other).

The comparisons that the order inside a level decides form the *free face* of the ideal: when
``g`` keeps its best value with that order reversed, the ideal is the set of configurations
that differ from ``b*`` only there, and the loss measures a relaxed point's
distance to that set (``loss/anchors.py``). At perfect scores the loss is then zero however close
the wrong classes sit to each other.

Everything here is a pure function of the batch: nothing is learned and kept.
"""

from __future__ import annotations

import inspect
import math
from dataclasses import dataclass

import torch
from torch.func import vmap

from ..errors import InputError
from .binaries import Binaries
from .bool_ops import any_true
from .goals import TOLERANCE, Goal, Ideal
from .patterns import best_pattern
from .program import Program

_LEVEL_GAP = 20.0  # perfect scores put levels 20 apart: far past any ordinary threshold


@dataclass(frozen=True)
class Proposal:
    """The first candidate ``b*`` of a batch, before ``g`` has seen it.

    The loss evaluates ``g`` once per batch, on the hard binaries, ``b*``, ``rows`` and the
    anchors together; ``settle`` then says whether the candidate stands (it reaches ``best=``,
    or without ``best=`` no other candidate beats it) and whether its free face does (``g`` gives
    the face's check the ideal's value).
    """

    configuration: torch.Tensor  # [K] bool
    checks: torch.Tensor  # [R, K] bool: the face's other members to test (R = 0 without a face)
    free: torch.Tensor | None  # [K] bool: the face, if the checks hold
    source: str
    rivals: torch.Tensor | None = None  # [Q, K] bool: the other candidates, without best=
    from_ideal_argument: bool = False

    @property
    def rows(self) -> torch.Tensor:
        """What ``g`` must also see: the checks, then the rivals."""
        return self.checks if self.rivals is None else torch.cat([self.checks, self.rivals])

    def settle(self, value: float, row_values: torch.Tensor, goal: Goal, metric: str) -> Ideal | None:
        """The batch's ideal, or None when the candidate does not stand (search them all)."""
        check_values, rival_values = row_values[:len(self.checks)], row_values[len(self.checks):]
        if self.from_ideal_argument:
            _check_ideal_value(value, goal, metric)
        elif goal.best is not None and not goal.reaches(value):
            return None
        elif goal.best is None and (not math.isfinite(value) or any(
                goal.key(rival) > goal.key(value) for rival in rival_values.tolist())):
            return None
        holds = self.free is not None and bool(((check_values - value).abs() <= TOLERANCE).all())
        return Ideal(self.configuration, value, self.free if holds else None, self.source)


def propose(program: Program, binaries: Binaries, scores: torch.Tensor, targets: tuple, goal: Goal,
            target_names: tuple[str, ...], ideal_scores=None, metric: str = "") -> Proposal | None:
    """The candidate to try first (``ideal=``, else the first perfect scores from the targets),
    or None when no target gives perfect scores and only the whole search will do."""
    if ideal_scores is not None:
        perfect = _perfect_from_ideal_argument(scores, targets, ideal_scores, metric)
        configuration = program.comparisons(perfect, targets)[0]
        return Proposal(configuration, configuration.new_zeros(0, configuration.numel()), None, _FROM_IDEAL,
                        from_ideal_argument=True)
    candidates = _candidates(scores, targets, target_names)
    first = next(candidates, None)  # with best= declared, the others are made only if it misses
    if first is None:
        return None
    perfect = program.comparisons(first[0], targets)
    rivals = None
    if goal.best is None:  # every candidate is compared with the first
        others = [c for c, _ in candidates]
        rivals = many_pairs(program, torch.stack(others), targets) if others else None
    return Proposal(perfect[0], *_face(binaries, perfect), first[1], rivals)


def _candidates(scores: torch.Tensor, targets: tuple, target_names: tuple[str, ...]):
    """(perfect scores, description) from the targets, in trial order, made as they are asked for."""
    return ((perfect_scores(levels, order).to(_work_dtype(scores)), f"{source}{how}")
            for levels, source in level_candidates(scores, targets, target_names)
            for order, how in _orders_inside_levels(scores))


def find_ideal(program: Program, binaries: Binaries, scores: torch.Tensor, targets: tuple,
               goal: Goal, target_names: tuple[str, ...], ideal_scores=None, metric: str = "") -> Ideal:
    """``b*`` for this batch, every candidate compared (see the module's docstring)."""
    if ideal_scores is not None:
        perfect = _perfect_from_ideal_argument(scores, targets, ideal_scores, metric)
        configuration = program.comparisons(perfect, targets)[0]
        value = _value(program, binaries, configuration)
        _check_ideal_value(value, goal, metric)
        return Ideal(configuration, value, None, _FROM_IDEAL)
    candidates = list(_candidates(scores, targets, target_names))
    best = None
    if candidates:
        configurations = many_pairs(program, torch.stack([c for c, _ in candidates]), targets)
        values = program.values(binaries, configurations).tolist()
        index = max(range(len(candidates)), key=lambda i: (goal.key(values[i]), -i))
        best = Ideal(configurations[index], values[index], None, candidates[index][1])
    if best is None or (goal.best is not None and not goal.reaches(best.value)):
        pattern = best_pattern(program, binaries, scores, targets, goal, None if best is None else best.value)
        if pattern is not None and (best is None or goal.key(pattern.value) > goal.key(best.value)):
            return pattern
    if best is None:
        return _undefined(binaries, "no target gives perfect scores and no block pattern reaches best=")
    if not best.defined:
        return best
    checks, free = _face(binaries, program.comparisons(candidates[index][0], targets))
    if free is None or not bool(((program.values(binaries, checks) - best.value).abs() <= TOLERANCE).all()):
        return best
    return Ideal(best.configuration, best.value, free, best.source)


_FROM_IDEAL = "the perfect scores from ideal="


def many_pairs(program: Program, scores: torch.Tensor, targets: tuple) -> torch.Tensor:
    """[R, K] hard binaries of R score tensors ([R, *shape]): one vmapped call of the pairs module
    (a loop over the R rows where vmap refuses an op)."""
    def hard(row):
        blocks = program.comparisons_module.forward(row, *targets)[1]
        return torch.cat([b.reshape(-1) for b in blocks]) if blocks else row.new_zeros(0, dtype=torch.bool)

    try:
        return vmap(hard)(scores)
    except (RuntimeError, TypeError, IndexError, ValueError):
        return torch.stack([program.comparisons(row, targets)[0] for row in scores])


def level_candidates(scores: torch.Tensor, targets: tuple, names: tuple[str, ...]):
    """(levels, description) pairs, levels a long tensor of the scores' shape, in trial order."""
    shape = scores.shape
    for name, target in zip(names, targets):
        if not isinstance(target, torch.Tensor) or target.numel() == 0:
            continue
        if target.shape == shape and not target.is_complex():
            levels = _dense_ranks(target.detach())
            yield levels, f"{name} as levels (higher {name}, higher score)"
            yield levels.max() - levels, f"{name} as levels (lower {name}, higher score)"
        elif _is_index(target) and target.dim() == scores.dim() - 1:
            for dim in reversed(range(scores.dim())):
                if shape[:dim] + shape[dim + 1:] != target.shape:
                    continue
                yield _one_hot_levels(target, shape[dim], dim), f"{name} as the top class along dim {dim}"


def _one_hot_levels(target: torch.Tensor, classes: int, dim: int) -> torch.Tensor:
    """Class indices as one-hot levels along ``dim``; an index outside [0, C) names no class.

    Targets carry an ignore label (255 in segmentation masks, -100 in cross-entropy's
    convention) that the metric masks out before it counts anything. Such an entry is not a
    class: its row gets no top class (all of its scores one level, ordered by the current
    scores), so ``b*`` agrees with the current binaries there and the metric, which ignores
    them, reaches its best on the rest.
    """
    named = (target >= 0) & (target < classes)
    levels = torch.zeros(*target.shape, classes, dtype=torch.long, device=target.device)
    levels.scatter_(-1, torch.where(named, target, 0).long().unsqueeze(-1), named.long().unsqueeze(-1))
    return levels.movedim(-1, dim)


def _dense_ranks(target: torch.Tensor) -> torch.Tensor:
    """0, 1, 2, ... by value, equal values equal ranks (0/1 labels are their own ranks)."""
    if target.dtype == torch.bool:
        return target.long()
    return torch.unique(target, return_inverse=True)[1].reshape(target.shape)


def perfect_scores(levels: torch.Tensor, order: torch.Tensor | None) -> torch.Tensor:
    """Scores ordered by ``levels``, levels ``_LEVEL_GAP`` apart and centred on zero; inside a
    level, in the order of ``order`` (ties kept), within a band of width 1 above the level, so
    that a threshold anywhere between two bands separates them."""
    top = levels.max() if levels.numel() else levels.new_zeros(())
    # In place on two float64 buffers: a chain of fresh temporaries of this size costs page faults.
    perfect = levels.to(torch.float64, copy=True).mul_(2).sub_(top).mul_(_LEVEL_GAP / 2)
    if order is None:
        return perfect
    current = order.detach().to(torch.float64, copy=True)
    low, high = current.aminmax() if current.numel() else (perfect.new_zeros(()),) * 2
    return perfect.add_(current.sub_(low).div_((high - low).clamp_min(1e-300)))


def _orders_inside_levels(scores: torch.Tensor):
    """Orders for the items of one level, in trial order: the current scores' (b* then agrees
    with the current binaries wherever the levels do not decide), then index order both ways
    (a metric that breaks ties between equal targets by position, as a stable sort does)."""
    yield scores, ""
    index = torch.arange(scores.numel(), device=scores.device, dtype=scores.dtype).reshape(scores.shape)
    yield index, ", ties in index order"
    yield -index, ", ties in reverse index order"


def _face(binaries: Binaries, perfect: tuple[torch.Tensor, torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor | None]:
    """(rows of g to check, free mask) of the face around the binaries of perfect scores.

    In perfect scores, items of one level lie within a band of width 1 and levels 20 apart, so a
    comparison of two items of one level has a difference below 1 and one across levels above
    19 (through the monotone maps and reshaping allowed before a comparison; a scaling that
    blurs this only loses the face, since the check below then fails). The check is ``b*`` with
    the order inside every level reversed, a configuration that real scores produce: if ``g``
    gives it the ideal's value, the face stands. No rows and None when no binary is in-level.
    """
    hard, differences = perfect
    none = hard.new_zeros(0, hard.numel()), None
    magnitude = differences.abs()
    if differences.numel() == 0 or bool(magnitude.amin() >= 1.5):  # every level apart (AUC)
        return none
    free = magnitude < 1.5
    if binaries.dead is not None:
        free = free & ~binaries.dead
    if not bool(any_true(free)):
        return none
    return (hard ^ (free & (differences != 0)))[None], free  # ties stay ties


def _is_index(target: torch.Tensor) -> bool:
    return not (target.is_floating_point() or target.is_complex() or target.dtype == torch.bool)


def _value(program: Program, binaries: Binaries, configuration: torch.Tensor) -> float:
    return float(program.values(binaries, configuration[None])[0])


def _work_dtype(scores: torch.Tensor) -> torch.dtype:
    """Perfect scores in the scores' precision (float32 at least): levels 20 apart and a band of
    width 1 inside them are exact enough for b*, which is whatever those scores compare to."""
    return scores.dtype if scores.dtype in (torch.float32, torch.float64) else torch.float32


def _perfect_from_ideal_argument(scores: torch.Tensor, targets: tuple, ideal_scores, metric: str) -> torch.Tensor:
    """``ideal_scores(*targets)``, given ``shape=scores.shape`` too when it takes that keyword
    (perfect heatmaps need their size, which no target holds)."""
    perfect = ideal_scores(*targets, shape=scores.shape) if takes_shape(ideal_scores) else ideal_scores(*targets)
    if not isinstance(perfect, torch.Tensor) or not perfect.is_floating_point():
        raise InputError(
            f"metric `{metric}`: ideal= must return a floating-point tensor of perfect scores, got "
            f"{type(perfect).__name__ if not isinstance(perfect, torch.Tensor) else perfect.dtype}"
        )
    if perfect.shape != scores.shape:
        raise InputError(
            f"metric `{metric}`: ideal= returned scores of shape {tuple(perfect.shape)}, but the "
            f"scores have shape {tuple(scores.shape)}; ideal= must return perfect scores of the "
            "scores' shape"
        )
    return perfect.detach().to(scores.device)


def takes_shape(function) -> bool:
    try:
        parameter = inspect.signature(function).parameters.get("shape")
    except (TypeError, ValueError):
        return False
    return parameter is not None and parameter.kind is inspect.Parameter.KEYWORD_ONLY


def _check_ideal_value(value: float, goal: Goal, metric: str) -> None:
    if goal.best is not None and math.isfinite(value) and abs(value - goal.best) > TOLERANCE:
        raise InputError(
            f"metric `{metric}`: the scores from ideal= give {value:.6g} on this batch, not "
            f"best={goal.best}. ideal= must return perfect scores, without ties where the metric "
            "breaks them, or best= must say the value they reach."
        )


def _undefined(binaries: Binaries, source: str) -> Ideal:
    return Ideal(binaries.hard, math.nan, None, source)
