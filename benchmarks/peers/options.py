"""The options of ``metricloss peers``, read into a ``Plan``, and the command line that repeats it.

Every option is checked here, before anything is loaded, trained or written, so that a run of
minutes never ends on a typo, and an option that the chosen problem does not use is refused
rather than silently ignored.
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import torch

from metricloss.arguments import FLOAT32_MAX, most_workers
from metricloss.errors import InputError

from . import methods as method_table
from .ltr_problem import ltr_reports
from .methods import METHODS
from .problems import DIGITS
from .runner import Plan, ProblemSpec

DEFAULT_SEEDS = 5
DEFAULT_CLASSES = "8"
MAX_SEEDS = 10_000  # a bound that keeps the list of seeds small
SMOKE_TRAIN = 320  # the smoke mode trains on the first samples (queries, on ltr) of the training split only
PROBLEMS = ("digits", "blobs", "ltr")


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


def parse_lrs(text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
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


def _check_combination(args) -> None:
    """Options that belong to one problem, given for a run without it."""
    chosen = PROBLEMS if args.problem == "all" else (args.problem,)
    if "digits" not in chosen:
        for option, value in (("--classes", args.classes), ("--positive-fraction", args.positive_fraction)):
            if value is not None:
                raise InputError(f"{option} applies to the digits problem only; --problem {args.problem} does not "
                                 f"use it: leave {option} out, or use --problem digits")
    if args.weight_decay is not None:
        if "ltr" in chosen:
            raise InputError(f"--weight-decay applies to the problems trained by SGD (digits, blobs); --problem "
                             f"{args.problem} includes ltr, which trains with the ltr task's own Adam: leave "
                             "--weight-decay out, or choose --problem digits or blobs")
        if not (math.isfinite(args.weight_decay) and args.weight_decay >= 0):
            raise InputError(f"--weight-decay must be a number of at least 0 (SGD's L2 penalty), got "
                             f"{args.weight_decay:g}, e.g. --weight-decay 1e-3")
    if args.select_on is not None:
        if "ltr" not in chosen:
            raise InputError(f"--select-on applies to --problem ltr (the digits and blobs problems choose the lr on "
                             f"each metric in turn); --problem {args.problem} does not use it: leave --select-on out")
        if args.select_on not in ltr_reports():
            raise InputError(f"--select-on {args.select_on}: not a metric the ltr task reports; choose one of "
                             f"{', '.join(ltr_reports())}")
    if args.data_dir is not None:
        if "ltr" not in chosen:
            raise InputError(f"--data-dir applies to --problem ltr (LETOR files such as MSLR-WEB10K's Fold1); "
                             f"--problem {args.problem} trains on bundled or generated data only: leave --data-dir out")
        if not Path(args.data_dir).is_dir():
            raise InputError(f"--data-dir {args.data_dir} is not a folder; give the folder holding train.txt, "
                             "vali.txt and test.txt (or a data set's root with Fold1/)")


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
    classes = parse_classes(args.classes if args.classes is not None else DEFAULT_CLASSES)
    lrs = parse_lrs(args.lrs)
    names = parse_methods(args.methods)
    _check_combination(args)
    problems: list[ProblemSpec] = []
    if args.problem in ("digits", "all"):
        problems += [ProblemSpec("digits", digit, args.positive_fraction) for digit in classes]
    if args.problem in ("blobs", "all"):
        problems.append(ProblemSpec("blobs"))
    if args.problem in ("ltr", "all"):
        problems.append(ProblemSpec("ltr", data_dir=args.data_dir))
    if names is not None:
        kinds = {spec.build().kind for spec in problems}
        unused = [name for name in names if not set(METHODS[name].kinds) & kinds]
        if unused:
            raise InputError(f"method(s) {', '.join(unused)} do not apply to --problem {args.problem} "
                             f"(they train {', '.join(sorted({k for n in unused for k in METHODS[n].kinds}))} problems)")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise InputError("--device cuda: no CUDA device is available here; use --device cpu")
    if args.smoke:
        return Plan(tuple(problems), names, None, (0,), epochs=1, batch_size=args.batch_size,
                    device=args.device, limit_train=SMOKE_TRAIN, smoke=True, select_on=args.select_on,
                    weight_decay=args.weight_decay or 0.0)
    return Plan(tuple(problems), names, lrs, tuple(range(args.seeds)), epochs=args.epochs,
                batch_size=args.batch_size, device=args.device, select_on=args.select_on,
                weight_decay=args.weight_decay or 0.0)


def command_line(args, plan: Plan) -> str:
    """The command that reproduces the run, every setting spelled out."""
    parts = ["metricloss peers", f"--problem {args.problem}"]
    if args.problem in ("digits", "all"):
        parts.append(f"--classes {(args.classes or DEFAULT_CLASSES).replace(' ', '')}")
        if args.positive_fraction is not None:
            parts.append(f"--positive-fraction {args.positive_fraction:g}")
    if args.data_dir is not None:
        parts.append(f"--data-dir {args.data_dir}")
    if plan.methods is not None:
        parts.append(f"--methods {','.join(plan.methods)}")
    if plan.select_on is not None:
        parts.append(f"--select-on {plan.select_on}")
    if plan.weight_decay:
        parts.append(f"--weight-decay {plan.weight_decay:g}")
    if args.smoke:
        parts.append("--smoke")
    else:
        grids = {plan.lrs_for(spec.build()) for spec in plan.problems}
        if len(grids) == 1:  # one grid for every problem (--problem all has one per problem)
            parts.append(f"--lrs {','.join(f'{lr:g}' for lr in grids.pop())}")
        parts.append(f"--seeds {len(plan.seeds)}")
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
