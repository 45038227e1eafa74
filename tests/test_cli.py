"""The console command prints the same text as the library."""

import os
import subprocess
import sys

import pytest

import metricloss as ml
from metricloss.cli import main


def test_explain_command_prints_explain(capsys):
    assert main(["explain", "accuracy"]) == 0
    assert capsys.readouterr().out == ml.explain("accuracy") + "\n"


def test_unknown_metric_is_an_error_with_exit_code_2(capsys):
    assert main(["explain", "aucc"]) == 2
    assert "Did you mean 'auc'" in capsys.readouterr().err


def test_installed_console_script():
    out = subprocess.run([sys.executable, "-m", "metricloss.cli", "explain", "auc"],
                         capture_output=True, text=True, check=True)
    assert out.stdout.startswith("metric `auc` (higher is better; best 1.0)")


def test_explain_latex_and_dot(capsys):
    assert main(["explain", "auc", "--latex"]) == 0
    assert capsys.readouterr().out.strip() == r"\frac{\operatorname{mean}{\left(b_{0} + b_{1} \right)}}{2}"
    assert main(["explain", "average_precision", "--dot"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith('digraph "average_precision" {')
    assert "fillcolor=orange" in dot and '"scores" -> ' in dot


def test_explain_shows_the_formula():
    text = ml.explain("average_precision")
    assert "re-expression g as a formula:" in text
    assert "sum(b₀, 1) + sum(b₁, 1)" in text


def test_plugins_command_lists_kinds_names_distributions_and_versions(capsys):
    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0].split() == ["kind", "name", "distribution", "version"]
    for kind, name in [("metric", "auc"), ("relaxation", "sigmoid"), ("sampler", "good"),
                       ("interpolator", "inverse_distance")]:
        assert any(line.split()[:3] == [kind, name, "metricloss"] for line in out.splitlines())


def test_help_for_each_command():
    for command in (["--help"], ["demo", "--help"], ["explain", "--help"], ["plugins", "--help"]):
        out = subprocess.run([sys.executable, "-m", "metricloss.cli", *command], capture_output=True,
                             text=True, check=True).stdout
        assert out.startswith("usage: metricloss")


def test_commands_come_from_entry_points_and_a_broken_one_is_reported(tmp_path):
    info = tmp_path / "broken_command-1.0.dist-info"  # a distribution whose command cannot be imported
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken_command\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[metricloss.commands]\nbroken = no_such_module:command\n")
    environment = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), os.environ.get("PYTHONPATH", "")])}
    out = subprocess.run([sys.executable, "-m", "metricloss", "--help"], capture_output=True, text=True,
                         env=environment, check=True).stdout
    assert "bench" in out  # the benchmark package's command, found through its entry point
    epilog = " ".join(out.split())  # argparse wraps it
    assert "commands that failed to load: broken (broken_command 1.0): ModuleNotFoundError" in epilog
    assert epilog.partition("commands that failed to load:")[2].count("ModuleNotFoundError") == 1  # only it


def test_explain_takes_module_colon_function_from_the_current_folder(tmp_path):
    (tmp_path / "my_metrics.py").write_text(
        "import metricloss as ml\n\n"
        "@ml.metric(best=1.0)\n"
        "def folder_auc(scores, labels):\n"
        "    pos, neg = scores[labels == 1], scores[labels == 0]\n"
        "    return (pos[:, None] > neg[None, :]).float().mean()\n"
    )
    run = [sys.executable, "-m", "metricloss.cli", "explain"]
    found = subprocess.run(run + ["my_metrics:folder_auc"], cwd=tmp_path, capture_output=True, text=True)
    assert found.returncode == 0 and found.stdout.startswith("metric `folder_auc`")
    missing = subprocess.run(run + ["my_metrics:nothing"], cwd=tmp_path, capture_output=True, text=True)
    assert missing.returncode == 2 and "module 'my_metrics' has no 'nothing'" in missing.stderr
