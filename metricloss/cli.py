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

    args = parser.parse_args(argv)
    try:
        if args.command == "demo":
            from .demo import main as demo_main

            demo_main(epochs=args.epochs, seed=args.seed)
        elif args.command == "explain":
            from .explain import explain as explain_text

            print(explain_text(args.name))
    except MetricLossError as error:
        print(f"metricloss: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
