"""The example batch explain derives the ideal on, and the compiled program it reads.

A declaration with ``shapes=`` gives a synthetic batch; one without gets guesses tried in turn
(binary labels, class indices, 0/1 labels in rows and in images, class indices per pixel), each
kept only if the compiled metric runs on it and its ideal is defined and reaches ``best=``.
A metric compiled per input shape is read through the program for the example's shapes.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from ...errors import CompileError, MetricLossError
from ..binaries import Binaries
from ..goals import Ideal
from ..metric import Compiled, Metric


def _compiled(metric: Metric, example: Sequence[torch.Tensor] | None) -> Compiled:
    """The compiled program explain reads. A metric that compiles per input shape
    (``Metric.compiled_for``) gives the program for the example batch's shapes; otherwise, or
    without an example, the metric's own."""
    compiled_for = getattr(metric, "compiled_for", None)
    if compiled_for is not None and example is not None:
        scores, *targets = example
        return compiled_for(scores, *targets)
    return metric.compiled


@dataclass(frozen=True)
class Example:
    """A batch explain derives the ideal on, with everything computed from it."""

    arguments: tuple[torch.Tensor, ...]
    description: str
    binaries: Binaries
    ideal: Ideal


@dataclass(frozen=True)
class Look:
    """What explain reads of one metric: its compiled program and, when one could be made, an
    example batch evaluated through it."""

    compiled: Compiled
    example: Example | None


def look_at(metric: Metric) -> Look:
    decl = metric.declaration
    synthetic = decl.spec.synthetic(seed=0)
    if synthetic is not None:
        scores = synthetic[0]
        return Look(*_evaluated(metric, synthetic, f"a synthetic batch (scores {tuple(scores.shape)})"))
    for description, arguments in _guesses(metric):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                compiled, example = _evaluated(
                    metric, arguments, f"an example batch ({description}; guessed, as the declaration has no shapes=)")
            except (MetricLossError, RuntimeError, IndexError, TypeError, ValueError):
                continue  # not a batch this metric takes
        goal = compiled.goal
        if example.ideal.defined and (goal.best is None or goal.reaches(example.ideal.value)):
            return Look(compiled, example)
    try:
        return Look(_compiled(metric, None), None)
    except CompileError as error:
        if not getattr(metric, "per_shape", False):
            raise
        shapes = ", ".join(f'"{name}": "..."' for name in decl.spec.names)
        raise CompileError(
            f"{error}. explain reads the program compiled for an example batch, and none could be "
            f"made: declare the inputs' shapes, e.g. @metricloss.metric(shapes={{{shapes}}}), and "
            "explain again"
        ) from None


def _evaluated(metric: Metric, arguments, description: str) -> tuple[Compiled, Example]:
    scores, *targets = arguments
    compiled = _compiled(metric, arguments)
    metric.check_inputs(scores, *targets)
    binaries = compiled.program.pairs(scores, tuple(targets))
    ideal = compiled.ideal(binaries, scores, tuple(targets))
    return compiled, Example(tuple(arguments), description, binaries, ideal)


def _guesses(metric: Metric) -> list[tuple[str, tuple[torch.Tensor, ...]]]:
    """Batches to try on a metric of (scores, labels) that declares no shapes, in order: binary
    labels with a score per item; class indices with a row of class scores per item; 0/1 labels
    of the scores' shape in rows (multi-label, ranking) and in images (segmentation masks); class
    indices per pixel. A guess is kept only if the compiled metric runs on it and its ideal is
    defined (and reaches best=)."""
    spec = metric.declaration.spec
    if len(spec.names) != 2 or spec.shapes:
        return []
    scores_name, labels_name = spec.names
    count = spec.classes.get(labels_name)
    classes = count if isinstance(count, int) and count > 1 else 3
    generator = torch.Generator().manual_seed(0)

    def binary(*shape: int) -> tuple[str, tuple[torch.Tensor, ...]]:
        labels = (torch.arange(math.prod(shape)) % 2)[torch.randperm(math.prod(shape), generator=generator)]
        return (f"{scores_name} {shape}, {labels_name} {shape} of 0 and 1",
                (torch.randn(shape, generator=generator), labels.reshape(shape)))

    def indices(*shape: int) -> tuple[str, tuple[torch.Tensor, ...]]:
        count = math.prod(shape)
        labels = (torch.arange(count) % classes)[torch.randperm(count, generator=generator)].reshape(shape)
        scores = torch.randn(shape[0], classes, *shape[1:], generator=generator)
        return (f"{scores_name} {tuple(scores.shape)}, {labels_name} {shape} of classes 0..{classes - 1}",
                (scores, labels))

    guesses = [binary(6)] if count in (None, 2) else []
    guesses.append(indices(2 * classes))
    if count in (None, 2):
        guesses += [binary(4, 3), binary(2, 3, 3)]
    guesses.append(indices(2, 2, 2))
    return guesses
