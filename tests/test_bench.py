"""The benchmark suite runs end to end at tiny sizes, and its loop reference computes what
metricloss computes. No timing is asserted: numbers depend on the machine."""

import json
import math
import subprocess
import sys

import pytest
import torch
from sklearn.metrics import average_precision_score

import metricloss as ml
from metricloss.cli import main
from metricloss_benchmarks import loop_reference
from metricloss_benchmarks.dispatch_counts import count_ops
from metricloss_benchmarks.floor import compiled_floor, floor_loss
from metricloss_benchmarks.inputs import Case
from metricloss_benchmarks.scaling import log_log_slope
from metricloss_benchmarks.suite import TABLES
from metricloss_benchmarks.tables import Target, sig2
from metricloss_benchmarks.timing import Clock
from metricloss_benchmarks.versus_loop import agreement
from metricloss_benchmarks.zoo_floor import zoo_floor, zoo_limits
from metricloss_benchmarks.zoo_rows import Overtime, ZooCase, measure_row, time_limit

CPU = torch.device("cpu")
TITLES = ("a. ", "b. ", "c. ", "c'. ", "d. ", "e. ", "f. ", "g. ", "h. ", "i. ")


def test_smoke_run_prints_every_table_and_writes_the_json(tmp_path, capsys):
    path = tmp_path / "bench.json"
    assert main(["bench", "--smoke", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    for title in TITLES:
        assert f"\n{title}" in out
    assert out.count("torch threads, torch ") >= len(TITLES) + 1  # every table states its environment
    results = json.loads(path.read_text())
    assert set(results) >= {"environment", "tables", "targets", "failures", "benchmark_seconds"}
    assert results["failures"] == {}
    assert set(results["environment"]) >= {"device", "device_type", "torch", "threads", "mode"}
    assert set(results["tables"]) == {"loss_cost", "training_step", "loop", "loop_check", "floor",
                                      "scaling", "compile", "user_forms", "exact_value", "zoo_floor"}
    assert all(results["tables"].values())
    tables = results["tables"]
    assert {"uniloss_over_baseline", "binaries", "timings"} <= set(tables["loss_cost"][0])
    assert "step_uniloss_over_step_baseline" in tables["training_step"][0]
    assert {"loop_over_vectorised", "extrapolated"} <= set(tables["loop"][0])
    assert {"uniloss_over_baseline", "binaries", "path"} <= set(tables["user_forms"][0])
    assert any(row["extrapolated"] for row in tables["loop"])
    assert {"time_ratio", "memory_ratio", "uniloss_peak_bytes", "floor_peak_bytes",
            "compiled_over_floor"} <= set(tables["floor"][0])
    assert tables["floor"][0]["uniloss_peak_bytes"] > 0 and tables["floor"][0]["floor_peak_bytes"] > 0
    assert "slopes" in tables["scaling"][-1] and "peak_bytes" in tables["scaling"][0]
    assert {"metric", "median_s"} <= set(tables["compile"][0])
    exact = tables["exact_value"]
    assert {"metricloss_over_reference", "path", "difference", "metricloss_peak_bytes"} <= set(exact[0])
    assert all(row["path"] and set(row["path"]) == {"counted"} for row in exact)  # sorted, never held whole
    assert all(row["difference"] < 1e-6 for row in exact)
    assert all({"target", "limit", "value", "met"} <= set(t) for t in results["targets"])
    zoo = tables["zoo_floor"]
    assert {row["kind"] for row in zoo} == {"binary", "graded", "regression", "classes", "classes_ignore", "queries",
                                            "multilabel", "segmentation", "segmentation_ignore", "masks", "heatmaps"}
    assert all(row["status"] == "measured" for row in zoo)  # at the zoo's own tiny sizes every one runs
    for row in zoo:
        assert {"time_ratio", "memory_ratio", "uniloss_over_baseline", "ops", "syncs", "sync_ops", "path",
                "binaries", "baseline", "floor_ops", "floor_syncs"} <= set(row)
        assert row["path"] and row["ops"] > row["floor_ops"] > 0 and row["binaries"] > 0
        assert row["syncs"] == sum(row["sync_ops"].values())
    assert any(t["target"].startswith("zoo: ") for t in results["targets"])


def test_bench_rejects_an_unknown_table(capsys):
    assert main(["bench", "--smoke", "--tables", "loss_cost,nope", "--json", "unused.json"]) == 2
    assert "unknown table(s) nope" in capsys.readouterr().err


def test_python_dash_m_metricloss_runs_the_command():
    out = subprocess.run([sys.executable, "-m", "metricloss", "bench", "--help"],
                         capture_output=True, text=True, check=True)
    assert "--quick" in out.stdout and all(t in out.stdout for t in ("loss_cost", "compile"))


@pytest.mark.parametrize("case", [Case("average_precision", 40), Case("accuracy", 12, classes=6),
                                  Case("pckh", 2, side=12, joints=3)], ids=lambda c: c.metric)
def test_loop_reference_agrees_with_metricloss_on_identical_anchors(case):
    row = agreement(case, CPU)
    assert row["value_gap"] <= 1e-6
    assert row["loss_gap"] <= 1e-5
    assert row["grad_gap"] <= 1e-6


def test_loop_pckh_agrees_where_joints_are_hit():
    scores, targets = Case("pckh", 2, side=12, joints=3).make(CPU)
    scores = scores.detach().clone()
    joints = targets[0]
    for n, j in [(0, 0), (0, 2), (1, 1)]:  # a peak on these joints: they are hit
        x, y = joints[n, j].round().long().tolist()
        scores[n, j, y, x] = 5.0
    row = agreement(Case("pckh", 2, side=12, joints=3), CPU, scores, targets)
    assert row["exact_value"] == pytest.approx(3 / 6)
    assert row["value_gap"] <= 1e-6 and row["loss_gap"] <= 1e-5 and row["grad_gap"] <= 1e-6


def test_loop_average_precision_is_sklearns():
    scores, (labels,) = Case("average_precision", 64).make(CPU, seed=3)
    label_list = labels.tolist()
    _, n_pos, n_neg = loop_reference.pair_indices(label_list)
    hard = loop_reference.hard_binaries(scores, label_list)
    ours = loop_reference.average_precision_from_binaries(hard, n_pos, n_neg)
    assert ours == pytest.approx(average_precision_score(labels.numpy(), scores.detach().numpy()), abs=1e-9)


@pytest.mark.parametrize("case", [Case("auc", 50), Case("accuracy", 7, classes=5), Case("pckh", 2, side=10, joints=2)],
                         ids=lambda c: c.metric)
def test_floor_relaxes_every_binary_metricloss_uses(case):
    scores, targets = case.make(CPU)
    loss = ml.UniLoss(case.metric)
    loss(scores, *targets)
    relaxed = []
    original_tanh = torch.tanh

    def counting_tanh(x):
        relaxed.append(x.numel())
        return original_tanh(x)

    torch.tanh = counting_tanh
    try:
        floor_loss(case.metric)(scores, *targets).backward()
    finally:
        torch.tanh = original_tanh
    # accuracy's floor also compares the true class with itself (a zero): one extra per sample
    extra = case.batch if case.metric == "accuracy" else 0
    if case.metric == "pckh":  # the floor relaxes every pixel and zeroes those inside the regions
        assert relaxed == [scores.numel()]
    else:
        assert relaxed == [loss.last.binaries + extra]
    assert scores.grad is not None and torch.isfinite(scores.grad).all()


def test_log_log_slope_and_formats():
    assert log_log_slope([(10, 3.0), (100, 300.0), (1000, 30000.0)]) == pytest.approx(2.0)
    assert log_log_slope([(10, 1.0)]) is None
    assert [sig2(v) for v in (0.001234, 1.26, 47.2, 1234.0, 0)] == ["0.0012", "1.3", "47", "1200", "0"]
    target = Target("speed-up", 1000, at_most=False)
    assert target.cell(1500) == ">= 1000: met" and target.cell(20) == ">= 1000: MISSED"
    assert target.cell(math.nan).endswith("n/a")


def test_tables_constant_names_every_table():
    assert TABLES == ("loss_cost", "training_step", "loop", "floor", "scaling", "compile", "user_forms", "exact_value",
                      "zoo_floor")


def test_the_ranking_floor_relaxes_every_pair_the_argsort_metrics_use():
    from metricloss_benchmarks.user_forms import floor_forms

    for form in floor_forms("smoke"):
        scores, targets = form.make(CPU)
        with pytest.warns(ml.TieOrderWarning):  # written as users write it: argsort without stable=True
            metric = ml.metric(register=False)(form.fn)
        loss = ml.UniLoss(metric)
        loss(scores, *targets)
        queries, items = scores.shape
        # every ordered pair of items of a query; the floor also relaxes each item against itself
        assert loss.last.binaries + queries * items == queries * items * items


def test_approx_ndcg_is_the_ndcg_of_its_approximate_positions():
    from metricloss_benchmarks.floor import approx_ndcg_loss, approximate_ranks

    scores = torch.tensor([[3.0, 1.0, 2.0, -5.0]])
    relevance = torch.tensor([[0, 2, 1, 0]])
    # far apart (in temperatures): the approximate positions are the positions, 1-based
    assert torch.allclose(approximate_ranks(scores * 100), torch.tensor([[1.0, 3.0, 2.0, 4.0]]))
    gains = torch.tensor([0.0, 3.0, 1.0, 0.0])
    dcg = (gains / torch.log2(torch.tensor([1.0, 3.0, 2.0, 4.0]) + 1)).sum()
    ideal = 3.0 / math.log2(2) + 1.0 / math.log2(3)
    assert float(approx_ndcg_loss(scores * 100, relevance)) == pytest.approx(1 - float(dcg) / ideal, abs=1e-6)
    scores.requires_grad_()
    approx_ndcg_loss(scores, relevance).backward()
    assert scores.grad[0, 1] < 0  # the most relevant item, ranked third, is pushed up


@pytest.mark.parametrize("case", [Case("auc", 50), Case("accuracy", 7, classes=5)], ids=lambda c: c.metric)
def test_the_compiled_floor_is_the_hand_written_floor(case):
    # the same differences through the same relaxation; accuracy's hand-written floor adds the
    # true class against itself, tanh(0) = 0
    scores, targets = case.make(CPU)
    compiled = compiled_floor(ml.get_metric(case.metric))(scores, *targets)
    assert float(compiled.detach()) == pytest.approx(float(floor_loss(case.metric)(scores, *targets).detach()), rel=1e-6)
    compiled.backward()
    assert scores.grad is not None and scores.grad.abs().sum() > 0


def test_the_compiled_floor_relaxes_the_live_binaries_of_a_user_metric():
    @ml.metric(register=False)
    def ordered_pairs(scores, grades):
        return (scores[:, None] > scores[None, :]).float().mean()  # the diagonal is dead: left out

    scores, grades = torch.randn(9, requires_grad=True), torch.zeros(9)
    loss = ml.UniLoss(ordered_pairs)
    loss(scores, grades)
    relaxed = []
    counting = ml.Relaxation("counting", {}, lambda d: relaxed.append(d.numel()) or torch.tanh(d / 2))
    compiled_floor(ordered_pairs, counting)(scores, grades).backward()
    assert relaxed == [loss.last.binaries] == [9 * 8]
    assert torch.isfinite(scores.grad).all()


def test_dispatch_counts_count_item_calls_as_host_synchronisations():
    x = torch.randn(6, requires_grad=True)

    def twice():
        total = (x * 2).sum()
        total.backward()
        value = total.detach()
        value.item()
        value.item()  # a second read of a value: a second synchronisation

    counts = count_ops(twice)
    assert counts.syncs == {"_local_scalar_dense": 2}
    # forward: mul, sum; backward: the ones of d(sum), their expansion, the mul by 2, the leaf's
    # detach; then the detach of the value and its two reads
    assert counts.ops == {"mul": 2, "sum": 1, "ones_like": 1, "expand": 1, "detach": 2, "_local_scalar_dense": 2}
    assert counts.op_count == 9 and counts.sync_count == 2


def test_dispatch_counts_know_which_ops_need_the_host():
    x, mask = torch.randn(8), torch.arange(8) % 2 == 0
    repeats = torch.tensor([1, 2])

    def calls():
        x[mask]  # a bool mask: its indices come from nonzero
        x[torch.tensor([0, 3])]  # integer indices: no wait
        x.nonzero()
        torch.repeat_interleave(repeats)  # the output's size is the repeats' sum
        torch.repeat_interleave(repeats, output_size=3)  # told: no wait
        x.tolist()
        torch.add(x, 1)

    counts = count_ops(calls)
    assert counts.syncs == {"index (bool mask)": 1, "nonzero": 1, "repeat_interleave (no output_size)": 1,
                            "Tensor.tolist": 1}
    assert counts.ops["index"] == 2 and counts.ops["repeat_interleave"] == 2 and counts.ops["add"] == 1


def test_a_zoo_table_without_the_zoo_says_so():
    table = zoo_floor(None, "the metric zoo (tests/zoo) is not here", "smoke", Clock(CPU, 1))
    assert table.rows == [] and table.notes == ["the metric zoo (tests/zoo) is not here"]


def test_a_metric_that_cannot_compile_is_a_row_that_says_why():
    from types import SimpleNamespace

    def sum_of_scores(scores, labels):
        return scores.sum()

    entry = SimpleNamespace(fn=sum_of_scores, name="sum_of_scores", kind="binary", best=None, higher_is_better=True)
    row = measure_row(ZooCase(entry, (12,)), zoo_limits("smoke"), Clock(CPU, 1))
    assert row["status"] == "failed" and "scores are used outside a comparison" in row["reason"]
    assert row["case"] == "sum_of_scores [12]"


def test_time_limit_interrupts_a_block_that_runs_too_long():
    import time

    with pytest.raises(Overtime, match="sleeping took over 0.05 s"):
        with time_limit(0.05, "sleeping"):
            time.sleep(2)
