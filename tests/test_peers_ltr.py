"""``metricloss peers --problem ltr``: the ltr task's data, scorer and schedule with ListNet,
ApproxNDCG, NeuralNDCG, LambdaLoss and UniLoss on NDCG@10 and MRR; every method runs end to end
and is tabled with its time per epoch against LambdaLoss's; the lr of every metric is chosen on
validation NDCG@10; options the problem does not use are refused with a message."""

from __future__ import annotations

import json

import pytest
import torch

import metricloss as ml
from metricloss.cli import main
from metricloss.train.datasets.synthetic_ranking import SyntheticRanking
from metricloss_benchmarks.peers import ranking
from metricloss_benchmarks.peers.ltr_problem import ltr_problem
from metricloss_benchmarks.peers.methods import METHODS, Setup
from metricloss_benchmarks.peers.report import epoch_times
from metricloss_benchmarks.peers.runner import select
from metricloss_builtins import task_ltr
from peer_steps import refused_before_writing, step_moves_the_model

LTR_METHODS = ["listnet", "approx_ndcg", "neural_ndcg", "lambda_loss", "uniloss_ndcg", "uniloss_mrr"]
REPORTED = {"NDCG@1", "NDCG@5", "NDCG@10", "MRR"}
TINY = SyntheticRanking(train=24, validation=8, test=8, min_items=5, max_items=30)


@pytest.fixture
def tiny(monkeypatch):
    """The ltr task's generated set at two dozen training queries (the task reads it when it loads)."""
    monkeypatch.setattr(task_ltr, "GENERATED", TINY)


def _outputs(out):
    return json.loads((out / "results.json").read_text()), (out / "table.md").read_text()


def test_every_ltr_method_runs_and_is_tabled_with_its_time_per_epoch(tiny, tmp_path, capsys):
    out = tmp_path / "ltr"
    assert main(["peers", "--problem", "ltr", "--smoke", "--out", str(out)]) == 0
    results, table = _outputs(out)
    assert (out / "peers.png").stat().st_size > 0
    problem = results["problems"]["ltr"]
    assert results["complete"] and problem["methods"] == LTR_METHODS
    assert problem["select_on"] == "NDCG@10" and problem["time_reference"] == "lambda_loss"
    assert problem["schedule"]["batch_size"] == task_ltr.SYNTHETIC.batch_size  # the task's, for its generated set
    assert "24/8/8 queries" in problem["source"]
    assert {(r["method"], r["lr"], r["seed"]) for r in results["runs"]} == {(m, 1e-3, 0) for m in LTR_METHODS}
    for run in results["runs"]:
        assert set(run["validation"]) == set(run["test"]) == REPORTED
        assert all(0 <= value <= 1 for value in run["test"].values())
        assert run["steps"] > 0 and len(run["epoch_seconds"]) == 1 and run["epoch_seconds"][0] > 0
    # one lr per method, chosen on NDCG@10, for every reported metric
    assert {(row["method"], row["metric"]) for row in results["selected"]} == {
        (m, label) for m in LTR_METHODS for label in REPORTED}
    times = results["epoch_times"]["ltr"]
    assert times["lambda_loss"]["ratio"] == 1.0 and all(times[m]["ratio"] > 0 for m in LTR_METHODS)
    header = ("| method | lr | test NDCG@1 | test NDCG@5 | test NDCG@10 | test MRR | time per epoch ÷ lambda_loss's "
              "| skipped batches | s per run |")
    assert header in table and all(f"| {name} | 0.001 |" in table for name in LTR_METHODS)
    assert "Validation NDCG@10 by learning rate" in table and "Validation MRR" not in table
    assert "metricloss peers --problem ltr --smoke" in results["command"]
    assert "| uniloss_ndcg |" in capsys.readouterr().out


def test_select_on_chooses_every_method_s_lr_on_that_validation_metric(tiny, tmp_path):
    out = tmp_path / "mrr"
    assert main(["peers", "--problem", "ltr", "--methods", "lambda_loss,uniloss_mrr_power4", "--lrs", "1e-3,3e-2",
                 "--seeds", "1", "--epochs", "1", "--select-on", "MRR", "--out", str(out)]) == 0
    results, table = _outputs(out)
    problem = results["problems"]["ltr"]
    assert problem["select_on"] == "MRR" and problem["details"]["lr chosen on"] == "validation MRR"
    assert "--select-on MRR" in results["command"]
    assert "Validation MRR by learning rate" in table and "Validation NDCG@10 by learning rate" not in table
    for method in ("lambda_loss", "uniloss_mrr_power4"):
        runs = {r["lr"]: r for r in results["runs"] if r["method"] == method}
        best = max(runs, key=lambda lr: (runs[lr]["validation"]["MRR"], -lr))
        rows = [row for row in results["selected"] if row["method"] == method]
        assert {row["lr"] for row in rows} == {best}  # one lr, MRR's choice, for every reported metric
        assert {row["metric"] for row in rows} == REPORTED


def write_letor(folder, queries=12):
    """LETOR text files of ``queries`` queries of 3 to 6 items, 3 features each, grades 0-4."""
    lines = "".join(f"{(q + i) % 5} qid:{q} 1:{q * 0.1 + i} 2:{i % 3} 3:{(q * i) % 7}\n"
                    for q in range(queries) for i in range(3 + q % 4))
    folder.mkdir(parents=True)
    for name in ("train.txt", "vali.txt", "test.txt"):
        (folder / name).write_text(lines)


def test_the_ltr_problem_reads_letor_files_with_the_task_s_settings_for_them(tmp_path):
    write_letor(tmp_path / "data" / "Fold1")
    out = tmp_path / "files"
    assert main(["peers", "--problem", "ltr", "--data-dir", str(tmp_path / "data"), "--smoke",
                 "--methods", "listnet,uniloss_ndcg", "--out", str(out)]) == 0
    results, table = _outputs(out)
    problem = results["problems"]["ltr"]
    assert "LETOR files in" in problem["source"] and problem["methods"] == ["listnet", "uniloss_ndcg"]
    assert problem["schedule"]["batch_size"] == task_ltr.FILES.batch_size  # the task's settings for files
    assert f"--data-dir {tmp_path / 'data'}" in results["command"]
    assert len(results["runs"]) == 2 and all(set(r["test"]) == REPORTED for r in results["runs"])
    # lambda_loss did not run: no ratio to show
    assert results["epoch_times"]["ltr"]["listnet"]["ratio"] is None and "| listnet | 0.001 |" in table


def test_the_problem_is_the_task_s_model_schedule_optimizer_and_listnet(tiny):
    problem = ltr_problem()
    task = ml.get_plugin("task", "ltr")()
    data = problem.load(0)
    settings = task.settings_for(data)
    schedule = problem.schedule_for(data)
    assert (schedule.epochs, schedule.batch_size) == (settings.epochs, settings.batch_size)
    torch.manual_seed(0)
    model = problem.model(data)
    torch.manual_seed(0)
    theirs = task.model(data)
    assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), theirs.state_dict().values()))
    batch = data.train.batch(torch.arange(6))
    scores = model(batch.inputs)
    relevance = batch.targets[0]
    assert scores.shape == relevance.shape and bool((relevance == -1).any())  # padded to the longest list
    trainer = METHODS["listnet"].build(Setup(problem, model, data.train, lr=1e-3, seed=0, device=torch.device("cpu")))
    assert isinstance(trainer.optimizer, torch.optim.Adam) and trainer.optimizer.param_groups[0]["lr"] == 1e-3
    # the usual loss is the task's ListNet, which is the paper's as written in ranking.py
    loss = trainer.loss(scores, relevance, torch.arange(6))
    assert loss.item() == pytest.approx(ranking.listnet(scores, relevance).item(), rel=1e-6)


@pytest.mark.parametrize("name", ["approx_ndcg", "neural_ndcg", "lambda_loss", "uniloss_ndcg", "uniloss_mrr"])
def test_one_step_of_each_ltr_method_moves_the_scorer(tiny, name):
    problem = ltr_problem()
    data = problem.load(0)
    torch.manual_seed(0)
    model = problem.model(data)
    trainer = METHODS[name].build(Setup(problem, model, data.train, lr=1e-2, seed=0, device=torch.device("cpu")))
    index = torch.arange(8)
    step_moves_the_model(trainer, model, data.train, index)


@pytest.mark.parametrize("name, taus", [("uniloss_ndcg_anneal", (4.0, 2.0, 1.0, 1.0)),
                                        ("uniloss_mrr_power4_anneal", (2.0, 1.0, 0.5, 0.5))])
def test_a_tau_schedule_runs_geometrically_over_the_runs_steps_then_holds(tiny, name, taus):
    # over steps=3 the sigmoid's tau goes start, the geometric middle, end, and stays at the end:
    # each call equals UniLoss with that tau set before it (the user's way to schedule tau)
    problem = ltr_problem()
    data = problem.load(0)
    torch.manual_seed(0)
    model = problem.model(data)
    trainer = METHODS[name].build(Setup(problem, model, data.train, lr=1e-2, seed=0, device=torch.device("cpu"),
                                        steps=3))
    options = {"interpolator": ml.inverse_distance(power=4.0)} if "mrr" in name else {}
    reference = ml.UniLoss("mrr" if "mrr" in name else "ndcg_at_k", generator=torch.Generator().manual_seed(0),
                           **options)
    batch = data.train.batch(torch.arange(8))
    scores = model(batch.inputs).detach()
    for tau in taus:
        reference.relaxation = ml.sigmoid(tau=tau)
        expected = reference(scores, batch.targets[0])
        assert torch.equal(trainer.loss(scores, batch.targets[0], torch.arange(8)), expected)


def _run(method, lr, seed, ndcg, mrr, test_mrr):
    return {"problem": "ltr", "method": method, "lr": lr, "seed": seed,
            "validation": {"NDCG@10": ndcg, "MRR": mrr}, "test": {"NDCG@10": ndcg, "MRR": test_mrr}}


def test_every_metric_is_reported_at_the_lr_chosen_on_the_selection_metric():
    # lr 0.01 has the better validation MRR, lr 0.001 the better NDCG@10
    runs = [_run("m", 0.001, 0, 0.7, 0.90, 0.91), _run("m", 0.001, 1, 0.8, 0.90, 0.93),
            _run("m", 0.01, 0, 0.6, 0.99, 0.99), _run("m", 0.01, 1, 0.6, 0.99, 0.99)]
    assert select(runs, "MRR")[("ltr", "m")]["lr"] == 0.01
    chosen = select(runs, "MRR", chosen_by="NDCG@10")[("ltr", "m")]
    assert chosen["lr"] == 0.001 and chosen["test"] == [0.91, 0.93] and chosen["test_mean"] == pytest.approx(0.92)
    assert chosen["validation_mean"] == pytest.approx(0.75) and chosen["grid"] == {0.001: pytest.approx(0.75),
                                                                                    0.01: pytest.approx(0.6)}


def test_time_per_epoch_is_each_method_s_mean_epoch_over_its_runs_against_the_reference():
    runs = [{"problem": "p", "method": "a", "epoch_seconds": [1.0, 3.0]},
            {"problem": "p", "method": "a", "epoch_seconds": [2.0]},
            {"problem": "p", "method": "ref", "epoch_seconds": [0.5, 1.5]}]
    results = {"problems": {"p": {"methods": ["a", "ref"], "time_reference": "ref"},
                            "q": {"methods": ["a"], "time_reference": "ref"}}, "runs": runs}
    times = epoch_times(results)
    assert times["p"]["a"]["seconds_per_epoch"] == pytest.approx(2.0)
    assert times["p"]["a"]["ratio"] == pytest.approx(2.0) and times["p"]["ref"]["ratio"] == 1.0
    assert times["q"]["a"] == {"seconds_per_epoch": None, "reference": "ref", "ratio": None}  # no runs there


@pytest.mark.parametrize("options, message", [
    (["--problem", "ltr", "--classes", "3"],
     "--classes applies to the digits problem only; --problem ltr does not use it"),
    (["--problem", "ltr", "--positive-fraction", "0.02"],
     "--positive-fraction applies to the digits problem only; --problem ltr does not use it"),
    (["--problem", "blobs", "--classes", "3"], "--classes applies to the digits problem only"),
    (["--problem", "digits", "--data-dir", "."], "--data-dir applies to --problem ltr"),
    (["--problem", "ltr", "--data-dir", "no/such/folder"], "--data-dir no/such/folder is not a folder"),
    (["--problem", "ltr", "--methods", "bce,uniloss_auc"], "method(s) bce, uniloss_auc do not apply to --problem ltr"),
    (["--problem", "digits", "--methods", "lambda_loss"], "method(s) lambda_loss do not apply to --problem digits"),
    (["--problem", "digits", "--select-on", "MRR"], "--select-on applies to --problem ltr"),
    (["--problem", "ltr", "--select-on", "AUC"],
     "--select-on AUC: not a metric the ltr task reports; choose one of NDCG@1, NDCG@5, NDCG@10, MRR"),
])
def test_options_the_ltr_problem_does_not_use_are_refused(options, message, tmp_path, capsys):
    refused_before_writing(options, message, tmp_path / "unused", capsys)


def test_a_data_dir_without_letor_files_is_refused_before_anything_is_written(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["peers", "--problem", "ltr", "--data-dir", str(tmp_path / "empty"), "--smoke",
                 "--out", str(tmp_path / "unused")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("metricloss: ") and "train.txt" in err
    assert not (tmp_path / "unused").exists()


def test_help_names_the_ltr_problem_and_its_methods(capsys):
    with pytest.raises(SystemExit):
        main(["peers", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "'ltr' is the ltr task's learning to rank" in out
    assert "ltr: " + ", ".join(LTR_METHODS) + "." in out
