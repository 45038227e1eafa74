"""metricloss: a performance metric, written as evaluation code, turned into a training loss.

The pipeline, for the AUC a user would write to evaluate a model::

    @metricloss.metric(best=1.0)
    def my_auc(scores, labels):
        pos, neg = scores[labels == 1], scores[labels == 0]
        return (pos[:, None] > neg[None, :]).float().mean()

1. trace (``compiler/trace/``): torch.fx records the function once as a graph, each node tagged with
   the user's source line;
2. lower (``compiler/lowering.py``): rank-type ops on scores (``argmax(dim) == labels``) are rewritten
   into comparisons, from one table of rules;
3. partition (``compiler/partition.py``): taint from the scores splits the graph at its comparisons.
   ``pos[:, None] > neg[None, :]`` is a *block* of binary variables ``b = [d > 0]`` with
   ``d = pos[:, None] - neg[None, :]``; ``.float().mean()`` after it is the re-expression ``g``;
4. generate (``compiler/codegen.py``, run by ``compiler/program.py``): two modules, pairs ``(scores, labels) -> (d, b, target values)``
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
from .plugins import get_plugin, interpolator, relaxation, sampler, task
from .registry import REGISTRY
from .loss.relaxations import Relaxation, gaussian_cdf, linear, sigmoid
from .loss.samplers import Sampler, SamplingContext, element_nearby, good, ideal, nearby, random
from .loss.sizes import Sizes
from .loss.subsampling import Selection, hardest, random_fraction

__all__ = [
    "BatchLoopWarning", "CompileError", "InputError", "MetricLossError", "MetricLossWarning", "PluginError", "SaturationWarning",
    "TieOrderWarning", "UndefinedBatchWarning",
    "Interpolator", "Metric", "Relaxation", "Sampler", "SamplingContext", "UniLoss", "REGISTRY",
    "element_nearby", "explain", "gaussian_cdf", "gaussian_kernel", "get_metric", "good", "ideal",
    "inverse_distance", "linear", "metric", "nearby", "nearest", "random", "sigmoid",
    "get_plugin", "interpolator", "relaxation", "sampler", "task",
    "Selection", "hardest", "random_fraction", "count_metric", "Sizes", "evaluator",
]
__version__ = "0.1.0"


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

