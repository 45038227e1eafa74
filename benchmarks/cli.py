"""The ``bench`` command of ``metricloss``: registered through the ``metricloss.commands`` entry
point in ``pyproject.toml``, so the core never imports the benchmarks."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

from metricloss.arguments import check_file, path_text, thread_count

from .suite import TABLES, run


def bench_command(commands) -> None:
    """``metricloss bench``, added to the ``metricloss`` command through an entry point."""
    bench = commands.add_parser(
        "bench", help="measure the loss's cost as ratios to costs measured beside it (docs/performance.md)",
        description="Time UniLoss against the usual loss, a training step, a per-pair loop reference, "
                    "the floor of relaxing the comparisons, over growing sizes, compile times, the exact value "
                    "at validation sizes, and every zoo metric against its own floor; print "
                    "the tables and write every number to --json.",
    )
    size = bench.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer rounds and smaller sizes: minutes, not tens")
    size.add_argument("--smoke", action="store_true",
                      help="tiny sizes and one round: checks that every table runs (numbers mean nothing)")
    bench.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default: cpu)")
    bench.add_argument("--threads", type=thread_count, default=0,
                       help="torch CPU threads (default: torch's choice); fewer than the cores is steadier "
                            "on a shared machine")
    bench.add_argument("--json", type=path_text, default="bench-results/bench.json",
                       help="where to write the numbers (default: %(default)s)")
    bench.add_argument("--tables", default=None,
                       help=f"comma-separated subset of {','.join(TABLES)}")
    bench.set_defaults(handler=run_bench)


def run_bench(args) -> int:
    tables = TABLES if args.tables is None else tuple(t.strip() for t in args.tables.split(",") if t.strip())
    unknown = [t for t in tables if t not in TABLES]
    if unknown or not tables:
        what = f"unknown table(s) {', '.join(unknown)}" if unknown else f"--tables {args.tables!r} names no table"
        print(f"metricloss bench: {what}; choose from {', '.join(TABLES)}", file=sys.stderr)
        return 2
    if args.device == "cuda" and not torch.cuda.is_available():
        print("metricloss bench: --device cuda, but torch sees no CUDA device; use --device cpu", file=sys.stderr)
        return 2
    check_file(args.json, "--json")  # before the tables, not after minutes of them
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    results = run(mode, args.device, Path(args.json), threads=args.threads, tables=tables)
    return 1 if results["failures"] else 0
