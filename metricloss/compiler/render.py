"""Rendering a traced value as a Python-like expression, for messages and ``explain``."""

from __future__ import annotations

import operator

import torch.fx as fx

_OPERATORS = {
    operator.eq: "==", operator.ne: "!=", operator.gt: ">", operator.ge: ">=", operator.lt: "<",
    operator.le: "<=", operator.add: "+", operator.sub: "-", operator.mul: "*",
    operator.truediv: "/", operator.and_: "&", operator.or_: "|",
}


def render(value, depth: int = 0) -> str:
    """A Python-like expression for a score/target-side value (for reading, not for running)."""
    if not isinstance(value, fx.Node):
        if isinstance(value, slice):
            parts = [render(x, depth) if x is not None else "" for x in (value.start, value.stop)]
            text = ":".join(parts)
            return text + (f":{value.step}" if value.step is not None else "")
        if isinstance(value, tuple):
            return ", ".join(render(v, depth) for v in value)
        return repr(value)
    if depth > 6:
        return value.name
    node = value
    args = [render(a, depth + 1) for a in node.args]
    if node.op == "placeholder":
        return str(node.target)
    if node.op == "call_function" and node.target is operator.getitem:
        return f"{args[0]}[{args[1]}]"
    if node.op == "call_function" and node.target is getattr:
        return f"{args[0]}.{node.args[1]}"
    if node.op == "call_function" and node.target in _OPERATORS:
        return f"({args[0]} {_OPERATORS[node.target]} {args[1]})"
    kwargs = [f"{k}={render(v, depth + 1)}" for k, v in node.kwargs.items()]
    if node.op == "call_method":
        return f"{args[0]}.{node.target}({', '.join(args[1:] + kwargs)})"
    name = getattr(node.target, "__name__", str(node.target))
    return f"{name}({', '.join(args + kwargs)})"
