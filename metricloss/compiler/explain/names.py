"""What the report calls each block and target value, and which of the user's expressions it is.

A block is shown as the comparison the user wrote, found on its line in their source, and called
after the variable it was assigned to; names that clash with anything in ``g``'s code, or are not
unique, fall back to ``b0, b1, ...`` and ``t0, t1, ...``.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
from collections import Counter, defaultdict

import torch.fx as fx

from .. import ops
from ..lowered import LOWERED_TEXT
from ..metric import Compiled
from ..render import MIRRORED, Written, assigned_name, render, source_file


def block_label(index: int, names: dict[str, str]) -> str:
    """``b0``, or ``b0 (above)`` when the formula calls the block ``above``."""
    name = names.get(f"b{index}", f"b{index}")
    return f"b{index}" if name == f"b{index}" else f"b{index} ({name})"


def same_expression(written: str, traced: str) -> bool:
    """Whether two texts parse to the same expression (they differ in parentheses at most)."""
    try:
        return _ast_dump(written) == _ast_dump(traced)
    except SyntaxError:
        return False


def _ast_dump(text: str) -> str:
    return ast.dump(ast.parse(text, mode="eval"))


def written_expressions(blocks) -> list[Written | None]:
    """Per block, the expression the user wrote for it, found on its line, or None.

    A block that a lowering rule produced is matched with the one lowered expression on its line
    (``scores.argmax(1) == labels``); any other with the comparison of its symbol, the k-th block
    of a symbol on a line with the k-th such comparison written there (a comparison written once
    and traced in a loop stands for every block it made). A comparison Python reflected
    (``0 < scores`` traced as ``scores > 0``) is matched by the mirrored symbol when none has
    the block's own.
    """
    result: list[Written | None] = [None] * len(blocks)
    lines: dict[tuple, list[int]] = defaultdict(list)
    for index, block in enumerate(blocks):
        if block.location is not None:
            lines[(block.location.filename, block.location.lineno)].append(index)
    for (_, line), indices in lines.items():
        source = source_file(blocks[indices[0]].location)
        if source is None:
            continue
        lowered = [i for i in indices if blocks[i].node.meta.get(LOWERED_TEXT)]
        if lowered:
            found = source.lowered(line)
            if len(found) == 1:
                for i in lowered:
                    result[i] = found[0]
        plain = [i for i in indices if not blocks[i].node.meta.get(LOWERED_TEXT)]
        written = source.comparisons(line)
        for i in plain:  # first the comparisons written just as traced (or mirrored)
            lhs, rhs = (render(a) for a in ops.operands(blocks[i].node))
            symbol = blocks[i].symbol
            traced = (f"{lhs} {symbol} {rhs}", f"{rhs} {MIRRORED.get(symbol, symbol)} {lhs}")
            result[i] = next((w for w in written if any(same_expression(w.text, t) for t in traced)), None)
        exact = {id(w) for w in result if w is not None}
        plain = [i for i in plain if result[i] is None]
        written = [w for w in written if id(w) not in exact]
        for symbol in dict.fromkeys(blocks[i].symbol for i in plain):
            group = [i for i in plain if blocks[i].symbol == symbol]
            matching = ([w for w in written if w.symbol == symbol]
                        or [w for w in written if w.symbol == MIRRORED.get(symbol)])
            if matching and len(group) % len(matching) == 0:
                for k, i in enumerate(group):
                    result[i] = matching[k % len(matching)]
    return result


def input_names(compiled: Compiled, written: list[Written | None]) -> dict[str, str]:
    """What the formula and the code call each input of g: a block after the variable the user
    assigned its comparison to, a target value after its variable; else ``b0, b1, ...`` and
    ``t0, t1, ...``. A name is used only when it is unique and clashes with nothing in g's code."""
    part = compiled.program.partition
    module = compiled.program.g_module
    inputs = [n.target for n in module.graph.nodes if n.op == "placeholder"]
    targets = {node.name: node for node in part.target_inputs}
    proposed: dict[str, str | None] = {}
    for index in range(len(part.blocks)):
        found = written[index] if index < len(written) else None
        proposed[f"b{index}"] = found.name if found is not None and found.symbol is not None else None
    for name in inputs[len(part.blocks):]:
        proposed[name] = assigned_name(targets[name]) if name in targets else None
    used = set(re.findall(r"[A-Za-z_]\w*", module.code)) - set(inputs)
    reserved = used | set(keyword.kwlist) | set(dir(builtins)) | {"torch", "self", "g"}
    counts = Counter(name for name in proposed.values() if name)
    names, unnamed = {}, 0
    for position, name in enumerate(inputs):
        wanted = proposed.get(name)
        if (wanted and wanted.isidentifier() and counts[wanted] == 1 and wanted not in reserved
                and not re.fullmatch(r"[bt]\d+", wanted)):
            names[name] = wanted
        elif position < len(part.blocks):
            names[name] = name
        else:
            names[name] = f"t{unnamed}"
            unnamed += 1
    return names


def plain_names(compiled: Compiled) -> dict[str, str]:
    """``b0, b1, ...`` for the blocks and ``t0, t1, ...`` for the target values g reads."""
    inputs = [n.target for n in compiled.program.g_module.graph.nodes if n.op == "placeholder"]
    blocks = len(compiled.program.partition.blocks)
    return {name: name if i < blocks else f"t{i - blocks}" for i, name in enumerate(inputs)}


_NODE_REFERENCE = re.compile(r"`(\w+)` \(line (\d+)\)")


def without_node_names(text: str, graph: fx.Graph) -> str:
    """A lowering's description with its references to traced values by node name (which the
    user never wrote) replaced by the variable they were assigned to, or by their line."""
    nodes = {node.name: node for node in graph.nodes}

    def replace(match: re.Match) -> str:
        node = nodes.get(match.group(1))
        name = assigned_name(node) if node is not None else None
        return f"`{name}` (line {match.group(2)})" if name else f"the value at line {match.group(2)}"

    return _NODE_REFERENCE.sub(replace, text)
