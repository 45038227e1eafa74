"""Finding a data set's files, and reading them with errors that say which file and what to do."""

from __future__ import annotations

import gzip
import zlib
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
    if directory.exists() and not directory.is_dir():
        raise DataError(f"the {dataset} data directory {directory} is a file, not a folder: give --data-dir the "
                        f"folder that holds the {dataset} files. {where}")
    if not directory.is_dir():
        raise DataError(f"the {dataset} data directory {directory} does not exist. {where}")
    raise DataError(f"{dataset}: none of {tried} exists. {where}")


def require_rows(count: int, path: Path, dataset: str, where: str) -> None:
    """A file that holds no samples is a truncated or emptied download: there is nothing to train on."""
    if count == 0:
        raise DataError(f"{dataset}: {path} holds no images (0 rows); the file is truncated or not the "
                        f"data set's own: delete it and download it again. {where}")


def require_validation(train: int, validation: int, fraction: float, directory: Path, dataset: str,
                       where: str) -> None:
    """Too few training samples to carve a validation split from (``validation`` rows of ``train``)."""
    if fraction > 0 and validation == 0:
        images = "image" if train == 1 else "images"
        raise DataError(f"{dataset}: the training files in {directory} hold only {train} {images}, too few to "
                        f"carve a validation split ({fraction:.3g} of them) from; use the data set's full files. "
                        f"{where}")


def read_bytes(path: Path, dataset: str, where: str) -> bytes:
    """A file's bytes, un-gzipped when it is gzipped (by its magic number, whatever its name)."""
    try:
        with open(path, "rb") as handle:
            raw = handle.read()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:  # zlib.error: a damaged deflate stream
        raise DataError(
            f"{dataset}: cannot read {path} ({type(error).__name__}: {error}); the file is damaged (an "
            f"interrupted download?): delete it and download it again. {where}"
        ) from error
    return raw
