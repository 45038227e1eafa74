"""Timing and peak memory, measured so that ratios of two functions are honest.

Every table times its functions side by side in interleaved rounds (each function once per round)
and reports medians: slow drift in the machine's speed (clock changes, a neighbour's load) then
hits all of them alike. On CUDA every timed block is bracketed by ``torch.cuda.synchronize``, or
a timer would see only the kernel launches.

Peak memory is the most memory the call's own tensors held at once, above what was allocated
before it (its inputs are not counted):

- CUDA: ``torch.cuda.max_memory_allocated`` after ``reset_peak_memory_stats``, minus the
  allocation at the start;
- CPU: the allocation and free events of ``torch.profiler`` (``profile_memory=True``), replayed
  in time order; the largest running sum is the peak. It counts tensor storage only (not Python
  objects or allocator caches), which is what a loss's memory is.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

ATTEMPTS = 2  # measurements of one row while other processes crowd us out (2: a burst, not a siege)


@dataclass(frozen=True)
class Clock:
    """Where the timed code runs: ``sync`` waits for the device, ``device`` is where tensors go."""

    device: torch.device
    attempts: int = ATTEMPTS  # measure a row again (once) when other processes crowded it out

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)


def calibrate(fn: Callable[[], object], block_seconds: float, clock: Clock) -> int:
    """Warm up (first calls allocate and fill caches) and pick calls per block from the pace.

    The pace is the fastest call seen: a burst of load from another process during calibration
    must not shrink every later block to a handful of calls. A call slower than a block is
    warmed up once and then timed one call per block.
    """
    times = []
    for _ in range(3 if block_seconds > 0 else 1):
        clock.sync()
        start = time.perf_counter()
        fn()
        clock.sync()
        times.append(time.perf_counter() - start)
        if times[-1] >= block_seconds:
            return 1
    return max(1, math.ceil(block_seconds / min(times[1:] or times)))


def measure(fns: dict[str, Callable[[], object]], rounds: int, block_seconds: float,
            clock: Clock) -> dict[str, dict]:
    """Median seconds per call of each function over ``rounds`` interleaved rounds."""
    calls = {name: calibrate(fn, block_seconds, clock) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            clock.sync()
            start, done = time.perf_counter(), 0
            # The cap keeps a block short when the machine turns slow after calibration.
            while done < calls[name] and (done == 0 or time.perf_counter() - start < 4 * block_seconds):
                fn()
                done += 1
            clock.sync()
            samples[name].append((time.perf_counter() - start) / done)
    return {name: {"median_s": statistics.median(times), "min_s": min(times), "max_s": max(times),
                   "calls_per_round": calls[name], "rounds": rounds}
            for name, times in samples.items()}


def busy_cpu_seconds() -> float | None:
    """CPU seconds the whole machine has spent busy (or stolen by the hypervisor) since boot, or
    None where ``/proc/stat`` does not exist."""
    try:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    except OSError:
        return None
    user, nice, system, _idle, _iowait, irq, softirq, steal = map(int, fields)
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def spare_cores() -> float:
    """How many cores other processes may use without slowing us: those our threads leave free
    (plus a little: a shell or a logger always runs). Torch's threads wait for each other at every
    parallel op, so one busy core can slow a two-thread run many times over."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(0, cores - torch.get_num_threads()) + 0.1


def measure_quietly(what: str, fns: dict[str, Callable[[], object]], rounds: int, block_seconds: float,
                    clock: Clock) -> tuple[dict[str, dict], dict]:
    """``measure``, repeated once if other processes kept the machine busy; the quieter try is kept.

    ``/proc/stat`` says how many cores others used while we measured (``other_cores``).
    """
    best = None
    for attempt in range(1, clock.attempts + 1):
        print(f"measuring {what}" + (" (again: the machine was busy)" if attempt > 1 else ""),
              file=sys.stderr, flush=True)
        busy, own, wall = busy_cpu_seconds(), time.process_time(), time.perf_counter()
        timings = measure(fns, rounds, block_seconds, clock)
        if busy is None or clock.device.type == "cuda":
            return timings, {"other_cores": None, "attempts": attempt}
        others = (busy_cpu_seconds() - busy) - (time.process_time() - own)
        cores = max(0.0, others) / (time.perf_counter() - wall)
        if best is None or cores < best[1]["other_cores"]:
            best = timings, {"other_cores": cores, "attempts": attempt}
        if cores <= spare_cores():
            break
    best[1]["attempts"] = attempt
    return best


def crowded(row: dict) -> bool:
    """Whether other processes used the cores our threads needed while this row was measured."""
    return row.get("other_cores") is not None and row["other_cores"] > spare_cores()


@contextlib.contextmanager
def _quiet_stderr():
    """The profiler's C++ side logs its start and stop to file descriptor 2: keep tables clean."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), 2)
            yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


def peak_bytes(fn: Callable[[], object], clock: Clock) -> int:
    """The most bytes of tensors ``fn`` held at once above what was allocated when it started."""
    if clock.device.type == "cuda":
        clock.sync()
        before = torch.cuda.memory_allocated(clock.device)
        torch.cuda.reset_peak_memory_stats(clock.device)
        fn()
        clock.sync()
        return torch.cuda.max_memory_allocated(clock.device) - before
    from torch.profiler import ProfilerActivity, profile

    with _quiet_stderr(), profile(activities=[ProfilerActivity.CPU], profile_memory=True) as profiler:
        fn()
    # The trace's "[memory]" events carry each allocation (+bytes) and free (-bytes) in order.
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "trace.json"
        profiler.export_chrome_trace(str(path))
        events = json.loads(path.read_text())["traceEvents"]
    changes = sorted((event["ts"], event["args"]["Bytes"]) for event in events
                     if event.get("name") == "[memory]" and event.get("args", {}).get("Device Type") == 0)
    running = peak = 0
    for _, change in changes:
        running += change
        peak = max(peak, running)
    return peak
