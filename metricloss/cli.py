"""The ``metricloss`` command: ``demo``, ``explain NAME``, ``plugins``, ``train TASK``, ``compare TASK``,
``bench``."""

from __future__ import annotations

import argparse
import sys

from .errors import MetricLossError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="metricloss", description="Metrics as training losses (UniLoss).")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="train UniLoss('auc') and a BCE twin on scikit-learn's digits (no download)"
    )
    demo.add_argument("--epochs", type=int, default=15)
    demo.add_argument("--seed", type=int, default=0)

    explain = commands.add_parser("explain", help="print a metric's binary variables and re-expression")
    explain.add_argument("name", help="a registered metric, e.g. auc, average_precision, accuracy")
    form = explain.add_mutually_exclusive_group()
    form.add_argument("--latex", action="store_true", help="print the re-expression as LaTeX")
    form.add_argument("--dot", action="store_true", help="print the metric's graph in Graphviz DOT")

    commands.add_parser("plugins", help="list every registered plugin and any that failed to load")

    _add_train(commands)
    _add_compare(commands)
    _add_bench(commands)

    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from .train.demo import main as demo_main

            demo_main(epochs=args.epochs, seed=args.seed)
        elif args.command == "explain":
            from .compiler import explain as explaining

            if args.latex:
                print(explaining.formula(args.name).latex)
            elif args.dot:
                print(explaining.dot(args.name))
            else:
                print(explaining.explain(args.name))
        elif args.command == "plugins":
            from .registry import REGISTRY, plugins_table

            print(plugins_table(REGISTRY))
        elif args.command == "train":
            return _train(args)
        elif args.command == "compare":
            return _compare(args)
        elif args.command == "bench":
            return _bench(args)
    except MetricLossError as error:
        print(f"metricloss: {error}", file=sys.stderr)
        return 2
    return 0


def _add_train(commands) -> None:
    train = commands.add_parser(
        "train", help="train a reference task with UniLoss or its usual loss, logging every epoch",
        description="Train TASK's model; each epoch writes metrics.csv/.jsonl, curves.png and an "
                    "atomic checkpoint.pt to --out (default runs/TASK-LOSS-seedN). Unset options "
                    "take the task's defaults (the paper's settings).",
    )
    train.add_argument("task", help="a registered task, e.g. binary, pose, cifar10, cifar100")
    train.add_argument("--loss", choices=("uniloss", "baseline"), default="uniloss",
                       help="UniLoss of the metric, or the task's usual loss (default: uniloss)")
    _add_common(train)
    train.add_argument("--batch-size", type=int, help="training batch size (default: the task's)")
    train.add_argument("--lr", type=float, help="learning rate (default: the task's)")
    train.add_argument("--seed", type=int, default=0, help="seeds data split, weights, batches, anchors")
    train.add_argument("--out", help="run directory (default: runs/TASK-LOSS-seedN)")
    train.add_argument("--resume", action="store_true",
                       help="continue from --out's checkpoint (or start, if there is none yet)")


def _add_compare(commands) -> None:
    compare = commands.add_parser(
        "compare", help="train the usual loss and UniLoss over several seeds and compare them",
        description="Train TASK with its usual loss and with UniLoss for seeds 0..N-1; write "
                    "comparison.md, comparison.json and comparison.png (validation curves) to --out "
                    "(default runs/compare-TASK).",
    )
    compare.add_argument("task", help="a registered task, e.g. binary, pose, cifar10, cifar100")
    compare.add_argument("--seeds", type=int, default=3, help="how many seeds (default: 3)")
    _add_common(compare)
    compare.add_argument("--out", help="comparison directory (default: runs/compare-TASK)")
    compare.add_argument("--resume", action="store_true",
                         help="continue the runs a stopped comparison left and reuse finished ones")


def _add_bench(commands) -> None:
    bench = commands.add_parser(
        "bench", help="measure the loss's cost as ratios to costs measured beside it (docs/performance.md)",
        description="Time UniLoss against the usual loss, a training step, a per-pair loop reference, "
                    "the floor of relaxing the comparisons, over growing sizes, and compile times; print "
                    "the tables and write every number to --json.",
    )
    size = bench.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="fewer rounds and smaller sizes: minutes, not tens")
    size.add_argument("--smoke", action="store_true",
                      help="tiny sizes and one round: checks that every table runs (numbers mean nothing)")
    bench.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="where to run (default: cpu)")
    bench.add_argument("--threads", type=int, default=0,
                       help="torch CPU threads (default: torch's choice); fewer than the cores is steadier "
                            "on a shared machine")
    bench.add_argument("--json", default="bench-results/bench.json",
                       help="where to write the numbers (default: %(default)s)")
    bench.add_argument("--tables", default=None,
                       help="comma-separated subset of loss_cost,training_step,loop,floor,scaling,compile")


def _bench(args) -> int:
    from pathlib import Path

    from metricloss_benchmarks.suite import TABLES, run

    tables = TABLES if args.tables is None else tuple(t.strip() for t in args.tables.split(","))
    unknown = [t for t in tables if t not in TABLES]
    if unknown:
        print(f"metricloss bench: unknown table(s) {', '.join(unknown)}; choose from {', '.join(TABLES)}",
              file=sys.stderr)
        return 2
    mode = "smoke" if args.smoke else "quick" if args.quick else "full"
    results = run(mode, args.device, Path(args.json), threads=args.threads, tables=tables)
    return 1 if results["failures"] else 0


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metric", help="the metric to train and report (default: the task's first)")
    parser.add_argument("--epochs", type=int, help="epochs (default: the task's)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train (default: auto, CUDA when available)")
    parser.add_argument("--data-dir", help="the dataset's files (default: the task's bundled or "
                                           "synthetic data)")


def _train(args) -> int:
    from .train.config import default_out
    from .train.loop import train

    out = args.out or default_out(args.task, args.loss, args.seed)
    try:
        result = train(args.task, loss=args.loss, metric=args.metric, epochs=args.epochs,
                       batch_size=args.batch_size, lr=args.lr, device=args.device,
                       data_dir=args.data_dir, out=out, seed=args.seed, resume=args.resume)
    except KeyboardInterrupt:
        print(f"\nmetricloss: interrupted; the last checkpoint in {out} is intact: run the same "
              "command with --resume to continue", file=sys.stderr)
        return 130
    config, last = result.config, result.history[-1]
    number = "undefined" if last["test_metric"] is None else f"{last['test_metric']:.4f}"
    print(f"{config.task}, {config.loss}, seed {config.seed}: test {config.metric} {number} after "
          f"epoch {last['epoch']} ({config.data_source}{', synthetic' if config.synthetic else ''})")
    print(f"logs: {result.out / 'metrics.csv'}  curves: {result.curves}  checkpoint: {result.checkpoint}")
    return 0


def _compare(args) -> int:
    from .train.compare import compare

    try:
        compare(args.task, seeds=args.seeds, metric=args.metric, epochs=args.epochs,
                device=args.device, data_dir=args.data_dir, out=args.out, resume=args.resume)
    except KeyboardInterrupt:
        print("\nmetricloss: interrupted; finished runs and the last checkpoints are intact: run "
              "the same command with --resume to continue", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
