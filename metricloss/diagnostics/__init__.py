"""How well UniLoss's interpolated metric ĝ tracks the exact metric g: ``metricloss diagnose``.

``tracking.track(metric, batches, ...)`` measures it on given batches of scores and targets;
``diagnose(task, tau=..., anchors=...)`` on the batches a short training run of a reference task
meets, one block per setting; ``report`` writes the tables, the JSON and the plot; ``command``
is the CLI. docs/guide.md, "Diagnosing the relaxation", explains the table.
"""

from .diagnose import Block, Diagnosis, diagnose
from .recommend import Recommendation
from .tracking import FRACTIONS, Row, Tracking, track

__all__ = ["Block", "Diagnosis", "FRACTIONS", "Recommendation", "Row", "Tracking", "diagnose", "track"]
