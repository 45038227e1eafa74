"""The package as users meet it: its version, its licence, its changelog, a light import, the
command's manners (a closed pipe, a missing extra), and the run folder's lock."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import metricloss as ml
from metricloss.cli import EXTRAS, main
from metricloss.train.run_folder import HOLDER, LOCK, claimed

ROOT = Path(__file__).parent.parent
PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
ENVIRONMENT = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins"),
                                                            os.environ.get("PYTHONPATH", "")])}


def run_python(code: str, **options) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENVIRONMENT,
                          timeout=120, **options)


def test_the_version_is_the_projects_and_the_command_prints_it(capsys):
    assert ml.__version__ == PYPROJECT["project"]["version"]
    with pytest.raises(SystemExit) as stop:
        main(["--version"])
    assert stop.value.code == 0
    assert capsys.readouterr().out.strip() == f"metricloss {ml.__version__}"


def test_the_licence_is_the_one_pyproject_names():
    assert PYPROJECT["project"]["license"] == "MIT"
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "the metricloss authors" in text


def test_the_changelog_has_an_unreleased_section():
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert "keepachangelog.com" in text and re.search(r"^## \[Unreleased\]$", text, re.M)


def test_every_extra_a_command_names_exists_and_dev_includes_them():
    extras = PYPROJECT["project"]["optional-dependencies"]
    named = {extra for _, extra in EXTRAS.values()}
    assert named <= set(extras)
    dev = " ".join(extras["dev"])
    assert all(extra in dev for extra in ("train", "peers", "torchmetrics", "lightning", "docs"))
    assert any(requirement.startswith("tqdm") for requirement in extras["peers"])


def test_importing_metricloss_leaves_sympy_unloaded_and_count_metric_still_works():
    done = run_python(
        "import sys, torch, metricloss as ml\n"
        "assert 'sympy' not in sys.modules, 'sympy imported with metricloss'\n"
        "m = ml.count_metric('TP / (TP + FP)', name='lazy_precision', best=1.0)\n"
        "print(float(m(torch.tensor([1.0, -1.0, 2.0]), torch.tensor([1, 0, 0]))))\n"
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "0.5"


def test_a_reader_that_closes_the_pipe_ends_the_command_quietly():
    """`metricloss explain accuracy | head -2`: the reader is gone before the text is written."""
    process = subprocess.Popen([sys.executable, "-m", "metricloss", "explain", "accuracy"], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, env=ENVIRONMENT)
    process.stdout.close()  # as head does once it has its lines
    error = process.stderr.read().decode()
    code = process.wait(timeout=120)
    assert error == ""
    assert code == 141  # 128 + SIGPIPE, the status of a Unix tool that SIGPIPE ended


def test_head_of_explain_prints_the_first_lines_and_no_error():
    done = subprocess.run(f"{sys.executable} -m metricloss explain accuracy | head -2", shell=True,
                          capture_output=True, text=True, env=ENVIRONMENT, timeout=120)
    assert done.stderr == ""
    assert done.stdout.splitlines()[0].startswith("metric `accuracy`")


@pytest.mark.parametrize("arguments, command, extra", [
    (["demo", "--epochs", "1"], "demo", "train"),
    (["train", "binary", "--epochs", "1"], "train", "train"),
    (["compare", "binary", "--seeds", "1"], "compare", "train"),
    (["diagnose", "--steps", "1"], "diagnose", "train"),
    (["peers", "--seeds", "1"], "peers", "peers"),
])
def test_a_command_without_its_extra_says_what_to_install(arguments, command, extra, monkeypatch, capsys, tmp_path):
    for module in ("sklearn", "matplotlib", "scipy", "PIL", "tqdm"):
        uninstall(monkeypatch, module)
    monkeypatch.chdir(tmp_path)
    assert main(arguments) == 2
    error = capsys.readouterr().err
    assert error.startswith(f"metricloss: `metricloss {command}` needs ")
    assert f"not installed: pip install 'metricloss[{extra}]'" in error and "Traceback" not in error
    assert not any(tmp_path.iterdir())  # refused before anything was written


def uninstall(monkeypatch, module: str) -> None:
    """``import module`` (and its submodules, even ones an earlier test imported) now fails, as where
    it is not installed."""
    for name in [name for name in sys.modules if name == module or name.startswith(f"{module}.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.setitem(sys.modules, module, None)


def test_a_missing_dataset_reader_met_while_loading_is_one_line_too(monkeypatch, capsys, tmp_path):
    uninstall(monkeypatch, "sklearn")  # matplotlib is there: the check before the work passes
    monkeypatch.chdir(tmp_path)
    assert main(["diagnose", "--steps", "1"]) == 2
    error = capsys.readouterr().err
    assert error.strip() == "metricloss: `metricloss diagnose` needs scikit-learn, which is not installed: " \
                            "pip install 'metricloss[train]'"


def test_the_run_folder_lock_refuses_a_second_holder_and_names_the_first(tmp_path):
    out = tmp_path / "run"
    with claimed(out):
        assert (out / HOLDER).read_text().startswith(f"pid {os.getpid()} on ")
        with pytest.raises(ml.InputError, match=rf"another run is writing to .*\(pid {os.getpid()} on "):
            with claimed(out):
                pass
        (out / "metrics.csv").write_text("epoch\n")
    assert not (out / HOLDER).exists()
    with claimed(out):  # released: the next run takes it
        pass


def test_the_lock_is_held_across_processes_and_released_when_its_holder_is_killed(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    (out / "keep").write_text("")
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time\nfrom pathlib import Path\nfrom metricloss.train.run_folder import claimed\n"
         "with claimed(Path(sys.argv[1])):\n    print('held', flush=True)\n    time.sleep(120)\n", str(out)],
        stdout=subprocess.PIPE, text=True, env=ENVIRONMENT)
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(ml.InputError, match=rf"another run is writing to .*\(pid {holder.pid} on "):
            with claimed(out):
                pass
    finally:
        holder.kill()  # SIGKILL: no cleanup runs; the system releases the lock
        holder.wait(timeout=60)
        holder.stdout.close()
    with claimed(out):
        assert (out / HOLDER).read_text().startswith(f"pid {os.getpid()} ")


def test_a_refused_run_leaves_no_folder_it_created(tmp_path):
    out = tmp_path / "new"
    with claimed(out):
        pass
    assert not out.exists()
    assert LOCK == ".lock"
