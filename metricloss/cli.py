"""The ``metricloss`` command: ``metricloss demo``, ``metricloss explain NAME``."""

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

    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import main as demo_main

            demo_main(epochs=args.epochs, seed=args.seed)
        elif args.command == "explain":
            from . import explanation as explaining

            if args.latex:
                print(explaining.formula(args.name).latex)
            elif args.dot:
                print(explaining.dot(args.name))
            else:
                print(explaining.explain(args.name))
        elif args.command == "plugins":
            from .registry import REGISTRY, plugins_table

            print(plugins_table(REGISTRY))
    except MetricLossError as error:
        print(f"metricloss: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
