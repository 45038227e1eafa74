"""Matchers of the rank-type ops built on ``argmax``: equal to the labels, one-hot, in a region.

"The true class wins" is a comparison of the true class's score with every other; a one-hot of
the arg-max is that question asked of every class; "the arg-max lies in a region" is the best
score inside beating every score outside. Each matcher checks the constants the replacement
needs (a constant ``dim``, a number of classes) and says how to write them when they are not.
"""

from __future__ import annotations

import operator

import torch
import torch.fx as fx
import torch.nn.functional as F

from ...errors import CompileError
from ..ops import argument, is_call
from ..trace import depends_on_scores
from .matching import Match, constant_dim, is_equality_test, is_inequality_test, scores_and_target
from ..trace.locations import LOCATION


def match_argmax_differs(node: fx.Node, metric: str) -> Match | None:
    return match_argmax_equals(node, metric, test=is_inequality_test)


def match_argmax_equals(node: fx.Node, metric: str, test=is_equality_test) -> Match | None:
    if not test(node):
        return None
    found = scores_and_target(node, lambda n: is_call(n, "argmax", torch.argmax) and depends_on_scores(n))
    if found is None:
        return None
    argmax, labels = found
    if argument(argmax, 2, "keepdim", False):
        raise CompileError(
            f"metric `{metric}`: argmax(..., keepdim=True) at {argmax.meta.get(LOCATION)} cannot be "
            "lowered; write `scores.argmax(dim) == labels` with labels of the batch's shape."
        )
    return Match((argmax.args[0], labels), {"dim": constant_dim(argmax, metric)})


def match_one_hot_argmax(node: fx.Node, metric: str) -> Match | None:
    if not (isinstance(node, fx.Node) and node.op == "call_function" and node.target is F.one_hot):
        return None
    argmax = node.args[0]
    if not (is_call(argmax, "argmax", torch.argmax) and depends_on_scores(argmax)):
        return None
    num_classes = argument(node, 1, "num_classes", -1)
    if num_classes is None or isinstance(num_classes, int) and num_classes < 0:
        raise CompileError(
            f"metric `{metric}`: `F.one_hot(scores.argmax(dim))` at {node.meta.get(LOCATION)} has no "
            "`num_classes`, so its number of columns is the largest predicted class plus one, which the "
            "scores decide; give the number of classes: `F.one_hot(scores.argmax(1), scores.shape[1])`."
        )
    dim = constant_dim(argmax, metric)
    if isinstance(num_classes, fx.Node):  # traced for every shape: only the scores' own class count
        if not _class_count_of(num_classes, argmax.args[0], dim):
            raise CompileError(
                f"metric `{metric}`: `F.one_hot(scores.argmax({dim}), num_classes)` at {node.meta.get(LOCATION)} "
                f"takes a number of classes computed from tensors; write `scores.shape[{dim}]` or a number."
            )
        num_classes = None  # the classes of the scores: no columns to add or drop
    return Match((argmax.args[0],), {"dim": dim, "num_classes": num_classes})


def _class_count_of(node: fx.Node, scores, dim: int) -> bool:
    """Whether ``node`` is ``scores.shape[dim]`` or ``scores.size(dim)``."""
    if node.op == "call_function" and node.target is operator.getitem and node.args[1] == dim:
        shape = node.args[0]
        return (isinstance(shape, fx.Node) and shape.op == "call_function" and shape.target is getattr
                and shape.args == (scores, "shape"))
    return node.op == "call_method" and node.target == "size" and node.args == (scores, dim)


def match_argmax_in_region(node: fx.Node, metric: str) -> Match | None:
    if not is_call(node, "gather", torch.gather) or len(node.args) < 3:
        return None
    region, dim, index = node.args[:3]
    if not (is_call(index, "argmax", torch.argmax) and depends_on_scores(index)):
        return None
    if not isinstance(region, fx.Node) or depends_on_scores(region):
        return None
    if constant_dim(index, metric) != dim or not argument(index, 2, "keepdim", False):
        raise CompileError(
            f"metric `{metric}`: \"argmax lies in a region\" at {node.meta.get(LOCATION)} must read "
            "`region.gather(dim, scores.argmax(dim, keepdim=True))` with one constant dim."
        )
    return Match((index.args[0], region), {"dim": dim})

