"""``explain``: what a metric compiled into, in words a user can check against their code.

Each block of binaries is shown as the comparison the user wrote (found on its line in their
source) beside what the trace made of it; in the re-expression a block is called after the
variable it was assigned to. The ideal configuration is derived on a small batch: the
declaration's synthetic one when it gives ``shapes=``, else a guessed one that the compiled metric
accepts and reaches its best on.

- ``report.py``: ``explain`` and ``ideal_lines``, the report itself;
- ``loading.py``: ``find_metric``, a name, a function or ``module:function``;
- ``examples.py``: the example batch and the compiled program read;
- ``names.py``: the user's expression and variable name for each block and target value;
- ``symbolic.py``: ``formula``, ``g`` as sympy (imported only with this package, never by
  ``import metricloss``);
- ``dot_graph.py``: ``dot``, the traced graph in Graphviz DOT.
"""

from .dot_graph import dot
from .loading import find_metric
from .report import explain, ideal_lines
from .symbolic import Formula, formula

__all__ = ["Formula", "dot", "explain", "find_metric", "formula", "ideal_lines"]
