"""Finding a data set's files, and reading them with errors that say which file and what to do."""

from __future__ import annotations

import gzip
from collections.abc import Sequence
from pathlib import Path

from . import DataError


def find(directory: Path, names: Sequence[str], dataset: str, where: str) -> Path:
    """The first of ``names`` (relative to ``directory``) that exists, or a DataError that lists them."""
    directory = Path(directory)
    for name in names:
        path = directory / name
        if path.is_file():
            return path
    tried = ", ".join(str(directory / name) for name in names)
    if not directory.is_dir():
        raise DataError(f"the {dataset} data directory {directory} does not exist. {where}")
    raise DataError(f"{dataset}: none of {tried} exists. {where}")


def read_bytes(path: Path, dataset: str, where: str) -> bytes:
    """A file's bytes, un-gzipped when it is gzipped (by its magic number, whatever its name)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError) as error:
        raise DataError(
            f"{dataset}: cannot read {path} ({type(error).__name__}: {error}); the file is damaged. "
            f"Download it again: {where}"
        ) from error
    return raw
