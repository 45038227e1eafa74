"""Table e: how the loss's time and memory grow with the number of binaries.

AUC over growing batches (10% positives, so binaries = 0.09 B^2), accuracy over growing class
counts at B=128, PCKh over growing heatmaps (6 samples x 16 joints). Each row: binaries, the
loss's forward+backward time and its peak extra memory (``timing.peak_bytes``). For each metric,
the slope of log(time) against log(binaries), least squares over the rows with at least 10^4
binaries (below that, fixed per-call costs dominate): 1 is linear in the binaries.
"""

from __future__ import annotations

import math

from .inputs import Case, loss_step, make_uniloss
from .tables import Table, Target, contention_note, count, mark, mib, ms, sig2
from .timing import Clock, measure_quietly, peak_bytes

SLOPE_FROM = 10_000
SLOPE_TARGET = Target("AUC log-log slope of time vs binaries (1e4 to 1e7 binaries)", 1.1)
MEMORY_TARGET = Target("AUC B=16384 peak memory (GiB)", 2.0)


def log_log_slope(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(y) on log(x); None with fewer than two points."""
    if len(points) < 2:
        return None
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mean_x, mean_y = sum(xs) / len(xs), sum(ys) / len(ys)
    spread = sum((x - mean_x) ** 2 for x in xs)
    return sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys)) / spread if spread else None


def scaling(groups: dict[str, list[Case]], rounds: int, block_seconds: float, clock: Clock,
            note: str | None = None) -> Table:
    table = Table("scaling", "e. Scaling: UniLoss forward+backward time and peak extra memory against binaries",
                  ["case", "binaries", "ms", "peak MiB", "ms per 1e6 binaries"])
    slopes = {}
    for metric, cases in groups.items():
        points = []
        for case in cases:
            try:
                row = _row(case, rounds, block_seconds, clock)
            except (RuntimeError, MemoryError) as error:
                table.rows.append({"case": case.label, "metric": metric, "error": f"{type(error).__name__}: {error}"})
                table.cells.append([case.label, "", f"failed: {str(error).splitlines()[0][:60]}", "", ""])
                if metric == "auc" and case.batch == 16384:
                    table.targets.append(MEMORY_TARGET.record(None, case.label))
                continue
            seconds = row["timings"]["uniloss"]["median_s"]
            table.rows.append(row)
            table.cells.append([mark(row, case.label), count(row["binaries"]), ms(seconds),
                                mib(row["peak_bytes"]), f"{seconds * 1e3 * 1e6 / row['binaries']:.3g}"])
            if row["binaries"] >= SLOPE_FROM:
                points.append((row["binaries"], seconds))
            if metric == "auc" and case.batch == 16384:
                table.targets.append(MEMORY_TARGET.record(row["peak_bytes"] / 2**30, case.label))
        slopes[metric] = {"slope": log_log_slope(points), "rows": len(points),
                          "binaries": [p[0] for p in points]}
        if metric == "auc":
            table.targets.append(SLOPE_TARGET.record(slopes[metric]["slope"], "auc"))
    table.rows.append({"slopes": slopes})
    for metric, slope in slopes.items():
        span = (f"{count(min(slope['binaries']))} to {count(max(slope['binaries']))} binaries"
                if slope["binaries"] else "no rows")
        target = f"; target {SLOPE_TARGET.cell(slope['slope'])}" if metric == "auc" else ""
        table.notes.append(f"{metric}: log-log slope {sig2(slope['slope']) if slope['slope'] is not None else 'n/a'} "
                           f"over {slope['rows']} rows ({span}){target}")
    auc_16k = [t for t in table.targets if t["target"] == MEMORY_TARGET.what]
    if auc_16k:
        table.notes.append(f"AUC B=16384 peak {auc_16k[0]['value'] and sig2(auc_16k[0]['value'])} GiB; "
                           f"target {MEMORY_TARGET.cell(auc_16k[0]['value'])}")
    if note:
        table.notes.append(note)
    table.notes += contention_note([row for row in table.rows if "timings" in row])
    return table


def _row(case: Case, rounds: int, block_seconds: float, clock: Clock) -> dict:
    scores, targets = case.make(clock.device)
    uniloss = make_uniloss(case.metric, clock.device)
    step = loss_step(uniloss, scores, targets)
    timings, busy = measure_quietly(f"scaling, {case.label}", {"uniloss": step}, rounds, block_seconds, clock)
    return {"case": case.label, "metric": case.metric, "binaries": uniloss.last.binaries, "timings": timings,
            **busy, "peak_bytes": peak_bytes(step, clock)}
