"""Table i: every metric of the zoo against its own floor, at training sizes.

The floor of a compiled metric is read off its own program (``floor.compiled_floor``): relax
every live difference its pairs module gives for the batch, sum, and send the gradient back. No
surrogate built on those comparisons can cost less, so UniLoss / floor is the price of the rest
of the loss: the ideal b*, the anchors and their exact values, the distances and the
interpolation. Each row also gives UniLoss / the loss usually trained for that kind of metric,
the aten ops and host synchronisations of one forward+backward (``dispatch_counts.py``, which
lists the ops counted as synchronisations), and the path the loss took (``Terms.path``).

Sizes (``zoo_shapes``): one list of N=1024 (and N=4096 in the full run, binary metrics),
classes [128, 10] and [128, 100], and [128, 1000] for the metrics that compare each sample's
classes once (at most N x C binaries at C=100: the accuracy-like ones), queries [64, 100],
multi-label [256, 10], segmentation [4, 5, 64, 64], masks [4, 64, 64], heatmaps [6, 16, 64, 64].
"""

from __future__ import annotations

import statistics
import sys

from .tables import Table, Target, contention_note, count, mark, mib, ms, ratio
from .timing import Clock
from .zoo_batches import load_zoo
from .zoo_rows import Limits, ZooCase, measure_row

TIME_TARGET = Target("zoo: loss time / its floor's", 3)
MEMORY_TARGET = Target("zoo: loss peak memory / its floor's", 4)
LARGE = 100_000  # binaries: above this the loss's fixed cost per call no longer dominates

_SMOKE = {"binary": (12,), "graded": (12,), "regression": (12,), "classes": (12, 5), "classes_ignore": (12, 5),
          "queries": (4, 12), "multilabel": (12, 4), "segmentation": (2, 3, 4, 5),
          "segmentation_ignore": (2, 3, 4, 5), "masks": (2, 4, 5), "heatmaps": (2, 3, 5, 6)}
WIDE = 1000  # classes of the accuracy-like rows


def zoo_shapes(kind: str, mode: str) -> list[tuple[int, ...]]:
    """The score shapes a metric of ``kind`` is measured at."""
    if mode == "smoke":
        return [_SMOKE[kind]]
    if kind in ("classes", "classes_ignore"):
        return [(128, 10), (128, 100), (128, WIDE)]
    one_list = [(1024,)] + ([(4096,)] if mode == "full" and kind == "binary" else [])
    return {"binary": one_list, "graded": one_list, "regression": one_list, "queries": [(64, 100)],
            "multilabel": [(256, 10)], "segmentation": [(4, 5, 64, 64)], "segmentation_ignore": [(4, 5, 64, 64)],
            "masks": [(4, 64, 64)], "heatmaps": [(6, 16, 64, 64)]}[kind]


def zoo_limits(mode: str) -> Limits:
    if mode == "smoke":
        return Limits(rounds=1, block_seconds=0.0, row_seconds=0.0, setup_seconds=30, max_binaries=10**6)
    if mode == "quick":
        return Limits(rounds=3, block_seconds=0.04, row_seconds=4, setup_seconds=30, max_binaries=2 * 10**7)
    return Limits(rounds=7, block_seconds=0.1, row_seconds=12, setup_seconds=60, max_binaries=2 * 10**7)


def zoo_entries(mode: str) -> tuple[list | None, str]:
    """The zoo's entries to measure (one of each kind in smoke mode), or None and why not."""
    entries, source = load_zoo()
    if entries is None or mode != "smoke":
        return entries, source
    first: dict[str, object] = {}
    for entry in entries:
        first.setdefault(entry.kind, entry)
    return list(first.values()), source + " (smoke: the first metric of each kind)"


def _accuracy_like(row: dict | None) -> bool:
    """Whether the [128, 100] row compared each sample's classes at most once."""
    return bool(row) and row.get("status") == "measured" and row["binaries"] <= row["shape"][0] * row["shape"][1]


def zoo_floor(entries: list | None, source: str, mode: str, clock: Clock) -> Table:
    """``entries`` at the sizes of ``mode``; ``source`` says where they came from (or why there are none)."""
    table = Table("zoo_floor", "i. Every zoo metric against its own floor (the relaxed live differences of its "
                  "compiled pairs, forward+backward)",
                  ["metric [scores shape]", "path", "binaries", "UniLoss ms", "floor ms", "time ratio", "target",
                   "UniLoss MiB", "floor MiB", "memory ratio", "target ", "baseline", "UniLoss/baseline",
                   "ops", "syncs"])
    if entries is None:
        table.notes.append(source)
        return table
    limits = zoo_limits(mode)
    # One try a row: the table is long, and a crowded row is starred rather than measured again.
    clock = Clock(clock.device, attempts=1)
    for entry in entries:
        previous = None
        for shape in zoo_shapes(entry.kind, mode):
            if len(shape) == 2 and shape[1] == WIDE and entry.kind.startswith("classes") and not _accuracy_like(previous):
                continue
            row = measure_row(ZooCase(entry, shape), limits, clock)
            previous = row
            print(f"  {_progress(row)}", file=sys.stderr, flush=True)  # what a stopped run has measured
            table.rows.append(row)
            table.cells.append(_cells(row))
    _summarise(table, limits)
    table.notes.insert(0, source)
    return table


def _cells(row: dict) -> list[str]:
    if row["status"] != "measured":  # the reason is in the notes below the table
        return [row["case"], row.get("path", ""), count(row.get("binaries")), row["status"]] + [""] * 11
    timings = row["timings"]
    return [mark(row, row["case"]), row["path"], count(row["binaries"]), ms(timings["uniloss"]["median_s"]),
            ms(timings["floor"]["median_s"]), ratio(row["time_ratio"]), TIME_TARGET.cell(row["time_ratio"]),
            mib(row["uniloss_peak_bytes"]), mib(row["floor_peak_bytes"]), ratio(row["memory_ratio"]),
            MEMORY_TARGET.cell(row["memory_ratio"]), row["baseline"], ratio(row["uniloss_over_baseline"]),
            count(row["ops"]), count(row["syncs"])]


def _progress(row: dict) -> str:
    if row["status"] != "measured":
        return f"{row['case']}: {row['status']}: {row['reason'][:200]}"
    return (f"{row['case']}: {row['path']}, {row['binaries']:,} binaries, UniLoss "
            f"{ms(row['timings']['uniloss']['median_s'])} ms, time / floor {ratio(row['time_ratio'])}, "
            f"memory / floor {ratio(row['memory_ratio'])}, / {row['baseline']} {ratio(row['uniloss_over_baseline'])}, "
            f"{row['ops']:,} ops, {row['syncs']} syncs")


def _spread(rows: list[dict], key: str) -> tuple[float, dict] | None:
    known = [row for row in rows if row.get(key) is not None]
    if not known:
        return None
    return statistics.median(row[key] for row in known), max(known, key=lambda row: row[key])


def _summarise(table: Table, limits: Limits) -> None:
    measured = [row for row in table.rows if row["status"] == "measured"]
    others = [row for row in table.rows if row["status"] != "measured"]
    if others:
        table.notes.append(f"{len(others)} of {len(table.rows)} rows not measured: " + "; ".join(
            f"{row['case']}: {row['status']}, {row['reason'][:160]}" for row in others))
    for what, rows in (("all rows", measured), (f"rows with >= {LARGE:,} binaries", [
            row for row in measured if row["binaries"] >= LARGE])):
        lines = []
        for key, name, target in (("time_ratio", "time / floor", TIME_TARGET),
                                  ("memory_ratio", "peak memory / floor", MEMORY_TARGET),
                                  ("uniloss_over_baseline", "UniLoss / baseline", None)):
            spread = _spread(rows, key)
            if spread is None:
                continue
            median, worst = spread
            met = "" if target is None else f", {sum(target.met(r[key]) for r in rows if r.get(key) is not None)} met"
            lines.append(f"{name}: median {ratio(median)}, worst {ratio(worst[key])} ({worst['case']}){met}")
            if target is not None and what == "all rows":
                table.targets.append(target.record(median, f"median over {len(rows)} zoo rows"))
                table.targets.append(target.record(worst[key], f"worst zoo row, {worst['case']}"))
        if lines:
            table.notes.append(f"{what} ({len(rows)}): " + "; ".join(lines))
    for key, name in (("ops", "aten ops per call"), ("syncs", "host syncs per call")):
        spread = _spread(measured, key)
        if spread is not None:
            table.notes.append(f"{name}: median {spread[0]:,.0f}, most {spread[1][key]:,} ({spread[1]['case']})")
    table.notes += contention_note(measured)
    table.notes.append(f"up to {limits.rounds} rounds a row, fewer for slow rows (about {limits.row_seconds:g} s "
                       f"each); compile and first call limited to {limits.setup_seconds:g} s; ops and syncs: "
                       "one forward+backward under a TorchDispatchMode (benchmarks/dispatch_counts.py)")
