"""The training loop, its checkpoints and logs, the comparison, and their commands, on a tiny task.

The task is digit 8 against the rest on 600 of scikit-learn's digits with a small MLP. It has every
source of randomness a real task has (dropout, augmentation, shuffling, UniLoss's anchors) and a
learning-rate schedule, so resuming bit for bit is tested against all of them.
"""

import csv
import dataclasses
import functools
import io
import json
import shutil
import statistics

import pytest
import torch

import metricloss as ml
from metricloss.cli import main
from metricloss.train import loop
from metricloss.train.checkpoints import load_checkpoint
from metricloss.train.compare import compare
from metricloss.train.logs import COLUMNS
from metricloss.train.loop import train
from metricloss.train.progress import Progress
from metricloss.train.task import Data, Settings, Split, Task

PNG = b"\x89PNG\r\n\x1a\n"


@functools.lru_cache(maxsize=None)
def _digits():
    from sklearn.datasets import load_digits

    digits = load_digits()
    return torch.tensor(digits.data, dtype=torch.float32) / 16.0, torch.tensor(digits.target)


def _load(data_dir, seed):
    x, digit = _digits()
    order = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:600]
    x, y = x[order], (digit[order] == 8).long()

    def split(start, stop):
        return Split(x[start:stop], (y[start:stop],))

    return Data(split(0, 360), split(360, 480), split(480, 600), source="600 of scikit-learn's digits")


def tiny_digits(*, name="tiny_digits", hidden=32, epochs=3, uniloss_epochs=None) -> Task:
    def model(data):
        return torch.nn.Sequential(torch.nn.Linear(64, hidden), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                                   torch.nn.Linear(hidden, 1))

    return Task(
        name=name, description="digit 8 vs rest", metrics=("auc", "average_precision"),
        settings=Settings(epochs=epochs, batch_size=32, lr=0.05, uniloss_epochs=uniloss_epochs),
        load=_load, model=model, scores=lambda output: output.squeeze(1),
        baseline=lambda output, labels: torch.nn.functional.binary_cross_entropy_with_logits(
            output.squeeze(1), labels.float()),
        optimizer=lambda parameters, lr: torch.optim.SGD(parameters, lr=lr, momentum=0.9),
        scheduler=lambda optimizer, epochs: torch.optim.lr_scheduler.MultiStepLR(optimizer, [2], 0.5),
        augment=lambda inputs, generator: inputs + 0.05 * torch.randn(inputs.shape, generator=generator),
    )


@pytest.fixture(scope="module")
def full(tmp_path_factory):
    """Three uninterrupted UniLoss epochs: the reference every resumed run must equal."""
    return train(tiny_digits(), loss="uniloss", device="cpu", out=tmp_path_factory.mktemp("full"),
                 progress=False)


@pytest.fixture
def registered():
    ml.task(tiny_digits, name="tiny_digits")


def _same_weights(a: torch.nn.Module, b: torch.nn.Module) -> bool:
    first, second = a.state_dict(), b.state_dict()
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


def _without_seconds(history):
    return [{k: v for k, v in row.items() if k != "seconds"} for row in history]


class Interrupted(Exception):
    pass


# ---- one run -------------------------------------------------------------------------------------


def test_a_run_logs_every_epoch_and_draws_its_curves(full):
    out = full.out
    assert [row["epoch"] for row in full.history] == [1, 2, 3]
    with open(out / "metrics.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert tuple(rows[0]) == COLUMNS
    assert [float(row["test_metric"]) for row in rows] == [row["test_metric"] for row in full.history]
    lines = (out / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == list(full.history)
    assert [row["lr"] for row in full.history] == [0.05, 0.05, 0.025]  # the schedule is applied
    assert (out / "curves.png").read_bytes().startswith(PNG)
    config = json.loads((out / "config.json").read_text())
    assert config["task"] == "tiny_digits" and config["loss"] == "uniloss" and config["metric"] == "auc"
    assert config["data_source"] == "600 of scikit-learn's digits" and config["synthetic"] is False
    assert not list(out.glob(".*tmp"))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_three_epochs_of_a_tiny_mlp_lift_test_auc_above_0_75(seed, full, tmp_path):
    run = full if seed == 0 else train(tiny_digits(), loss="uniloss", device="cpu", out=tmp_path, progress=False,
                                       seed=seed)
    assert run.config.seed == seed
    assert run.test_metric > 0.75, [row["test_metric"] for row in run.history]


@pytest.mark.parametrize("every, drawn", [(0.0, [1, 2, 3]), (1e9, [1, 3])])
def test_the_curves_are_drawn_first_last_and_between_at_most_every_few_seconds(tmp_path, monkeypatch,
                                                                               every, drawn):
    epochs = []
    monkeypatch.setattr(loop, "CURVES_EVERY", every)
    monkeypatch.setattr(loop, "plot_curves", lambda path, history, config: epochs.append(len(history)))
    train(tiny_digits(), loss="baseline", device="cpu", out=tmp_path, progress=False)
    assert epochs == drawn


def test_the_logged_metric_is_the_exact_metric_of_the_split(full):
    data = _load(None, 0)
    full.model.eval()
    with torch.no_grad():
        test = ml.get_metric("auc")(full.model(data.test.inputs).squeeze(1), *data.test.targets)
    assert full.test_metric == float(test)


def test_the_checkpoint_is_read_weights_only_and_holds_the_whole_state(full):
    state = torch.load(full.checkpoint, weights_only=True)
    assert state["epoch"] == 3 and state["config"]["loss"] == "uniloss"
    assert set(state["rng"]) == {"torch", "cuda", "shuffle", "augment", "uniloss", "processes"}
    assert state["scheduler"]["last_epoch"] == 3 and state["optimizer"]["state"]
    assert state["history"] == list(full.history)


def test_uniloss_takes_the_task_s_longer_schedule_unless_told(tmp_path):
    run = train(tiny_digits(epochs=1, uniloss_epochs=2), loss="uniloss", device="cpu", out=tmp_path,
                progress=False)
    assert run.config.epochs == 2


def test_the_data_s_own_defaults_override_the_task_s(tmp_path):
    # The bundled digits and the synthetic pose set carry smaller defaults than the paper's; every
    # unset hyper-parameter of the run comes from them, not from task.settings.
    own = Settings(epochs=1, batch_size=48, lr=0.02, uniloss_epochs=2)

    def load(data_dir, seed):
        data = _load(data_dir, seed)
        return Data(data.train, data.validation, data.test, data.source, settings=own)

    task = dataclasses.replace(tiny_digits(epochs=5, uniloss_epochs=7), load=load)
    uniloss = train(task, loss="uniloss", device="cpu", out=tmp_path / "u", progress=False)
    baseline = train(task, loss="baseline", device="cpu", out=tmp_path / "b", progress=False)
    assert (uniloss.config.epochs, uniloss.config.batch_size, uniloss.config.lr) == (2, 48, 0.02)
    assert (baseline.config.epochs, baseline.config.batch_size, baseline.config.lr) == (1, 48, 0.02)
    assert len(uniloss.history) == 2 and len(baseline.history) == 1


def test_uniloss_takes_its_own_learning_rate_when_the_settings_give_one(tmp_path):
    task = dataclasses.replace(tiny_digits(epochs=1), settings=Settings(epochs=1, batch_size=32, lr=0.05,
                                                                         uniloss_lr=0.2))
    assert train(task, loss="uniloss", device="cpu", out=tmp_path / "u", progress=False).config.lr == 0.2
    assert train(task, loss="baseline", device="cpu", out=tmp_path / "b", progress=False).config.lr == 0.05
    assert train(task, loss="uniloss", lr=0.1, device="cpu", out=tmp_path / "t", progress=False).config.lr == 0.1


def test_a_task_s_reports_are_logged_every_epoch_and_tabled_by_compare(tmp_path, capsys):
    from metricloss.train.task import Report

    task = dataclasses.replace(tiny_digits(epochs=2), reports=(Report("AP", "average_precision"),
                                                               Report("P@5", "precision_at_k", {"k": 5})))
    result = compare(task, seeds=2, device="cpu", out=tmp_path, progress=False)
    run = result.runs["uniloss"][1]
    ap = ml.get_metric("average_precision")
    with torch.no_grad():
        run.model.eval()
        test = _load(None, 1).test
        assert run.test_metrics["AP"] == pytest.approx(ap(run.model(test.inputs).squeeze(1), *test.targets).item())
    assert set(run.test_metrics) == {"AP", "P@5"}
    rows = list(csv.DictReader(open(run.out / "metrics.csv")))
    assert list(rows[0])[-2:] == ["test_AP", "test_P@5"] and len(rows) == 2
    assert float(rows[-1]["test_AP"]) == pytest.approx(run.test_metrics["AP"])
    table = (tmp_path / "comparison.md").read_text()
    assert "| loss | epochs | test auc | per seed | test AP | test P@5 |" in table
    ap_figures = result.summaries["uniloss"].reported["AP"]
    assert ap_figures.test == tuple(r.test_metrics["AP"] for r in result.runs["uniloss"])
    assert f"{ap_figures.mean:.4f} ± {ap_figures.std:.4f}" in table
    record = json.loads((tmp_path / "comparison.json").read_text())
    assert record["losses"]["baseline"]["reported"]["P@5"]["mean"] == result.summaries["baseline"].reported["P@5"].mean
    assert "test AP " in loop.epoch_line(run.history[-1], run.config)
    # a task without reports keeps its columns and table as they were
    plain = compare(tiny_digits(epochs=1), seeds=1, device="cpu", out=tmp_path / "plain", progress=False)
    assert plain.runs["baseline"][0].test_metrics == {}
    assert "| loss | epochs | test auc | per seed |\n" in (tmp_path / "plain" / "comparison.md").read_text()
    assert open(plain.runs["baseline"][0].out / "metrics.csv").readline().strip().split(",") == list(COLUMNS)


def test_undefined_batches_are_counted_in_the_log_not_warned(tmp_path):
    # Batches of 4 from a set with 10% positives: many have no positive and no AUC. The test suite
    # turns MetricLossWarning into an error, so a warning that escaped would fail this test.
    run = train(tiny_digits(), loss="uniloss", epochs=1, batch_size=4, device="cpu", out=tmp_path,
                progress=False)
    assert run.history[0]["undefined_batches"] > 10


def test_progress_lines_go_to_the_terminal_as_a_redrawn_bar_and_elsewhere_as_plain_lines():
    class Terminal(io.StringIO):
        def isatty(self):
            return True

    for stream, redrawn in ((Terminal(), True), (io.StringIO(), False)):
        with Progress(8, "epoch 1/1", stream=stream) as bar:
            for step in range(8):
                bar.update(loss=1.0 / (step + 1), auc=0.5)
        text = stream.getvalue()
        assert ("\r" in text) is redrawn
        assert text.endswith("epoch 1/1 [########################] 8/8 loss 0.1250 auc 0.5000"
                             + ("\x1b[K\n" if redrawn else "\n"))
        if not redrawn:
            assert len(text.splitlines()) == 4  # a line at each quarter


# ---- resuming ------------------------------------------------------------------------------------


def test_one_epoch_then_resumed_to_three_equals_three_bit_for_bit(full, tmp_path):
    first = train(tiny_digits(), loss="uniloss", epochs=1, device="cpu", out=tmp_path, progress=False)
    assert not _same_weights(first.model, full.model)
    resumed = train(tiny_digits(), loss="uniloss", epochs=3, device="cpu", out=tmp_path, resume=True,
                    progress=False)
    assert resumed.resumed_from == 1
    assert _same_weights(resumed.model, full.model)
    assert _without_seconds(resumed.history) == _without_seconds(full.history)
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 3


def test_an_interrupted_run_leaves_a_valid_checkpoint_and_resumes_exactly(full, tmp_path):
    def stop_after_two(row):
        if row["epoch"] == 2:
            raise Interrupted

    with pytest.raises(Interrupted):
        train(tiny_digits(), loss="uniloss", device="cpu", out=tmp_path, progress=False,
              on_epoch=stop_after_two)
    assert load_checkpoint(tmp_path / "checkpoint.pt")["epoch"] == 2
    assert len((tmp_path / "metrics.csv").read_text().splitlines()) == 1 + 2
    resumed = train(tiny_digits(), loss="uniloss", device="cpu", out=tmp_path, resume=True, progress=False)
    assert resumed.resumed_from == 2 and _same_weights(resumed.model, full.model)


def test_a_save_that_dies_midway_leaves_the_previous_checkpoint(tmp_path, monkeypatch):
    train(tiny_digits(), loss="baseline", epochs=1, device="cpu", out=tmp_path, progress=False)
    before = (tmp_path / "checkpoint.pt").read_bytes()

    def dying_save(state, path):
        with open(path, "wb") as handle:
            handle.write(b"half a checkpoint")
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(OSError, match="disk full"):
        train(tiny_digits(), loss="baseline", epochs=2, device="cpu", out=tmp_path, resume=True,
              progress=False)
    assert (tmp_path / "checkpoint.pt").read_bytes() == before
    assert not list(tmp_path.glob(".*tmp"))


def test_resuming_a_finished_run_trains_nothing(full, tmp_path):
    shutil.copytree(full.out, tmp_path, dirs_exist_ok=True)
    again = train(tiny_digits(), loss="uniloss", device="cpu", out=tmp_path, resume=True, progress=False)
    assert again.resumed_from == 3 and again.history == full.history
    assert _same_weights(again.model, full.model)


@pytest.mark.parametrize("change, expected", [
    (dict(loss="baseline"), "loss 'uniloss' there, 'baseline' here"),
    (dict(task=tiny_digits(name="other_digits")), "task 'tiny_digits' there, 'other_digits' here"),
    (dict(task=tiny_digits(hidden=16)), "model parameter '0.weight' is [32, 64] there, [16, 64] here"),
    (dict(lr=0.1, seed=1), "lr 0.05 there, 0.1 here; seed 0 there, 1 here"),
    (dict(epochs=2), "is already at epoch 3, past the 2 epochs asked for"),
])
def test_an_incompatible_checkpoint_is_refused_naming_the_file_and_the_difference(full, tmp_path,
                                                                                   change, expected):
    shutil.copy(full.checkpoint, tmp_path / "checkpoint.pt")
    arguments = dict(task=tiny_digits(), loss="uniloss", device="cpu", out=tmp_path, resume=True,
                     progress=False) | change
    with pytest.raises(ml.InputError) as error:
        train(**arguments)
    assert str(tmp_path / "checkpoint.pt") in str(error.value)
    assert expected in str(error.value)


def test_a_damaged_checkpoint_or_one_left_without_resume_is_a_clear_error(full, tmp_path):
    (tmp_path / "checkpoint.pt").write_bytes(b"not a checkpoint")
    with pytest.raises(ml.InputError, match="cannot read the checkpoint .*checkpoint.pt.*delete it"):
        train(tiny_digits(), device="cpu", out=tmp_path, resume=True, progress=False)
    with pytest.raises(ml.InputError, match="already holds a checkpoint.*resume=True"):
        train(tiny_digits(), device="cpu", out=full.out, progress=False)


def test_bad_settings_are_input_errors(tmp_path):
    with pytest.raises(ml.InputError, match="loss must be one of uniloss, baseline, got 'bce'"):
        train(tiny_digits(), loss="bce", device="cpu", out=tmp_path, progress=False)
    with pytest.raises(ml.InputError, match="epochs must be at least 1"):
        train(tiny_digits(), epochs=0, device="cpu", out=tmp_path, progress=False)
    if not torch.cuda.is_available():
        with pytest.raises(ml.InputError, match="no CUDA device"):
            train(tiny_digits(), device="cuda", out=tmp_path, progress=False)


# ---- comparison ----------------------------------------------------------------------------------


def test_compare_writes_a_table_json_and_figure_that_match_the_runs(tmp_path, capsys):
    result = compare(tiny_digits(epochs=1, uniloss_epochs=2), seeds=2, device="cpu", out=tmp_path,
                     progress=False)
    printed = capsys.readouterr().out
    record = json.loads((tmp_path / "comparison.json").read_text())
    assert record["task"] == "tiny_digits" and record["seeds"] == [0, 1] and record["synthetic"] is False
    for loss, epochs in (("baseline", 1), ("uniloss", 2)):
        entry = record["losses"][loss]
        assert entry["epochs"] == epochs
        finals = []
        for run in entry["runs"]:
            rows = [json.loads(line) for line in open(f"{run['out']}/metrics.jsonl")]
            assert len(rows) == epochs and run["test_metric"] == rows[-1]["test_metric"]
            finals.append(rows[-1]["test_metric"])
        assert entry["mean"] == pytest.approx(statistics.fmean(finals))
        assert entry["std"] == pytest.approx(statistics.stdev(finals))
        summary = result.summaries[loss]
        assert f"{summary.mean:.4f} ± {summary.std:.4f}" in printed
    markdown = (tmp_path / "comparison.md").read_text()
    assert markdown == result.table and markdown in printed
    assert "600 of scikit-learn's digits" in markdown and "synthetic: no" in markdown
    assert "| UniLoss(auc) | 2 |" in markdown and "| baseline | 1 |" in markdown
    assert (tmp_path / "comparison.png").read_bytes().startswith(PNG)
    assert printed.rstrip().endswith(f"figure: {tmp_path / 'comparison.png'}")


# ---- commands ------------------------------------------------------------------------------------


def test_train_command_writes_to_runs_and_asks_for_resume(registered, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    command = ["train", "tiny_digits", "--loss", "baseline", "--epochs", "1", "--device", "cpu"]
    assert main(command) == 0
    out = capsys.readouterr().out
    assert "tiny_digits, baseline, seed 0: test auc" in out
    assert (tmp_path / "runs/tiny_digits-baseline-seed0/checkpoint.pt").exists()
    assert main(command) == 2
    assert "--resume" in capsys.readouterr().err
    assert main([*command[:-3], "2", "--device", "cpu", "--resume"]) == 0
    assert "after epoch 2" in capsys.readouterr().out


def test_compare_command_prints_the_table_and_the_figure(registered, tmp_path, capsys):
    command = ["compare", "tiny_digits", "--seeds", "1", "--epochs", "1", "--device", "cpu",
               "--out", str(tmp_path)]
    assert main(command) == 0
    out = capsys.readouterr().out
    assert "| baseline | 1 |" in out and f"figure: {tmp_path / 'comparison.png'}" in out


def test_unknown_task_is_exit_code_2(capsys):
    assert main(["train", "no_such_task", "--device", "cpu"]) == 2
    assert "no task named 'no_such_task'" in capsys.readouterr().err


@pytest.mark.parametrize("command", ["train", "compare"])
def test_help(command, capsys):
    # In-process (test_cli.py runs the installed console script): argparse exits 0 after printing.
    with pytest.raises(SystemExit) as exit:
        main([command, "--help"])
    out = capsys.readouterr().out
    assert exit.value.code == 0
    assert out.startswith(f"usage: metricloss {command}") and "--epochs" in out and "--out" in out


def test_a_checkpoint_damaged_on_disk_is_refused_by_its_checksum(tmp_path):
    from metricloss.train.checkpoints import CHECKPOINT, checksum

    train(tiny_digits(epochs=1), loss="baseline", device="cpu", out=tmp_path, progress=False)
    path = tmp_path / CHECKPOINT
    state = torch.load(path, weights_only=True)
    assert state["checksum"] == checksum(state) == load_checkpoint(path)["checksum"]
    weights = next(iter(state["model"].values()))
    weights.view(-1)[0] += 1.0  # one weight changed after writing, the checksum left as it was
    torch.save(state, path)
    with pytest.raises(ml.InputError, match="does not match its checksum: its contents were damaged"):
        load_checkpoint(path)
    with pytest.raises(ml.InputError, match="does not match its checksum"):
        train(tiny_digits(epochs=2), loss="baseline", device="cpu", out=tmp_path, progress=False, resume=True)
