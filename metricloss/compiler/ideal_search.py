"""The search for one batch's ``b*``, as one object the loss holds.

The search is the compiler's: the first candidate and its checks (``ideal.propose``), whether it
stands once ``g`` has seen it (``Proposal.settle``), and the whole search when it does not
(``ideal.find_ideal``). The loss contributes only ``g``'s values: it evaluates the candidate's
rows in the same call of ``g`` as its anchors, which would otherwise cost a second pass over
every binary, and hands them back to ``settle``. Nothing of the search lives in the loss.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch

from .binaries import Binaries
from .goals import Ideal
from .ideal import Proposal

if TYPE_CHECKING:  # the compiled metric makes its searches: a runtime import would be circular
    from .metric.declaration import Compiled


@dataclass
class IdealSearch:
    """``b*`` for one batch of one compiled metric (``Compiled.ideal_search``)."""

    compiled: Compiled
    binaries: Binaries
    scores: torch.Tensor
    targets: tuple
    _first: Proposal | None = field(default=None, init=False, repr=False)
    _proposed: bool = field(default=False, init=False, repr=False)

    @property
    def first(self) -> Proposal | None:
        """The candidate to try first, or None when only the whole search will do."""
        if not self._proposed:
            self._first = self.compiled.propose(self.binaries, self.scores, self.targets)
            self._proposed = True
        return self._first

    @property
    def rows(self) -> torch.Tensor:
        """What ``g`` must also see beside the candidate: its face's checks and its rivals."""
        return self.first.rows

    def settle(self, value: float, row_values: torch.Tensor) -> Ideal | None:
        """The ideal, from ``g`` at the first candidate and at ``rows``; None when the candidate
        does not stand (the whole search then decides)."""
        return self.first.settle(value, row_values, self.compiled.goal, self.compiled.declaration.name)

    def face_as_proposed(self, ideal: Ideal) -> bool:
        """Whether ``ideal`` (settled from the first candidate) has the free face the candidate
        proposed: anchors drawn on that face are then the ideal's, else they are drawn again."""
        return ideal.free is not None or self.first.free is None

    def whole(self) -> Ideal:
        """Every candidate compared, then the block patterns (``ideal.find_ideal``)."""
        return self.compiled.ideal(self.binaries, self.scores, self.targets)
