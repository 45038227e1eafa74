"""A MkDocs hook: pages that include a file of the repository, so that README.md and CHANGELOG.md
stay the one source of what they say.

A line ``<!-- include: README.md -->`` is replaced by that file (a path from the repository root);
``<!-- include: README.md#Built-in metrics -->`` by the section under that heading, up to the next
heading of its level or above, without the heading itself. Links into ``docs/`` are rewritten
relative to the site (``docs/guide.md`` -> ``guide.md``), as every page lives in ``docs/``, and
links to README.md and CHANGELOG.md point at their pages.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PAGES = {"README.md": "index.md", "CHANGELOG.md": "changelog.md"}  # files of the root with a page of their own
INCLUDE = re.compile(r"^<!-- include: (?P<path>[^#>]+?)(?:#(?P<section>[^>]+?))? -->$", re.M)


def on_page_markdown(markdown: str, page, config, files) -> str:
    return INCLUDE.sub(lambda match: included(match["path"].strip(), match["section"]), markdown)


def included(path: str, section: str | None) -> str:
    text = (ROOT / path).read_text(encoding="utf-8")
    if section is not None:
        text = section_of(text, section.strip(), path)
    text = re.sub(r"\]\(docs/", "](", text)
    for name, page in PAGES.items():
        text = text.replace(f"]({name})", f"]({page})")
    return text


def section_of(text: str, heading: str, path: str) -> str:
    lines = text.splitlines()
    fenced = False
    start = level = None
    for index, line in enumerate(lines):
        if line.startswith("```"):
            fenced = not fenced
        found = None if fenced else re.match(r"^(#+) (.*)$", line)
        if found is None:
            continue
        if start is None and found[2].strip() == heading:
            start, level = index + 1, len(found[1])
        elif start is not None and len(found[1]) <= level:
            return "\n".join(lines[start:index]).strip() + "\n"
    if start is None:
        raise ValueError(f"{path} has no heading {heading!r} to include")
    return "\n".join(lines[start:]).strip() + "\n"
