"""One row of the zoo table: a zoo metric compiled as a user would, at one size, measured against
its own floor, the usual loss for its kind, and for aten ops and host synchronisations.

A metric that cannot be measured at the size is a row that says why, never an exception: it
does not compile, its compile and first call take longer than the limit (a Python loop over
1,000 classes unrolls into 1,000 blocks), it has more binaries than the limit, or the batch is
one on which it is undefined (one-vs-rest AUC with a class absent from the batch).
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
import traceback
import warnings
from dataclasses import dataclass

import torch

import metricloss as ml

from .dispatch_counts import count_ops
from .floor import compiled_floor
from .inputs import SEED, loss_step
from .timing import Clock, measure_quietly, peak_bytes
from .zoo_batches import BASELINES, zoo_batch


@dataclass(frozen=True)
class Limits:
    rounds: int  # timed rounds at most
    block_seconds: float
    row_seconds: float  # the timed rounds of one row take about this long at most (fewer rounds for slow rows)
    setup_seconds: float  # compiling, the binaries and the first call
    max_binaries: int


@dataclass(frozen=True)
class ZooCase:
    entry: object  # a ``catalog.Entry`` of the zoo
    shape: tuple[int, ...]

    @property
    def label(self) -> str:
        return f"{self.entry.name} {list(self.shape)}"


class Overtime(Exception):
    """Raised by the alarm of ``time_limit``."""


@contextlib.contextmanager
def time_limit(seconds: float, what: str):
    """Raise ``Overtime`` in the block after ``seconds``, and again every half second until it
    ends: code that catches every exception (a tracer probing what it can follow) must not swallow
    the limit. By SIGALRM: the main thread of a Unix process only; elsewhere there is no limit."""
    if not hasattr(signal, "setitimer") or threading.current_thread() is not threading.main_thread():
        yield
        return

    def expire(signum, frame):
        raise Overtime(f"{what} took over {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, seconds, 0.5)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _overtime(error: BaseException) -> Overtime | None:
    """The alarm behind ``error``, which the compiler may have wrapped in a CompileError."""
    seen: BaseException | None = error
    while seen is not None:
        if isinstance(seen, Overtime):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"


def measure_row(case: ZooCase, limits: Limits, clock: Clock) -> dict:
    """Everything measured for ``case``; ``status`` says whether it was ("measured") or why not."""
    entry = case.entry
    row = {"case": case.label, "metric": entry.name, "kind": entry.kind, "shape": list(case.shape)}
    cpu_scores, cpu_targets = zoo_batch(entry.kind, case.shape, SEED)
    scores = cpu_scores.to(clock.device).requires_grad_()
    targets = tuple(t.to(clock.device) for t in cpu_targets)
    baseline_name, baseline = BASELINES[entry.kind]
    row["baseline"] = baseline_name
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            with time_limit(limits.setup_seconds, "compiling and the first call"):
                started = time.perf_counter()
                metric = ml.metric(name=f"zoo_{entry.name}", best=entry.best,
                                   higher_is_better=entry.higher_is_better, register=False)(entry.fn)
                live = metric.binaries(scores, *targets).live_differences.numel()
                row["binaries"] = live
                if live > limits.max_binaries:
                    return {**row, "status": "too large",
                            "reason": f"{live:,} binaries, over the limit of {limits.max_binaries:,}"}
                uniloss = ml.UniLoss(metric, generator=torch.Generator(device=clock.device).manual_seed(SEED))
                steps = {"uniloss": loss_step(uniloss, scores, targets),
                         "floor": loss_step(compiled_floor(metric, uniloss.relaxation), scores, targets),
                         "baseline": loss_step(baseline, scores, targets)}
                steps["uniloss"]()
                row["setup_s"] = time.perf_counter() - started
        except Exception as error:  # noqa: BLE001 - a metric that cannot be measured is a row
            overtime = _overtime(error)
            if overtime is not None:
                return {**row, "status": "overtime", "reason": str(overtime)}
            return {**row, "status": "failed", "reason": _first_line(error),
                    "traceback": "".join(traceback.format_exception(error))}
    # What the compile and the first call warned, by kind and the head of the message: "cannot be
    # vectorised over anchors" and "no configuration reaching best=" explain a slow row.
    row["warnings"] = sorted({f"{w.category.__name__}: {str(w.message)[:120]}" for w in caught})
    terms = uniloss.last
    row.update(path=terms.path, anchors=terms.anchors)
    if not terms.defined:
        return {**row, "status": "undefined", "reason": terms.ideal_source}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # what the first call warned is in the row already
        try:
            return {**row, **_measured(steps, case, limits, clock)}
        except Exception as error:  # noqa: BLE001 - out of memory, a size the core cannot run: a row
            return {**row, "status": "failed", "reason": _first_line(error),
                    "traceback": "".join(traceback.format_exception(error))}


def _measured(steps: dict, case: ZooCase, limits: Limits, clock: Clock) -> dict:
    clock.sync()
    started = time.perf_counter()
    steps["uniloss"]()  # warm: the first call compiled what this shape needs
    clock.sync()
    call = time.perf_counter() - started
    # A round calls each function at least once and the loss is the slow one: cap the rounds so a
    # slow metric's rows take about row_seconds, not rounds x seconds.
    rounds = max(1, min(limits.rounds, int(limits.row_seconds / max(1.5 * call, limits.block_seconds * 3))))
    timings, busy = measure_quietly(f"zoo floor, {case.label}", steps, rounds, limits.block_seconds, clock)
    uniloss_peak, floor_peak = peak_bytes(steps["uniloss"], clock), peak_bytes(steps["floor"], clock)
    loss_counts, floor_counts = count_ops(steps["uniloss"]), count_ops(steps["floor"])
    uni = timings["uniloss"]["median_s"]
    return {"status": "measured", "timings": timings, **busy,
            "time_ratio": uni / timings["floor"]["median_s"],
            "uniloss_peak_bytes": uniloss_peak, "floor_peak_bytes": floor_peak,
            "memory_ratio": uniloss_peak / floor_peak if floor_peak else None,
            "uniloss_over_baseline": uni / timings["baseline"]["median_s"],
            "ops": loss_counts.op_count, "syncs": loss_counts.sync_count, "sync_ops": dict(loss_counts.syncs),
            "floor_ops": floor_counts.op_count, "floor_syncs": floor_counts.sync_count,
            "floor_sync_ops": dict(floor_counts.syncs),
            "top_ops": dict(loss_counts.ops.most_common(12))}
