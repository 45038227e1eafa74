"""A one-line progress bar on stderr, with no dependency.

On a terminal the line is redrawn in place (at most ten times a second, so drawing never costs
training time). Anywhere else (a log file, CI, a notebook's captured stderr) carriage returns would
pile up into one unreadable line, so the bar falls back to a plain line at each quarter of the work.

    >>> import io
    >>> stream = io.StringIO()
    >>> bar = Progress(4, "epoch 1/2", stream=stream)
    >>> for _ in range(4):
    ...     bar.update(loss=0.5)
    >>> bar.close()
    >>> print(stream.getvalue().splitlines()[-1])
    epoch 1/2 [########################] 4/4 loss 0.5000
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

_WIDTH = 24
_REDRAW_SECONDS = 0.1


class Progress:
    """Counts steps towards ``total`` and shows ``description``, a bar, and named values."""

    def __init__(self, total: int, description: str, *, stream: TextIO | None = None,
                 enabled: bool = True):
        self.total = max(total, 0)
        self.description = description
        self.stream = sys.stderr if stream is None else stream
        self.enabled = enabled
        self.count = 0
        self.values: dict[str, float] = {}
        self._interactive = _is_terminal(self.stream)
        self._last_draw = 0.0
        self._next_line = self._quarter()
        self._closed = False

    def update(self, steps: int = 1, /, **values: float) -> None:
        """Advance by ``steps`` and remember the latest ``values`` (e.g. ``loss=0.31``)."""
        self.count += steps
        self.values.update(values)
        if not self.enabled:
            return
        if self._interactive:
            now = time.monotonic()
            if now - self._last_draw >= _REDRAW_SECONDS or self.count >= self.total:
                self._last_draw = now
                self.stream.write("\r" + self.line() + "\x1b[K")
                self.stream.flush()
        elif self.count >= self._next_line and self.count < self.total:
            self._next_line += self._quarter()
            self._write_line()

    def close(self) -> None:
        """Leave the final state on its own line."""
        if self._closed:
            return
        self._closed = True
        if not self.enabled:
            return
        if self._interactive:
            self.stream.write("\r" + self.line() + "\x1b[K\n")
            self.stream.flush()
        else:
            self._write_line()

    def line(self) -> str:
        done = min(self.count, self.total)
        filled = _WIDTH * done // self.total if self.total else _WIDTH
        bar = "#" * filled + "." * (_WIDTH - filled)
        values = "".join(f" {name} {_number(value)}" for name, value in self.values.items())
        return f"{self.description} [{bar}] {done}/{self.total}{values}"

    def _quarter(self) -> int:
        return max(1, self.total // 4)

    def _write_line(self) -> None:
        self.stream.write(self.line() + "\n")
        self.stream.flush()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _is_terminal(stream: TextIO) -> bool:
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def _number(value: float) -> str:
    return f"{value:.4f}" if isinstance(value, float) else str(value)
