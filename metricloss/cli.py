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
import math
import os
import signal
import sys
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from . import __version__
from .contracts import callable_plugin
from .errors import InputError, MetricLossError
from .registry import REGISTRY, Kind

# A command plugin is a function that adds its subcommand to the ``metricloss`` parser's commands.
REGISTRY.declare(Kind("command", "metricloss.commands", callable_plugin))
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
                _check_module_reference(args.name)
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


# --- checking options as they are parsed ----------------------------------------------------------
# argparse turns an ArgumentTypeError into "metricloss CMD: error: argument --OPTION: MESSAGE" and
# exit 2, before anything is loaded or trained.

SEED_LIMIT = 2**63 - 1  # torch's generators take at most 2**64 - 1, and a run derives seed + 1 from it
FLOAT32_MAX = 3.4028234663852886e38  # the largest learning rate a float32 parameter's update can take


def whole_number(low: int, high: int | None = None, *, hint: str = "") -> Callable[[str], int]:
    """An argparse ``type``: a whole number from ``low`` to ``high``; ``hint`` says what it counts."""
    span = f"at least {low}" if high is None else f"from {low} to {high}"
    what = f" ({hint})" if hint else ""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; give one {span}{what}") from None
        if value < low or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be {span}{what}, got {value}")
        return value

    parse.__name__ = "whole number"
    return parse


def real_number(low: float, *, strict: bool, high: float | None = None, hint: str = "") -> Callable[[str], float]:
    """An argparse ``type``: a finite number above ``low`` (``strict``) or at least ``low``, at most ``high``."""
    span = (f"above {low:g}" if strict else f"at least {low:g}") + ("" if high is None else f" and at most {high:g}")
    what = f" ({hint})" if hint else ""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number; give a number {span}{what}") from None
        if not math.isfinite(value) or value < low or (strict and value == low) or (high is not None and value > high):
            raise argparse.ArgumentTypeError(f"must be a finite number {span}{what}, got {text}")
        return value

    parse.__name__ = "number"
    return parse


def seed_number(text: str) -> int:
    """An argparse ``type``: a seed, 0 to 2**63 - 1."""
    usage = "seeds are whole numbers from 0 to 2**63 - 1, e.g. --seed 0"
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number; {usage}") from None
    if not 0 <= value <= SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"{value} is out of range; {usage}")
    return value


seed_number.__name__ = "seed"


def most_workers() -> int:
    """The most threads or worker processes an option may ask for: 4 per core; more only slows the
    work down, and torch crashes on absurd thread counts instead of refusing them."""
    return 4 * (os.cpu_count() or 1)


def thread_count(text: str) -> int:
    """An argparse ``type``: torch CPU threads, 0 (the caller's default) to ``most_workers()``."""
    return whole_number(0, most_workers(), hint=f"torch CPU threads, at most 4 per core of the "
                                                f"{os.cpu_count() or 1} here")(text)


thread_count.__name__ = "whole number"


def path_text(text: str) -> str:
    """An argparse ``type``: a path, not an empty string (which would mean the current folder)."""
    if not text.strip():
        raise argparse.ArgumentTypeError("is empty; give a path (use . for the current folder)")
    return text


path_text.__name__ = "path"


def sampler_spec(text: str) -> str:
    """An argparse ``type``: ``shuffle``, ``balanced`` or ``balanced:SHARE``, checked as training will."""
    from .train.sampling import parse_sampler

    try:
        parse_sampler(text)
    except MetricLossError as error:
        raise argparse.ArgumentTypeError(f"{error}; e.g. --sampler balanced:0.25") from None
    return text


sampler_spec.__name__ = "sampler"


def check_folder(path: str | Path, option: str) -> Path:
    """``path`` as a folder the command can create or write into, else an InputError naming ``option``.

    Checked before any work, so that a run of minutes does not end on a file in the way."""
    path = Path(path)
    if path.exists() and not path.is_dir():
        raise InputError(f"{option} {path} is a file, not a folder; give a folder (it is created if missing)")
    _check_writable_under(path, option, path)
    return path


def check_file(path: str | Path, option: str) -> Path:
    """``path`` as a file the command can write (its folder created if missing), else an InputError."""
    path = Path(path)
    if path.is_dir():
        raise InputError(f"{option} {path} is a folder; give a file name, e.g. {path / 'results.json'}")
    _check_writable_under(path.parent, option, path)
    return path


def _check_writable_under(folder: Path, option: str, given: Path) -> None:
    """The nearest existing folder at or above ``folder`` must be a folder the user may write to."""
    existing = folder
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if existing.exists() and not existing.is_dir():
        raise InputError(f"{option} {given}: {existing} is a file, so nothing can be written under it; "
                         "give another path")
    if existing.exists() and not os.access(existing, os.W_OK | os.X_OK):
        raise InputError(f"{option} {given}: {existing} cannot be written to (no permission); give a path "
                         "you may write to")


def _check_module_reference(name: str) -> None:
    """``explain path/to/file.py:f`` is a file path where an import path belongs: say how to write it."""
    module, _, function = name.partition(":")
    if not ("/" in module or "\\" in module or module.endswith(".py")):
        return
    path = Path(module)
    stem = path.stem if path.suffix == ".py" else path.name
    folder = str(path.parent)
    where = "" if folder == "." else f" from the folder {folder} (or with it on PYTHONPATH)"
    raise InputError(f"{module!r} in {name!r} is a file path; explain takes the module's import path, as Python "
                     f"imports it: run metricloss explain {stem}:{function}{where}")


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
