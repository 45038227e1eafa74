"""The ``diagnose`` command of ``metricloss``, added through the ``metricloss.commands`` entry point.

``metricloss diagnose [--task binary] [--metric auc] [--steps N | --epochs N] [--tau 0.3,1,3 | auto]
[--anchors 16 ...] [--margin M] [--seed 0] [--out DIR] [--json FILE]`` trains each setting briefly, prints one
table per setting and a recommendation, and writes ``diagnosis.md``, ``diagnosis.json`` and
``diagnosis.png`` to ``--out`` (default ``runs/diagnose-TASK-METRIC``).
"""

from __future__ import annotations

import sys
from pathlib import Path

from metricloss.arguments import (check_file, check_folder, path_text, real_number, sampler_spec, seed_number,
                                  whole_number)
from metricloss.errors import InputError

DEFAULT_SAMPLERS = ("ideal", "good", "nearby", "random")


def diagnose_command(commands) -> None:
    """Add ``metricloss diagnose`` to the ``metricloss`` command."""
    from .diagnose import STEPS
    from .tracking import DRAWS
    from .training import COLLECT

    parser = commands.add_parser(
        "diagnose", help="measure how well UniLoss's interpolated metric tracks the exact one, to choose tau and anchors",
        description="Train TASK briefly with UniLoss for each setting (each --tau, each --anchors) and measure, "
                    "around the configurations of binaries met in training, at Hamming distances 0, 1/512, "
                    "1/128, 1/32, 1/8 and 1/2: the gap between the interpolated metric ĝ and the exact g, their "
                    "Spearman correlation, and how often one flipped binary moves ĝ the way it moves g. Prints a "
                    "table per setting and a recommendation; writes diagnosis.md, diagnosis.json and "
                    "diagnosis.png to --out.",
    )
    parser.add_argument("--task", default="binary", help="a registered task (default: binary)")
    parser.add_argument("--metric", help="the metric (default: the task's first)")
    length = parser.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help=f"training steps of each short run (default: {STEPS})")
    length.add_argument("--epochs", type=int, help="epochs of each short run, instead of --steps")
    parser.add_argument("--tau", default=None,
                        help="the sigmoid relaxation's temperature: one value, several comma-separated "
                             "(one table each), or 'auto' (0.25, 1 and 4 times the untrained model's median "
                             "|d|); default: the task's relaxation, else tau 1")
    parser.add_argument("--anchors", nargs="+", default=None, metavar="COUNTS",
                        help="anchor counts per sampler, one setting per argument (one table each): N (N of "
                             "each of ideal, good, nearby, random), four numbers a,b,c,d for those four, or "
                             "name=N,... for any registered samplers (default: the task's, else 16 each)")
    parser.add_argument("--relaxation", metavar="NAME[:KEY=VALUE,...]",
                        help="a registered relaxation, with parameters after a colon (sigmoid:tau=2), "
                             "instead of --tau")
    parser.add_argument("--interpolator", nargs="+", metavar="NAME[:KEY=VALUE,...]",
                        help="registered interpolators, one setting per argument (one table each), each with "
                             "parameters after a colon: inverse_distance:power=1 inverse_distance:power=4 "
                             "(default: the task's, else inverse_distance)")
    parser.add_argument("--margin", type=real_number(0, strict=False, hint="a score difference"),
                        help="UniLoss's margin (default: the task's, else 0)")
    parser.add_argument("--seed", type=seed_number, default=0, help="seeds the runs and the draws (default: 0)")
    # checked here: diagnose() checks it only as each block's short run starts, after --tau auto's scale run
    parser.add_argument("--collect", type=whole_number(1, hint="training steps whose batches are measured"),
                        default=COLLECT,
                        help=f"training steps whose batches are measured, spread evenly (default: {COLLECT})")
    parser.add_argument("--draws", type=int, default=DRAWS,
                        help=f"configurations drawn per batch and distance (default: {DRAWS})")
    parser.add_argument("--sampler", type=sampler_spec,
                        help="how training batches are drawn: shuffle, or balanced[:SHARE] for rare positives "
                             "(default: the task's)")
    parser.add_argument("--device", choices=("auto", "cpu", "cuda"), default="auto",
                        help="where to train and measure (default: auto, CUDA when available)")
    parser.add_argument("--data-dir", type=path_text,
                        help="the dataset's files (default: the task's bundled or synthetic data)")
    parser.add_argument("--out", type=path_text, help="output directory (default: runs/diagnose-TASK-METRIC)")
    parser.add_argument("--json", type=path_text, help="where to write the JSON (default: OUT/diagnosis.json)")
    parser.set_defaults(handler=run_diagnose, needs=("matplotlib",))  # diagnosis.png; the data's reader as it loads


def run_diagnose(args) -> int:
    """Run the diagnosis the options describe; MetricLossErrors reach ``metricloss.cli`` (exit 2)."""
    from metricloss.train.task import get_task

    from . import report
    from .diagnose import diagnose

    taus = parse_taus(args.tau)
    anchors = None if args.anchors is None else [parse_anchors(text) for text in args.anchors]
    relaxation = None if args.relaxation is None else parse_part("relaxation", args.relaxation, "--relaxation")
    interpolators = None if args.interpolator is None else [
        parse_part("interpolator", text, "--interpolator") for text in args.interpolator]
    task = get_task(args.task)
    metric = args.metric or task.metrics[0]
    out = check_folder(args.out if args.out else Path("runs") / f"diagnose-{task.name}-{metric}", "--out")
    json_path = check_file(args.json, "--json") if args.json else None
    try:
        diagnosis = diagnose(
            task, metric=metric, tau=taus, anchors=anchors, relaxation=relaxation,
            interpolator=interpolators, margin=args.margin, steps=args.steps, epochs=args.epochs, collect=args.collect,
            draws=args.draws, seed=args.seed, sampler=args.sampler, device=args.device, data_dir=args.data_dir, say=_say,
        )
    except KeyboardInterrupt:
        print("\nmetricloss: interrupted; nothing was written", file=sys.stderr)
        return 130
    paths = report.write(diagnosis, out, json_path)
    print(report.text(diagnosis))
    print(f"\ntable: {paths['table']}  json: {paths['json']}  plot: {paths['figure']}")
    return 0


def parse_taus(text: str | None) -> float | list[float] | str | None:
    """``None``, ``"auto"``, or the positive temperatures in ``"0.3,1,3"``."""
    if text is None:
        return None
    if text.strip() == "auto":
        return "auto"
    values = []
    for item in text.split(","):
        try:
            value = float(item)
        except ValueError:
            raise InputError(f"--tau takes positive numbers separated by commas, or 'auto'; {item.strip()!r} in "
                             f"{text!r} is not a number") from None
        if not value > 0 or value == float("inf"):
            raise InputError(f"--tau must be positive and finite (the sigmoid's temperature, on the scores' "
                             f"scale), got {item.strip()}: try --tau 0.3,1,3")
        values.append(value)
    return values


def parse_part(kind: str, text: str, option: str):
    """``inverse_distance`` or ``inverse_distance:power=4,eps=1e-6``: a registered part made with those
    parameters (numbers, True/False/None, or text)."""
    import ast

    import metricloss as ml

    name, _, given = text.partition(":")
    parameters = {}
    for item in (i.strip() for i in given.split(",") if i.strip()):
        key, equals, value = item.partition("=")
        if not equals or not key.strip() or not value.strip():
            raise InputError(f"{option} takes NAME or NAME:KEY=VALUE,...; {item!r} in {text!r} is not KEY=VALUE "
                             f"(e.g. {option} inverse_distance:power=4)")
        try:
            parameters[key.strip()] = ast.literal_eval(value.strip())
        except (ValueError, SyntaxError):
            parameters[key.strip()] = value.strip()
    factory = ml.get_plugin(kind, name.strip())  # a PluginError names the registered ones
    try:
        return factory(**parameters)
    except TypeError as error:
        raise InputError(f"{option} {text}: {kind} {name.strip()!r} does not take these parameters ({error})") from None


def parse_anchors(text: str):
    """One ``--anchors`` setting as a list of samplers: ``16``, ``16,16,16,16`` or ``ideal=8,random=32``."""
    import metricloss as ml

    items = [item.strip() for item in text.split(",") if item.strip()]
    usage = ("--anchors takes, per setting, N (N anchors of each of ideal, good, nearby and random), four "
             "counts a,b,c,d for those four, or name=N pairs such as ideal=16,random=32")
    if not items:
        raise InputError(f"{usage}; got {text!r}")
    if all("=" in item for item in items):
        pairs = [item.split("=", 1) for item in items]
    elif any("=" in item for item in items):
        raise InputError(f"{usage}; {text!r} mixes counts with name=N")
    elif len(items) == 1:
        pairs = [(name, items[0]) for name in DEFAULT_SAMPLERS]
    elif len(items) == len(DEFAULT_SAMPLERS):
        pairs = list(zip(DEFAULT_SAMPLERS, items))
    else:
        raise InputError(f"{usage}; {text!r} has {len(items)} counts")
    samplers = []
    for name, count in pairs:
        try:
            number = int(count)
        except ValueError:
            raise InputError(f"{usage}; {count!r} in {text!r} is not a whole number") from None
        if number < 0:
            raise InputError(f"{usage}; the count for {name.strip()} in {text!r} is negative")
        factory = ml.get_plugin("sampler", name.strip())  # a PluginError names the samplers there are
        try:
            samplers.append(factory(count=number))
        except TypeError:
            raise InputError(f"sampler {name.strip()!r} takes no count=, so --anchors cannot set its count") from None
    if sum(int(s.params.get("count", 0)) for s in samplers) == 0:
        raise InputError(f"--anchors {text!r} gives no anchor at all: the loss needs at least one")
    return samplers


def _say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
