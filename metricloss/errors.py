"""The errors metricloss raises, and where in the user's code they point.

Every message says what was wrong, where (the user's ``file:line`` for anything found in a metric
declaration), and what to do about it.
"""

from __future__ import annotations

import linecache
import os
from dataclasses import dataclass


class MetricLossError(Exception):
    """Base class of every error metricloss raises on purpose."""


class CompileError(MetricLossError):
    """A metric declaration cannot be turned into binary variables and a re-expression."""


class InputError(MetricLossError, ValueError):
    """Scores or targets handed to a metric or a loss are not what it expects.

    ``metric``: the metric the message already names, when it does, so that code passing the error
    on knows not to name it again."""

    def __init__(self, *args, metric: str | None = None):
        super().__init__(*args)
        self.metric = metric


class PluginError(MetricLossError, LookupError):
    """A plugin cannot be found, loaded, or registered."""


# Source that metricloss generates (a count_metric's function) is compiled under a file name with
# this prefix: messages point at the user's call instead of into it.
GENERATED_SOURCE = "<metricloss generated "


class MetricLossWarning(UserWarning):
    """Something worth knowing that does not stop the computation (e.g. an undefined batch)."""


class UndefinedBatchWarning(MetricLossWarning):
    """A batch on which the metric is undefined (AUC without a positive): its loss is zero.

    A category of its own, so that a training loop that counts such batches can silence the
    warning by category rather than by its text.
    """


class SaturationWarning(MetricLossWarning):
    """Every relaxed comparison of a batch is saturated: the loss is not zero but its gradient is."""


class TieOrderWarning(MetricLossWarning):
    """A sort of the scores whose order of ties torch leaves open (``argsort``/``sort`` without
    ``stable=True``, ``topk``): the compiled metric follows a stated rule there, so on tied scores
    it can differ from the function run eagerly.

    A category of its own, so that code that accepts the rule can silence it by category.
    """


class BatchLoopWarning(MetricLossWarning):
    """A metric loops in Python over the samples of a batch: exact, but its work grows with the
    batch and each new batch size is traced again."""


@dataclass(frozen=True)
class SourceLocation:
    """A place in the user's source: shown as ``file:line (`code`)`` in messages."""

    filename: str
    lineno: int

    @property
    def code(self) -> str:
        return linecache.getline(self.filename, self.lineno).strip()

    def __str__(self) -> str:
        name = short_path(self.filename)
        code = self.code
        return f"{name}:{self.lineno} (`{code}`)" if code else f"{name}:{self.lineno}"


def short_path(filename: str) -> str:
    try:
        relative = os.path.relpath(filename)
    except ValueError:  # another drive on Windows
        return filename
    return filename if relative.startswith("..") else relative
