"""Rewrites of ``g`` that let ``torch.func.vmap`` batch it over anchors.

``vmap`` cannot batch an op whose output shape depends on the data, and the commonest one in
evaluation code is a boolean mask followed by a reduction: ``iou[union > 0].mean()`` (classes
absent from the batch left out). The mask's size varies from anchor to anchor, but the
reduction does not need it: ``x[m].sum()`` is ``where(m, x, 0).sum()`` and ``x[m].mean()`` is
that over ``m.sum()``. Each rewrite keeps the value exactly (a mean over an empty mask is NaN
either way).
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx

from . import ops



def masked_sum(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``values[mask].sum()`` with a shape that does not depend on the mask."""
    if mask.shape != values.shape:  # a mask over leading dims selects slices: keep the indexing
        return values[mask].sum()
    return torch.where(mask, values, torch.zeros((), dtype=values.dtype, device=values.device)).sum()


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """``values[mask].mean()`` with a shape that does not depend on the mask."""
    if mask.shape != values.shape:
        return values[mask].mean()
    total = masked_sum(values, mask)
    return total / mask.sum().to(total.dtype if total.is_floating_point() else torch.float32)


_REDUCTIONS = {"sum": masked_sum, "mean": masked_mean, torch.sum: masked_sum, torch.mean: masked_mean}


def _is_boolean(node) -> bool:
    return isinstance(node, fx.Node) and node.op in ("call_function", "call_method") and (
        node.target in ops.BOOLEAN_PRODUCERS)


def reduce_masks_in_place(graph: fx.Graph) -> int:
    """Rewrite ``x[mask].sum()`` / ``.mean()`` (mask a boolean of x's shape); return how many."""
    rewritten = 0
    for node in list(graph.nodes):
        if not (node.op == "call_function" and node.target is operator.getitem and len(node.args) == 2):
            continue
        values, mask = node.args
        if not _is_boolean(mask) or not node.users:
            continue
        users = list(node.users)
        if not all(u.op in ("call_method", "call_function") and u.target in _REDUCTIONS
                   and len(u.args) == 1 and not u.kwargs for u in users):
            continue
        for user in users:
            with graph.inserting_before(user):
                replacement = graph.call_function(_REDUCTIONS[user.target], (values, mask))
            replacement.meta.update(user.meta)
            user.replace_all_uses_with(replacement)
            graph.erase_node(user)
        graph.erase_node(node)
        rewritten += 1
    return rewritten
