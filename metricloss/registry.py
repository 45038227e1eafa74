"""The plugin registry: one table per kind, filled by decorators and by entry points.

Entry points (group ``metricloss.metrics`` for metrics) are loaded lazily, on the first lookup
that misses, the way pytest and pluggy find plugins. ``METRICLOSS_DISABLE_PLUGIN_AUTOLOAD=1`` turns
discovery off. A plugin that fails to import is recorded with its distribution and error and the
rest still load; asking for it by name raises a PluginError that says why it is missing.
"""

from __future__ import annotations

import difflib
import hashlib
import inspect
import os
import re
import textwrap
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from .contracts import problem
from .errors import PluginError

GROUPS = {
    "metric": "metricloss.metrics",
    "relaxation": "metricloss.relaxations",
    "sampler": "metricloss.samplers",
    "interpolator": "metricloss.interpolators",
    "task": "metricloss.tasks",
}
AUTOLOAD_SWITCH = "METRICLOSS_DISABLE_PLUGIN_AUTOLOAD"


@dataclass(frozen=True)
class Entry:
    name: str
    kind: str
    plugin: Any
    source: str  # "distribution version" for entry points, "file:line" for decorators
    distribution: str = ""
    version: str = ""
    fingerprint: str | None = None  # a decorated plugin's definition (``definition_fingerprint``); None for entry points


@dataclass(frozen=True)
class Failure:
    name: str
    kind: str
    source: str
    error: str


class Registry:
    """One table per plugin kind (metric, relaxation, sampler, interpolator, task), filled by the
    decorators and, on the first lookup that misses, by the installed entry points."""

    def __init__(self) -> None:
        self._entries: dict[str, dict[str, Entry]] = {kind: {} for kind in GROUPS}
        self._failures: dict[str, dict[str, Failure]] = {kind: {} for kind in GROUPS}
        self._loaded: set[str] = set()

    def register(self, kind: str, name: str, plugin: Any, source: str,
                 distribution: str = "", version: str = "", fingerprint: str | None = None) -> None:
        """Add a plugin, checked against its kind's contract (``contracts.py``).

        A name holds one definition per process. Declaring it again with the same source (a
        notebook cell run twice, a module imported under two names) replaces the entry; with
        another source it is refused, wherever that source is."""
        if not isinstance(name, str) or not name:
            raise PluginError(f"the {kind} at {source} needs a non-empty string name, got {name!r}")
        wrong = problem(kind, plugin)
        if wrong is not None:
            raise PluginError(f"the {kind} {name!r} at {source} {wrong}")
        entries = self._entries[kind]
        existing = entries.get(name)
        if existing is not None and existing.plugin is not plugin and (
                fingerprint is None or existing.fingerprint != fingerprint):
            if existing.source == source:
                raise PluginError(
                    f"the {kind} {name!r} at {source} is declared again with another definition; a name keeps "
                    "its first definition for the life of the process, so that nothing already built from it "
                    "changes meaning. Restart the process (the notebook's kernel) to change it, or give the "
                    "new one another name (name=...)."
                )
            raise PluginError(
                f"two {kind}s are named {name!r}: one from {existing.source}, one from {source}. "
                "Rename one of them (name=...)."
            )
        entries[name] = Entry(name, kind, plugin, source, distribution, version, fingerprint)

    def get(self, kind: str, name: str) -> Any:
        if not isinstance(name, str):
            raise PluginError(f"a {kind} is looked up by its name, a string; got {type(name).__name__} {name!r}"[:300])
        if name not in self._entries[kind]:
            self.load_entry_points(kind)
        entry = self._entries[kind].get(name)
        if entry is not None:
            return entry.plugin
        failure = self._failures[kind].get(name)
        if failure is not None:
            raise PluginError(
                f"the {kind} {name!r} from {failure.source} failed to load: {failure.error}"
            )
        known = sorted(self._entries[kind])
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        off = " (plugin autoload is off: METRICLOSS_DISABLE_PLUGIN_AUTOLOAD is set)" if autoload_disabled() else ""
        raise PluginError(
            f"no {kind} named {name!r}{off}. Known {kind}s: {', '.join(known) or 'none'}.{hint}"
        )

    def entry(self, kind: str, name: str) -> Entry | None:
        """The entry registered as ``name`` (entry points loaded first if it is not yet), or None."""
        if name not in self._entries[kind]:
            self.load_entry_points(kind)
        return self._entries[kind].get(name)

    def entries(self, kind: str) -> list[Entry]:
        self.load_entry_points(kind)
        return sorted(self._entries[kind].values(), key=lambda e: e.name)

    def failures(self, kind: str) -> list[Failure]:
        self.load_entry_points(kind)
        return sorted(self._failures[kind].values(), key=lambda f: f.name)

    def load_entry_points(self, kind: str) -> None:
        if kind in self._loaded or autoload_disabled():
            return
        self._loaded.add(kind)
        found: dict[str, str] = {}
        for point in metadata.entry_points(group=GROUPS[kind]):
            source = _distribution(point)
            if point.name in found and found[point.name] != source:
                raise PluginError(
                    f"two {kind}s are named {point.name!r}: one from {found[point.name]}, one from "
                    f"{source}. Uninstall one of the distributions."
                )
            found[point.name] = source
            try:
                plugin = point.load()
            except Exception as error:  # a broken plugin must not take the others down
                self._failures[kind][point.name] = Failure(
                    point.name, kind, source, f"{type(error).__name__}: {error}"
                )
                continue
            plugin_name = getattr(plugin, "name", point.name)
            if plugin_name != point.name:
                self._failures[kind][point.name] = Failure(
                    point.name, kind, source,
                    f"entry point {point.name!r} ({point.value}) is a {kind} named {plugin_name!r}; "
                    "the two names must agree",
                )
                continue
            wrong = problem(kind, plugin)
            if wrong is not None:
                self._failures[kind][point.name] = Failure(point.name, kind, source, f"{point.value} {wrong}")
                continue
            dist = point.dist
            self.register(kind, point.name, plugin, source,
                          dist.name if dist else "", dist.version if dist else "")


def plugins_table(registry: Registry) -> str:
    """Every plugin by kind with where it comes from, then the ones that failed to load."""
    rows = [("kind", "name", "distribution", "version")]
    failed = []
    for kind in GROUPS:
        rows += [(kind, e.name, e.distribution or f"(in-process) {e.source}", e.version)
                 for e in registry.entries(kind)]
        failed += registry.failures(kind)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    if autoload_disabled():
        lines.append(f"\n(entry-point discovery is off: {AUTOLOAD_SWITCH} is set)")
    if failed:
        lines.append("\nfailed to load:")
        lines += [f"  {f.kind} {f.name!r} from {f.source}: {f.error}" for f in failed]
    return "\n".join(lines)


def _distribution(point: metadata.EntryPoint) -> str:
    dist = point.dist
    return f"{dist.name} {dist.version}" if dist is not None else point.value


def definition_fingerprint(*parts: Any) -> str:
    """What identifies a declaration's definition: the source text of each function among ``parts``
    (its code object's contents where the source cannot be read: ``python -c``, ``exec``), and the
    ``repr`` of every other part (options). Two declarations with equal fingerprints are the same."""
    digest = hashlib.sha256()
    for part in parts:
        digest.update(_definition(part).encode("utf-8", "backslashreplace"))
        digest.update(b"\0")
    return digest.hexdigest()


def _definition(part: Any) -> str:
    if not callable(part) or isinstance(part, type):
        return _plain_repr(part)
    declared = getattr(part, "_metricloss_source", None)  # set by code that generates the function
    if isinstance(declared, str):
        return declared
    try:
        return textwrap.dedent(inspect.getsource(part))
    except (OSError, TypeError):
        code = getattr(part, "__code__", None)
        return _plain_repr(part) if code is None else _code_text(code)


def _plain_repr(part: Any) -> str:
    """``repr`` without memory addresses, which differ between two runs of the same declaration."""
    return re.sub(r" at 0x[0-9a-fA-F]+", "", repr(part))


def _code_text(code) -> str:
    constants = tuple(_code_text(c) if inspect.iscode(c) else repr(c) for c in code.co_consts)
    return repr((code.co_code, constants, code.co_names, code.co_varnames, code.co_freevars))


def autoload_disabled() -> bool:
    return os.environ.get(AUTOLOAD_SWITCH, "") not in ("", "0")


REGISTRY = Registry()
"""The process's plugin registry. ``REGISTRY.entries("metric")`` lists the registered metrics
with where each comes from, ``REGISTRY.failures(kind)`` the plugins that failed to load and why;
``metricloss plugins`` prints both. Look plugins up with ``get_metric`` and ``get_plugin``."""
