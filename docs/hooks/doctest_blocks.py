"""A griffe extension for the API reference: the ``>>>`` examples of a docstring shown as code.

Docstrings here carry doctests in plain text (pytest runs them); Markdown would read their
``>>>`` as nested quotes. Each run of lines from a ``>>>`` line to the next blank line (the
doctest's own rule for where an example and its output end) becomes a fenced ``pycon`` block.
"""

from __future__ import annotations

import textwrap

import griffe


class DoctestBlocks(griffe.Extension):
    def on_object(self, *, obj, **kwargs) -> None:
        docstring = getattr(obj, "docstring", None)
        if docstring is not None and ">>>" in docstring.value:
            docstring.value = fenced(docstring.value)


def fenced(text: str) -> str:
    lines, out, index = text.splitlines(), [], 0
    while index < len(lines):
        if not lines[index].lstrip().startswith(">>>"):
            out.append(lines[index])
            index += 1
            continue
        block = []
        while index < len(lines) and lines[index].strip():
            block.append(lines[index])
            index += 1
        if out and out[-1].strip():
            out.append("")
        out += ["```pycon", *textwrap.dedent("\n".join(block)).splitlines(), "```"]
    return "\n".join(out)
