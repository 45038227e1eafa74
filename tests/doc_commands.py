"""The command lines the documentation gives for one ``metricloss`` command, parsed as that command
parses them: the reproducing commands of docs/results.md run for minutes to hours, so tests check
that each is still a valid invocation rather than run it."""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).parent.parent


def documented_invocations(command: str, add_command: Callable) -> list[tuple[str, argparse.Namespace]]:
    """(line, parsed options) for every ``metricloss COMMAND ...`` line of README.md and docs/*.md
    (with or without ``OMP_NUM_THREADS=N`` before it), parsed by the parser ``add_command`` adds;
    a trailing ``# comment`` is left out."""
    parser = argparse.ArgumentParser()
    add_command(parser.add_subparsers())
    pattern = re.compile(rf"^(OMP_NUM_THREADS=\d+ )?metricloss {re.escape(command)} ")
    lines = [line for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
             for line in page.read_text(encoding="utf-8").splitlines() if pattern.match(line)]
    parsed = []
    for line in lines:
        words = shlex.split(line.split("#")[0])
        parsed.append((line, parser.parse_args(words[words.index(command):])))
    return parsed
