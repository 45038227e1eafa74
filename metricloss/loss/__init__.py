"""The loss: binaries relaxed, anchors sampled and valued, the metric interpolated between them.

What a diagnostic, a benchmark or a plugin builds on is the surrogate's steps, exported here:
``prepare_batch`` (one batch's binaries, ``b*``, anchors and their exact values, and relaxed
binaries, as a ``PreparedBatch``), ``interpolate`` (``g^`` at a relaxed point), and
``uniloss_terms`` (the two composed into the loss, as ``Terms``); ``SATURATED`` and
``NEARLY_SATURATED`` say when a relaxed binary has lost its gradient.
"""

from .relaxations import NEARLY_SATURATED, SATURATED
from .surrogate import PreparedBatch, Terms, interpolate, prepare_batch, uniloss_terms

__all__ = ["NEARLY_SATURATED", "SATURATED", "PreparedBatch", "Terms", "interpolate", "prepare_batch", "uniloss_terms"]
