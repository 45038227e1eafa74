"""Where in the user's code a traced value came from.

Every node the tracer makes carries the user's ``file:line`` under ``node.meta[LOCATION]``, so
that a refusal at any later stage (lowering, partition, the exact evaluator, explain) can point
at the line the user wrote rather than into torch or the compiler. The walks below skip torch,
metricloss itself and the numeric libraries a metric may hand the scores to by mistake, whose
frames would otherwise be the innermost.
"""

from __future__ import annotations

import os
import sys

import torch

from ...errors import GENERATED_SOURCE, SourceLocation

# ``node.meta`` key: the user's ``SourceLocation`` the node was traced at (None when unknown).
LOCATION = "location"

_TORCH_DIR = os.path.dirname(torch.__file__)
# The whole metricloss package: three levels up from compiler/trace/locations.py.
_OWN_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Libraries a metric may hand the scores to by mistake: messages point at the user's line, not
# into them, and name them.
_NUMERIC_LIBRARIES = ("numpy", "sklearn", "scipy", "pandas")


def _library_of(filename: str) -> str | None:
    parts = filename.replace("\\", "/").split("/")
    return next((name for name in _NUMERIC_LIBRARIES if name in parts), None)


def user_location() -> SourceLocation | None:
    """The innermost frame on the stack that belongs to neither torch, metricloss nor a numeric
    library the scores were handed to."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith((_TORCH_DIR, _OWN_DIR, "<frozen", GENERATED_SOURCE)) \
                and _library_of(filename) is None:
            return SourceLocation(filename, frame.f_lineno)
        frame = frame.f_back
    return None


def library_on_stack() -> str | None:
    """numpy, sklearn, ... when one of them is on the stack between the user's code and here."""
    frame = sys._getframe(1)
    while frame is not None:
        library = _library_of(frame.f_code.co_filename)
        if library is not None:
            return library
        frame = frame.f_back
    return None


def user_location_from(error: BaseException) -> SourceLocation | None:
    """The innermost non-library frame of an exception's traceback."""
    found = None
    tb = error.__traceback__
    while tb is not None:
        filename = tb.tb_frame.f_code.co_filename
        if not filename.startswith((_TORCH_DIR, _OWN_DIR)) and _library_of(filename) is None:
            found = SourceLocation(filename, tb.tb_lineno)
        tb = tb.tb_next
    return found


def library_in_traceback(error: BaseException) -> str | None:
    """numpy, sklearn, ... when an exception passed through one of them on its way here."""
    tb = error.__traceback__
    while tb is not None:
        library = _library_of(tb.tb_frame.f_code.co_filename)
        if library is not None:
            return library
        tb = tb.tb_next
    return None
