"""``diagnose``: how well ĝ tracks g along a short training run, for each temperature and anchor
setting asked for.

Each setting is a *block*: its own short run (``training.short_run``, the same seed, so the same
initial weights and batch order) trained with that setting's ``UniLoss``, and the tracking table
of the batches that run met (``tracking.track``), measured with the same parts. A setting moves
both: the temperature changes where the relaxed binaries sit on the batches met, and the
training changes which batches are met.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

import metricloss as ml
from metricloss.errors import InputError
from metricloss.registry import resolve

from .recommend import Recommendation, recommend
from .tracking import DRAWS, FRACTIONS, Tracking, check_fractions, track
from .training import COLLECT, ShortRun, check_length, short_run

STEPS = 100  # the short run's length when neither steps nor epochs is given
AUTO_TAUS = (0.25, 1.0, 4.0)  # multiples of the scores' scale that tau="auto" tries
SCALE_STEPS = 8  # tau="auto" looks for the scores' scale in the first batches of this many steps


@dataclass(frozen=True)
class Block:
    """One setting: its parts, its short run, and its tracking table."""

    tau: float | None  # the sigmoid's temperature, when the block sets one
    relaxation: str
    samplers: str
    interpolator: str
    anchors: dict[str, int]  # count per sampler
    run: ShortRun = field(repr=False)
    tracking: Tracking
    selection: str = ""  # the selection, when the loss relaxes only some binaries
    margin: float = 0.0

    @property
    def label(self) -> str:
        extra = (f"; selection {self.selection}" if self.selection else "") + (
            f"; margin {self.margin:g}" if self.margin else "")
        return (f"relaxation {self.relaxation}; anchors {describe_anchors(self.anchors)}; "
                f"interpolator {self.interpolator}{extra}")


@dataclass(frozen=True)
class Diagnosis:
    task: str
    metric: str
    seed: int
    steps: int
    collect: int
    draws: int
    fractions: tuple[float, ...]
    data_source: str
    device: str
    blocks: tuple[Block, ...]
    recommendation: Recommendation | None
    scale: float | None = None  # the median |d| that tau="auto" scaled its candidates by


def diagnose(
    task: Any = "binary",
    *,
    metric: str | ml.Metric | None = None,
    tau: float | Sequence[float] | str | None = None,
    anchors: Sequence[Sequence[ml.Sampler] | None] | None = None,
    relaxation: ml.Relaxation | str | None = None,
    samplers: Sequence[ml.Sampler | str] | None = None,
    interpolator: ml.Interpolator | str | Sequence[ml.Interpolator | str] | None = None,
    selection: ml.Selection | None = None,
    sizes: ml.Sizes | None = None,
    margin: float | None = None,
    steps: int | None = None,
    epochs: int | None = None,
    collect: int = COLLECT,
    draws: int = DRAWS,
    fractions: Sequence[float] = FRACTIONS,
    seed: int = 0,
    device: str = "auto",
    data_dir: str | Path | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    sampler: str | None = None,
    say: Callable[[str], None] | None = None,
) -> Diagnosis:
    """Train ``task`` briefly with UniLoss for each setting and measure how ĝ tracks g.

    ``tau``: one temperature of the sigmoid relaxation, several (one block each), ``"auto"``
    (``AUTO_TAUS`` times the median ``|d|`` the untrained model's first batch shows), or None for
    ``relaxation`` (else the task's or the default). The other parts are ``UniLoss``'s, the
    task's when None. ``anchors``: several sampler lists, one
    block each (None in it: ``samplers``, else the task's or the default); every pair of a
    temperature and an anchor setting is a block. Each block's run trains for ``steps`` steps
    (or ``epochs`` epochs; ``STEPS`` steps when neither is given), its batches drawn by
    ``sampler`` (as ``metricloss train --sampler`` takes it); the batches of ``collect`` of its
    steps are measured, ``draws`` configurations per batch and fraction. ``interpolator``: one,
    or several (one block each, for every temperature and anchor setting). ``say`` gets a line as
    each block starts.
    """
    from metricloss.train.task import get_task

    if steps is None and epochs is None:
        steps = STEPS
    check_length(steps, epochs)
    fractions = check_fractions(fractions)
    if not isinstance(draws, int) or isinstance(draws, bool) or draws < 1:
        raise InputError(f"draws must be a positive int (configurations per batch and fraction), got {draws!r}")
    if not isinstance(collect, int) or isinstance(collect, bool) or collect < 1:  # before any training
        raise InputError(f"collect must be a positive int (steps whose batches are measured), got {collect!r}")
    task = get_task(task)
    chosen = ml.get_metric(metric if metric is not None else task.metrics[0])
    if tau is not None and relaxation is not None:
        raise InputError("give tau (the sigmoid's temperature) or relaxation, not both")
    interpolators = [None] if interpolator is None else [
        resolve("interpolator", i) for i in (interpolator if isinstance(interpolator, (list, tuple)) else [interpolator])]
    if not interpolators:
        raise InputError("interpolator must hold at least one interpolator when it is a list")
    relaxation = resolve("relaxation", relaxation) if relaxation is not None else None
    base_samplers = None if samplers is None else [resolve("sampler", s) for s in samplers]
    settings = [base_samplers] if anchors is None else [
        base_samplers if a is None else [resolve("sampler", s) for s in a] for a in anchors]
    if not settings:
        raise InputError("anchors must hold at least one sampler list")
    if isinstance(tau, str) and tau != "auto":
        raise InputError(f"tau must be a positive number, several, or 'auto', got {tau!r}")
    taus: list[float | None] = [None]
    if tau is not None and not isinstance(tau, str):
        taus = [check_tau(t) for t in ([tau] if isinstance(tau, (int, float)) else tau)]
        if not taus:
            raise InputError("tau must hold at least one temperature")
    data = task.load(Path(data_dir) if data_dir is not None else None, seed)  # once, for every block
    common = dict(metric=metric if isinstance(metric, str) else chosen, batch_size=batch_size, lr=lr, seed=seed,
                  device=device, data_dir=data_dir, collect=collect, sampler=sampler, data=data)
    scale = None
    if tau == "auto":
        scale = score_scale(task, chosen, **common)
        taus = [round_tau(multiple * scale) for multiple in AUTO_TAUS]

    blocks = []
    combinations = list(itertools.product(taus, settings, interpolators))
    for number, (value, chosen_samplers, interpolator) in enumerate(combinations, 1):
        if say is not None:
            what = [] if value is None else [f"tau {value:g}"]
            if chosen_samplers is not None:
                what.append(f"anchors {describe_anchors(anchor_counts(chosen_samplers))}")
            if interpolator is not None:
                what.append(describe(interpolator))
            say(f"block {number}/{len(combinations)}{': ' + ', '.join(what) if what else ''}: "
                f"training {task.name} for {f'{steps} steps' if steps is not None else f'{epochs} epochs'}, "
                "then measuring")
        block_relaxation = ml.sigmoid(tau=value) if value is not None else relaxation
        parts = dict(relaxation=block_relaxation, samplers=chosen_samplers, interpolator=interpolator,
                     selection=selection, sizes=sizes, margin=margin)
        run = short_run(task, parts=parts, steps=steps, epochs=epochs, **common)
        loss = run.loss_fn
        tracking = track(loss.metric, run.batches, relaxation=loss.relaxation, samplers=loss.samplers,
                         interpolator=loss.interpolator, selection=loss.selection, sizes=loss.sizes,
                         margin=loss.margin, fractions=fractions, draws=draws, seed=seed)
        blocks.append(Block(
            tau=loss.relaxation.params.get("tau") if loss.relaxation.name == "sigmoid" else value,
            relaxation=describe(loss.relaxation), samplers=", ".join(describe(s) for s in loss.samplers),
            interpolator=describe(loss.interpolator), anchors=anchor_counts(loss.samplers), run=run,
            tracking=tracking, selection="" if loss.selection is None else describe(loss.selection),
            margin=loss.margin,
        ))
    first = blocks[0].run
    return Diagnosis(
        task=task.name, metric=chosen.name, seed=seed, steps=first.steps, collect=collect, draws=draws,
        fractions=fractions, data_source=first.data_source, device=first.device, blocks=tuple(blocks),
        recommendation=recommend(blocks), scale=scale,
    )


def check_tau(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise InputError(f"tau must be a positive number (the sigmoid's temperature, on the scores' scale), "
                         f"got {value!r}")
    return float(value)


def round_tau(value: float) -> float:
    """Two significant digits: a temperature to write in a training script."""
    return float(f"{value:.2g}")


def score_scale(task, measured: ml.Metric, **common) -> float:
    """The median ``|d|`` over the live binaries of the first training batch that has any.

    A batch without live binaries (AUC without a positive) leaves the model as it was, so the
    batch found is the untrained model's.
    """
    run = short_run(task, steps=SCALE_STEPS, **{**common, "collect": SCALE_STEPS})
    for scores, *targets in run.batches:
        binaries = measured.binaries(scores, *targets)
        magnitude = binaries.live_differences.detach().abs()
        magnitude = magnitude[torch.isfinite(magnitude)]
        if magnitude.numel():
            break
    if magnitude.numel() == 0 or float(magnitude.median()) == 0:
        raise InputError(f"tau='auto' scales its temperatures by the score differences of the first batches, and "
                         f"the first {SCALE_STEPS} batches of task {run.task} have none that are finite and "
                         "nonzero: give tau values instead (--tau 0.3,1,3)")
    return float(magnitude.median())


def describe(part) -> str:
    """``sigmoid(tau=1.0)``: a part's name and parameters."""
    return f"{part.name}({', '.join(f'{k}={v}' for k, v in part.params.items())})"


def anchor_counts(samplers) -> dict[str, int]:
    counts: dict[str, int] = {}
    for sampler in samplers:
        counts[sampler.name] = counts.get(sampler.name, 0) + int(sampler.params.get("count", 0))
    return counts


def describe_anchors(counts: dict[str, int]) -> str:
    return ", ".join(f"{name} {count}" for name, count in counts.items())
