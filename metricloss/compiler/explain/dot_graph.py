"""The metric's traced graph in Graphviz DOT, for ``metricloss explain --dot``."""

from __future__ import annotations

from collections.abc import Callable

from ..metric import Metric
from .examples import look_at
from .loading import find_metric


def dot(metric: str | Metric | Callable) -> str:
    """The metric's traced graph in Graphviz DOT, coloured by role (score, block, g, target)."""
    metric = find_metric(metric)
    graph = look_at(metric).compiled.program.partition.dependency_graph()
    colours = {"score": "lightblue", "block": "orange", "binary": "palegreen", "target": "lightgrey"}
    lines = [f'digraph "{metric.name}" {{', "  rankdir=LR;", "  node [shape=box, style=filled];"]
    for name, data in graph.nodes(data=True):
        label = f"{name}\\n{data['op']}".replace('"', "'")
        lines.append(f'  "{name}" [label="{label}", fillcolor={colours[data["role"]]}];')
    for source, target in graph.edges():
        lines.append(f'  "{source}" -> "{target}";')
    lines.append("}")
    return "\n".join(lines)
