"""The argparse types and path checks the ``metricloss`` commands share, theirs and other packages'.

A ``type=`` here turns a bad value into argparse's ``metricloss CMD: error: argument --OPTION:
MESSAGE`` and exit 2, before anything is loaded or trained; the ``check_*`` functions raise an
``InputError`` naming the option, for the checks that need more than the option's own text (a
folder the command will write under). Each message says what was wrong and what to give instead.
"""

from __future__ import annotations

import argparse
import math
import os
from collections.abc import Callable
from pathlib import Path

from .errors import InputError, MetricLossError

SEED_LIMIT = 2**63 - 1  # torch's generators take at most 2**64 - 1, and a run derives seed + 1 from it
FLOAT32_MAX = 3.4028234663852886e38  # the largest learning rate a float32 parameter's update can take


def whole_number(low: int, high: int | None = None, *, hint: str = "") -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high``; ``hint`` says what it counts."""
    span = f"at least {low}" if high is None else f"from {low} to {high}"
    what = f" ({hint})" if hint else ""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give one {span}{what}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {span}{what}, got {value}")
        return value

    parse.__name__ = "whole number"
    return parse


def real_number(low: float, *, strict: bool, high: float | None = None, hint: str = "") -> Callable[[str], float]:
    """An argparse ``type``: a finite number above ``low`` (``strict``) or at least ``low``, at most ``high``."""
    span = (f"above {low:g}" if strict else f"at least {low:g}") + ("" if high is None else f" and at most {high:g}")
    what = f" ({hint})" if hint else ""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; give a number {span}{what}") from None
        if not math.isfinite(value) or value < low or (strict and value == low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be a finite number {span}{what}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


def seed_number(text: str) -> int:
    """An argparse ``type``: a seed, 0 to 2**63 - 1."""
    usage = "seeds are whole numbers from 0 to 2**63 - 1, e.g. --seed 0"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; {usage}") from None
    if not 0 <= value <= SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"{value} is out of range; {usage}")
    return value


seed_number.__name__ = "seed"


def most_workers() -> int:
    """The most threads or worker processes an option may ask for: 4 per core; more only slows the
    work down, and torch crashes on absurd thread counts instead of refusing them."""
    return 4 * (os.cpu_count() or 1)


def thread_count(text: str) -> int:
    """An argparse ``type``: torch CPU threads, 0 (the caller's default) to ``most_workers()``."""
    return whole_number(0, most_workers(), hint=f"torch CPU threads, at most 4 per core of the "
                                                f"{os.cpu_count() or 1} here")(text)


thread_count.__name__ = "whole number"


def path_text(text: str) -> str:
    """An argparse ``type``: a path, not an empty string (which would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a path (use . for the current folder)")
    return text


path_text.__name__ = "path"


def sampler_spec(text: str) -> str:
    """An argparse ``type``: ``shuffle``, ``balanced`` or ``balanced:SHARE``, checked as training will."""
    from .train.sampling import parse_sampler

    try:
        parse_sampler(text)
    except MetricLossError as error:
        raise argparse.ArgumentTypeError(f"{error}; e.g. --sampler balanced:0.25") from None
    return text


sampler_spec.__name__ = "sampler"


def check_folder(path: str | Path, option: str) -> Path:
    """``path`` as a folder the command can create or write into, else an InputError naming ``option``.

    Checked before any work, so that a run of minutes does not end on a file in the way."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path} is a file, not a folder; give a folder (it is created if missing)")
    _check_writable_under(path, option, path)
    return path


def check_file(path: str | Path, option: str) -> Path:
    """``path`` as a file the command can write (its folder created if missing), else an InputError."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{option} {path} is a folder; give a file name, e.g. {path / 'results.json'}")
    _check_writable_under(path.parent, option, path)
    return path


def _check_writable_under(folder: Path, option: str, given: Path) -> None:
    """The nearest existing folder at or above ``folder`` must be a folder the user may write to."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise InputError(f"{option} {given}: {existing} is a file, so nothing can be written under it; "
                         "give another path")
    if existing.exists() and not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{option} {given}: {existing} cannot be written to (no permission); give a path "
                         "you may write to")


def check_module_reference(name: str) -> None:
    """``explain path/to/file.py:f`` is a file path where an import path belongs: say how to write it."""
    module, _, function = name.partition(":")
    if not ("/" in module or "\\" in module or module.endswith(".py")):
        return
    path = Path(module)
    stem = path.stem if path.suffix == ".py" else path.name
    folder = str(path.parent)
    where = "" if folder == "." else f" from the folder {folder} (or with it on PYTHONPATH)"
    raise InputError(f"{module!r} in {name!r} is a file path; explain takes the module's import path, as Python "
                     f"imports it: run metricloss explain {stem}:{function}{where}")
