"""The ``metricloss`` command: ``demo``, ``explain NAME``, ``plugins``, ``train TASK``, ``compare TASK``,
and the commands other packages add through the ``metricloss.commands`` entry points (the
benchmark package adds ``bench``).

Such an entry point names a function ``(subparsers) -> None`` that adds its parser and sets
``handler=`` on it: a function ``(args) -> exit code``. One that fails to load is reported in
``metricloss --help`` and the rest still work.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import signal
import sys
from importlib import metadata

from . import __version__
from .arguments import (FLOAT32_MAX, check_module_reference, path_text, real_number, sampler_spec, seed_number,
                        whole_number)
from . import commands  # noqa: F401  (declares the command kind of plugin)
from .errors import InputError, MetricLossError
from .registry import REGISTRY

MAX_SEEDS = 10_000  # compare --seeds: a bound that keeps the list of seeds small; each is two trainings

# What the optional dependencies are, by the module that imports them: the distribution to
# install and the extra of metricloss that brings it. A command that lacks one says so in one
# line instead of a traceback.
EXTRAS = {
    "sklearn": ("scikit-learn", "train"),
    "matplotlib": ("matplotlib", "train"),
    "scipy": ("scipy", "train"),
    "PIL": ("Pillow", "train"),
    "tqdm": ("tqdm", "peers"),
    "torchmetrics": ("torchmetrics", "torchmetrics"),
    "lightning": ("lightning", "lightning"),
}


def require(command: str, *modules: str, extra: str | None = None) -> None:
    """A MetricLossError naming what to install, unless every module in ``modules`` is importable.

    ``extra``: the extra that installs them all (default: the first missing module's, from ``EXTRAS``).
    Commands call it, through ``set_defaults(needs=..., extra=...)``, before any work."""
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        raise missing_extra(command, missing, extra)


def missing_extra(command: str, modules: list[str], extra: str | None = None) -> MetricLossError:
    """The one-line error for a command whose optional dependencies ``modules`` are not installed."""
    names = [EXTRAS.get(module, (module, None))[0] for module in modules]
    extra = extra or next((EXTRAS[m][1] for m in modules if m in EXTRAS), "train")
    which = "is" if len(names) == 1 else "are"
    return MetricLossError(f"`metricloss {command}` needs {' and '.join(names)}, which {which} not installed: "
                           f"pip install 'metricloss[{extra}]'")


def main(argv: list[str] | None = None) -> int:
    """The ``metricloss`` command; returns its exit status.

    When the reader of its output goes away (``metricloss explain accuracy | head -2``) it stops
    quietly with status 141, as a Unix tool that SIGPIPE ends does, instead of a traceback."""
    try:
        try:
            code = _main(argv)
        finally:  # output still buffered is written now, where a closed pipe can be caught
            sys.stdout.flush()
    except BrokenPipeError:
        # Python would try to flush stdout again at exit and complain on stderr: point it at
        # /dev/null first (what the Python documentation recommends for SIGPIPE).
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 128 + signal.SIGPIPE if hasattr(signal, "SIGPIPE") else 1
    return code


def _main(argv: list[str] | None) -> int:
    parser = argparse.ArgumentParser(prog="metricloss", description="Metrics as training losses (UniLoss).")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    demo = commands.add_parser(
        "demo", help="train UniLoss('auc') and cross-entropy on scikit-learn's digits (no download)"
    )
    demo.set_defaults(needs=("sklearn", "matplotlib"))
    demo.add_argument("--epochs", type=whole_number(1, hint="the epochs each loss trains"), default=15,
                      help="epochs each loss trains (default: %(default)s)")
    demo.add_argument("--seed", type=seed_number, default=0,
                      help="seeds the split, the initial weights and the batches (default: %(default)s)")

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
        require(args.command, *getattr(args, "needs", ()), extra=getattr(args, "extra", None))
        if getattr(args, "handler", None) is not None:
            return args.handler(args)
        if args.command == "demo":
            from .train.demo import main as demo_main

            demo_main(epochs=args.epochs, seed=args.seed)
        elif args.command == "explain":
            from .compiler import explain as explaining

            if ":" in args.name:
                check_module_reference(args.name)
                if "" not in sys.path:  # module:function from the current folder
                    sys.path.insert(0, "")
            try:
                if args.latex:
                    print(explaining.formula(args.name).latex)
                elif args.dot:
                    print(explaining.dot(args.name))
                else:
                    print(explaining.explain(args.name))
            except SystemExit as stop:  # the user's module calls sys.exit() or exit() as it is imported
                raise InputError(
                    f"importing the module of {args.name!r} called sys.exit({stop.code!r}), so there is nothing "
                    "to explain; keep what the module runs as a script under `if __name__ == \"__main__\":`"
                ) from None
        elif args.command == "plugins":
            from .plugin_listing import plugins_table

            print(plugins_table(REGISTRY))
        elif args.command == "train":
            return _train(args)
        elif args.command == "compare":
            return _compare(args)
    except MetricLossError as error:
        print(f"metricloss: {error}", file=sys.stderr)
        return 2
    except ImportError as error:  # an optional dependency met past the checks above (a dataset's reader)
        module = (error.name or "").partition(".")[0]
        if module not in EXTRAS or args.command == "explain":  # explain imports the user's own modules
            raise
        print(f"metricloss: {missing_extra(args.command, [module], getattr(args, 'extra', None))}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        raise
    except OSError as error:  # the file system refused (a full disk, no permission): the user's to fix
        where = f" ({error.filename})" if error.filename else ""
        print(f"metricloss: {error.strerror or error}{where}; check that the path exists, is what the option "
              "expects (a folder or a file) and that you may write there, then run the command again",
              file=sys.stderr)
        return 1
    return 0


def _add_train(commands) -> None:
    train = commands.add_parser(
        "train", help="train a reference task with UniLoss or its usual loss, logging every epoch",
        description="Train TASK's model; each epoch writes metrics.csv/.jsonl, curves.png and an "
                    "atomic checkpoint.pt to --out (default runs/TASK-LOSS-seedN). Unset options "
                    "take the task's defaults (the paper's settings).",
    )
    train.set_defaults(needs=("matplotlib",))  # the curves; a dataset's reader is checked as it loads
    train.add_argument("task", help="a registered task, e.g. binary, pose, cifar10, cifar100, ltr")
    train.add_argument("--loss", choices=("uniloss", "baseline"), default="uniloss",
                       help="UniLoss of the metric, or the task's usual loss (default: uniloss)")
    _add_common(train)
    train.add_argument("--batch-size", type=whole_number(1, hint="samples per training batch"),
                       help="training batch size (default: the task's)")
    train.add_argument("--lr", type=real_number(0, strict=True, high=FLOAT32_MAX, hint="the learning rate"),
                       help="learning rate (default: the task's)")
    train.add_argument("--seed", type=seed_number, default=0, help="seeds data split, weights, batches, anchors")
    train.add_argument("--out", type=path_text, help="run directory (default: runs/TASK-LOSS-seedN)")
    train.add_argument("--resume", action="store_true",
                       help="continue from --out's checkpoint (or start, if there is none yet)")


def _add_compare(commands) -> None:
    compare = commands.add_parser(
        "compare", help="train the usual loss and UniLoss over several seeds and compare them",
        description="Train TASK with its usual loss and with UniLoss for seeds 0..N-1; write "
                    "comparison.md, comparison.json and comparison.png (validation curves) to --out "
                    "(default runs/compare-TASK).",
    )
    compare.set_defaults(needs=("matplotlib",))
    compare.add_argument("task", help="a registered task, e.g. binary, pose, cifar10, cifar100, ltr")
    compare.add_argument("--seeds", type=whole_number(1, MAX_SEEDS, hint="how many seeds, each training both losses"),
                         default=3, help="how many seeds (default: 3)")
    _add_common(compare)
    compare.add_argument("--out", type=path_text, help="comparison directory (default: runs/compare-TASK)")
    compare.add_argument("--resume", action="store_true",
                         help="continue the runs a stopped comparison left and reuse finished ones")


def _add_installed_commands(commands) -> list[str]:
    """Add every ``metricloss.commands`` entry point's command; return the ones that failed.

    With plugin autoload switched off (``METRICLOSS_DISABLE_PLUGIN_AUTOLOAD=1``) none is imported:
    the switch stops every entry point from running code in this process, commands included.
    """
    broken = [f"{f.name} ({f.source}): {f.error}" for f in REGISTRY.failures("command")]
    for entry in REGISTRY.entries("command"):
        try:
            entry.plugin(commands)
        except Exception as error:  # a broken plugin must not take the other commands down
            broken.append(f"{entry.name} ({entry.source}): {type(error).__name__}: {error}")
    return broken


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--metric", help="the metric to train and report (default: the task's first)")
    parser.add_argument("--epochs", type=whole_number(1, hint="epochs to train"), help="epochs (default: the task's)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train (default: auto, CUDA when available)")
    parser.add_argument("--data-dir", type=path_text, help="the dataset's files (default: the task's bundled or "
                                           "synthetic data)")
    parser.add_argument("--sampler", type=sampler_spec,
                        help="how batches are drawn: shuffle, or balanced[:SHARE] to give every batch that share "
                             "of positives (default: the task's)")
    parser.add_argument("--warm-start", type=whole_number(0, hint="epochs trained with the task's usual loss first"),
                        help="UniLoss runs: train the first N epochs with the task's usual loss (default: the task's)")
    parser.add_argument("--margin", type=real_number(0, strict=False, hint="a score difference"),
                        help="UniLoss runs: UniLoss(margin=M), relax each binary around a margin toward b* "
                             "(default: the task's)")


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
    if result.test_metrics:
        print("test " + ", ".join(f"{label} {'undefined' if value is None else f'{value:.4f}'}"
                                  for label, value in result.test_metrics.items()))
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
