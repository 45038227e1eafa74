"""What a run leaves to read while it trains and after: per-epoch logs, its curves, a line per epoch.

``metrics.jsonl`` and ``metrics.csv`` hold one row per epoch (``COLUMNS``, then a ``test_LABEL``
column for each of the task's further test metrics, ``Task.reports``), for programs and for
spreadsheets; ``curves.png`` shows the training loss and the train and validation metric by epoch.
Every file is replaced whole (``atomic``), so it can be read at any moment of a run.
"""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from .atomic import replace_atomically, write_text
from .config import RunConfig

COLUMNS = ("epoch", "train_loss", "train_metric", "validation_metric", "test_metric", "lr", "seconds",
           "undefined_batches")
METRICS_JSONL = "metrics.jsonl"
METRICS_CSV = "metrics.csv"
CURVES = "curves.png"


def write_logs(out: Path, history: list[dict[str, Any]]) -> None:
    """Both logs, rewritten whole from the history each epoch.

    The same as appending a row, but a log never holds half a line, and after a resume it holds
    exactly the checkpoint's epochs (none from a run that died between its log and its checkpoint).
    """
    names = columns(history)
    lines = (json.dumps({k: row.get(k) for k in names}) + "\n" for row in history)
    write_text(out / METRICS_JSONL, "".join(lines))
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=names, lineterminator="\n")
    writer.writeheader()
    for row in history:
        writer.writerow({k: "" if row.get(k) is None else row[k] for k in names})
    write_text(out / METRICS_CSV, text.getvalue())


def columns(history: list[dict[str, Any]]) -> tuple[str, ...]:
    """``COLUMNS``, then the further columns of the rows (the task's reports), in the first row's order."""
    extra = [name for name in (history[0] if history else {}) if name not in COLUMNS]
    return COLUMNS + tuple(extra)


def plot_curves(path: Path, history: list[dict[str, Any]], config: RunConfig) -> None:
    """Training loss on the left; train (batch mean) and validation metric on the right."""
    from matplotlib.figure import Figure  # no pyplot: the user's backend is left alone

    epochs = [row["epoch"] for row in history]
    figure = Figure(figsize=(10, 4), layout="constrained")
    loss_axes, metric_axes = figure.subplots(1, 2)
    loss_axes.plot(epochs, _nan(history, "train_loss"), marker=".", color="tab:gray")
    loss_axes.set(xlabel="epoch", ylabel="training loss", title=config.loss_label)
    metric_axes.plot(epochs, _nan(history, "train_metric"), marker=".", label="train (batch mean)")
    metric_axes.plot(epochs, _nan(history, "validation_metric"), marker=".", label="validation")
    metric_axes.set(xlabel="epoch", ylabel=config.metric, title=f"{config.task}, seed {config.seed}")
    metric_axes.legend()
    for axes in (loss_axes, metric_axes):
        style_epoch_axes(axes)
    save_figure(figure, path)


def style_epoch_axes(axes) -> None:
    """Whole epochs on the x axis, and a light grid."""
    from matplotlib.ticker import MaxNLocator

    axes.xaxis.set_major_locator(MaxNLocator(integer=True))
    axes.grid(alpha=0.3)


def save_figure(figure, path: Path) -> None:
    """A PNG moved into place whole, so a reader never sees half of it."""
    replace_atomically(path, lambda temporary: figure.savefig(temporary, format="png", dpi=100))


def epoch_line(row: dict[str, Any], config: RunConfig) -> str:
    """One epoch's row as the line a run prints after it."""

    def number(value):
        return "undefined" if value is None else f"{value:.4f}"

    undefined = f"  ({row['undefined_batches']} undefined batches)" if row["undefined_batches"] else ""
    reported = ", ".join(f"{name[len('test_'):]} {number(row[name])}" for name in row if name not in COLUMNS)
    return (f"epoch {row['epoch']}/{config.epochs}  loss {number(row['train_loss'])}  "
            f"{config.metric}: train {number(row['train_metric'])}  "
            f"validation {number(row['validation_metric'])}  test {number(row['test_metric'])}  "
            f"lr {row['lr']:.3g}  {row['seconds']:.1f}s{undefined}"
            + (f"\n  test {reported}" if reported else ""))


def _nan(history: list[dict[str, Any]], column: str) -> list[float]:
    return [math.nan if row[column] is None else row[column] for row in history]
