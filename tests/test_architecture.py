"""The house rules the layout keeps, checked on the source: no module reaches into another's
private names, no module holds more than one idea's worth of lines, and the layers import
downward only (docs/architecture.md)."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"metricloss": ROOT / "metricloss", "metricloss_builtins": ROOT / "plugins" / "metricloss_builtins",
            "metricloss_benchmarks": ROOT / "benchmarks"}
MAX_LINES = 300
# Layers, bottom up: a module may import its own layer and the ones below, never one above.
LAYERS = ("registry", "compiler", "loss", "train")
GROUND = {"errors", "contracts", "fingerprints", "registry", "part_pickling"}


def _modules():
    for package, folder in PACKAGES.items():
        for path in sorted(folder.rglob("*.py")):
            parts = list(path.relative_to(folder).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join([package, *parts]), path


MODULES = dict(_modules())


def _imports(name: str, path: Path):
    """(line, imported module, imported names) for every import of one of our packages."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if module.split(".")[0] in PACKAGES:
                yield node.lineno, module, [alias.name for alias in node.names], node
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.split(".")[0] in PACKAGES:
                    yield node.lineno, alias.name, [], node


def _private_reach_ins(name: str, path: Path) -> list[str]:
    found, modules = [], {}
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for line, module, names, node in _imports(name, path):
        for imported in names:
            if imported.startswith("_") and not imported.startswith("__"):
                found.append(f"{path.relative_to(ROOT)}:{line}: imports {module}.{imported}")
            submodule = f"{module}.{imported}"
            modules[imported] = submodule if submodule in MODULES else None
        if isinstance(node, ast.Import):
            for alias in node.names:
                modules[(alias.asname or alias.name).split(".")[0]] = alias.name
    for node in ast.walk(tree):  # module._private, through a module imported by name
        if (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")
                and isinstance(node.value, ast.Name) and modules.get(node.value.id)):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: reads {modules[node.value.id]}.{node.attr}")
    return found


def test_no_module_reaches_into_another_modules_private_names():
    found = [line for name, path in MODULES.items() for line in _private_reach_ins(name, path)]
    assert not found, "private names used across modules (make a public seam):\n" + "\n".join(found)


@pytest.mark.parametrize("package", ["metricloss", "metricloss_builtins", "metricloss_benchmarks"])
def test_no_module_passes_the_line_limit(package):
    long = [f"{path.relative_to(ROOT)}: {lines} lines" for name, path in MODULES.items()
            if name.split(".")[0] == package and (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES]
    assert not long, f"modules over {MAX_LINES} lines (split them by idea):\n" + "\n".join(long)


def _layer(name: str) -> int | None:
    parts = name.split(".")
    if parts[0] != "metricloss" or len(parts) < 2:
        return None
    if parts[1] in GROUND:
        return 0
    return LAYERS.index(parts[1]) if parts[1] in LAYERS else None


def test_layers_import_downward_only():
    upward = []
    for name, path in MODULES.items():
        own = _layer(name)
        if own is None:
            continue
        for line, module, _, _ in _imports(name, path):
            other = _layer(module)
            if other is not None and other > own:
                upward.append(f"{path.relative_to(ROOT)}:{line}: {name} imports {module}")
    assert not upward, "imports from a layer above:\n" + "\n".join(upward)


def test_every_package_folder_is_in_the_distribution():
    """``pyproject.toml`` lists packages by name (the benchmarks install under another name), so a
    new subpackage must be listed, or a wheel leaves it out while a checkout still works."""
    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {name for name, path in MODULES.items() if path.name == "__init__.py"}
    assert found <= listed, f"packages missing from pyproject.toml's packages: {sorted(found - listed)}"
