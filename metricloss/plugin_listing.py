"""``metricloss plugins``: every registered plugin by kind, where it comes from, and what failed."""

from __future__ import annotations

from .registry import AUTOLOAD_SWITCH, Registry, autoload_disabled


def plugins_table(registry: Registry) -> str:
    """Every plugin by kind with where it comes from, then the ones that failed to load."""
    rows = [("kind", "name", "distribution", "version")]
    failed = []
    for kind in registry.kinds():
        rows += [(kind.name, e.name, e.distribution or f"(in-process) {e.source}", e.version)
                 for e in registry.entries(kind.name)]
        failed += registry.failures(kind.name)
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows]
    lines.insert(1, "  ".join("-" * width for width in widths))
    if autoload_disabled():
        lines.append(f"\n(entry-point discovery is off: {AUTOLOAD_SWITCH} is set)")
    if failed:
        lines.append("\nfailed to load:")
        lines += [f"  {f.kind} {f.name!r} from {f.source}: {f.error}" for f in failed]
    return "\n".join(lines)
