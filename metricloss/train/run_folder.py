"""The run's folder: checked before any work, held by one run at a time, never silently full.

A run may train for hours before its first checkpoint, so everything that would stop it from
writing one is found first: an ``out`` that is a file, a folder it may not write in, a disk too
full for a checkpoint. Two runs pointed at one folder would overwrite each other's logs and
checkpoints, one of them silently; the folder is therefore locked while a run writes to it. The
lock is ``filelock``'s on ``.lock`` inside the folder: an ``flock`` on Unix, ``msvcrt.locking`` on
Windows, both released by the system when the process ends however it ends (a run killed with
SIGKILL leaves no stale lock for ``--resume`` to trip on). Which process holds it is written to
``.lock.holder`` beside it, for the message a second run gets.
"""

from __future__ import annotations

import errno
import os
import shutil
import socket
from contextlib import contextmanager
from collections.abc import Iterator
from pathlib import Path

from filelock import FileLock, Timeout

from metricloss.errors import InputError, MetricLossError

LOCK = ".lock"
HOLDER = ".lock.holder"  # who holds the lock: written by the holder only, read by a refused run
SPARE_BYTES = 1 << 20  # beyond a checkpoint's estimate: logs, curves, the temporary copy's name


@contextmanager
def claimed(out: Path) -> Iterator[Path]:
    """``out`` created if needed, writable, and locked for this run until the block ends.

    A folder made here and left holding nothing but the lock (a run refused before it wrote
    anything) is removed again.
    """
    created = not out.exists()
    _make(out)
    lock = FileLock(out / LOCK, timeout=0)
    try:
        lock.acquire()
    except Timeout:
        try:
            holder = (out / HOLDER).read_text(encoding="utf-8").strip()
        except OSError:
            holder = ""
        raise InputError(
            f"another run is writing to {out} ({holder or 'another process'}): two runs in one folder would "
            "overwrite each other's logs and checkpoints. Wait for it to finish, or choose another folder (--out)."
        ) from None
    except OSError as error:
        raise InputError(f"cannot write in the run directory {out} ({error.strerror}): choose a folder you "
                         "may write in (--out)") from error
    try:
        (out / HOLDER).write_text(f"pid {os.getpid()} on {socket.gethostname()}\n", encoding="utf-8")
        yield out
    finally:  # still holding the lock: no other run can be using the folder
        (out / HOLDER).unlink(missing_ok=True)
        if created and {p.name for p in out.iterdir()} <= {LOCK}:
            (out / LOCK).unlink(missing_ok=True)
            out.rmdir()
        lock.release()


def require_space(out: Path, checkpoint_bytes: int) -> None:
    """Refuse to start when ``out``'s disk cannot hold a checkpoint and its temporary copy."""
    needed = 2 * checkpoint_bytes + SPARE_BYTES
    free = shutil.disk_usage(out).free
    if free < needed:
        raise InputError(
            f"the disk of {out} has {_size(free)} free, but a checkpoint of this run needs about "
            f"{_size(needed)} (it is written beside the previous one, then moved over it): free some "
            "space or choose another folder (--out)"
        )


def no_space(path: Path, error: OSError) -> MetricLossError | None:
    """The error to raise for a full disk met while writing ``path``; None for other failures."""
    if error.errno not in (errno.ENOSPC, errno.EDQUOT):
        return None
    return MetricLossError(
        f"the disk filled up while writing {path}: the previous checkpoint in {path.parent} is intact. "
        "Free some space, then run the same command with --resume to continue."
    )


def _make(out: Path) -> None:
    if out.exists() and not out.is_dir():
        raise InputError(f"the run directory {out} is a file, not a folder: choose another --out")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError) as error:
        raise InputError(f"cannot create the run directory {out}: {error.filename} is a file, not a "
                         "folder; choose another --out") from error
    except OSError as error:
        raise InputError(f"cannot create the run directory {out} ({error.strerror}): choose a folder you "
                         "may write in (--out)") from error


def _size(count: int) -> str:
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:.0f} {unit}" if unit == "bytes" else f"{count:.1f} {unit}"
        count /= 1024
    return f"{count:.1f} TiB"
