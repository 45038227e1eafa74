"""How much UniLoss costs, as ratios to costs a user already pays, all measured in one run.

Absolute times depend on the machine; ratios measured side by side on it travel better. Four
tables (and the same numbers as JSON):

1. UniLoss forward+backward against cross-entropy on the same scores;
2. UniLoss against a training step of a small network that would produce those scores, and a step
   with UniLoss against a step with cross-entropy;
3. the vectorised AP loss against a per-pair Python-loop implementation (``loop_reference.py``);
4. the time to compile each built-in metric.

    .venv/bin/python benchmarks/loss_speed.py [--quick] [--device cpu|cuda] [--json PATH]
"""

from __future__ import annotations

import time

PROCESS_STARTED = time.perf_counter()  # before the imports: torch and the compile take seconds

import argparse
import json
import math
import os
import platform
import random
import statistics
import sys
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score

import metricloss as ml
from metricloss.anchors import DenseAnchors
# `metricloss.metric` is the decorator, which shadows the module of the same name: import from it.
from metricloss.metric import Metric, _compile

import loop_reference

POSITIVE_FRACTION = 0.1
SEED = 0
ATTEMPTS = 2  # measurements of one table row while other processes crowd us out (2: a burst, not a siege)


@dataclass(frozen=True)
class Settings:
    rounds: int  # timed blocks per function; the median is reported
    block_seconds: float  # each block repeats a call until about this long
    loop_rounds: int  # the Python-loop reference is slow: fewer rounds
    compile_repeats: int


QUICK = Settings(rounds=7, block_seconds=0.04, loop_rounds=3, compile_repeats=5)
FULL = Settings(rounds=21, block_seconds=0.25, loop_rounds=11, compile_repeats=21)


@dataclass(frozen=True)
class Case:
    metric: str
    batch: int
    classes: int = 0  # 0: one score per sample (auc, average_precision)

    @property
    def label(self) -> str:
        return f"{self.metric} B={self.batch}" + (f" C={self.classes}" if self.classes else "")


CASES = [
    Case("accuracy", 128, classes=10),
    Case("auc", 16), Case("auc", 128), Case("auc", 1024),
    Case("average_precision", 16), Case("average_precision", 64), Case("average_precision", 128),
]
LOOP_CASES = [Case("average_precision", 16), Case("average_precision", 128)]


# ----------------------------------------------------------------------------- timing

def synchronizer(device: torch.device) -> Callable[[], None]:
    """CUDA runs asynchronously: without a sync a timer measures only the kernel launches."""
    if device.type == "cuda":
        return lambda: torch.cuda.synchronize(device)
    return lambda: None


def calibrate(fn: Callable[[], object], block_seconds: float, sync) -> int:
    """Warm up (first calls allocate and fill caches) and pick calls per block from the pace.

    The pace is the fastest single call: a burst of load from another process during calibration
    must not shrink every later block to a handful of calls.
    """
    for _ in range(2):
        fn()
    sync()
    times, started = [], time.perf_counter()
    while len(times) < 3 or time.perf_counter() - started < block_seconds / 3:
        start = time.perf_counter()
        fn()
        sync()
        times.append(time.perf_counter() - start)
    return max(1, math.ceil(block_seconds / min(times)))


def measure(fns: dict[str, Callable[[], object]], rounds: int, block_seconds: float,
            sync) -> dict[str, dict]:
    """Median seconds per call of each function, timed in interleaved rounds.

    Interleaving (every function once per round) makes slow drift in the machine's speed, such as
    clock changes or a neighbour's load, hit all functions alike, so their ratios stay honest.
    """
    calls = {name: calibrate(fn, block_seconds, sync) for name, fn in fns.items()}
    samples: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            sync()
            start, done = time.perf_counter(), 0
            # The cap keeps a block short when the machine turns slow after calibration.
            while done < calls[name] and (done == 0 or time.perf_counter() - start < 4 * block_seconds):
                fn()
                done += 1
            sync()
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
    (plus a little: a shell or a logger always runs).

    Torch's threads wait for each other at every parallel op, so one busy core slows a two-thread
    run by up to two orders of magnitude, while a one-thread run (``--threads 1``) barely notices.
    """
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return max(0, cores - torch.get_num_threads()) + 0.1


def measure_quietly(what: str, fns: dict[str, Callable[[], object]], rounds: int, block_seconds: float,
                    sync) -> tuple[dict[str, dict], dict]:
    """``measure``, repeated while other processes kept the machine busy; the quietest try is kept.

    On a small machine another process (a test run, a build) can slow the rounds by an order of
    magnitude; /proc/stat says how many cores others used while we measured.
    """
    best = None
    for attempt in range(1, ATTEMPTS + 1):
        print(f"measuring {what}" + (f" (again: try {attempt}, the machine was busy)" if attempt > 1 else ""),
              file=sys.stderr, flush=True)
        busy, own, wall = busy_cpu_seconds(), time.process_time(), time.perf_counter()
        timings = measure(fns, rounds, block_seconds, sync)
        if busy is None:
            return timings, {"other_cores": None, "attempts": attempt}
        others = (busy_cpu_seconds() - busy) - (time.process_time() - own)
        cores = max(0.0, others) / (time.perf_counter() - wall)
        if best is None or cores < best[1]["other_cores"]:
            best = timings, {"other_cores": cores, "attempts": attempt}
        if cores <= spare_cores():
            break
    best[1]["attempts"] = attempt
    return best


# ----------------------------------------------------------------------------- inputs and work

def binary_labels(batch: int, device, generator: torch.Generator) -> torch.Tensor:
    """10% positives (at least one) at random positions, so AUC and AP are defined."""
    positives = max(1, round(POSITIVE_FRACTION * batch))
    labels = torch.zeros(batch, dtype=torch.long)
    labels[torch.randperm(batch, generator=generator)[:positives]] = 1
    return labels.to(device)


def make_inputs(case: Case, device, generator: torch.Generator):
    """Scores (a leaf that requires grad), labels, and the inputs of the network that scores them."""
    if case.classes:
        labels = torch.randint(case.classes, (case.batch,), generator=generator).to(device)
        scores = torch.randn(case.batch, case.classes, generator=generator)
        features = torch.randn(case.batch, 3072, generator=generator)
    else:
        labels = binary_labels(case.batch, device, generator)
        scores = torch.randn(case.batch, generator=generator)
        features = torch.randn(case.batch, 64, generator=generator)
    return scores.to(device).requires_grad_(), labels, features.to(device)


def make_network(case: Case, device) -> torch.nn.Module:
    """The kind of net whose output these scores are: an MLP sized like the paper's small tasks."""
    if case.classes:
        layers = [torch.nn.Linear(3072, 256), torch.nn.ReLU(), torch.nn.Linear(256, case.classes)]
    else:
        layers = [torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 32), torch.nn.ReLU(),
                  torch.nn.Linear(32, 1)]
    return torch.nn.Sequential(*layers).to(device)


def baseline_loss(case: Case) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    """Cross-entropy: what the same scores would be trained with without metricloss."""
    if case.classes:
        return F.cross_entropy
    return lambda scores, labels: F.binary_cross_entropy_with_logits(scores, labels.to(scores.dtype))


def loss_step(loss_fn, scores: torch.Tensor, labels: torch.Tensor) -> Callable[[], None]:
    """Loss forward + backward on fixed scores, the part of a step the loss itself adds."""
    def run():
        scores.grad = None
        loss_fn(scores, labels).backward()
    return run


def network_step(net: torch.nn.Module, loss_fn, features: torch.Tensor,
                 labels: torch.Tensor) -> Callable[[], None]:
    """One full SGD step: network forward, loss, backward through both, parameter update."""
    optimizer = torch.optim.SGD(net.parameters(), lr=1e-3)

    def run():
        optimizer.zero_grad(set_to_none=True)
        scores = net(features)
        loss_fn(scores.squeeze(-1) if scores.shape[-1] == 1 else scores, labels).backward()
        optimizer.step()
    return run


def make_uniloss(metric: str, device) -> ml.UniLoss:
    return ml.UniLoss(metric, generator=torch.Generator(device=device).manual_seed(SEED))


# ----------------------------------------------------------------------------- tables

def bench_cases(settings: Settings, device, sync) -> list[dict]:
    """Tables 1 and 2 from one interleaved measurement per case."""
    rows = []
    for case in CASES:
        torch.manual_seed(SEED)
        generator = torch.Generator().manual_seed(SEED)
        scores, labels, features = make_inputs(case, device, generator)
        uniloss, baseline = make_uniloss(case.metric, device), baseline_loss(case)
        net_uniloss, net_baseline = make_network(case, device), make_network(case, device)
        net_baseline.load_state_dict(net_uniloss.state_dict())
        timings, busy = measure_quietly(case.label, {
            "uniloss": loss_step(uniloss, scores, labels),
            "baseline": loss_step(baseline, scores, labels),
            "step_baseline": network_step(net_baseline, baseline, features, labels),
            "step_uniloss": network_step(net_uniloss, make_uniloss(case.metric, device), features, labels),
        }, settings.rounds, settings.block_seconds, sync)
        median = {name: timing["median_s"] for name, timing in timings.items()}
        rows.append({
            "case": case.label, "metric": case.metric, "batch": case.batch, "classes": case.classes,
            "binaries": uniloss.last.binaries, "anchors": uniloss.last.anchors,
            "network_parameters": sum(p.numel() for p in net_uniloss.parameters()),
            "timings": timings, **busy,
            "uniloss_over_baseline": median["uniloss"] / median["baseline"],
            "uniloss_over_network_step": median["uniloss"] / median["step_baseline"],
            "step_uniloss_over_step_baseline": median["step_uniloss"] / median["step_baseline"],
        })
    return rows


def check_loop_reference(device) -> dict:
    """The loop reference must compute what it claims, or its ratio means nothing.

    Its AP from hard binaries must equal scikit-learn's (an error if not). On identical anchors its
    loss and gradient should equal metricloss's; a mismatch is reported rather than fatal, since it
    means metricloss's algorithm moved on and the reference needs following, not that the timings
    are wrong.
    """
    generator = torch.Generator().manual_seed(SEED)
    labels = binary_labels(128, device, generator)
    scores = torch.randn(128, generator=generator).to(device)  # continuous: tie-free
    label_list = labels.tolist()
    _, n_pos, n_neg = loop_reference.pair_indices(label_list)
    hard = loop_reference.hard_binaries(scores, label_list)
    ours = loop_reference.average_precision_from_binaries(hard, n_pos, n_neg)
    sklearn = float(average_precision_score(labels.cpu().numpy(), scores.cpu().numpy()))
    if abs(ours - sklearn) > 1e-9:
        raise AssertionError(f"loop reference AP {ours} != sklearn {sklearn}")

    ideal = loop_reference.ideal_binaries(hard, n_pos, n_neg)
    anchors = loop_reference.sample_anchors(hard, ideal, random.Random(SEED))
    points = torch.tensor(anchors, device=device)
    fixed = ml.Sampler("fixed", {}, lambda context: DenseAnchors(points))
    loop_scores, vector_scores = scores.clone().requires_grad_(), scores.clone().requires_grad_()
    loop_loss = loop_reference.uniloss_ap(loop_scores, labels, anchors=anchors)
    try:
        vector_loss = ml.UniLoss("average_precision", samplers=[fixed])(vector_scores, labels)
        (loop_loss + vector_loss).backward()
        loss_gap = abs(loop_loss.item() - vector_loss.item())
        grad_gap = float((loop_scores.grad - vector_scores.grad).abs().max())
    except (RuntimeError, IndexError) as error:  # metricloss now uses a different set of binaries
        print(f"warning: could not compare the loop reference with metricloss: {error}")
        loss_gap = grad_gap = float("nan")
    matches = loss_gap <= 1e-5 and grad_gap <= 1e-6
    if not matches:
        print(f"warning: the loop reference no longer matches metricloss on identical anchors "
              f"(loss differs by {loss_gap:.3g}, gradient by {grad_gap:.3g}): update loop_reference.py")
    return {"ap_loop": ours, "ap_sklearn": sklearn, "loss_gap": loss_gap, "grad_gap": grad_gap,
            "matches_metricloss": matches}


def bench_loop(settings: Settings, device, sync) -> list[dict]:
    """Table 3: the Python-loop AP UniLoss against metricloss's, both forward+backward."""
    rows = []
    for case in LOOP_CASES:
        generator = torch.Generator().manual_seed(SEED)
        scores, labels, _ = make_inputs(case, device, generator)
        rng = random.Random(SEED)
        vectorised = make_uniloss(case.metric, device)
        timings, busy = measure_quietly(f"loop reference, {case.label}", {
            "loop": loss_step(lambda s, y: loop_reference.uniloss_ap(s, y, rng), scores, labels),
            "vectorised": loss_step(vectorised, scores, labels),
        }, settings.loop_rounds, settings.block_seconds, sync)
        rows.append({"case": case.label, "binaries": vectorised.last.binaries, "timings": timings, **busy,
                     "loop_over_vectorised": timings["loop"]["median_s"] / timings["vectorised"]["median_s"]})
    return rows


def bench_compile(settings: Settings, sync) -> list[dict]:
    """Table 4: trace + lower + partition + generate + probe, each from a cleared compile cache."""
    def compile_fresh(declaration, params):
        def run():
            _compile.cache_clear()
            Metric(declaration, params)
        return run

    builtins = [entry for entry in ml.REGISTRY.entries("metric")
                if entry.plugin.declaration.fn.__module__.startswith("metricloss_builtins.")]
    timings, busy = measure_quietly(
        "compile times", {entry.name: compile_fresh(entry.plugin.declaration, entry.plugin.params) for entry in builtins},
        settings.compile_repeats, 0.0, sync)
    return [{"metric": name, **timing, **busy} for name, timing in timings.items()]


# ----------------------------------------------------------------------------- output

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


def ms(seconds: float) -> str:
    return f"{seconds * 1e3:.3f}"


def print_table(title: str, headers: list[str], rows: list[list[str]]) -> None:
    widths = [max(len(str(cell)) for cell in column) for column in zip(headers, *rows)]
    line = lambda cells: "  ".join(str(c).rjust(w) if i else str(c).ljust(w)
                                   for i, (c, w) in enumerate(zip(cells, widths)))
    print(f"\n{title}")
    print(line(headers))
    print("  ".join("-" * w for w in widths))
    for row in rows:
        print(line(row))


def crowded(row: dict) -> bool:
    return row["other_cores"] is not None and row["other_cores"] > spare_cores()


def label(row: dict, key: str = "case") -> str:
    """The row's name, starred when other processes crowded its measurement."""
    return row[key] + (" *" if crowded(row) else "")


def print_contention(rows: list[dict]) -> None:
    """Say how quiet the machine was, so a reader can tell a real ratio from a neighbour's load."""
    measured = [row["other_cores"] for row in rows if row["other_cores"] is not None]
    if not measured:
        return
    retries = sum(row["attempts"] - 1 for row in rows)
    print(f"   (other processes kept at most {max(measured):.2f} cores busy while measuring; {retries} re-measured)")
    if any(crowded(row) for row in rows):
        print("   * measured while other processes kept the cores busy: unreliable")


def report(results: dict) -> None:
    cases = results["cases"]
    med = lambda row, name: row["timings"][name]["median_s"]
    print_table(
        "1. Loss forward+backward: UniLoss / cross-entropy on the same scores (median ms)",
        ["case", "binaries K", "UniLoss ms", "CE ms", "UniLoss/CE"],
        [[label(r), r["binaries"], ms(med(r, "uniloss")), ms(med(r, "baseline")),
          f"{r['uniloss_over_baseline']:.1f}x"] for r in cases])
    print_contention(cases)
    print_table(
        "2. Against a training step of the scoring network (MLP; step = forward+backward+SGD)",
        ["case", "net params", "UniLoss ms", "step+CE ms", "step+UniLoss ms",
         "UniLoss / step+CE", "step+UniLoss / step+CE"],
        [[label(r), r["network_parameters"], ms(med(r, "uniloss")), ms(med(r, "step_baseline")),
          ms(med(r, "step_uniloss")), f"{r['uniloss_over_network_step']:.2f}",
          f"{r['step_uniloss_over_step_baseline']:.2f}x"] for r in cases])
    print_contention(cases)
    print_table(
        "3. AP UniLoss forward+backward: Python-loop reference / vectorised metricloss",
        ["case", "binaries K", "loop ms", "vectorised ms", "loop/vectorised"],
        [[label(r), r["binaries"], ms(med(r, "loop")), ms(med(r, "vectorised")),
          f"{r['loop_over_vectorised']:.0f}x"] for r in results["loop"]])
    check = results["loop_check"]
    verdict = "same" if check["matches_metricloss"] else "MISMATCH:"
    print(f"   (checked: loop AP from hard binaries {check['ap_loop']:.6f} = sklearn {check['ap_sklearn']:.6f}; "
          f"on identical anchors, {verdict} loss as metricloss to {check['loss_gap']:.1e}, "
          f"gradient to {check['grad_gap']:.1e})")
    print_contention(results["loop"])
    print_table(
        "4. Compile time of each built-in metric (trace, lower, partition, generate, probe)",
        ["metric", "median ms", "min ms", "max ms"],
        [[label(r, "metric"), ms(r["median_s"]), ms(r["min_s"]), ms(r["max_s"])] for r in results["compile"]])
    print_contention(results["compile"][:1])


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer repeats: seconds instead of minutes")
    parser.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    parser.add_argument("--threads", type=int, default=0,
                        help="torch CPU threads (default: torch's choice); "
                             "fewer than the cores is steadier on a shared machine")
    parser.add_argument("--json", default="bench-results/loss_speed.json", type=Path,
                        help="where to write the numbers (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv=None) -> None:
    args = parse_args(argv)
    if args.device == "cuda" and not torch.cuda.is_available():
        sys.exit("--device cuda: no CUDA device is available")
    device = torch.device(args.device)
    if args.threads:
        torch.set_num_threads(args.threads)
    settings = QUICK if args.quick else FULL
    sync = synchronizer(device)
    started = time.perf_counter()
    environment = {
        "device": device_name(device), "device_type": device.type, "torch": torch.__version__,
        "metricloss": ml.__version__, "python": platform.python_version(),
        "threads": torch.get_num_threads(), "mode": "quick" if args.quick else "full",
        "settings": asdict(settings),
    }
    print(f"device: {environment['device']} ({device.type}, {environment['threads']} torch threads)")
    print(f"torch {environment['torch']}, metricloss {environment['metricloss']}, "
          f"{environment['mode']} mode; times are medians of interleaved rounds ({settings.rounds} for "
          f"tables 1-2, {settings.loop_rounds} for 3, {settings.compile_repeats} for 4)")

    results = {"environment": environment}
    results["cases"] = bench_cases(settings, device, sync)
    results["loop_check"] = check_loop_reference(device)
    results["loop"] = bench_loop(settings, device, sync)
    results["compile"] = bench_compile(settings, sync)
    results["benchmark_seconds"] = time.perf_counter() - started
    results["process_seconds"] = time.perf_counter() - PROCESS_STARTED
    report(results)

    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(results, indent=2))
    print(f"\nbenchmarks {results['benchmark_seconds']:.1f} s, whole process {results['process_seconds']:.1f} s "
          f"(imports included); numbers written to {args.json}")


if __name__ == "__main__":
    main()
