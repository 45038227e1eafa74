"""The catalog page (``docs/zoo.md``), rendered from the zoo.

Regenerate it from the repository root after changing the zoo::

    .venv/bin/python -m tests.zoo.render_catalog > docs/zoo.md
"""

from __future__ import annotations

import linecache

from .catalog import ZOO
from .refusals import REFUSALS

COMMAND = "python -m tests.zoo.render_catalog > docs/zoo.md"

_HEADER = f"""\
# What compiles: the metric zoo

<!-- Generated from tests/zoo/catalog.py and tests/zoo/refusals.py: `{COMMAND}`. Do not edit. -->

Metrics written the way evaluation code is written in TorchMetrics' functional code,
scikit-learn's definitions, PyTorch tutorials and notebooks. `tests/test_zoo.py` compiles each
with `@metricloss.metric` and holds it to its own eager value on tie-free scores, integer
(tie-heavy) scores and a constant model. Metrics whose tie order torch leaves unspecified
(`topk`, `argsort`, `sort` without `stable=True`; marked *ties: stated rule*) warn when compiled
(`metricloss.TieOrderWarning`, naming the line and the rule the compiled metric follows), and on
ties they are held to that rule: a definition with tied items in index order, or scikit-learn's
`top_k_accuracy_score` for top-k membership, and the same code with stable sorts run eagerly.
Metrics marked *trained* are also trained from raw scores with `metricloss.UniLoss` in the tests.
"""


def _cell(text: str) -> str:
    return text.replace("|", "\\|")


def _metric_table(entries) -> list[str]:
    rows = ["| domain | metric | idiom | style | trained |", "|---|---|---|---|---|"]
    for entry in entries:
        notes = []
        if not entry.eager_ties:
            notes.append("*ties: stated rule*")
        if entry.batch_loop:
            notes.append("*loops over samples: traced per batch size*")
        idiom = entry.idiom + (" (" + "; ".join(notes) + ")" if notes else "")
        rows.append(f"| {entry.domain} | `{entry.name}` | {_cell(idiom)} | {entry.style} | "
                    f"{'yes' if entry.trained else ''} |")
    return rows


def render() -> str:
    compiling = [e for e in ZOO if e.pending is None]
    pending = [e for e in ZOO if e.pending is not None]
    lines = [_HEADER]
    lines.append(f"## Metrics that compile ({len(compiling)})\n")
    lines += _metric_table(compiling)
    lines.append("")
    if pending:
        lines.append(f"## Written the same way, not compiled yet ({len(pending)})\n")
        lines.append("Each meets a limitation of the compiler today; the tests expect them to fail "
                     "until it is lifted.\n")
        lines.append("| domain | metric | idiom | limitation |")
        lines.append("|---|---|---|---|")
        for entry in pending:
            lines.append(f"| {entry.domain} | `{entry.name}` | {_cell(entry.idiom)} | {_cell(entry.pending)} |")
        lines.append("")
    lines.append(f"## Refused, with what to write instead ({len(REFUSALS)})\n")
    lines.append("Each is a `CompileError` that names the construct and the user's `file:line`.\n")
    lines.append("| construct | as written | write instead |")
    lines.append("|---|---|---|")
    for refusal in REFUSALS:
        code = linecache.getline(refusal.fn.__code__.co_filename, refusal.line).strip()
        lines.append(f"| {_cell(refusal.construct)} | `{_cell(code)}` | {_cell(refusal.hint)} |")
    lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render(), end="")
