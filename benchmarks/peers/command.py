"""``metricloss peers``: UniLoss beside the usual loss and established surrogates for the same
metric, on bundled imbalanced data, over seeds and a learning-rate grid.

Added to the ``metricloss`` command through the ``metricloss.commands`` entry point in
``pyproject.toml`` (as ``bench`` is), so the core never imports the benchmarks.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import math
import os
import textwrap
import time
from typing import Any

import torch

from metricloss.arguments import FLOAT32_MAX, check_folder, most_workers, path_text, thread_count
from metricloss.errors import InputError

from . import methods as method_table
from .methods import LIBAUC_INSTALL, METHODS
from .problems import DIGITS, Problem
from .report import plot, table_markdown, write_json
from .runner import Plan, ProblemSpec, run_units, say, units

DEFAULT_LRS = (0.01, 0.05, 0.1, 0.2, 0.5)
DEFAULT_SEEDS = 5
MAX_SEEDS = 10_000  # a bound that keeps the list of seeds small
SMOKE_LR = 0.1
SMOKE_TRAIN = 320  # the smoke mode trains on the first samples of the training split only

DESCRIPTION = f"""\
Train UniLoss, the usual loss and established surrogates for the same metric on bundled imbalanced
data (no download), for every learning rate of a grid and every seed; choose each method's learning
rate on the validation split, report the test metric there (mean ± std over seeds), and write
results.json, table.md and peers.png to --out.

Problems: 'digits' is one digit of scikit-learn's 8x8 digits against the rest (about 10% positives;
--positive-fraction subsamples the training positives), the binary task's MLP, judged by AUC and AP,
batch 16, 30 epochs, SGD with momentum 0.5. 'blobs' is a generated binary segmentation set (ellipses
on noise), a tiny conv net, judged by IoU.

{textwrap.fill("Methods: " + ", ".join(METHODS) + ".", 100)}
By default, digits: {', '.join(m.name for m in method_table.methods_for('ranking', None))};
blobs: {', '.join(m.name for m in method_table.methods_for('segmentation', None))}.

The libauc_* methods need LibAUC, which is not a dependency of metricloss; without it they are
skipped with a note. Install it beside torch without letting pip replace torch:
  {LIBAUC_INSTALL}
(LibAUC 2.0.1's losses and optimizers import only torch, numpy, scipy, scikit-learn and tqdm.)
docs/results.md, section Peers, has the reference run and its table.
"""


def peers_command(commands) -> None:
    """``metricloss peers``, added to the ``metricloss`` command through an entry point."""
    peers = commands.add_parser(
        "peers", help="UniLoss beside cross-entropy and LibAUC/Lovász surrogates, lr chosen on validation",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    peers.add_argument("--problem", choices=("digits", "blobs", "all"), default="digits",
                       help="which problem (default: %(default)s)")
    peers.add_argument("--classes", default="8",
                       help="digits: the positive digits, each against the rest in turn: a comma list "
                            "such as 3,8,9, or 'all' (default: %(default)s)")
    peers.add_argument("--positive-fraction", type=float, default=None,
                       help="digits: keep only enough training positives for this share of the training "
                            "split, at least 2, e.g. 0.02 (default: all, about 0.1)")
    peers.add_argument("--methods", default=None,
                       help="comma-separated methods (default: each problem's default methods)")
    peers.add_argument("--lrs", default=",".join(f"{lr:g}" for lr in DEFAULT_LRS),
                       help="comma-separated learning rates (default: %(default)s)")
    peers.add_argument("--seeds", type=int, default=DEFAULT_SEEDS,
                       help="seeds 0..N-1 (default: %(default)s)")
    peers.add_argument("--epochs", type=int, default=None, help="epochs (default: the problem's, 30 on digits)")
    peers.add_argument("--batch-size", type=int, default=None, help="batch size (default: the problem's, 16 on digits)")
    peers.add_argument("--out", type=path_text, default="runs/peers", help="output directory (default: %(default)s)")
    peers.add_argument("--jobs", type=int, default=1,
                       help="worker processes, one (problem, method, seed) each at a time (default: 1)")
    peers.add_argument("--threads", type=thread_count, default=1,
                       help="torch threads per process (default: 1; the networks are small)")
    peers.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to train (default: cpu)")
    peers.add_argument("--smoke", action="store_true",
                       help=f"1 epoch on the first {SMOKE_TRAIN} training samples, seed 0, lr {SMOKE_LR:g}: checks that "
                            "everything runs (the numbers mean nothing)")
    # peers.png, the digits; LibAUC's own dependency tqdm comes with the extra, LibAUC itself is optional
    peers.set_defaults(handler=run_peers, needs=("sklearn", "matplotlib"), extra="peers")


# --- parsing ------------------------------------------------------------------------------------


def parse_classes(text: str) -> tuple[int, ...]:
    if text.strip() == "all":
        return DIGITS
    classes = []
    for part in text.split(","):
        part = part.strip()
        try:
            digit = int(part)
        except ValueError:
            digit = None
        if digit not in DIGITS:
            raise InputError(f"--classes takes digits 0-9 separated by commas, or 'all'; {part!r} is not a digit 0-9")
        if digit not in classes:
            classes.append(digit)
    return tuple(classes)


def parse_lrs(text: str) -> tuple[float, ...]:
    lrs = []
    for part in text.split(","):
        try:
            lr = float(part)
        except ValueError:
            raise InputError(f"--lrs takes positive numbers separated by commas; {part.strip()!r} is not a number") from None
        if not (math.isfinite(lr) and 0 < lr <= FLOAT32_MAX):
            raise InputError(f"--lrs: every learning rate must be a positive number, got {part.strip()!r}; give "
                             f"numbers above 0 and at most {FLOAT32_MAX:.3g} (the largest float32), e.g. --lrs 0.01,0.1")
        if lr not in lrs:
            lrs.append(lr)
    return tuple(sorted(lrs))


def parse_methods(text: str | None) -> tuple[str, ...] | None:
    if text is None:
        return None
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    if not names:
        raise InputError(f"--methods is empty; choose from {', '.join(METHODS)}")
    method_table.check_names(list(names))
    return names


def plan_from(args) -> Plan:
    if args.positive_fraction is not None and not 0 < args.positive_fraction <= 1:
        raise InputError(f"--positive-fraction must be in (0, 1], got {args.positive_fraction:g}: the share of "
                         "positives the training split keeps, e.g. 0.02")
    for option, value in (("--seeds", args.seeds), ("--epochs", args.epochs), ("--batch-size", args.batch_size),
                          ("--jobs", args.jobs), ("--threads", args.threads)):
        if value is not None and value < 1:
            raise InputError(f"{option} must be at least 1, got {value}")
    if args.seeds > MAX_SEEDS:
        raise InputError(f"--seeds must be at most {MAX_SEEDS} (seeds 0..N-1, each a run per method and lr), "
                         f"got {args.seeds}")
    if args.jobs > most_workers():
        raise InputError(f"--jobs must be at most {most_workers()}, 4 worker processes per core of the "
                         f"{os.cpu_count() or 1} here, got {args.jobs}")
    if args.batch_size is not None and args.batch_size < 2:
        raise InputError(f"--batch-size must be at least 2 (a pairwise metric needs a pair), got {args.batch_size}")
    classes = parse_classes(args.classes)
    lrs = parse_lrs(args.lrs)
    names = parse_methods(args.methods)
    problems: list[ProblemSpec] = []
    if args.problem in ("digits", "all"):
        problems += [ProblemSpec("digits", digit, args.positive_fraction) for digit in classes]
    if args.problem in ("blobs", "all"):
        problems.append(ProblemSpec("blobs"))
    if names is not None:
        kinds = {spec.build().kind for spec in problems}
        unused = [name for name in names if not set(METHODS[name].kinds) & kinds]
        if unused:
            raise InputError(f"method(s) {', '.join(unused)} do not apply to --problem {args.problem} "
                             f"(they train {', '.join(sorted({k for n in unused for k in METHODS[n].kinds}))} problems)")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available here; use --device cpu")
    if args.smoke:
        return Plan(tuple(problems), names, (SMOKE_LR,), (0,), epochs=1, batch_size=args.batch_size,
                    device=args.device, limit_train=SMOKE_TRAIN)
    return Plan(tuple(problems), names, lrs, tuple(range(args.seeds)), epochs=args.epochs,
                batch_size=args.batch_size, device=args.device)


def command_line(args, plan: Plan) -> str:
    """The command that reproduces the run, every setting spelled out."""
    parts = ["metricloss peers", f"--problem {args.problem}"]
    if args.problem != "blobs":
        parts.append(f"--classes {args.classes.replace(' ', '')}")
        if args.positive_fraction is not None:
            parts.append(f"--positive-fraction {args.positive_fraction:g}")
    if plan.methods is not None:
        parts.append(f"--methods {','.join(plan.methods)}")
    if args.smoke:
        parts.append("--smoke")
    else:
        parts += [f"--lrs {','.join(f'{lr:g}' for lr in plan.lrs)}", f"--seeds {len(plan.seeds)}"]
        if plan.epochs is not None:
            parts.append(f"--epochs {plan.epochs}")
    if plan.batch_size is not None:
        parts.append(f"--batch-size {plan.batch_size}")
    if args.jobs != 1:
        parts.append(f"--jobs {args.jobs}")
    if args.threads != 1:
        parts.append(f"--threads {args.threads}")
    if args.device != "cpu":
        parts.append(f"--device {args.device}")
    parts.append(f"--out {args.out}")
    return " ".join(parts)


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _describe_problem(problem: Problem, plan: Plan, methods: list[str], source: str) -> dict[str, Any]:
    return {
        "label": problem.label, "kind": problem.kind, "metrics": list(problem.metrics), "methods": methods,
        "schedule": {"epochs": plan.epochs or problem.schedule.epochs,
                     "batch_size": plan.batch_size or problem.schedule.batch_size,
                     "momentum": problem.schedule.momentum},
        "source": source, "details": problem.details,
    }


# --- the run --------------------------------------------------------------------------------------


def run_peers(args) -> int:
    started = time.perf_counter()
    plan = plan_from(args)
    out = check_folder(args.out, "--out")
    out.mkdir(parents=True, exist_ok=True)
    torch.set_num_threads(args.threads)

    skipped_note = None
    problems: dict[str, dict[str, Any]] = {}
    method_lists: dict[str, list] = {}
    for spec in plan.problems:
        problem = spec.build()
        wanted = method_table.methods_for(problem.kind, None if plan.methods is None else list(plan.methods))
        runnable, note = method_table.available(wanted)
        skipped_note = skipped_note or note
        method_lists[problem.key] = runnable
        source = problem.load(plan.seeds[0]).source
        problems[problem.key] = _describe_problem(problem, plan, [m.name for m in runnable], source)
    if skipped_note:
        say(f"metricloss peers: {skipped_note}")

    todo = units(plan, lambda problem: method_lists[problem.key])
    used = {m.name: m for methods in method_lists.values() for m in methods}
    libauc = _version("libauc") if method_table.libauc_missing() is None else None
    processes = f"{args.jobs} worker processes" if args.jobs > 1 else "one process"
    results: dict[str, Any] = {
        "command": command_line(args, plan),
        "settings": {"lrs": list(plan.lrs), "seeds": list(plan.seeds), "epochs": plan.epochs,
                     "batch_size": plan.batch_size, "device": plan.device, "smoke": args.smoke,
                     "jobs": args.jobs, "threads": args.threads},
        "environment": {
            "torch": torch.__version__, "libauc": libauc, "cpu_count": os.cpu_count(),
            "summary": f"torch {torch.__version__}, {args.threads} torch thread(s) per process, {processes}, "
                       f"{plan.device}" + (f", LibAUC {libauc}" if libauc else ", without LibAUC"),
        },
        "problems": problems,
        "methods": {name: {"description": m.description, "sampler": m.sampler, "needs": m.needs,
                           "details": m.details} for name, m in used.items()},
        "skipped": skipped_note,
        "runs": [],
        "complete": False,
    }
    say(f"metricloss peers: {len(todo)} (problem, method, seed) units of {len(plan.lrs)} learning rate(s) each, "
        f"{sum(len(v) for v in method_lists.values())} method row(s); writing to {out}")

    done = 0

    def on_result(unit, records) -> None:
        nonlocal done
        done += 1
        results["runs"].extend(records)
        write_json(out / "results.json", results)
        metrics = problems[next(iter(r["problem"] for r in records))]["metrics"]
        values = "; ".join(
            f"lr {r['lr']:g}: " + ", ".join(f"{m} {_short(r['validation'].get(m))}" for m in metrics)
            for r in records)
        say(f"[{done}/{len(todo)}] {records[0]['problem']} {unit.method} seed {unit.seed} "
            f"({sum(r['seconds'] for r in records):.0f} s) validation {values}")

    run_units(todo, jobs=args.jobs, threads=args.threads, on_result=on_result)
    results["runs"].sort(key=lambda r: (list(problems).index(r["problem"]), r["method"], r["lr"], r["seed"]))
    results["complete"] = True
    results["seconds"] = round(time.perf_counter() - started, 1)
    write_json(out / "results.json", results)
    table = table_markdown(results)
    (out / "table.md").write_text(table)
    plot(out / "peers.png", results)
    print(table)
    say(f"metricloss peers: {results['seconds']:.0f} s; wrote {out / 'results.json'}, {out / 'table.md'}, "
        f"{out / 'peers.png'}")
    return 0


def _short(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"
