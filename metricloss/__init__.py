"""metricloss: a performance metric, written as evaluation code, turned into a training loss.

The pipeline, for the AUC a user would write to evaluate a model::

    @metricloss.metric(best=1.0)
    def my_auc(scores, labels):
        pos, neg = scores[labels == 1], scores[labels == 0]
        return (pos[:, None] > neg[None, :]).float().mean()

1. trace (``trace.py``): torch.fx records the function once as a graph, each node tagged with
   the user's source line;
2. lower (``lowering.py``): rank-type ops on scores (``argmax(dim) == labels``) are rewritten
   into comparisons, from one table of rules;
3. partition (``partition.py``): taint from the scores splits the graph at its comparisons.
   ``pos[:, None] > neg[None, :]`` is a *block* of binary variables ``b = [d > 0]`` with
   ``d = pos[:, None] - neg[None, :]``; ``.float().mean()`` after it is the re-expression ``g``;
4. generate (``program.py``): two modules, pairs ``(scores, labels) -> (d, b, target values)``
   and ``g(b, target values) -> metric``; ``g`` is vmapped over anchors;
5. ideal (``ideal.py``): on each batch, ``b*`` is the binaries of perfect scores that the
   targets describe (positives above negatives: ``pos > neg`` all true), with the comparisons
   the metric ignores there left free;
6. loss (``functional.py``): relaxed binaries ``x = tanh(d / 2 tau)``, anchors around ``b*`` and
   the current ``b``, their exact values ``g(a)``, inverse-distance interpolation ``g^(x)``, and
   ``loss = g(b*) - g^(x)`` (UniLoss, Liu, Wang & Deng, ECCV 2020).

``metricloss.explain("my_auc")`` prints what a metric compiled into.
"""

from .counts import count_metric
from .errors import CompileError, InputError, MetricLossError, MetricLossWarning, PluginError
from .explanation import explain
from .interpolators import Interpolator, gaussian_kernel, inverse_distance, nearest
from .loss import UniLoss
from .metric import Metric, get_metric, metric
from .plugins import get_plugin, interpolator, relaxation, sampler, task
from .registry import REGISTRY
from .relaxations import Relaxation, gaussian_cdf, linear, sigmoid
from .samplers import Sampler, SamplingContext, element_nearby, good, ideal, nearby, random
from .selection import Selection, hardest, random_fraction

__all__ = [
    "CompileError", "InputError", "MetricLossError", "MetricLossWarning", "PluginError",
    "Interpolator", "Metric", "Relaxation", "Sampler", "SamplingContext", "UniLoss", "REGISTRY",
    "element_nearby", "explain", "gaussian_cdf", "gaussian_kernel", "get_metric", "good", "ideal",
    "inverse_distance", "linear", "metric", "nearby", "nearest", "random", "sigmoid",
    "get_plugin", "interpolator", "relaxation", "sampler", "task",
    "Selection", "hardest", "random_fraction", "count_metric",
]
__version__ = "0.1.0"
