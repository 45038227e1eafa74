"""The table of respellings, applied in order before the rewrite table.

Each entry finds a node (``find`` returns what it matched, or None) and builds what replaces it;
``says`` is the line explain's lowering section prints for it. The order matters where one
respelling produces what another reads (``torch.max``'s indices become an ``argmax``, which the
arg-max respellings then read), so the table is one tuple, run top to bottom.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch.fx as fx

from ..confusion import counts_of_bincount, counts_of_index_put, find_bincount, find_index_put
from ..trace.locations import LOCATION
from .argmax import (against_class_labels, argmax_against_a_class, argmax_of_flattened, argmax_of_negation,
                     argmax_of_selection, compared_gather, find_argmin, find_flat_argmax, gather_of_comparison,
                     keepdim_argmax, keepdim_argmax_test, one_hot_written, scattered_argmax, selected_argmax,
                     test_without_keepdim, unsqueezed_argmax)
from .comparisons import (above_one_half, absolute_bound, clamped_comparison, comparison_of_unclamped,
                          comparisons_of_scaled_bound, find_sign, rounded_probability, scaled_absolute_bound,
                          two_comparisons_of_bound, two_comparisons_of_sign)
from .orders import (amax_of_values, argmax_of_indices, argsort_of_sort, extreme_values, extreme_with_indices,
                     prefix_of_argsort, sort_indices, topk_order)
from .selections import find_shaped_like, masked_fill, selection_by_where, with_the_shape


@dataclass(frozen=True)
class Respelling:
    """One row of the table: a node ``find`` matches is replaced by what ``build`` makes of it."""

    name: str
    says: str  # for explain's lowering section
    find: Callable[[fx.Node], Any]
    build: Callable[[fx.Graph, fx.Node, Any], fx.Node]


RESPELLINGS: tuple[Respelling, ...] = (
    Respelling("shaped_like", "t.view_as(x) -> t.reshape(x.shape) (expand_as, reshape_as likewise)",
               find_shaped_like, with_the_shape),
    Respelling("max_values", "torch.max(scores, dim) values -> scores.amax(dim)", extreme_values, amax_of_values),
    Respelling("sort_indices", "scores.sort(dim).indices -> scores.argsort(dim)", sort_indices, argsort_of_sort),
    Respelling("topk_indices", "scores.topk(k, dim).indices -> scores.argsort(dim, descending=True)[..., :k]",
               topk_order, prefix_of_argsort),
    Respelling("max_indices", "torch.max(scores, dim) indices -> scores.argmax(dim)", extreme_with_indices,
               argmax_of_indices),
    Respelling("sign", "torch.sign(d) -> [d > 0] - [d < 0]", find_sign, two_comparisons_of_sign),
    Respelling("scaled_abs_bound", "|x| / w <= c -> where(w > 0, |x / w| <= c, ...): a relative tolerance",
               scaled_absolute_bound, comparisons_of_scaled_bound),
    Respelling("abs_bound", "|x| <= c -> (x <= c) & (x >= -c)", absolute_bound, two_comparisons_of_bound),
    Respelling("argmin", "scores.argmin(dim) -> (-scores).argmax(dim)", find_argmin, argmax_of_negation),
    Respelling("unsqueezed_argmax", "scores.argmax(dim)[:, None] (unsqueeze(dim)) -> scores.argmax(dim, keepdim=True)",
               unsqueezed_argmax, keepdim_argmax),
    Respelling("compared_gather", "target.gather(dim, scores.argmax(dim, keepdim=True)) > c -> "
               "(target > c).gather(dim, scores.argmax(dim, keepdim=True))", compared_gather, gather_of_comparison),
    Respelling("clamp_bound", "clamp(x, lo, hi) > t -> (x > t | lo > t) & (hi > t) (relu: lo = 0)",
               clamped_comparison, comparison_of_unclamped),
    Respelling("keepdim_argmax_test", "scores.argmax(dim, keepdim=True) == t -> (scores.argmax(dim) == t.squeeze(dim)).unsqueeze(dim)",
               keepdim_argmax_test, test_without_keepdim),
    Respelling("rounded_probability", "sigmoid(s).round() -> (sigmoid(s) > 0.5).float()",
               rounded_probability, above_one_half),
    Respelling("where_selection", "torch.where(mask, scores, c) (c a number or a tensor filled with one, "
               "full_like(scores, c)) -> scores.masked_fill(~mask, c)",
               selection_by_where, masked_fill),
    Respelling("flat_argmax", "scores.argmax() -> scores.reshape(-1).argmax(0)", find_flat_argmax,
               argmax_of_flattened),
    Respelling("selected_argmax", "scores.argmax(dim)[mask] -> scores.movedim(dim, -1)[mask].argmax(-1) "
               "(masked_select, flatten() and view(-1) likewise)", selected_argmax, argmax_of_selection),
    Respelling("scattered_argmax", "zeros_like(scores).scatter(dim, scores.argmax(dim, keepdim=True), v) -> "
               "where(one_hot(scores.argmax(dim), C), v, zeros)", scattered_argmax, one_hot_written),
    Respelling("bincount_confusion", "torch.bincount(n * target + pred, minlength) -> counts of "
               "one_hot(target, n) x one_hot(pred, C), flattened", find_bincount, counts_of_bincount),
    Respelling("index_put_confusion", "table.index_put((target, pred), values, accumulate=True) -> table + "
               "counts of one_hot(target) x one_hot(pred)", find_index_put, counts_of_index_put),
    Respelling("argmax_class", "scores.argmax(dim) == c -> scores.argmax(dim) == full_like(..., c): labels",
               argmax_against_a_class, against_class_labels),
)


def respell(graph: fx.Graph) -> list[str]:
    """Apply ``RESPELLINGS`` in order over the whole graph; return what was respelled."""
    applied = []
    for rule in RESPELLINGS:
        for node in list(graph.nodes):
            found = rule.find(node)
            if found is None:
                continue
            before = set(graph.nodes)
            with graph.inserting_before(node):
                replacement = rule.build(graph, node, found)
            for new in graph.nodes:
                if new not in before:
                    new.meta.setdefault(LOCATION, node.meta.get(LOCATION))
            node.replace_all_uses_with(replacement)
            graph.erase_node(node)
            applied.append(f"{rule.name}: {rule.says}")
    graph.eliminate_dead_code()
    return applied
