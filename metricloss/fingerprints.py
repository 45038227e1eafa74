"""What identifies a declaration, so that declaring it twice is recognised as the same thing.

A notebook cell run again, or a module imported under two names, declares a metric or a part a
second time. The registry keeps the first definition and accepts the second only when it is the
same definition: the same source text and the same options. Memory addresses in a ``repr`` differ
between two runs of one declaration and are left out.
"""

from __future__ import annotations

import hashlib
import inspect
import re
import textwrap
from typing import Any


def definition_fingerprint(*parts: Any) -> str:
    """A digest of the source text of each function among ``parts`` (its code object's contents
    where the source cannot be read: ``python -c``, ``exec``), and of the ``repr`` of every other
    part (options). Two declarations with equal fingerprints are the same."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(_definition(part).encode("utf-8", "backslashreplace"))
        digest.update(b"\0")
    return digest.hexdigest()


def _definition(part: Any) -> str:
    if not callable(part) or isinstance(part, type):
        return _plain_repr(part)
    declared = getattr(part, "_metricloss_source", None)  # set by code that generates the function
    if isinstance(declared, str):
        return declared
    try:
        return textwrap.dedent(inspect.getsource(part))
    except (OSError, TypeError):
        code = getattr(part, "__code__", None)
        return _plain_repr(part) if code is None else _code_text(code)


def _plain_repr(part: Any) -> str:
    """``repr`` without memory addresses, which differ between two runs of the same declaration."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(part))


def _code_text(code) -> str:
    constants = tuple(_code_text(c) if inspect.iscode(c) else repr(c) for c in code.co_consts)
    return repr((code.co_code, constants, code.co_names, code.co_varnames, code.co_freevars))
