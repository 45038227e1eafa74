"""What every table shares: its header line, number formats, targets, and printing.

A table function returns a ``Table``: a title, column headers, printed cells, notes, and the
rows as dictionaries for the JSON file (every measured number, not only the printed ones).
"""

from __future__ import annotations

import math
import platform
from dataclasses import dataclass, field
from pathlib import Path

import torch

from .timing import crowded, spare_cores


@dataclass(frozen=True)
class Target:
    """A bound a measured value should meet: ``value <= limit`` (or ``>=``)."""

    what: str
    limit: float
    at_most: bool = True

    def met(self, value: float) -> bool:
        return value <= self.limit if self.at_most else value >= self.limit

    def cell(self, value: float | None) -> str:
        bound = f"{'<=' if self.at_most else '>='} {self.limit:g}"
        if value is None or not math.isfinite(value):
            return f"{bound}: n/a"
        return f"{bound}: {'met' if self.met(value) else 'MISSED'}"

    def record(self, value: float | None, case: str) -> dict:
        known = value is not None and math.isfinite(value)
        return {"target": self.what, "case": case, "limit": self.limit,
                "bound": "at most" if self.at_most else "at least",
                "value": value if known else None, "met": self.met(value) if known else None}


@dataclass
class Table:
    key: str  # the JSON key
    title: str
    headers: list[str]
    cells: list[list[str]] = field(default_factory=list)
    rows: list[dict] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    targets: list[dict] = field(default_factory=list)


def environment_line(device: torch.device) -> str:
    return (f"device: {device_name(device)} ({device.type}), {torch.get_num_threads()} torch threads, "
            f"torch {torch.__version__}")


def device_name(device: torch.device) -> str:
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def sig2(value: float) -> str:
    """Two significant digits, without exponent below a million: 0.0012, 1.3, 47, 1200."""
    if value is None or not math.isfinite(value):
        return "n/a"
    if value == 0:
        return "0"
    rounded = float(f"{value:.2g}")
    return f"{rounded:.0f}" if 100 <= abs(rounded) < 1e6 else f"{rounded:g}"


def ratio(value: float | None, digits: int = 2) -> str:
    """``1.3x``; ``digits=3`` where a target needs them (ResNet-20's 1.02)."""
    if value is None or not math.isfinite(value):
        return "n/a"
    return f"{sig2(value)}x" if digits == 2 else f"{value:.{digits}g}x"


def ms(seconds: float | None) -> str:
    if seconds is None:
        return "n/a"
    return f"{seconds * 1e3:.3g}" if seconds < 1 else f"{seconds * 1e3:.0f}"


def mib(size: float | None) -> str:
    return "n/a" if size is None else f"{size / 2**20:.3g}"


def count(number: int | None) -> str:
    return "n/a" if number is None else f"{number:,}"


def mark(row: dict, name: str) -> str:
    """A row's name, starred when other processes crowded its measurement."""
    return name + (" *" if crowded(row) else "")


def contention_note(rows: list[dict]) -> list[str]:
    """Say how quiet the machine was, so a reader can tell a real ratio from a neighbour's load."""
    measured = [row["other_cores"] for row in rows if row.get("other_cores") is not None]
    if not measured:
        return []
    notes = [f"other processes kept at most {max(measured):.2f} cores busy while measuring "
             f"(spare for them: {spare_cores():.1f})"]
    if any(crowded(row) for row in rows):
        notes.append("* measured while other processes kept the cores busy: unreliable")
    return notes


def render(table: Table, device: torch.device) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(table.headers, *table.cells)]

    def line(cells):
        return "  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                         for i, (c, w) in enumerate(zip(cells, widths))).rstrip()

    lines = ["", table.title, environment_line(device), line(table.headers),
             "  ".join("-" * w for w in widths)]
    lines += [line(cells) for cells in table.cells]
    lines += [f"   ({note})" if not note.startswith("*") else f"   {note}" for note in table.notes]
    return "\n".join(lines)
