"""The plugin registry: the ground the plugin kinds stand on, knowing none of them.

Each kind is declared to the registry once, by the module that defines what its plugins are
(``Kind``: a name, an entry-point group, a contract, and for parts given as objects, their type and
an example), as pluggy's ``add_hookspecs`` declares a specification: ``compiler/metric/``
declares metrics, ``loss/`` the relaxations, samplers and interpolators, ``train/task.py`` tasks,
``commands.py`` commands. The registry imports nothing of the library but its errors and contracts, and
is the only reader of entry points.

Entry points are loaded lazily, on the first lookup that misses, the way pytest and pluggy find
plugins. ``METRICLOSS_DISABLE_PLUGIN_AUTOLOAD=1`` turns discovery off. A plugin that fails to
import is recorded with its distribution and error and the rest still load; asking for it by name
raises a PluginError that says why it is missing.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from importlib import metadata
from typing import Any

from .contracts import Contract
from .errors import InputError, PluginError

AUTOLOAD_SWITCH = "METRICLOSS_DISABLE_PLUGIN_AUTOLOAD"


@dataclass(frozen=True)
class Kind:
    """One kind of plugin, as its defining module declares it."""

    name: str  # "relaxation"
    group: str  # the entry-point group its distributions publish under
    contract: Contract  # checked on every plugin when it registers
    part: type | None = None  # what a part given as an object must be (``resolve``), when parts are made
    example: str = ""  # such a part, written as a user would


@dataclass(frozen=True)
class Entry:
    """A registered plugin and where it comes from, as ``ml.plugins(kind)`` and ``metricloss plugins``
    list it."""

    name: str
    kind: str
    plugin: Any
    source: str  # "distribution version" for entry points, "file:line" for decorators
    distribution: str = ""
    version: str = ""
    fingerprint: str | None = None  # a decorated plugin's definition (``fingerprints``); None for entry points


@dataclass(frozen=True)
class Failure:
    """An installed plugin that failed to load: its distribution, and the error, kept so that asking
    for it by name says why it is missing."""

    name: str
    kind: str
    source: str
    error: str


class Registry:
    """One table per declared kind, filled by decorators and, on the first lookup that misses, by
    the installed entry points."""

    def __init__(self, kinds: Iterable[Kind] = ()) -> None:
        """An empty registry of ``kinds`` (a second registry, for tools and tests, takes the
        process's: ``Registry(REGISTRY.kinds())``)."""
        self._kinds: dict[str, Kind] = {}
        self._entries: dict[str, dict[str, Entry]] = {}
        self._failures: dict[str, dict[str, Failure]] = {}
        self._loaded: set[str] = set()
        for kind in kinds:
            self.declare(kind)

    def declare(self, kind: Kind) -> None:
        """Add a kind. Declaring it again (its module reloaded) keeps the plugins registered so far."""
        known = self._kinds.get(kind.name)
        if known is not None and known.group != kind.group:
            raise PluginError(f"the plugin kind {kind.name!r} is declared twice, with groups {known.group!r} "
                              f"and {kind.group!r}")
        self._kinds[kind.name] = kind
        self._entries.setdefault(kind.name, {})
        self._failures.setdefault(kind.name, {})

    def kinds(self) -> list[Kind]:
        return list(self._kinds.values())

    def kind(self, name: str) -> Kind:
        kind = self._kinds.get(name) if isinstance(name, str) else None
        if kind is None:
            raise InputError(f"kind must be one of {sorted(self._kinds)}, got {name!r}"[:300])
        return kind

    def register(self, kind: str, name: str, plugin: Any, source: str,
                 distribution: str = "", version: str = "", fingerprint: str | None = None) -> None:
        """Add a plugin, checked against its kind's contract.

        A name holds one definition per process. Declaring it again with the same source (a
        notebook cell run twice, a module imported under two names) replaces the entry; with
        another source it is refused, wherever that source is."""
        declared = self.kind(kind)
        if not isinstance(name, str) or not name:
            raise PluginError(f"the {kind} at {source} needs a non-empty string name, got {name!r}")
        wrong = declared.contract(plugin, kind)
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
        self.kind(kind)
        if not isinstance(name, str):
            raise PluginError(f"a {kind} is looked up by its name, a string; got {type(name).__name__} {name!r}"[:300])
        if name not in self._entries[kind]:
            self.load_entry_points(kind)
        entry = self._entries[kind].get(name)
        if entry is not None:
            return entry.plugin
        failure = self._failures[kind].get(name)
        if failure is not None:
            raise PluginError(f"the {kind} {name!r} from {failure.source} failed to load: {failure.error}")
        known = sorted(self._entries[kind])
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        off = " (plugin autoload is off: METRICLOSS_DISABLE_PLUGIN_AUTOLOAD is set)" if autoload_disabled() else ""
        raise PluginError(f"no {kind} named {name!r}{off}. Known {kind}s: {', '.join(known) or 'none'}.{hint}")

    def entry(self, kind: str, name: str) -> Entry | None:
        """The entry registered as ``name`` (entry points loaded first if it is not yet), or None."""
        self.kind(kind)
        if name not in self._entries[kind]:
            self.load_entry_points(kind)
        return self._entries[kind].get(name)

    def entries(self, kind: str) -> list[Entry]:
        self.load_entry_points(kind)
        return sorted(self._entries[kind].values(), key=lambda e: e.name)

    def failures(self, kind: str) -> list[Failure]:
        self.load_entry_points(kind)
        return sorted(self._failures[kind].values(), key=lambda f: f.name)

    def check_name_free(self, kind: str, name: str, module: str | None, how: str) -> None:
        """A plugin declared in-process may not take the name of an installed plugin it is not: that
        plugin's entry point would clash with it at the first lookup, far from here. ``how``: the
        spelling that gives another name (``@metric(name=...)``)."""
        for point in installed(self.kind(kind).group):
            if point.name == name and point.module != module:
                raise PluginError(
                    f"a {kind} named {name!r} is already provided by {_distribution(point)} ({point.value}); "
                    f"choose another name with {how}"
                )

    def load_entry_points(self, kind: str) -> None:
        declared = self.kind(kind)
        if kind in self._loaded or autoload_disabled():
            return
        self._loaded.add(kind)
        found: dict[str, str] = {}
        for point in installed(declared.group):
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
                self._failures[kind][point.name] = Failure(point.name, kind, source, f"{type(error).__name__}: {error}")
                continue
            plugin_name = getattr(plugin, "name", point.name)
            if not isinstance(plugin_name, str):  # a function's attribute, not a declared name
                plugin_name = point.name
            if plugin_name != point.name:
                self._failures[kind][point.name] = Failure(
                    point.name, kind, source,
                    f"entry point {point.name!r} ({point.value}) is a {kind} named {plugin_name!r}; "
                    "the two names must agree",
                )
                continue
            wrong = declared.contract(plugin, kind)
            if wrong is not None:
                self._failures[kind][point.name] = Failure(point.name, kind, source, f"{point.value} {wrong}")
                continue
            dist = point.dist
            self.register(kind, point.name, plugin, source, dist.name if dist else "", dist.version if dist else "")


def installed(group: str) -> list[metadata.EntryPoint]:
    """The installed entry points of ``group``; none while autoload is switched off."""
    return [] if autoload_disabled() else list(metadata.entry_points(group=group))


def _distribution(point: metadata.EntryPoint) -> str:
    dist = point.dist
    return f"{dist.name} {dist.version}" if dist is not None else point.value


def autoload_disabled() -> bool:
    return os.environ.get(AUTOLOAD_SWITCH, "") not in ("", "0")


REGISTRY = Registry()
"""The process's plugin registry. ``REGISTRY.entries("metric")`` lists the registered metrics
with where each comes from, ``REGISTRY.failures(kind)`` the plugins that failed to load and why;
``metricloss plugins`` prints both. Look plugins up with ``get_metric`` and ``get_plugin``."""


def get_plugin(kind: str, name: str) -> Any:
    """The registered plugin of ``kind`` called ``name`` (a factory, or a ``Metric``)."""
    REGISTRY.kind(kind)
    if not isinstance(name, str):
        raise PluginError(f"a {kind}'s name is a string, got {type(name).__name__} {name!r}"[:300])
    return REGISTRY.get(kind, name)


def resolve(kind: str, part: Any) -> Any:
    """A part given by name is made by its factory with default parameters; a part given as an
    object must be one (``ml.sigmoid(tau=1.0)``, not the factory ``ml.sigmoid``)."""
    if isinstance(part, str):
        return get_plugin(kind, part)()
    declared = REGISTRY.kind(kind)
    if declared.part is not None and not isinstance(part, declared.part):
        factories = {id(entry.plugin): entry.name for entry in REGISTRY.entries(kind)}
        called = ""
        if id(part) in factories:  # the factory itself, not what it makes
            called = f"; call the factory: `{factories[id(part)]}()` rather than `{factories[id(part)]}`"
        raise InputError(
            f"{kind} must be a {declared.part.__name__} (e.g. {declared.example}) or the name of a registered "
            f"{kind}, got {type(part).__name__} {part!r}"[:240] + called
        )
    return part
