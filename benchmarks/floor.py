"""Table d: the loss against its floor, relaxing the comparisons alone.

Every surrogate of this kind must at least form each difference the metric compares, relax it
and send a gradient back through it. The floor is exactly that: ``tanh(d / 2)`` of every pairwise
difference the metric needs, forward and backward of their sum, written directly in torch:

- AUC: every positive minus every negative;
- accuracy: the true class's score minus every class's (the true class against itself adds a
  zero, 1/C of the work);
- PCKh: the best pixel inside each joint's region minus every pixel outside it.

Time ratio = UniLoss forward+backward / floor forward+backward; memory ratio = UniLoss's peak
extra memory / the floor's (``timing.peak_bytes``).
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from .inputs import Case, loss_step, make_uniloss
from .tables import Table, Target, contention_note, count, mark, mib, ms, ratio
from .timing import Clock, measure_quietly, peak_bytes

TIME_TARGET = Target("loss time / floor time (>= 1e5 binaries)", 3)
MEMORY_TARGET = Target("loss peak memory / floor peak memory (>= 1e5 binaries)", 4)
TARGETED_BINARIES = 100_000


def floor_loss(metric: str) -> Callable[..., torch.Tensor]:
    """The sum of the relaxed comparisons of ``metric``, as a function of (scores, *targets)."""
    if metric == "auc":
        def auc(scores, labels):
            positives, negatives = scores[labels == 1], scores[labels == 0]
            return torch.tanh((positives[:, None] - negatives[None, :]) / 2).sum()
        return auc
    if metric == "accuracy":
        def accuracy(scores, labels):
            return torch.tanh((scores.gather(1, labels[:, None]) - scores) / 2).sum()
        return accuracy
    if metric == "pckh":
        def pckh(heatmaps, joints, head_size, visible, threshold=0.5):
            height, width = heatmaps.shape[-2:]
            ys = torch.arange(height, device=heatmaps.device, dtype=joints.dtype)[:, None]
            xs = torch.arange(width, device=heatmaps.device, dtype=joints.dtype)[None, :]
            radius = threshold * head_size[:, None, None, None]
            within = ((xs - joints[..., 0, None, None]) ** 2 + (ys - joints[..., 1, None, None]) ** 2
                      <= radius ** 2).flatten(2)
            flat = heatmaps.flatten(2)
            best = flat.masked_fill(~within, float("-inf")).amax(2, keepdim=True)
            relaxed = torch.tanh((best - flat) / 2)
            return torch.where(within | ~visible.bool()[..., None], 0.0, relaxed).sum()
        return pckh
    raise ValueError(f"no floor for {metric!r}: the floor covers auc, accuracy and pckh")


def versus_floor(cases: list[Case], rounds: int, block_seconds: float, clock: Clock) -> Table:
    table = Table("floor", "d. UniLoss / the floor (tanh of every difference, forward+backward of the sum)",
                  ["case", "binaries", "UniLoss ms", "floor ms", "time ratio", "target",
                   "UniLoss MiB", "floor MiB", "memory ratio", "target "])
    for case in cases:
        try:
            row = _row(case, rounds, block_seconds, clock)
        except (RuntimeError, MemoryError) as error:  # out of memory, or a size the core cannot run
            table.rows.append({"case": case.label, "error": f"{type(error).__name__}: {error}"})
            table.cells.append([case.label, "", f"failed: {str(error).splitlines()[0][:60]}"] + [""] * 7)
            continue
        table.rows.append(row)
        targeted = row["binaries"] >= TARGETED_BINARIES
        if targeted:
            table.targets.append(TIME_TARGET.record(row["time_ratio"], case.label))
            table.targets.append(MEMORY_TARGET.record(row["memory_ratio"], case.label))
        table.cells.append([
            mark(row, case.label), count(row["binaries"]), ms(row["timings"]["uniloss"]["median_s"]),
            ms(row["timings"]["floor"]["median_s"]), ratio(row["time_ratio"]),
            TIME_TARGET.cell(row["time_ratio"]) if targeted else "",
            mib(row["uniloss_peak_bytes"]), mib(row["floor_peak_bytes"]), ratio(row["memory_ratio"]),
            MEMORY_TARGET.cell(row["memory_ratio"]) if targeted else ""])
    table.notes += contention_note([row for row in table.rows if "error" not in row])
    table.notes.append(f"targets apply to rows with at least {TARGETED_BINARIES:,} binaries; "
                       "memory: peak tensor bytes above the inputs (CPU: torch.profiler's allocation "
                       "events; CUDA: max_memory_allocated)")
    return table


def _row(case: Case, rounds: int, block_seconds: float, clock: Clock) -> dict:
    scores, targets = case.make(clock.device)
    uniloss = make_uniloss(case.metric, clock.device)
    uniloss_step, floor_step = loss_step(uniloss, scores, targets), loss_step(floor_loss(case.metric), scores, targets)
    timings, busy = measure_quietly(f"floor, {case.label}", {"uniloss": uniloss_step, "floor": floor_step},
                                    rounds, block_seconds, clock)
    uniloss_peak, floor_peak = peak_bytes(uniloss_step, clock), peak_bytes(floor_step, clock)
    return {"case": case.label, "metric": case.metric, "binaries": uniloss.last.binaries, "timings": timings, **busy,
            "time_ratio": timings["uniloss"]["median_s"] / timings["floor"]["median_s"],
            "uniloss_peak_bytes": uniloss_peak, "floor_peak_bytes": floor_peak,
            "memory_ratio": uniloss_peak / floor_peak if floor_peak else None}
