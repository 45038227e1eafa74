"""What a metric declaration is, and one binding of it compiled.

A ``Declaration`` is everything ``@metric`` was told (the function, its options, where it was
declared); a ``Compiled`` is one binding of its parameters, compiled, immutable. The user's own
hooks (``ideal=``, ``check=``) run through the guards here, which turn what they raise into
errors that name the metric.
"""

from __future__ import annotations

import dataclasses
import functools
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from ...errors import CompileError, InputError, MetricLossError, SourceLocation
from ..binaries import Binaries
from ..goals import Goal, Ideal
from ..ideal_search import IdealSearch
from ..ideal import Proposal, find_ideal, propose
from ..inputs import InputSpec
from ..program import Program
from ..tie_order import UnstableSort


@dataclass(frozen=True, eq=False)
class Declaration:
    fn: Callable
    name: str
    best: float | None
    higher_is_better: bool
    spec: InputSpec
    ideal: Callable | None
    defaults: Mapping[str, Any]  # keyword-only parameters and their defaults (missing: required)
    location: SourceLocation
    check: Callable | None = None  # check(scores, *targets, **params) -> a message, or None
    # Targets whose value marks an item of the last dimension as padding, which the metric ignores.
    padding: Mapping[str, float] = dataclasses.field(default_factory=dict)
    fingerprint: str = ""  # the definition (``fingerprints.definition_fingerprint``): equal means the same metric

    @property
    def required(self) -> set[str]:
        return {k for k, v in self.defaults.items() if v is inspect.Parameter.empty}


@dataclass(frozen=True, eq=False)
class Compiled:
    """One binding of a declaration, compiled. Immutable: every per-batch choice (the ideal, the
    evaluation path) is made again from the batch, so no batch can change how another is scored."""

    declaration: Declaration
    params: Mapping[str, Any]
    program: Program
    lowered: tuple[str, ...]
    # Boolean masks of the targets that select items of the scores (``scores[labels == 1]``).
    selections: tuple[Selection, ...] = ()
    # Sorts of the scores whose tie order torch leaves open, and the rule followed instead.
    unstable: tuple[UnstableSort, ...] = ()

    @property
    def goal(self) -> Goal:
        return Goal(self.declaration.best, self.declaration.higher_is_better)

    def ideal(self, binaries: Binaries, scores: torch.Tensor, targets: tuple) -> Ideal:
        """``b*`` for this batch, with its value and free face (``ideal.find_ideal``)."""
        decl = self.declaration
        with torch.no_grad():
            return find_ideal(self.program, binaries, scores, targets, self.goal, decl.spec.names[1:],
                              guarded_ideal(decl), decl.name)

    def ideal_search(self, binaries: Binaries, scores: torch.Tensor, targets: tuple) -> IdealSearch:
        """The search for this batch's ``b*``, as one object (``ideal_search.IdealSearch``)."""
        return IdealSearch(self, binaries, scores, targets)

    def propose(self, binaries: Binaries, scores: torch.Tensor, targets: tuple) -> Proposal | None:
        """The first candidate for ``b*``, to be settled by ``g``'s values (``ideal.propose``)."""
        decl = self.declaration
        with torch.no_grad():
            return propose(self.program, binaries, scores, targets, self.goal, decl.spec.names[1:],
                           guarded_ideal(decl), decl.name)


def guarded_ideal(decl: Declaration) -> Callable | None:
    """``decl.ideal``, with what it raises turned into an InputError pointing at it."""
    if decl.ideal is None:
        return None
    ideal = decl.ideal

    @functools.wraps(ideal)
    def guarded(*targets, **shape):
        try:
            return ideal(*targets, **shape)
        except MetricLossError:
            raise
        except Exception as error:
            from ..trace import user_location_from

            where = user_location_from(error)
            raise InputError(
                f"metric `{decl.name}`: ideal= raised {type(error).__name__}: {error}"
                f"{f' at {where}' if where else ''} on targets of shapes "
                f"{[tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__ for t in targets]}; "
                "ideal= must return perfect scores (a float tensor of the scores' shape) for any batch"
            ) from error
    return guarded


def run_check(decl: Declaration, scores: torch.Tensor, targets: tuple, params: Mapping[str, Any]) -> None:
    try:
        message = decl.check(scores, *targets, **params)
    except InputError as error:  # a check that raises: passed on, naming the metric once
        if error.metric == decl.name:
            raise
        message = str(error)
    if message is None:
        return
    if not isinstance(message, str):
        raise CompileError(
            f"metric `{decl.name}` at {decl.location}: check= must return a message (str) or None, "
            f"got {type(message).__name__}"
        )
    raise InputError(f"metric `{decl.name}`: {message}", metric=decl.name)


def padded(tensor: torch.Tensor, width: int, value: float) -> torch.Tensor:
    """``tensor`` with its last dimension filled up to ``width`` with ``value``."""
    missing = width - tensor.shape[-1]
    if missing <= 0:
        return tensor
    return torch.cat([tensor, tensor.new_full((*tensor.shape[:-1], missing), value)], dim=-1)
