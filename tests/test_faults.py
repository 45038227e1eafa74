"""Faults a long run meets: killed mid-epoch, a damaged or foreign checkpoint, a run folder it
cannot write or that another run holds, a full disk. Each ends in an exact resumption or a clear
error before any training, never in a run that goes on wrong."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path

import pytest
import torch

import metricloss as ml
from metricloss.cli import main
from metricloss.train.checkpoints import CHECKPOINT, load_checkpoint
from metricloss.train.compare import compare
from metricloss.train.loop import train
from metricloss.train.run_folder import claimed

ROOT = Path(__file__).parent.parent
# Batches of 4: epochs of a good half second, so that a kill lands inside one.
SETTINGS = {"epochs": 4, "batch_size": 4, "device": "cpu", "progress": False}


# Every run whose weights are compared is a fresh process with the same threads: one in this
# process would inherit the thread count earlier tests set, and a matrix product summed in
# another order differs in its last bits.
ENVIRONMENT = {**os.environ, "OMP_NUM_THREADS": "1"}


def _train_command(out: Path, epochs: int = 4, *more: str) -> list[str]:
    return [sys.executable, "-m", "metricloss", "train", "binary", "--epochs", str(epochs), "--batch-size", "4",
            "--device", "cpu", "--out", str(out), *more]


@pytest.fixture(scope="module")
def unkilled(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("unkilled") / "run"
    subprocess.run(_train_command(out), cwd=out.parent, env=ENVIRONMENT, check=True, capture_output=True)
    return out


def test_a_run_killed_mid_epoch_resumes_to_the_same_weights_as_an_unkilled_one(unkilled, tmp_path):
    out = tmp_path / "killed"
    process = subprocess.Popen(_train_command(out), cwd=tmp_path, stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, env=ENVIRONMENT)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            logged = out / "metrics.csv"
            if logged.exists() and len(logged.read_text().splitlines()) >= 3:  # a header and epochs 1, 2
                break
            time.sleep(0.05)
        assert process.poll() is None, "the run ended before it could be killed"
        time.sleep(0.1)  # into epoch 3
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == -signal.SIGKILL
    saved = load_checkpoint(out / CHECKPOINT)["epoch"]
    assert 2 <= saved < 4
    resumed = subprocess.run(_train_command(out, 4, "--resume"), cwd=tmp_path, env=ENVIRONMENT,
                             capture_output=True, text=True)  # the lock died with the process
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert f"resuming {out / CHECKPOINT} after epoch {saved}/4" in resumed.stderr
    expected = load_checkpoint(unkilled / CHECKPOINT)
    got = load_checkpoint(out / CHECKPOINT)
    for name, weight in expected["model"].items():
        assert torch.equal(weight, got["model"][name]), name
    assert [row["test_metric"] for row in got["history"]] == [row["test_metric"] for row in expected["history"]]


Damage = namedtuple("Damage", "name make message")
DAMAGES = [
    Damage("truncated", lambda path: path.write_bytes(path.read_bytes()[: path.stat().st_size // 2]),
           "cannot read the checkpoint"),
    Damage("foreign", lambda path: torch.save({"weights": torch.zeros(3)}, path),
           "is not a metricloss training checkpoint"),
    Damage("empty", lambda path: path.write_bytes(b""), "cannot read the checkpoint"),
    Damage("missing a key", lambda path: torch.save(
        {k: v for k, v in torch.load(path, weights_only=True).items() if k != "optimizer"}, path),
        "lacks 'optimizer'"),
    Damage("tampered", lambda path: torch.save(
        {**(s := torch.load(path, weights_only=True)), "epoch": s["epoch"] + 1}, path),
        "does not match its checksum"),
]


@pytest.mark.parametrize("damage", DAMAGES, ids=[d.name for d in DAMAGES])
def test_a_damaged_truncated_or_foreign_checkpoint_is_refused_on_resume(unkilled, tmp_path, damage):
    out = tmp_path / "run"
    shutil.copytree(unkilled, out)
    damage.make(out / CHECKPOINT)
    with pytest.raises(ml.InputError) as caught:
        train("binary", out=out, resume=True, **SETTINGS)
    assert damage.message in str(caught.value) and str(out / CHECKPOINT) in str(caught.value)
    assert "start afresh" in str(caught.value)


def test_a_pickle_that_runs_code_is_never_executed_as_a_checkpoint(unkilled, tmp_path):
    out, witness = tmp_path / "run", tmp_path / "was-run"
    shutil.copytree(unkilled, out)

    class Payload:
        def __reduce__(self):
            return (Path.touch, (witness,))

    torch.save({"format": 2, "payload": Payload()}, out / CHECKPOINT)
    with pytest.raises(ml.InputError, match="cannot read the checkpoint"):
        train("binary", out=out, resume=True, **SETTINGS)
    assert not witness.exists()


def test_an_out_that_is_a_file_is_refused_before_the_data_is_loaded(tmp_path, capsys):
    (tmp_path / "taken").write_text("not a folder")
    assert main(["train", "binary", "--out", str(tmp_path / "taken"), "--device", "cpu"]) == 2
    message = capsys.readouterr().err
    assert "is a file, not a folder" in message and "choose another --out" in message
    assert main(["train", "binary", "--out", str(tmp_path / "taken" / "run"), "--device", "cpu"]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err


def test_an_out_that_cannot_be_created_is_refused_before_training(tmp_path):
    with pytest.raises(ml.InputError, match="cannot create the run directory .* choose a folder you may write in"):
        train("binary", out="/proc/metricloss-run", **SETTINGS)


def test_a_disk_too_full_for_a_checkpoint_is_refused_before_the_first_epoch(tmp_path, monkeypatch):
    Usage = namedtuple("Usage", "total used free")
    monkeypatch.setattr(shutil, "disk_usage", lambda path: Usage(10**9, 10**9 - 4096, 4096))
    with pytest.raises(ml.InputError, match=r"has 4\.0 KiB free, but a checkpoint of this run needs about"):
        train("binary", out=tmp_path / "run", **SETTINGS)
    assert not (tmp_path / "run" / "metrics.csv").exists()


def test_a_folder_another_run_is_writing_to_is_refused(tmp_path):
    out = tmp_path / "run"
    with claimed(out):
        with pytest.raises(ml.InputError, match="another run is writing to .* Wait for it to finish, or choose"):
            train("binary", out=out, **SETTINGS)
    assert not (out / CHECKPOINT).exists()


def test_two_runs_started_into_one_folder_do_not_both_write(tmp_path):
    out = tmp_path / "run"
    runs = [subprocess.Popen(_train_command(out, epochs=2), cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             text=True, env=ENVIRONMENT) for _ in range(2)]
    results = [(run.wait(timeout=240), run.stderr.read()) for run in runs]
    codes = sorted(code for code, _ in results)
    refusals = [error for code, error in results if code == 2]
    # Either one was refused while the other wrote, or the second came after the first had finished
    # and was refused for the checkpoint it found: never two runs writing one folder.
    assert codes == [0, 2], results
    assert "another run is writing to" in refusals[0] or "already holds a checkpoint" in refusals[0]
    assert len(load_checkpoint(out / CHECKPOINT)["history"]) == 2


def test_a_batch_of_one_is_refused_rather_than_training_nothing(tmp_path):
    with pytest.raises(ml.InputError, match="batch_size must be at least 2, got 1: .* nothing trained"):
        train("binary", out=tmp_path / "run", **{**SETTINGS, "batch_size": 1})


@pytest.mark.parametrize("seed", [-1, 2**64])
def test_a_seed_torch_cannot_take_is_refused_before_the_data_is_loaded(tmp_path, seed):
    with pytest.raises(ml.InputError, match=r"seed must be a whole number from 0 to 2\*\*63 - 1"):
        train("binary", out=tmp_path / "run", seed=seed, **SETTINGS)


def test_a_metric_that_cannot_take_the_task_s_scores_is_refused_before_anything_is_written(tmp_path):
    with pytest.raises(ml.InputError, match=r"metric `pckh` cannot take task binary's scores \[8\] and targets: "
                                            r".*Choose one of the task's metrics \(average_precision, auc\)"):
        train("binary", metric="pckh", out=tmp_path / "run", **SETTINGS)
    assert not (tmp_path / "run").exists()  # the folder made for the run is removed again


def test_a_learning_rate_float32_cannot_hold_is_refused_before_training(tmp_path):
    with pytest.raises(ml.InputError, match="lr must be a positive number that float32 can hold, got 1e"):
        train("binary", out=tmp_path / "run", **{**SETTINGS, "epochs": 1, "lr": 1e39})


def test_a_comparison_refuses_a_warm_start_longer_than_its_epochs_before_training_any_run(tmp_path):
    with pytest.raises(ml.InputError, match="warm_start must be at least 0 and fewer than the 2 epochs, got 5"):
        compare("binary", seeds=1, epochs=2, warm_start=5, out=tmp_path / "compare", progress=False)
    assert not list((tmp_path / "compare").glob("*/checkpoint.pt"))
