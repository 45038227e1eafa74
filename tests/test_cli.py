"""The console command prints the same text as the library."""

import subprocess
import sys

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
