"""Masks of the targets that select items of the scores (``scores[labels == 1]``).

Such a mask must select whole items: with scores of one more dimension than the mask, each kept
item would be a row of scores the code after it compares element by element, which is rarely
what was meant. Which targets a mask is computed from, element by element, is read off the graph
once; the check runs on each batch's shapes.
"""

from __future__ import annotations

import math
import operator
from dataclasses import dataclass

import torch

from ...errors import InputError, SourceLocation
from ..ops import table as op_table
from .declaration import Compiled
from ..trace.locations import LOCATION


@dataclass(frozen=True)
class Selection:
    """``x[mask]``: a mask computed element by element from targets selects from the scores."""

    targets: tuple[int, ...]  # positions (in the targets) of the tensors the mask is computed from
    location: SourceLocation | None


# One-operand ops whose result has the operand's shape, and element-wise ops of several operands
# (the result has their broadcast shape): what a mask's shape can be followed through.
_SAME_SHAPE = op_table.having("elementwise") | op_table.having("same_shape")


_ELEMENTWISE = op_table.having("binary")


def _elementwise_sources(node, placeholders: dict) -> set[str] | None:
    """The placeholders ``node`` is computed from element by element (scalars aside), or None when
    some step may change the shape (an index, a reduction, a view)."""
    import torch.fx as fx

    seen: set[str] = set()
    stack = [node]
    while stack:
        current = stack.pop()
        if current.op == "placeholder":
            seen.add(current.target)
            continue
        if current.op not in ("call_function", "call_method"):
            return None
        tensors = [a for a in (*current.args, *current.kwargs.values()) if isinstance(a, fx.Node)]
        others = [a for a in (*current.args, *current.kwargs.values()) if not isinstance(a, fx.Node)]
        if current.target in _SAME_SHAPE and len(tensors) == 1 and current.args and current.args[0] is tensors[0]:
            stack.append(tensors[0])
        elif current.target in _ELEMENTWISE and all(isinstance(o, (int, float, bool)) for o in others):
            stack.extend(tensors)
        else:
            return None
    return seen


def mask_selections(graph, names: tuple[str, ...]) -> tuple[Selection, ...]:
    """Every ``x[mask]`` with ``x`` the scores (element by element) and ``mask`` computed element by
    element from targets: its shape is theirs, which a call can check against the scores'."""
    import torch.fx as fx

    found = []
    for node in graph.nodes:
        if not (node.op == "call_function" and node.target is operator.getitem and len(node.args) == 2
                and isinstance(node.args[1], fx.Node)):
            continue
        source = _elementwise_sources(node.args[0], {})
        mask = _elementwise_sources(node.args[1], {})
        if source != {names[0]} or not mask or names[0] in mask:
            continue
        found.append(Selection(tuple(names.index(m) - 1 for m in sorted(mask)), node.meta.get(LOCATION)))
    return tuple(found)


def check_selections(compiled: Compiled, scores: torch.Tensor, targets: tuple) -> None:
    """A target's mask that selects whole rows of the scores is refused unless ``shapes=`` says the
    scores have those extra dimensions: the comparisons after it would pair rows element by element
    (``my_auc`` given [N, 2] logits compares column 0 with column 0 and 1 with 1)."""
    decl = compiled.declaration
    for selection in compiled.selections:
        masks = [targets[i] for i in selection.targets if isinstance(targets[i], torch.Tensor)]
        if not masks:
            continue
        rank = max(t.dim() for t in masks)
        extra = scores.shape[rank:]
        if rank >= scores.dim() or math.prod(extra) <= 1:
            continue
        names = [decl.spec.names[1 + i] for i in selection.targets]
        mask_shape = tuple(scores.shape[:rank])
        raise InputError(
            f"metric `{decl.name}`: the mask from {', '.join(names)} {tuple(masks[0].shape)} at "
            f"{selection.location} selects from scores of shape {tuple(scores.shape)}, so each item it "
            f"keeps is a row of {math.prod(extra)} scores, which the code after it compares element by "
            f"element. Pass scores of shape {mask_shape}, one per item (for two-class logits the "
            f"positive class's column, `scores[:, 1]`), or declare the shapes if rows are meant: "
            f"@metricloss.metric(shapes={{{decl.spec.names[0]!r}: ...}})"
        )
