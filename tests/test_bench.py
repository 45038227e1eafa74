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
from metricloss_benchmarks.floor import floor_loss
from metricloss_benchmarks.inputs import Case
from metricloss_benchmarks.scaling import log_log_slope
from metricloss_benchmarks.suite import TABLES
from metricloss_benchmarks.tables import Target, sig2
from metricloss_benchmarks.versus_loop import agreement

CPU = torch.device("cpu")
TITLES = ("a. ", "b. ", "c. ", "c'. ", "d. ", "e. ", "f. ", "g. ", "h. ")


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
                                      "scaling", "compile", "user_forms", "exact_value"}
    assert all(results["tables"].values())
    tables = results["tables"]
    assert {"uniloss_over_baseline", "binaries", "timings"} <= set(tables["loss_cost"][0])
    assert "step_uniloss_over_step_baseline" in tables["training_step"][0]
    assert {"loop_over_vectorised", "extrapolated"} <= set(tables["loop"][0])
    assert {"uniloss_over_baseline", "binaries", "path"} <= set(tables["user_forms"][0])
    assert any(row["extrapolated"] for row in tables["loop"])
    assert {"time_ratio", "memory_ratio", "uniloss_peak_bytes", "floor_peak_bytes"} <= set(tables["floor"][0])
    assert tables["floor"][0]["uniloss_peak_bytes"] > 0 and tables["floor"][0]["floor_peak_bytes"] > 0
    assert "slopes" in tables["scaling"][-1] and "peak_bytes" in tables["scaling"][0]
    assert {"metric", "median_s"} <= set(tables["compile"][0])
    exact = tables["exact_value"]
    assert {"metricloss_over_reference", "path", "difference", "metricloss_peak_bytes"} <= set(exact[0])
    assert all(row["path"] and set(row["path"]) == {"counted"} for row in exact)  # sorted, never held whole
    assert all(row["difference"] < 1e-6 for row in exact)
    assert all({"target", "limit", "value", "met"} <= set(t) for t in results["targets"])


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
    assert TABLES == ("loss_cost", "training_step", "loop", "floor", "scaling", "compile", "user_forms", "exact_value")
