"""``explain``: what a metric compiled into, in words a user can check against their code."""

from __future__ import annotations

import re

import torch.fx as fx

from .metric import Metric, get_metric
from .render import render


def explain(metric: str | Metric) -> str:
    """The binary variables, the re-expression g, and the ideal configuration of a metric."""
    metric = get_metric(metric)
    compiled = metric.compiled
    decl = metric.declaration
    program = compiled.program
    part = program.partition
    direction = "higher is better" if decl.higher_is_better else "lower is better"
    best = f"; best {decl.best}" if decl.best is not None else ""
    params = "".join(f", {k}={v!r}" for k, v in metric.params.items())
    lines = [f"metric `{metric.name}`{params} ({direction}{best}), declared at {decl.location}", ""]
    lines.append(f"binary variables ({len(part.blocks)} block{'s' if len(part.blocks) != 1 else ''}; "
                 "b = [d > 0], d computed from the scores with autograd):")
    for index, block in enumerate(part.blocks):
        lowered = block.node.meta.get("lowered_text")
        if lowered:
            lines.append(f"  b{index} = {lowered}")
        else:
            lhs, rhs = (render(a) for a in block.node.args)
            lines.append(f"  b{index} = [{lhs} {block.symbol} {rhs}]")
        lines.append(f"       at {block.location}")
    if compiled.lowered:
        lines += ["", "lowering:"] + [f"  {entry}" for entry in compiled.lowered]
    lines += ["", "re-expression g (exact, evaluated on every anchor in one batched call):"]
    lines += ["  " + line for line in _g_code(program.g_module)]
    lines.append("")
    if decl.ideal is not None:
        lines.append(f"ideal b*: the binaries of the perfect scores given by ideal= ({decl.ideal!r})")
    elif compiled.pattern is not None:
        words = {True: "all true", False: "all false", None: "free (cannot change g at the ideal; follows the current binaries)"}
        pattern = ", ".join(f"b{i} {words[v]}" for i, v in enumerate(compiled.pattern))
        lines.append(f"ideal b*: {pattern}")
    else:
        lines.append("ideal b*: found on the first batch (each block all true or all false)")
    return "\n".join(lines)


def _g_code(module: fx.GraphModule) -> list[str]:
    code = module.code.strip().splitlines()
    lines = []
    for line in code:
        line = line.rstrip()
        if not line.strip():
            continue
        line = re.sub(r"^def forward\(self, ", "def g(", line)
        line = re.sub(r";\s*([a-zA-Z_0-9]+ = )+None", "", line)  # fx frees temporaries; noise here
        lines.append(line.replace("    ", "  ", 1) if line.startswith("    ") else line)
    return lines
