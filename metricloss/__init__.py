"""metricloss: a performance metric, written as evaluation code, turned into a training loss.

The pipeline, for the AUC a user would write to evaluate a model::

    @metricloss.metric(best=1.0)
    def my_auc(scores, labels):
        pos, neg = scores[labels == 1], scores[labels == 0]
        return (pos[:, None] > neg[None, :]).float().mean()

1. trace (``compiler/trace/``): torch.fx records the function once as a graph, each node tagged with
   the user's source line;
2. lower (``compiler/lowering/``, its passes in order in ``lowering/pipeline.py``): rank-type ops on
   scores (``argmax(dim) == labels``) are rewritten into comparisons, from one table of rules;
3. partition (``compiler/partition.py``): taint from the scores splits the graph at its comparisons.
   ``pos[:, None] > neg[None, :]`` is a *block* of binary variables ``b = [d > 0]`` with
   ``d = pos[:, None] - neg[None, :]``; ``.float().mean()`` after it is the re-expression ``g``;
4. generate (``compiler/codegen.py``, run by ``compiler/program/``): two modules, pairs ``(scores, labels) -> (d, b, target values)``
   and ``g(b, target values) -> metric``; ``g`` is vmapped over anchors;
5. ideal (``compiler/ideal.py``): on each batch, ``b*`` is the binaries of perfect scores that the
   targets describe (positives above negatives: ``pos > neg`` all true), with the comparisons
   the metric ignores there left free;
6. loss (``loss/surrogate.py``; the module ``UniLoss`` in ``loss/module.py``): relaxed binaries ``x = tanh(d / 2 tau)``, anchors around ``b*`` and
   the current ``b``, their exact values ``g(a)``, inverse-distance interpolation ``g^(x)``, and
   ``loss = g(b*) - g^(x)`` (UniLoss, Liu, Wang & Deng, ECCV 2020).

``metricloss.explain("my_auc")`` prints what a metric compiled into.
"""

from __future__ import annotations

from collections.abc import Callable

from .compiler.counts import count_metric
from .errors import (BatchLoopWarning, CompileError, InputError, MetricLossError, MetricLossWarning, PluginError,
                     SaturationWarning, TieOrderWarning, UndefinedBatchWarning)
from .evaluator import evaluator
from .loss.interpolators import Interpolator, gaussian_kernel, inverse_distance, nearest
from .loss.module import UniLoss
from .compiler.metric import Metric, get_metric, metric
from . import commands as _commands  # noqa: F401  (declares the command kind of plugin)
from .decorators import interpolator, relaxation, sampler, task
from .registry import REGISTRY as _REGISTRY, Entry, Failure, get_plugin
from .loss.relaxations import Relaxation, gaussian_cdf, linear, sigmoid
from .loss.anchors import Anchors
from .loss.samplers import Sampler, SamplingContext, element_nearby, good, ideal, nearby, random
from .loss.sizes import Sizes
from .loss.subsampling import Selection, hardest, random_fraction

__all__ = [
    "BatchLoopWarning", "CompileError", "InputError", "MetricLossError", "MetricLossWarning", "PluginError", "SaturationWarning",
    "TieOrderWarning", "UndefinedBatchWarning",
    "Anchors", "Interpolator", "Metric", "Relaxation", "Sampler", "SamplingContext", "UniLoss",
    "element_nearby", "explain", "gaussian_cdf", "gaussian_kernel", "get_metric", "good", "ideal",
    "inverse_distance", "linear", "metric", "nearby", "nearest", "random", "sigmoid",
    "get_plugin", "interpolator", "relaxation", "sampler", "task", "plugins", "plugin_failures", "Entry", "Failure",
    "Task", "Data", "Split", "Settings", "Report",
    "Selection", "hardest", "random_fraction", "count_metric", "Sizes", "evaluator",
]
__version__ = "0.1.0"


def plugins(kind: str) -> list[Entry]:
    """The registered plugins of ``kind`` ("metric", "relaxation", "sampler", "interpolator", "task",
    "command"), installed ones included, each with where it comes from (``Entry.source``,
    ``distribution``, ``version``); ``metricloss plugins`` prints them all."""
    _REGISTRY.kind(kind)
    return _REGISTRY.entries(kind)


def plugin_failures(kind: str) -> list[Failure]:
    """The installed plugins of ``kind`` that failed to load, each with its distribution and why."""
    _REGISTRY.kind(kind)
    return _REGISTRY.failures(kind)


def explain(metric: str | Metric | Callable) -> str:
    """What a metric compiled into, as text: its blocks of binary variables with the source lines
    they come from, the lowering rules applied, the re-expression ``g`` as a formula and as code,
    and how the ideal configuration ``b*`` is found (derived on a small example batch).

    ``metric`` is a registered name (``"auc"``), a ``Metric``, ``"package.module:function"``, or a
    plain function, which is compiled for the look as ``@metric`` would, without registering it.
    ``metricloss explain NAME`` prints the same text. (sympy, which draws the formula, is imported
    on the first call, not with ``metricloss``.)
    """
    from .compiler.explain import explain as explaining

    return explaining(metric)


# Last: the training layer's types, which plugin authors build tasks from; importing them declares
# the task kind. (``train.task`` reads ``metricloss`` at call time only, so this import is safe here.)
from .train.task import Data, Report, Settings, Split, Task  # noqa: E402
