"""Files written whole or not at all: a run can be killed at any moment, and is read while it runs.

Every file a run or a comparison writes (logs, curves, checkpoint, tables) is written to a
temporary name beside its path and moved into place with one ``os.replace``, atomic on one disk:
a reader never sees half a file, and a run killed mid-write keeps the previous version intact.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any


def replace_atomically(path: Path, write: Callable[[str], None]) -> None:
    """``write(temporary)`` a file beside ``path``, then move it onto ``path``.

    The temporary is removed if ``write`` fails. Not ``mkstemp``: its 0600 mode would stick to the logs.
    """
    temporary = str(path.with_name(f".{path.name}.{os.getpid()}.tmp"))
    try:
        write(temporary)
        os.replace(temporary, path)
    finally:
        if os.path.exists(temporary):
            os.remove(temporary)


def write_text(path: Path, text: str) -> None:
    replace_atomically(path, lambda temporary: Path(temporary).write_text(text, encoding="utf-8"))


def write_json(path: Path, value: Any) -> None:
    write_text(path, json.dumps(value, indent=2) + "\n")
