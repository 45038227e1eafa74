"""What a trace raises where it cannot follow the metric's code, each as a type of its own.

``_trace`` turns what the traced code raises into a message for the user; it tells the cases
apart by type, never by the text of a message (which torch and Python may reword).
"""

from __future__ import annotations

from ...errors import CompileError, SourceLocation


class ControlFlowRefused(CompileError):
    """Python control flow on tensor data (a loop over a tensor, an ``if`` on one), refused.

    ``construct`` names it and ``fix`` says what rewriting it means, so that a message can add
    that rewriting it would not help when the rest of the metric cannot be compiled anyway."""

    def __init__(self, message: str, construct: str, where: SourceLocation | None, fix: str):
        super().__init__(message)
        self.construct, self.where, self.fix = construct, where, fix


class NeedsShapes(Exception):
    """The symbolic trace met code that needs a shape as a Python number; trace per shape."""

    def __init__(self, construct: str, where: SourceLocation | None):
        super().__init__(f"{construct} at {where}")
        self.construct, self.where = construct, where


class ProbeAbandoned(Exception):
    """A trace past a refusal ran into what it cannot follow, or ran too long: it tells nothing."""


class LenOfAttribute(RuntimeError):
    """``len()`` of an attribute the trace holds only as a proxy (``len(x.shape)`` without
    example shapes). A RuntimeError, as torch.fx's own refusal of it is."""

    def __init__(self):
        super().__init__(
            "'len' is not supported in symbolic tracing by default. If you want this call to be "
            "recorded, please call torch.fx.wrap('len') at module scope"
        )


class ProxyToNumber(TypeError):
    """``float()`` or ``int()`` of a traced tensor, which the trace cannot turn into a number.
    ``conversion`` names the builtin; the message is Python's own for such a call."""

    def __init__(self, conversion: str, message: str):
        super().__init__(message)
        self.conversion = conversion
