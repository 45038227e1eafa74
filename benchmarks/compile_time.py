"""Table f: the time to compile each built-in metric from a cleared compile cache.

Compiling is trace, lower, partition, generate the re-expression, probe the ideal: paid once per
metric and process (compiled metrics are cached), so it matters for start-up, not for training.
"""

from __future__ import annotations

import metricloss as ml
from metricloss.compiler.metric import compile_metric

from .tables import Table, contention_note, mark, ms
from .timing import Clock, measure_quietly


def compile_time(repeats: int, clock: Clock, only: list[str] | None = None) -> Table:
    table = Table("compile", "f. Compile time of each built-in metric (trace, lower, partition, generate, probe)",
                  ["metric", "median ms", "min ms", "max ms"])

    def compile_fresh(declaration, params):
        return lambda: compile_metric(declaration, params)

    builtins = [entry for entry in ml.plugins("metric")
                if entry.plugin.declaration.fn.__module__.startswith("metricloss_builtins.")
                and (only is None or entry.name in only)]
    timings, busy = measure_quietly(
        "compile times",
        {entry.name: compile_fresh(entry.plugin.declaration, entry.plugin.params) for entry in builtins},
        repeats, 0.0, clock)
    for name, timing in timings.items():
        row = {"metric": name, **timing, **busy}
        table.rows.append(row)
        table.cells.append([mark(row, name), ms(timing["median_s"]), ms(timing["min_s"]), ms(timing["max_s"])])
    table.notes += contention_note(table.rows[:1])
    return table
