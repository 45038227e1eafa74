"""The documentation says what the code does: every ```python block of README.md and docs/*.md
runs (or says, in an HTML comment right before it, why it is not run), the README's `explain`
output is the real output, the site builds with `mkdocs build --strict`, and every public name
has its own docstring in the API reference."""

from __future__ import annotations

import importlib.util
import inspect
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import torch

import metricloss as ml

ROOT = Path(__file__).parent.parent
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
NOT_RUN = re.compile(r"<!-- not run: (?P<reason>.+?) -->\s*$")
ENVIRONMENT = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins"),
                                                            os.environ.get("PYTHONPATH", "")])}


def python_blocks(page: Path) -> list[tuple[int, str, str | None]]:
    """(line, code, the reason it is not run or None) for each ```python block of a page."""
    text = page.read_text(encoding="utf-8")
    blocks = []
    for match in re.finditer(r"^```python\n(.*?)^```\s*$", text, re.M | re.S):
        before = text[:match.start()].rstrip("\n").splitlines()
        reason = NOT_RUN.match(before[-1]) if before else None
        blocks.append((text[:match.start()].count("\n") + 1, match[1], reason["reason"] if reason else None))
    return blocks


def test_pages_have_python_blocks_and_every_skipped_one_gives_a_reason():
    blocks = [block for page in PAGES for block in python_blocks(page)]
    assert len(blocks) >= 10
    for page in PAGES:
        text = page.read_text(encoding="utf-8")
        for comment in re.finditer(r"<!-- not run:(.*?)-->", text):
            assert len(comment[1].strip()) > 20, f"{page.name}: say why the block is not run"
            after = text[comment.end():].lstrip("\n")
            assert after.startswith("```python"), f"{page.name}: a not-run comment must come right before its block"


@pytest.mark.parametrize("page", [p for p in PAGES if any(reason is None for _, _, reason in python_blocks(p))],
                         ids=lambda p: p.name)
def test_every_python_block_of_a_page_runs(page, tmp_path):
    """A page's blocks run in order in one fresh process (one namespace, as a reader runs them),
    from a scratch folder, so that a page's names do not meet another page's in the registry."""
    program = ["import runpy, sys", "namespace = {'__name__': '__main__'}"]
    for line, code, reason in python_blocks(page):
        if reason is None:
            program.append(f"print({f'--- {page.name}:{line}'!r}, flush=True)")
            program.append(f"exec(compile({code!r}, {f'{page.name}:{line}'!r}, 'exec'), namespace)")
    done = subprocess.run([sys.executable, "-c", "\n".join(program)], capture_output=True, text=True,
                          cwd=tmp_path, env=ENVIRONMENT, timeout=600)
    last = re.findall(r"^--- (.*)$", done.stdout, re.M)
    assert done.returncode == 0, f"the block at {last[-1] if last else page.name} failed:\n{done.stderr[-3000:]}"


def test_the_readme_shows_the_real_output_of_explain_accuracy(monkeypatch):
    monkeypatch.chdir(ROOT)  # file names are shown relative to the current folder, as from a checkout
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    shown = re.search(r'`ml.explain\("accuracy"\)` \(or `metricloss explain accuracy`\) prints:\n\n```text\n(.*?)\n```',
                      readme, re.S)
    assert shown is not None, "the README's explain output block moved: update this test"
    assert shown[1] == ml.explain("accuracy")


# --- the site -----------------------------------------------------------------------------------

def test_the_site_builds_strictly_with_every_public_name_in_the_api_reference(tmp_path):
    for module in ("mkdocs", "material", "mkdocstrings", "mkdocstrings_handlers.python"):
        if importlib.util.find_spec(module.split(".")[0]) is None or importlib.util.find_spec(module) is None:
            pytest.skip(f"the documentation site needs {module} (pip install 'metricloss[docs]')")
    site = tmp_path / "site"
    done = subprocess.run([sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
                          cwd=ROOT, capture_output=True, text=True, env={**ENVIRONMENT, "NO_MKDOCS_2_WARNING": "1"},
                          timeout=300)
    assert done.returncode == 0, done.stderr[-4000:]
    api = (site / "api" / "index.html").read_text(encoding="utf-8")
    anchors = set(re.findall(r'id="(metricloss\.[\w.]+)"', api))
    missing = [name for name in ml.__all__ if f"metricloss.{name}" not in anchors
               and f"metricloss.{name}.{name}" not in anchors]
    assert not missing, f"public names missing from the API reference: {missing}"
    assert "metricloss.UniLoss.forward" in anchors
    index = (site / "index.html").read_text(encoding="utf-8")
    assert "Built-in metrics" in index and 'href="guide/' in index  # the README, its links made the site's
    assert "&gt;&gt;&gt;" in api and "<blockquote>" not in api  # doctest examples shown as code


def own_docstring(obj) -> str | None:
    """The docstring written for ``obj`` itself: not a dataclass's generated signature, not a
    method's docstring inherited from torch."""
    if isinstance(obj, ml.registry.Registry):
        return ml.registry.__doc__ and _attribute_docstring(ml.registry, "REGISTRY")
    doc = obj.__doc__
    if doc is None:
        return None
    if inspect.isclass(obj) and doc.startswith(f"{obj.__name__}("):  # what @dataclass writes
        return None
    return doc


def _attribute_docstring(module, name: str) -> str | None:
    source = inspect.getsource(module)
    found = re.search(rf"^{name} = .*\n\"\"\"(.+?)\"\"\"", source, re.M | re.S)
    return found[1] if found else None


@pytest.mark.parametrize("name", ml.__all__)
def test_every_public_name_has_its_own_docstring(name):
    doc = own_docstring(getattr(ml, name))
    assert doc and len(doc.strip()) > 20, f"metricloss.{name} has no docstring of its own"


def test_the_loss_documents_its_forward():
    assert ml.UniLoss.forward.__doc__ != torch.nn.Module.forward.__doc__
    assert "The loss of one batch" in textwrap.dedent(ml.UniLoss.forward.__doc__)
