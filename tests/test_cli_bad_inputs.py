"""The bad-input matrix of the ``metricloss`` command: every command and option, given a wrong type,
an out-of-range or non-finite number, an unknown name, or a path that is not what it should be,
exits non-zero with a message on stderr that says what was wrong and what to do; never a Python
traceback, and never after training has started.

Each case runs ``metricloss.cli.main`` in-process. Training, benchmarking and the peers' and
diagnosis' runs are replaced by a guard that fails the test: a bad input must be refused before any
of them starts, so every case takes a fraction of a second.
"""

from __future__ import annotations

import gzip
import importlib
import sys

import numpy as np
import pytest

from metricloss.cli import main

TOO_BIG_SEED = str(2**64)  # 18446744073709551616: torch's generators overflow on it


class TrainingStarted(Exception):
    """A bad input got past the checks: the command went on to train (or benchmark)."""


def _refuse(*args, **kwargs):
    raise TrainingStarted("the command started its work instead of refusing the input")


@pytest.fixture
def workspace(tmp_path, monkeypatch):
    """A folder with the files the cases point at, as the current folder; the work guarded."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))  # explain puts the current folder on it
    # the loop draws its first batch once every check has passed, just before the first step
    monkeypatch.setattr("metricloss.train.steps.shuffled_batches", _refuse)
    monkeypatch.setattr("metricloss.train.steps.balanced_batches", _refuse)
    # the package exports a function named like its module: reach the module itself
    monkeypatch.setattr(importlib.import_module("metricloss.diagnostics.diagnose"), "short_run", _refuse)
    monkeypatch.setattr("metricloss_benchmarks.cli.run", _refuse)
    monkeypatch.setattr("metricloss_benchmarks.peers.command.run_units", _refuse)

    (tmp_path / "afile").write_text("a file where a folder belongs\n")
    (tmp_path / "emptydir").mkdir()
    _write_mnist(tmp_path / "corrupt_gz", damage_gzip=True)
    _write_mnist(tmp_path / "no_images", train=0)
    _write_mnist(tmp_path / "few_images", train=3)  # 3 / 12 rounds to an empty validation split

    (tmp_path / "badcli_raises.py").write_text("raise RuntimeError('boom at import')\n")
    (tmp_path / "badcli_exits.py").write_text("import sys\nsys.exit(0)\n")
    (tmp_path / "badcli_syntax.py").write_text("def f(:\n")
    (tmp_path / "badcli_plain.py").write_text(
        "def not_a_metric(scores, labels):\n    return 'hello'\n\n"
        "def no_arguments():\n    return 1\n\n"
        "value = 3\n"
    )
    importlib.invalidate_caches()
    yield tmp_path
    for name in [name for name in sys.modules if name.startswith("badcli_")]:
        del sys.modules[name]


def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 0x08, array.ndim]) + b"".join(int(n).to_bytes(4, "big") for n in array.shape) + array.tobytes()


def _write_mnist(folder, train=24, test=10, damage_gzip=False):
    folder.mkdir()
    for prefix, count in (("train", train), ("t10k", test)):
        images = np.zeros((count, 28, 28), dtype=np.uint8)
        labels = (np.arange(count) % 10).astype(np.uint8)
        for name, array in ((f"{prefix}-images-idx3-ubyte", images), (f"{prefix}-labels-idx1-ubyte", labels)):
            packed = bytearray(gzip.compress(_idx(array)))
            if damage_gzip and prefix == "train":
                packed[10] = 0xFF  # the first deflate block's type becomes the reserved one: zlib.error
            (folder / f"{name}.gz").write_bytes(bytes(packed))


# (arguments, exit code, fragments stderr must hold: what was wrong, and what to do where there is a choice)
# "{tmp}" is the workspace folder.
CASES = [
    # -- train ------------------------------------------------------------------------------------
    (["train", "binary", "--seed", TOO_BIG_SEED], 2, ["argument --seed", "out of range", "from 0 to 2**63 - 1"]),
    (["train", "binary", "--seed", "-1"], 2, ["argument --seed", "-1 is out of range", "e.g. --seed 0"]),
    (["train", "binary", "--seed", "abc"], 2, ["argument --seed", "'abc' is not a whole number", "0 to 2**63 - 1"]),
    (["train", "binary", "--epochs", "0"], 2, ["argument --epochs", "must be at least 1", "got 0"]),
    (["train", "binary", "--epochs", "-1"], 2, ["argument --epochs", "must be at least 1", "got -1"]),
    (["train", "binary", "--epochs", "2.5"], 2, ["argument --epochs", "'2.5' is not a whole number"]),
    (["train", "binary", "--batch-size", "0"], 2, ["argument --batch-size", "must be at least 1"]),
    (["train", "binary", "--lr", "nan"], 2, ["argument --lr", "finite number above 0", "got nan"]),
    (["train", "binary", "--lr", "inf"], 2, ["argument --lr", "finite number above 0", "got inf"]),
    (["train", "binary", "--lr", "-1"], 2, ["argument --lr", "above 0", "got -1"]),
    (["train", "binary", "--lr", "0"], 2, ["argument --lr", "above 0", "got 0"]),
    (["train", "binary", "--lr", "1e39"], 2, ["argument --lr", "at most 3.40282e+38"]),
    (["train", "binary", "--lr", "fast"], 2, ["argument --lr", "'fast' is not a number"]),
    (["train", "binary", "--margin", "-1"], 2, ["argument --margin", "at least 0", "got -1"]),
    (["train", "binary", "--margin", "nan"], 2, ["argument --margin", "finite number", "got nan"]),
    (["train", "binary", "--warm-start", "-1"], 2, ["argument --warm-start", "must be at least 0"]),
    (["train", "binary", "--warm-start", "1000"], 2, ["warm_start must be at least 0 and fewer than the"]),
    (["train", "binary", "--sampler", "balanced:2"], 2,
     ["argument --sampler", "share of positives must be between 0 and 1", "e.g. --sampler balanced:0.25"]),
    (["train", "binary", "--sampler", "balanced:0"], 2, ["argument --sampler", "between 0 and 1"]),
    (["train", "binary", "--sampler", "random"], 2, ["argument --sampler", "'shuffle', 'balanced' or 'balanced:SHARE'"]),
    (["train", "binary", "--metric", "nosuch"], 2, ["no metric named 'nosuch'", "Known metrics: accuracy, "]),
    (["train", "nosuchtask"], 2, ["no task named 'nosuchtask'", "Known tasks: binary"]),
    (["train", "binary", "--device", "tpu"], 2, ["argument --device", "invalid choice: 'tpu'", "choose from"]),
    (["train", "binary", "--loss", "hinge"], 2, ["argument --loss", "invalid choice: 'hinge'", "choose from"]),
    (["train", "binary", "--out", ""], 2, ["argument --out", "is empty", "give a path"]),
    (["train", "binary", "--data-dir", ""], 2, ["argument --data-dir", "is empty", "give a path"]),
    (["train", "binary", "--data-dir", "{tmp}/afile"], 2, ["afile is a file, not a folder", "give --data-dir the folder"]),
    (["train", "binary", "--data-dir", "{tmp}/nowhere"], 2, ["nowhere does not exist", "Download the four MNIST files"]),
    (["train", "binary", "--data-dir", "{tmp}/emptydir"], 2, ["none of", "train-images-idx3-ubyte", "Download"]),
    (["train", "binary", "--data-dir", "{tmp}/corrupt_gz"], 2,
     ["cannot read", "train-images-idx3-ubyte.gz", "damaged", "download it again"]),
    (["train", "binary", "--data-dir", "{tmp}/no_images"], 2,
     ["train-images-idx3-ubyte.gz holds no images", "download it again"]),
    (["train", "binary", "--data-dir", "{tmp}/few_images"], 2,
     ["hold only 3 images, too few to carve a validation split", "use the data set's full files"]),
    # -- compare ----------------------------------------------------------------------------------
    (["compare", "binary", "--seeds", "0"], 2, ["argument --seeds", "must be from 1 to 10000"]),
    (["compare", "binary", "--seeds", TOO_BIG_SEED], 2, ["argument --seeds", "must be from 1 to 10000"]),
    (["compare", "binary", "--epochs", "0"], 2, ["argument --epochs", "must be at least 1"]),
    (["compare", "binary", "--margin", "nan"], 2, ["argument --margin", "finite number", "got nan"]),
    (["compare", "binary", "--warm-start", "-2"], 2, ["argument --warm-start", "must be at least 0"]),
    (["compare", "binary", "--sampler", "balanced:1.5"], 2, ["argument --sampler", "between 0 and 1"]),
    (["compare", "binary", "--metric", "nosuch"], 2, ["no metric named 'nosuch'", "Known metrics"]),
    (["compare", "nosuchtask"], 2, ["no task named 'nosuchtask'", "Known tasks"]),
    (["compare", "binary", "--data-dir", "{tmp}/afile"], 2, ["is a file, not a folder", "give --data-dir the folder"]),
    (["compare", "binary", "--out", ""], 2, ["argument --out", "is empty"]),
    # -- demo -------------------------------------------------------------------------------------
    (["demo", "--epochs", "-1"], 2, ["argument --epochs", "must be at least 1"]),
    (["demo", "--epochs", "0"], 2, ["argument --epochs", "must be at least 1"]),
    (["demo", "--seed", "-1"], 2, ["argument --seed", "out of range", "0 to 2**63 - 1"]),
    (["demo", "--seed", TOO_BIG_SEED], 2, ["argument --seed", "out of range", "0 to 2**63 - 1"]),
    # -- explain ----------------------------------------------------------------------------------
    (["explain", "nosuch"], 2, ["no metric named 'nosuch'", "Known metrics"]),
    (["explain", "badcli_nomodule:f"], 2, ["cannot import 'badcli_nomodule'", "run from the folder that holds it"]),
    (["explain", "badcli_raises:f"], 2, ["importing 'badcli_raises'", "failed: RuntimeError: boom at import", "python -c 'import badcli_raises'` to see where"]),
    (["explain", "badcli_syntax:f"], 2, ["importing 'badcli_syntax'", "SyntaxError"]),
    (["explain", "badcli_exits:f"], 2, ["called sys.exit(0)", 'if __name__ == "__main__":']),
    (["explain", "badcli_plain:not_a_metric"], 2, ["never compares scores", "a metric must depend on scores"]),
    (["explain", "badcli_plain:no_arguments"], 2, ["must take the scores as its first argument"]),
    (["explain", "badcli_plain:value"], 2, ["is an int, not a function or a metric", "name a function `def f(scores, labels)`"]),
    (["explain", "badcli_plain:missing"], 2, ["module 'badcli_plain' has no 'missing'"]),
    (["explain", "badcli_plain:"], 2, ["is not package.module:function", "e.g. my_metrics:my_auc"]),
    (["explain", "badcli_plain.py:value"], 2, ["is a file path", "run metricloss explain badcli_plain:value"]),
    (["explain", "{tmp}/badcli_plain.py:value"], 2, ["is a file path", "badcli_plain:value from the folder"]),
    (["explain", "auc", "--latex", "--dot"], 2, ["argument --dot: not allowed with argument --latex"]),
    # -- plugins and the command itself -----------------------------------------------------------
    (["plugins", "extra"], 2, ["unrecognized arguments: extra"]),
    ([], 2, ["the following arguments are required: command"]),
    (["nosuchcommand"], 2, ["invalid choice: 'nosuchcommand'", "choose from"]),
    # -- bench ------------------------------------------------------------------------------------
    (["bench", "--threads", "-1"], 2, ["argument --threads", "must be from 0 to", "at most 4 per core"]),
    (["bench", "--threads", "100000"], 2, ["argument --threads", "must be from 0 to"]),
    (["bench", "--threads", "x"], 2, ["argument --threads", "'x' is not a whole number"]),
    (["bench", "--tables", ","], 2, ["names no table", "choose from loss_cost"]),
    (["bench", "--tables", "nope"], 2, ["unknown table(s) nope", "choose from loss_cost"]),
    (["bench", "--device", "tpu"], 2, ["argument --device", "invalid choice: 'tpu'"]),
    (["bench", "--json", ""], 2, ["argument --json", "is empty"]),
    (["bench", "--json", "{tmp}/afile/bench.json"], 2, ["afile is a file, so nothing can be written under it"]),
    (["bench", "--json", "{tmp}/emptydir"], 2, ["emptydir is a folder", "give a file name"]),
    # -- peers ------------------------------------------------------------------------------------
    (["peers", "--seeds", "0"], 2, ["--seeds must be at least 1"]),
    (["peers", "--seeds", TOO_BIG_SEED], 2, ["--seeds must be at most 10000"]),
    (["peers", "--positive-fraction", "1.5"], 2, ["--positive-fraction must be in (0, 1]", "e.g. 0.02"]),
    (["peers", "--positive-fraction", "nan"], 2, ["--positive-fraction must be in (0, 1]"]),
    (["peers", "--lrs", "nan"], 2, ["every learning rate must be a positive number", "e.g. --lrs 0.01,0.1"]),
    (["peers", "--lrs", "1e39"], 2, ["every learning rate must be a positive number", "the largest float32"]),
    (["peers", "--lrs", ","], 2, ["--lrs takes positive numbers separated by commas"]),
    (["peers", "--classes", "11"], 2, ["'11' is not a digit 0-9"]),
    (["peers", "--methods", "nosuch"], 2, ["unknown method(s) nosuch", "choose from"]),
    (["peers", "--jobs", "0"], 2, ["--jobs must be at least 1"]),
    (["peers", "--jobs", "100000"], 2, ["--jobs must be at most", "worker processes per core"]),
    (["peers", "--threads", "-1"], 2, ["argument --threads", "must be from 0 to"]),
    (["peers", "--threads", "100000"], 2, ["argument --threads", "must be from 0 to"]),
    (["peers", "--epochs", "0"], 2, ["--epochs must be at least 1"]),
    (["peers", "--batch-size", "1"], 2, ["--batch-size must be at least 2", "a pairwise metric needs a pair"]),
    (["peers", "--problem", "x"], 2, ["argument --problem", "invalid choice: 'x'"]),
    (["peers", "--out", "{tmp}/afile"], 2, ["afile is a file, not a folder", "give a folder"]),
    (["peers", "--out", "{tmp}/afile/sub"], 2, ["afile is a file, so nothing can be written under it"]),
    # -- diagnose ---------------------------------------------------------------------------------
    (["diagnose", "--tau", "0"], 2, ["--tau must be positive and finite", "try --tau 0.3,1,3"]),
    (["diagnose", "--tau", "nan"], 2, ["--tau must be positive and finite"]),
    (["diagnose", "--tau", "inf"], 2, ["--tau must be positive and finite"]),
    (["diagnose", "--tau", "x"], 2, ["'x' in 'x' is not a number", "or 'auto'"]),
    (["diagnose", "--anchors", "0"], 2, ["gives no anchor at all", "at least one"]),
    (["diagnose", "--anchors", "-1"], 2, ["is negative", "name=N pairs such as ideal=16,random=32"]),
    (["diagnose", "--anchors", "1,2"], 2, ["'1,2' has 2 counts", "four counts a,b,c,d"]),
    (["diagnose", "--anchors", "nosuch=3"], 2, ["no sampler named 'nosuch'", "Known samplers"]),
    (["diagnose", "--task", "nosuch"], 2, ["no task named 'nosuch'", "Known tasks"]),
    (["diagnose", "--metric", "nosuch"], 2, ["no metric named 'nosuch'", "Known metrics"]),
    (["diagnose", "--steps", "0"], 2, ["steps must be a positive whole number", "at least one training step"]),
    (["diagnose", "--epochs", "0"], 2, ["epochs must be a positive whole number", "at least one training step"]),
    (["diagnose", "--steps", "x"], 2, ["argument --steps", "invalid int value: 'x'"]),
    (["diagnose", "--steps", "5", "--epochs", "1"], 2, ["argument --epochs: not allowed with argument --steps"]),
    (["diagnose", "--collect", "0"], 2, ["argument --collect", "must be at least 1", "training steps whose batches"]),
    (["diagnose", "--tau", "auto", "--collect", "0"], 2, ["argument --collect", "must be at least 1"]),
    (["diagnose", "--draws", "-1"], 2, ["draws must be a positive int", "configurations per batch"]),
    (["diagnose", "--seed", "-1"], 2, ["argument --seed", "out of range"]),
    (["diagnose", "--seed", TOO_BIG_SEED], 2, ["argument --seed", "out of range"]),
    (["diagnose", "--margin", "nan"], 2, ["argument --margin", "finite number"]),
    (["diagnose", "--sampler", "balanced:2"], 2, ["argument --sampler", "between 0 and 1"]),
    (["diagnose", "--relaxation", "nosuch"], 2, ["no relaxation named 'nosuch'", "Known relaxations"]),
    (["diagnose", "--interpolator", "nosuch"], 2, ["no interpolator named 'nosuch'", "Known interpolators"]),
    (["diagnose", "--device", "tpu"], 2, ["argument --device", "invalid choice: 'tpu'"]),
    (["diagnose", "--data-dir", "{tmp}/afile"], 2, ["is a file, not a folder", "give --data-dir the folder"]),
    (["diagnose", "--out", "{tmp}/afile"], 2, ["--out", "afile is a file, not a folder", "give a folder"]),
    (["diagnose", "--json", "{tmp}/emptydir"], 2, ["--json", "emptydir is a folder", "give a file name"]),
    (["diagnose", "--json", "{tmp}/afile/diagnosis.json"], 2, ["afile is a file, so nothing can be written under it"]),
]


def _id(case) -> str:
    argv = [arg.replace("{tmp}", "TMP") for arg in case[0]]
    return " ".join(repr(a) if not a or " " in a else a for a in argv) or "(nothing)"


def run_cli(argv: list[str], capsys) -> tuple[int, str]:
    """``metricloss ARGV``'s exit code and stderr, as the console script would give them."""
    try:
        code = main(argv)
    except SystemExit as stop:  # argparse exits for bad options
        code = stop.code
    return code, capsys.readouterr().err


@pytest.mark.parametrize("argv, code, fragments", CASES, ids=[_id(case) for case in CASES])
def test_bad_input_is_refused_with_a_message_not_a_traceback(workspace, capsys, argv, code, fragments):
    argv = [arg.replace("{tmp}", str(workspace)) for arg in argv]
    got, err = run_cli(argv, capsys)
    assert got == code, f"exit {got}, expected {code}; stderr:\n{err}"
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, f"{fragment!r} is not in stderr:\n{err}"


@pytest.mark.parametrize("argv", [
    ["train", "binary", "--epochs", "1"], ["train", "binary", "--epochs", "1", "--sampler", "balanced:0.5"],
    ["compare", "binary", "--seeds", "1", "--epochs", "1"],
    ["demo", "--epochs", "1"], ["bench", "--smoke", "--tables", "compile"], ["peers", "--smoke"],
    ["diagnose", "--steps", "1"],
], ids=lambda argv: " ".join(argv))
def test_the_guard_stops_good_input_so_a_bad_one_let_through_would_fail(workspace, argv):
    with pytest.raises(TrainingStarted):
        main(argv)


def test_the_cases_cover_every_command():
    assert {case[0][0] for case in CASES if case[0]} >= {
        "train", "compare", "demo", "explain", "plugins", "bench", "peers", "diagnose"}


def test_a_file_system_error_is_a_message_with_exit_1_not_a_traceback(workspace, capsys, monkeypatch):
    where = str(workspace / "runs" / "peers")

    def full_disk(args):
        raise OSError(28, "No space left on device", where)

    monkeypatch.setattr("metricloss_benchmarks.peers.command.run_peers", full_disk)  # bound as main builds the parser
    code, err = run_cli(["peers", "--smoke"], capsys)
    assert code == 1 and "Traceback" not in err
    assert f"metricloss: No space left on device ({where})" in err and "check that the path exists" in err


def test_the_demo_refuses_to_train_nothing_when_called_from_python():
    from metricloss.errors import InputError
    from metricloss.train.demo import main as demo_main

    for epochs in (0, -1):
        with pytest.raises(InputError, match="the demo trains at least 1 epoch"):
            demo_main(epochs=epochs)
    with pytest.raises(InputError, match="seed must be a whole number from 0 to 2\\*\\*63 - 1"):
        demo_main(seed=2**64)
