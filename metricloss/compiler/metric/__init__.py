"""``@metric``: declare a metric as evaluation code; get back an exact, compiled ``Metric``.

One module per idea: what a declaration is and one binding of it compiled (``declaration``), the
decorator and its checks (``decorator``), the compile driver and its cache (``driver``), masks of
the targets that select the scores' items (``selections``), and the ``Metric`` users hold
(``compiled_metric``). The metric kind is declared to the plugin registry here.
"""

from __future__ import annotations

from ...contracts import instance_of
from ...registry import REGISTRY, Kind
from .compiled_metric import Metric, get_metric, restore_metric
from .declaration import Compiled, Declaration, padded
from .decorator import metric
from .driver import compile_metric

# Metrics pickled before the split name their restoring function by this path.
_restore_metric = restore_metric

__all__ = ["Compiled", "Declaration", "Metric", "compile_metric", "get_metric", "metric", "padded"]

REGISTRY.declare(Kind("metric", "metricloss.metrics", instance_of(Metric)))
