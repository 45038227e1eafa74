"""The ``metricloss`` command: ``demo``, ``explain NAME``, ``plugins``, ``train TASK``, ``compare TASK``,
and the commands other packages add through the ``metricloss.commands`` entry points (the
benchmark package adds ``bench``).

Such an entry point names a function ``(subparsers) -> None`` that adds its parser and sets
``handler=`` on it: a function ``(args) -> exit code``. One that fails to load is reported in
``metricloss --help`` and the rest still work.
"""

from __future__ import annotations

import argparse
import sys
from importlib import metadata

from .errors import MetricLossError

COMMANDS_GROUP = "metricloss.commands"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="metricloss", description="Metrics as training losses (UniLoss).")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="train UniLoss('auc') and cross-entropy on scikit-learn's digits (no download)"
    )
    demo.add_argument("--epochs", type=int, default=15)
    demo.add_argument("--seed", type=int, default=0)

    explain = commands.add_parser("explain", help="print a metric's binary variables and re-expression")
    explain.add_argument("name", help="a registered metric (auc, accuracy, ...) or package.module:function "
                                      "(a metric, or a plain function compiled for the look)")
    form = explain.add_mutually_exclusive_group()
    form.add_argument("--latex", action="store_true", help="print the re-expression as LaTeX")
    form.add_argument("--dot", action="store_true", help="print the metric's graph in Graphviz DOT")

    commands.add_parser("plugins", help="list every registered plugin and any that failed to load")

    _add_train(commands)
    _add_compare(commands)
    broken = _add_installed_commands(commands)
    if broken:
        parser.epilog = "commands that failed to load: " + "; ".join(broken)

    args = parser.parse_args(argv)
    try:
        if getattr(args, "handler", None) is not None:
            return args.handler(args)
        if args.command == "demo":
            from .train.demo import main as demo_main

            demo_main(epochs=args.epochs, seed=args.seed)
        elif args.command == "explain":
            from .compiler import explain as explaining

            if ":" in args.name and "" not in sys.path:  # module:function from the current folder
                sys.path.insert(0, "")

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


def _add_installed_commands(commands) -> list[str]:
    """Add every ``metricloss.commands`` entry point's command; return the ones that failed."""
    broken = []
    for point in metadata.entry_points(group=COMMANDS_GROUP):
        try:
            point.load()(commands)
        except Exception as error:  # a broken plugin must not take the other commands down
            where = f"{point.dist.name} {point.dist.version}" if point.dist else point.value
            broken.append(f"{point.name} ({where}): {type(error).__name__}: {error}")
    return broken


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metric", help="the metric to train and report (default: the task's first)")
    parser.add_argument("--epochs", type=int, help="epochs (default: the task's)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train (default: auto, CUDA when available)")
    parser.add_argument("--data-dir", help="the dataset's files (default: the task's bundled or "
                                           "synthetic data)")
    parser.add_argument("--sampler", help="how batches are drawn: shuffle, or balanced[:SHARE] to give every "
                                          "batch that share of positives (default: the task's)")
    parser.add_argument("--warm-start", type=int, help="UniLoss runs: train the first N epochs with the task's "
                                                       "usual loss (default: the task's)")
    parser.add_argument("--margin", type=float, help="UniLoss runs: UniLoss(margin=M), relax each binary "
                                                     "around a margin toward b* (default: the task's)")


def _train(args) -> int:
    from .train.config import default_out
    from .train.loop import train

    out = args.out or default_out(args.task, args.loss, args.seed)
    try:
        result = train(args.task, loss=args.loss, metric=args.metric, epochs=args.epochs,
                       batch_size=args.batch_size, lr=args.lr, device=args.device,
                       data_dir=args.data_dir, out=out, seed=args.seed, resume=args.resume,
                       sampler=args.sampler, warm_start=args.warm_start,
                       margin=args.margin)
    except KeyboardInterrupt:
        print(f"\nmetricloss: interrupted; the last checkpoint in {out} is intact: run the same "
              "command with --resume to continue", file=sys.stderr)
        return 130
    if result.rank != 0:  # under torchrun, process 0 reports for the run
        return 0
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
                device=args.device, data_dir=args.data_dir, out=args.out, resume=args.resume,
                sampler=args.sampler, warm_start=args.warm_start, margin=args.margin)
    except KeyboardInterrupt:
        print("\nmetricloss: interrupted; finished runs and the last checkpoints are intact: run "
              "the same command with --resume to continue", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
