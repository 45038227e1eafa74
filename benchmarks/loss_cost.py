"""Table a: the loss's forward+backward against the usual loss on the same scores.

Cross-entropy for classification and ranking metrics (binary cross-entropy on one score per
sample), MSE to Gaussian heatmaps for PCKh. Both run on the same leaf scores, so the ratio is the
loss's own cost with the network left out.
"""

from __future__ import annotations

from .inputs import Case, loss_step, make_uniloss
from .tables import Table, contention_note, count, mark, ms, ratio
from .timing import Clock, measure_quietly


def loss_cost(cases: list[Case], rounds: int, block_seconds: float, clock: Clock) -> Table:
    table = Table("loss_cost", "a. Loss forward+backward: UniLoss / the usual loss on the same scores",
                  ["case", "binaries", "anchors", "UniLoss ms", "baseline", "baseline ms", "UniLoss/baseline"])
    for case in cases:
        scores, targets = case.make(clock.device)
        uniloss = make_uniloss(case.metric, clock.device)
        timings, busy = measure_quietly(f"loss cost, {case.label}", {
            "uniloss": loss_step(uniloss, scores, targets),
            "baseline": loss_step(case.baseline(), scores, targets),
        }, rounds, block_seconds, clock)
        uni, base = timings["uniloss"]["median_s"], timings["baseline"]["median_s"]
        row = {"case": case.label, "metric": case.metric, "baseline": case.baseline_name,
               "binaries": uniloss.last.binaries, "anchors": uniloss.last.anchors,
               "timings": timings, **busy, "uniloss_over_baseline": uni / base}
        table.rows.append(row)
        table.cells.append([mark(row, case.label), count(row["binaries"]), row["anchors"], ms(uni),
                            case.baseline_name, ms(base), ratio(uni / base)])
    table.notes += contention_note(table.rows)
    return table
