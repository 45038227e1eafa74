"""Tracing a metric into a torch.fx graph, with every node tagged by the user's source line.

A metric is first traced symbolically, for every shape at once. Code that needs a shape as a
Python number (``for c in range(scores.shape[1])``, ``len(labels)``, ``if scores.shape[1] == 2``)
stops that trace with ``NeedsShapes``; it is then traced again with example tensors on the meta
device, so shapes are plain ints and the loop unrolls (``shapes.py`` keeps one trace per shape
signature). Python control flow on score *values* cannot be traced in either mode: the error
names the line and says what to write instead, unless nothing would help: when the rest of the
metric uses score values themselves (a binned calibration error), the error says so first time.

- ``tracing.py``: ``trace_metric``, the entry point, and its messages;
- ``tracer.py`` and ``proxy.py``: the torch.fx tracer and its traced tensor;
- ``refusals.py``: what the trace raises where it cannot follow the code;
- ``locations.py``: the user's line (``LOCATION``) and the libraries the scores were handed to;
- ``dependencies.py``: whose values reach a node (``depends_on_scores``, ``shape_derived``);
- one module per cleanup pass after the trace: ``mutations.py``, ``specialisation_guards.py``,
  ``read_through.py``, ``assignments.py``, ``repeated_expressions.py``.
"""

from .dependencies import SCORE_ARGUMENT, depends_on_scores, shape_derived
from .locations import LOCATION, user_location_from
from .refusals import NeedsShapes
from .tracing import trace_metric

__all__ = [
    "LOCATION", "SCORE_ARGUMENT", "NeedsShapes", "depends_on_scores", "shape_derived", "trace_metric",
    "user_location_from",
]
