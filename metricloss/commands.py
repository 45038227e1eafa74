"""The command kind of plugin: a function that adds its subcommand to the ``metricloss`` command.

Declared here, apart from ``cli.py``, so that ``import metricloss`` knows every kind of plugin
(``ml.plugins("command")``, ``metricloss plugins``) without importing the command line itself.
Another package adds a command through the ``metricloss.commands`` entry-point group, as
``metricloss bench`` and ``metricloss peers`` are added.
"""

from __future__ import annotations

from .contracts import callable_plugin
from .registry import REGISTRY, Kind

REGISTRY.declare(Kind("command", "metricloss.commands", callable_plugin))
