"""``metricloss peers``: UniLoss beside the usual loss and established surrogates for the same
metric, on bundled imbalanced data, over seeds and a learning-rate grid.

Added to the ``metricloss`` command through the ``metricloss.commands`` entry point in
``pyproject.toml`` (as ``bench`` is), so the core never imports the benchmarks.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import os
import textwrap
import time
from typing import Any

import torch

from metricloss.arguments import check_folder, path_text, thread_count

from . import methods as method_table
from .ltr_problem import LTR_LRS, LTR_SMOKE_LR, SELECT_ON
from .methods import LIBAUC_INSTALL, METHODS
from .options import DEFAULT_CLASSES, DEFAULT_SEEDS, SMOKE_TRAIN, command_line, plan_from
from .problems import SGD_LRS, SGD_SMOKE_LR, Problem
from .report import plot, table_markdown, write_json
from .runner import Plan, run_units, say, units


def _grid(lrs: tuple[float, ...]) -> str:
    return ",".join(f"{lr:g}" for lr in lrs)


DESCRIPTION = f"""\
Train UniLoss, the usual loss and established surrogates for the same metric on bundled or
generated data (no download), for every learning rate of a grid and every seed; choose each
method's learning rate on the validation split, report the test metric there (mean ± std over
seeds) and each method's time per training epoch as a ratio to a reference method's, and write
results.json, table.md and peers.png to --out.

Problems: 'digits' is one digit of scikit-learn's 8x8 digits against the rest (about 10% positives;
--positive-fraction subsamples the training positives), the binary task's MLP, judged by AUC and AP,
batch 16, 30 epochs, SGD with momentum 0.5. 'blobs' is a generated binary segmentation set (ellipses
on noise), a tiny conv net, judged by IoU. 'ltr' is the ltr task's learning to rank (its generated
set, or LETOR files with --data-dir; its MLP scorer, batches of queries, epochs and Adam), ListNet,
ApproxNDCG, NeuralNDCG and LambdaLoss beside UniLoss on NDCG@10 and on MRR, each lr chosen on
validation NDCG@10 (--select-on MRR chooses on validation MRR instead), judged by test NDCG@1, @5,
@10 and MRR.

{textwrap.fill("Methods: " + ", ".join(METHODS) + ".", 100)}
By default, digits: {', '.join(m.name for m in method_table.methods_for('ranking', None))};
blobs: {', '.join(m.name for m in method_table.methods_for('segmentation', None))};
ltr: {', '.join(m.name for m in method_table.methods_for('queries', None))}.

The libauc_* methods need LibAUC, which is not a dependency of metricloss; without it they are
skipped with a note. Install it beside torch without letting pip replace torch:
  {LIBAUC_INSTALL}
(LibAUC 2.0.1's losses and optimizers import only torch, numpy, scipy, scikit-learn and tqdm.)
docs/results.md, sections Peers and Learning-to-rank peers, has the reference runs and their tables.
"""


def peers_command(commands) -> None:
    """``metricloss peers``, added to the ``metricloss`` command through an entry point."""
    peers = commands.add_parser(
        "peers", help="UniLoss beside the usual loss and published surrogates (LibAUC, Lovász, learning-to-rank "
                      "losses), lr chosen on validation",
        description=DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    peers.add_argument("--problem", choices=("digits", "blobs", "ltr", "all"), default="digits",
                       help="which problem (default: %(default)s)")
    peers.add_argument("--classes", default=None,
                       help="digits: the positive digits, each against the rest in turn: a comma list "
                            f"such as 3,8,9, or 'all' (default: {DEFAULT_CLASSES})")
    peers.add_argument("--positive-fraction", type=float, default=None,
                       help="digits: keep only enough training positives for this share of the training "
                            "split, at least 2, e.g. 0.02 (default: all, about 0.1)")
    peers.add_argument("--data-dir", type=path_text, default=None,
                       help="ltr: LETOR files (train.txt, vali.txt, test.txt, or a root with Fold1/) instead of "
                            "the generated set")
    peers.add_argument("--methods", default=None,
                       help="comma-separated methods (default: each problem's default methods)")
    peers.add_argument("--lrs", default=None,
                       help=f"comma-separated learning rates (default: each problem's: {_grid(SGD_LRS)} on digits "
                            f"and blobs, {_grid(LTR_LRS)} on ltr)")
    peers.add_argument("--seeds", type=int, default=DEFAULT_SEEDS,
                       help="seeds 0..N-1 (default: %(default)s)")
    peers.add_argument("--epochs", type=int, default=None,
                       help="epochs (default: the problem's, 30 on digits, 8 on ltr's generated set)")
    peers.add_argument("--batch-size", type=int, default=None,
                       help="batch size, in queries on ltr (default: the problem's, 16 on digits and on ltr's "
                            "generated set)")
    peers.add_argument("--weight-decay", type=float, default=None,
                       help="digits and blobs: SGD's weight decay for every method trained by SGD (LibAUC's "
                            "optimizers keep their own; default: 0)")
    peers.add_argument("--select-on", default=None,
                       help="ltr: the validation metric that chooses every method's lr, one of the ltr task's "
                            f"reports, e.g. MRR (default: {SELECT_ON})")
    peers.add_argument("--out", type=path_text, default="runs/peers", help="output directory (default: %(default)s)")
    peers.add_argument("--jobs", type=int, default=1,
                       help="worker processes, one (problem, method, seed) each at a time (default: 1)")
    peers.add_argument("--threads", type=thread_count, default=1,
                       help="torch threads per process (default: 1; the networks are small)")
    peers.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to train (default: cpu)")
    peers.add_argument("--smoke", action="store_true",
                       help=f"1 epoch on the first {SMOKE_TRAIN} training samples (queries on ltr), seed 0, lr "
                            f"{SGD_SMOKE_LR:g} ({LTR_SMOKE_LR:g} on ltr): checks that everything runs (the numbers "
                            "mean nothing)")
    # peers.png, the digits; LibAUC's own dependency tqdm comes with the extra, LibAUC itself is optional
    peers.set_defaults(handler=run_peers, needs=("sklearn", "matplotlib"), extra="peers")


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _describe_problem(problem: Problem, plan: Plan, methods: list[str]) -> dict[str, Any]:
    """What results.json and table.md say of a problem; loads the first seed's data (which fixes
    the schedule where the problem reads it from the data, and names the data's source)."""
    data = problem.load(plan.seeds[0])
    schedule = problem.schedule_for(data)
    select_on, details = problem.select_on, problem.details
    if select_on is not None and plan.select_on is not None:  # the run's choice replaces the problem's
        select_on, details = plan.select_on, {**details, "lr chosen on": f"validation {plan.select_on}"}
    if problem.optimizer is not None:
        optimizer = problem.optimizer_label
    else:
        optimizer = f"SGD with momentum {schedule.momentum:g}" + (
            f" and weight decay {plan.weight_decay:g}" if plan.weight_decay else "")
    return {
        "label": problem.label, "kind": problem.kind, "metrics": list(problem.metrics), "methods": methods,
        "lrs": list(plan.lrs_for(problem)), "select_on": select_on,
        "time_reference": problem.time_reference, "optimizer": optimizer,
        "schedule": {"epochs": plan.epochs or schedule.epochs,
                     "batch_size": plan.batch_size or schedule.batch_size,
                     "momentum": schedule.momentum},
        "source": data.source, "details": details,
    }


# --- the run --------------------------------------------------------------------------------------


def run_peers(args) -> int:
    started = time.perf_counter()
    plan = plan_from(args)
    out = check_folder(args.out, "--out")
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
        problems[problem.key] = _describe_problem(problem, plan, [m.name for m in runnable])
    out.mkdir(parents=True, exist_ok=True)  # after the data loaded: a missing file leaves nothing behind
    if skipped_note:
        say(f"metricloss peers: {skipped_note}")

    todo = units(plan, lambda problem: method_lists[problem.key])
    used = {m.name: m for methods in method_lists.values() for m in methods}
    libauc = _version("libauc") if method_table.libauc_missing() is None else None
    processes = f"{args.jobs} worker processes" if args.jobs > 1 else "one process"
    results: dict[str, Any] = {
        "command": command_line(args, plan),
        "settings": {"lrs": None if plan.lrs is None else list(plan.lrs), "seeds": list(plan.seeds),
                     "epochs": plan.epochs,
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
    say(f"metricloss peers: {len(todo)} (problem, method, seed) units, {sum(len(u.lrs) for u in todo)} runs "
        f"in all, {sum(len(v) for v in method_lists.values())} method row(s); writing to {out}")

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
