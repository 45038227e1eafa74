"""Parts (relaxations, samplers, interpolators) pickle by reference, as functions do.

A part is made by a registered factory from its parameters, so the factory's name and the
parameters are the whole of it: that is what travels to a DataLoader worker, a spawned process or
a checkpoint, and the factory makes the part again on the other side. Pickling the part's
closures by value would fail (local functions) or tie the pickle to one version of the code.
"""

from __future__ import annotations

import importlib
import pickle
from typing import Any

from .errors import PluginError
from .registry import REGISTRY


def part_reduce(kind: str, part: Any) -> tuple:
    """``__reduce__`` of a part: its registered factory's name and its parameters (``remake_part``).
    A part whose name no registered factory carries cannot be found again and is refused, saying so."""
    entry = REGISTRY.entry(kind, part.name)
    if entry is None:
        raise pickle.PicklingError(
            f"the {kind} {part.name!r} cannot be pickled: a {kind} is pickled by the name of its factory, "
            f"and no {kind} is registered as {part.name!r}. Register its factory with @metricloss.{kind} "
            f"(or an entry point) under the name the {kind} carries"
        )
    factory = entry.plugin
    module, qualname = getattr(factory, "__module__", None), getattr(factory, "__qualname__", None)
    if module == "__main__" or not qualname or "<locals>" in qualname:
        module = None
    return remake_part, (kind, part.name, dict(part.params), module)


def remake_part(kind: str, name: str, params: dict, module: str | None = None) -> Any:
    """Unpickle a part (``part_reduce``): its factory's module imported (which registers it), the
    factory found by name and called with the parameters."""
    if module is not None:
        try:
            importlib.import_module(module)
        except ImportError:
            pass  # perhaps registered by an entry point or another module: the lookup says
    try:
        factory = REGISTRY.get(kind, name)
    except PluginError as error:
        raise PluginError(f"unpickling the {kind} {name!r}: {error}") from None
    return factory(**params)
