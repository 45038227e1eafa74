"""``metricloss bench``: every table, one run, printed and written as JSON.

Three sizes: ``full`` (the default, about 20 minutes on two CPU cores, and 16 more for the zoo
table), ``quick`` (a few minutes:
fewer rounds, smaller scaling ranges, a smaller hourglass on CPU, a smaller share of the loop
reference) and ``smoke`` (tiny sizes and one round, for the tests: the numbers mean nothing).
"""

from __future__ import annotations

import time

PROCESS_STARTED = time.perf_counter()  # before the imports: torch and the compile take seconds

import json
import platform
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import torch

import metricloss as ml

from .compile_time import compile_time
from .exact_value import exact_cases, exact_value
from .floor import versus_floor
from .inputs import Case
from .loss_cost import loss_cost
from .scaling import scaling
from .tables import Table, device_name, environment_line, render
from .timing import Clock
from .training_step import StepCase, training_step
from .user_forms import floor_forms, form_cases, user_forms
from .versus_loop import LoopCase, agreement_table, versus_loop
from .zoo_floor import zoo_entries, zoo_floor

TABLES = ("loss_cost", "training_step", "loop", "floor", "scaling", "compile", "user_forms", "exact_value",
          "zoo_floor")


@dataclass(frozen=True)
class Settings:
    name: str
    rounds: int  # timed blocks per function; the median is reported
    block_seconds: float  # each block repeats a call until about this long
    slow_rounds: int  # rounds for slow functions: training steps, the loop reference, large sizes
    compile_repeats: int
    loss_cases: list[Case]
    step_cases: list[StepCase]
    loop_cases: list[LoopCase]
    check_cases: list[Case]
    floor_cases: list[Case]
    scaling_groups: dict[str, list[Case]]
    scaling_note: str | None = None
    compile_only: list[str] | None = None  # None: every built-in metric
    attempts: int = 2  # measure a crowded row again (the quietest try is kept)


def _loss_cases(side: int = 64) -> list[Case]:
    return [Case("accuracy", 128, classes=10), Case("auc", 16), Case("auc", 128), Case("auc", 1024),
            Case("average_precision", 16), Case("average_precision", 64), Case("average_precision", 128),
            Case("pckh", 6, side=side)]


def _scaling(auc_batches, classes, sides, samples: int = 6, joints: int = 16) -> dict[str, list[Case]]:
    return {"auc": [Case("auc", b) for b in auc_batches],
            "accuracy": [Case("accuracy", 128, classes=c) for c in classes],
            "pckh": [Case("pckh", samples, side=s, joints=joints) for s in sides]}


def settings(mode: str, device: torch.device) -> Settings:
    on_cpu = device.type == "cpu"
    if mode == "smoke":
        return Settings(
            "smoke", rounds=1, block_seconds=0.0, slow_rounds=1, compile_repeats=1,
            loss_cases=[Case("accuracy", 8, classes=3), Case("auc", 16), Case("pckh", 1, side=8, joints=2)],
            step_cases=[StepCase("mlp", "auc", 4), StepCase("mlp", "accuracy", 4)],
            loop_cases=[LoopCase(Case("average_precision", 16)), LoopCase(Case("pckh", 2, side=8, joints=2), 1, 1)],
            check_cases=[Case("average_precision", 16), Case("accuracy", 8, classes=4),
                         Case("pckh", 1, side=8, joints=2)],
            floor_cases=[Case("auc", 32), Case("accuracy", 8, classes=5), Case("pckh", 1, side=8, joints=2)],
            scaling_groups=_scaling([16, 64], [3, 5], [8], samples=1, joints=2),
            compile_only=["accuracy", "auc"], attempts=1)
    quick = mode == "quick"
    hourglass = StepCase("hourglass", "pckh", 6, channels=32, depth=2) if quick and on_cpu else StepCase(
        "hourglass", "pckh", 6)
    return Settings(
        mode,
        rounds=5 if quick else 15, block_seconds=0.04 if quick else 0.25,
        slow_rounds=3 if quick else 7, compile_repeats=3 if quick else 11,
        loss_cases=_loss_cases(),
        step_cases=[StepCase("mlp", "accuracy", 16), StepCase("mlp", "auc", 16),
                    StepCase("mlp", "average_precision", 16), StepCase("resnet20", "accuracy", 128), hourglass],
        loop_cases=[LoopCase(Case("average_precision", 16)), LoopCase(Case("average_precision", 64)),
                    LoopCase(Case("average_precision", 128)), LoopCase(Case("accuracy", 128, classes=10)),
                    LoopCase(Case("accuracy", 128, classes=100), samples=32 if quick else None),
                    LoopCase(Case("pckh", 6, side=64), samples=1, joints=2 if quick else 16)],
        check_cases=[Case("average_precision", 128), Case("accuracy", 128, classes=10),
                     Case("pckh", 1, side=64, joints=2)],
        floor_cases=[Case("auc", 1024), Case("auc", 4096)] + ([] if quick else [Case("auc", 16384)])
        + [Case("accuracy", 128, classes=1000), Case("pckh", 6, side=64)],
        scaling_groups=_scaling([16, 64, 256, 1024, 4096] + ([] if quick else [16384]),
                                [10, 100, 1000], [32, 64] + ([] if quick else [128])),
        scaling_note=("quick: AUC stops at B=4,096 and PCKh at 64x64; the full run goes to B=16,384 "
                      "and 128x128" if quick else None),
        attempts=1 if quick else 2)


def run(mode: str = "full", device: str = "cpu", json_path: Path | None = None, threads: int = 0,
        tables: tuple[str, ...] = TABLES, out: Callable[[str], None] = print) -> dict:
    """Run the tables, print each as it is done, and write every number to ``json_path``."""
    device = torch.device(device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise SystemExit("metricloss bench: --device cuda, but torch sees no CUDA device")
    if threads:
        torch.set_num_threads(threads)
    chosen = settings(mode, device)
    clock = Clock(device, chosen.attempts)
    started = time.perf_counter()
    results = {"environment": {
        "device": device_name(device), "device_type": device.type, "torch": torch.__version__,
        "metricloss": ml.__version__, "python": platform.python_version(), "threads": torch.get_num_threads(),
        "mode": mode, "rounds": chosen.rounds, "slow_rounds": chosen.slow_rounds,
        "block_seconds": chosen.block_seconds}, "tables": {}, "targets": [], "failures": {}}
    out(f"metricloss bench, {mode} mode: {environment_line(device)}, metricloss {ml.__version__}")
    out(f"times are medians of interleaved rounds ({chosen.rounds}, or {chosen.slow_rounds} for slow "
        "functions); ratios come from one run, absolute times are context only")
    s = chosen
    work: dict[str, Callable[[], list[Table]]] = {
        "loss_cost": lambda: [loss_cost(s.loss_cases, s.rounds, s.block_seconds, clock)],
        "training_step": lambda: [training_step(s.step_cases, s.slow_rounds, s.block_seconds, clock)],
        "loop": lambda: [versus_loop(s.loop_cases, s.slow_rounds, s.block_seconds, clock),
                         agreement_table(s.check_cases, device)],
        "floor": lambda: [versus_floor(s.floor_cases, s.slow_rounds, s.block_seconds, clock, floor_forms(mode))],
        "scaling": lambda: [scaling(s.scaling_groups, s.slow_rounds, s.block_seconds, clock, s.scaling_note)],
        "compile": lambda: [compile_time(s.compile_repeats, clock, s.compile_only)],
        "user_forms": lambda: [user_forms(form_cases(mode), s.slow_rounds, s.block_seconds, clock)],
        "exact_value": lambda: [exact_value(exact_cases(mode), s.slow_rounds, s.block_seconds, clock)],
        "zoo_floor": lambda: [zoo_floor(*zoo_entries(mode), mode=mode, clock=clock)],
    }
    for name in tables:
        try:
            produced = work[name]()
        except Exception as error:  # one broken table must not hide the others
            results["failures"][name] = "".join(traceback.format_exception(error))
            out(f"\n{name}: FAILED: {type(error).__name__}: {error}")
            continue
        for table in produced:
            out(render(table, device))
            results["tables"][table.key] = table.rows
            results["targets"] += table.targets
    out(targets_summary(results["targets"]))
    results["benchmark_seconds"] = time.perf_counter() - started
    results["process_seconds"] = time.perf_counter() - PROCESS_STARTED
    if json_path is not None:
        json_path.parent.mkdir(parents=True, exist_ok=True)
        json_path.write_text(json.dumps(results, indent=2, default=str))
    out(f"\nbenchmarks {results['benchmark_seconds']:.0f} s, whole process {results['process_seconds']:.0f} s"
        + (f"; numbers written to {json_path}" if json_path is not None else ""))
    return results


def targets_summary(targets: list[dict]) -> str:
    from .tables import sig2

    lines = ["", "Targets"]
    for target in targets:
        verdict = "n/a" if target["met"] is None else ("met" if target["met"] else "MISSED")
        bound = "<=" if target["bound"] == "at most" else ">="
        value = "n/a" if target["value"] is None else sig2(target["value"])
        if target["value"] is not None and target["limit"] < 1.1:
            value = f"{target['value']:.3g}"
        lines.append(f"  {target['target']}, {target['case']}: {value} (target {bound} {target['limit']:g}): {verdict}")
    return "\n".join(lines)
