"""``ml.evaluator``: the exact metric over every batch of a validation set, as a TorchMetrics Metric,
equal to the compiled metric on the concatenated batches (and to scikit-learn for the built-ins),
on one process and on two (gloo), where TorchMetrics gathers the batches."""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
import torch

pytest.importorskip("torchmetrics", reason="ml.evaluator needs torchmetrics (pip install 'metricloss[torchmetrics]')")
sklearn_metrics = pytest.importorskip("sklearn.metrics")

import metricloss as ml  # noqa: E402
from metricloss.compiler.metric import padded  # noqa: E402
from tests.evaluator_cases import DISTRIBUTED, PROCESSES, batches_of  # noqa: E402

TESTS = Path(__file__).parent
ROOT = TESTS.parent


def binary_batches(dtype=torch.float32, sizes=(9, 4, 11)):
    generator = torch.Generator().manual_seed(3)
    batches = []
    for size in sizes:
        labels = (torch.rand(size, generator=generator) < 0.35).long()
        scores = torch.randint(-4, 5, (size,), generator=generator).float() / 3  # ties across batches
        batches.append((scores.to(dtype), labels))
    return batches


def class_batches(classes=5, sizes=(6, 10, 3)):
    generator = torch.Generator().manual_seed(4)
    return [(torch.randn(size, classes, generator=generator), torch.randint(0, classes, (size,), generator=generator))
            for size in sizes]


def concatenated(batches):
    return tuple(torch.cat(parts) for parts in zip(*batches))


def evaluate(metric, batches, **params):
    evaluator = ml.evaluator(metric, **params)
    for batch in batches:
        evaluator.update(*batch)
    return evaluator.compute()


# --- the value -------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, reference", [
    ("auc", sklearn_metrics.roc_auc_score),
    ("average_precision", sklearn_metrics.average_precision_score),
])
@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_binary_builtins_equal_the_compiled_metric_and_scikit_learn_over_all_batches(name, reference, dtype):
    batches = binary_batches(dtype)
    value = evaluate(name, batches)
    scores, labels = concatenated(batches)
    assert value.dtype == torch.float32 and value.dim() == 0
    assert torch.equal(value, ml.get_metric(name)(scores, labels))
    assert value.item() == pytest.approx(reference(labels.numpy(), scores.double().numpy()), abs=1e-6)
    mean_of_batches = sum(float(ml.get_metric(name)(*b)) for b in batches) / len(batches)
    assert value.item() != pytest.approx(mean_of_batches, abs=1e-4)  # why it keeps the batches


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16, torch.float64])
def test_accuracy_equals_the_compiled_metric_and_scikit_learn(dtype):
    batches = [(scores.to(dtype), labels) for scores, labels in class_batches()]
    value = evaluate("accuracy", batches)
    scores, labels = concatenated(batches)
    assert torch.equal(value, ml.get_metric("accuracy")(scores, labels))
    assert value.item() == pytest.approx(sklearn_metrics.accuracy_score(labels, scores.float().argmax(1)), abs=1e-7)


def test_a_metric_given_as_an_object_a_name_with_parameters_or_a_plain_function():
    batches = class_batches()
    scores, labels = concatenated(batches)
    top2 = ml.get_metric("topk_accuracy", k=2)
    assert torch.equal(evaluate(top2, batches), top2(scores, labels))
    assert torch.equal(evaluate("topk_accuracy", batches, k=2), top2(scores, labels))

    def plain_accuracy(scores, labels):
        return (scores.argmax(1) == labels).float().mean()

    assert torch.equal(evaluate(plain_accuracy, batches), ml.get_metric("accuracy")(scores, labels))
    assert "plain_accuracy" not in {entry.name for entry in ml.plugins("metric")}  # not registered


def test_reset_forgets_the_batches_and_update_after_it_starts_again():
    batches = binary_batches()
    evaluator = ml.evaluator("auc")
    for batch in batches:
        evaluator.update(*batch)
    evaluator.reset()
    evaluator.update(*batches[1])
    assert torch.equal(evaluator.compute(), ml.get_metric("auc")(*batches[1]))


def test_the_torchmetrics_contract_holds():
    import torchmetrics

    evaluator = ml.evaluator("auc")
    assert isinstance(evaluator, torchmetrics.Metric) and evaluator.higher_is_better is True
    assert not evaluator.is_differentiable
    batches = binary_batches()
    batch_value = evaluator(*batches[0])  # forward: this batch's value, and the batch is kept
    assert torch.equal(batch_value, ml.get_metric("auc")(*batches[0]))
    evaluator.update(*batches[1])
    assert torch.equal(evaluator.compute(), ml.get_metric("auc")(*concatenated(batches[:2])))
    again = pickle.loads(pickle.dumps(evaluator))
    assert torch.equal(again.compute(), evaluator.compute())
    collection = torchmetrics.MetricCollection({"auc": ml.evaluator("auc"), "ap": ml.evaluator("average_precision")})
    for batch in batches:
        collection.update(*batch)
    values = collection.compute()
    assert torch.equal(values["ap"], ml.get_metric("average_precision")(*concatenated(batches)))
    assert repr(ml.evaluator("topk_accuracy", k=3)) == "Evaluator(metric='topk_accuracy', k=3)"


# --- ranking lists of different lengths -------------------------------------------------------

def ranking_batches():
    generator = torch.Generator().manual_seed(5)
    batches = []
    for queries, length in ((3, 4), (2, 7), (4, 5)):
        relevance = torch.randint(-1, 3, (queries, length), generator=generator)
        batches.append((torch.randn(queries, length, generator=generator), relevance))
    return batches


@pytest.mark.parametrize("name, params", [("ndcg_at_k", {"k": 3}), ("mrr", {}), ("map_at_k", {"k": 4}),
                                          ("hit_rate_at_k", {"k": 2})])
def test_ranking_lists_of_other_lengths_are_padded_with_relevance_minus_one(name, params):
    batches = ranking_batches()
    value = evaluate(name, batches, **params)
    width = max(scores.shape[1] for scores, _ in batches)
    scores = torch.cat([padded(s, width, 0.0) for s, _ in batches])
    relevance = torch.cat([padded(r, width, -1) for _, r in batches])
    metric = ml.get_metric(name, **params)
    assert torch.equal(value, metric(scores, relevance))
    # padding changes nothing: each query alone, at its own length, gives the same per-query value
    per_query = [metric(s[q:q + 1], r[q:q + 1]) for s, r in batches for q in range(len(s))]
    counted = [v for v in per_query if not torch.isnan(v)]
    assert value.item() == pytest.approx(float(torch.stack(counted).mean()), abs=1e-6)


def test_a_metric_without_padding_refuses_batches_of_other_widths_saying_why():
    evaluator = ml.evaluator("accuracy")
    evaluator.update(torch.randn(4, 3), torch.tensor([0, 1, 2, 0]))
    with pytest.raises(ml.InputError, match=r"evaluator of metric `accuracy`: update got scores of shape \(4, 5\), "
                                            r"but the first batch's was \(4, 3\); .* Only a metric that marks padding"):
        evaluator.update(torch.randn(4, 5), torch.tensor([0, 1, 2, 0]))

    @ml.metric(best=1.0, register=False)
    def top_item_relevant(scores, relevance):
        order = scores.argsort(dim=1, descending=True, stable=True)
        return (relevance.gather(1, order)[:, 0] > 0).float().mean()

    ranking = ml.evaluator(top_item_relevant)
    ranking.update(torch.randn(2, 4), torch.ones(2, 4))
    with pytest.raises(ml.InputError, match="`top_item_relevant` does not"):
        ranking.update(torch.randn(2, 6), torch.ones(2, 6))


def test_padding_must_hold_for_the_metric_that_declares_it():
    with pytest.raises(ml.CompileError, match=r"padding= says an item with relevance = -1 is padding the metric "
                                              r"ignores, but .* the value changes"):
        @ml.metric(best=1.0, shapes={"scores": "Q D", "relevance": "Q D"}, padding={"relevance": -1}, register=False)
        def unmasked(scores, relevance):
            order = scores.argsort(dim=1, descending=True, stable=True)
            return (relevance.gather(1, order)[:, 0] > 0).float().mean()

    with pytest.raises(ml.CompileError, match=r"padding= names 'labels', which is not one of the targets"):
        @ml.metric(padding={"labels": -1}, register=False)
        def wrong_name(scores, relevance):
            return (scores > 0).float().mean()


def test_a_user_ranking_metric_that_masks_its_padding_is_padded_too():
    @ml.metric(best=1.0, shapes={"scores": "Q D", "relevance": "Q D"}, padding={"relevance": -1}, register=False)
    def top_item_relevant(scores, relevance):
        order = scores.masked_fill(relevance < 0, float("-inf")).argsort(dim=1, descending=True, stable=True)
        return (relevance.gather(1, order)[:, 0] > 0).float().mean()

    batches = ranking_batches()
    value = evaluate(top_item_relevant, batches)
    per_query = [float(top_item_relevant(s[q:q + 1], r[q:q + 1])) for s, r in batches for q in range(len(s))]
    assert value.item() == pytest.approx(sum(per_query) / len(per_query))


# --- errors ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("call, message", [
    (lambda e: e.update(torch.randn(4)), r"evaluator of metric `auc`: update takes 2 arguments \(scores, labels\); got 1"),
    (lambda e: e.update(torch.randn(4), torch.ones(4), torch.ones(4)), r"takes 2 arguments .* got 3"),
    (lambda e: e.update([0.1, 0.2], torch.tensor([0, 1])), r"scores \(argument 1\) must be a torch.Tensor, got a list"),
    (lambda e: e.update(torch.randn(2), [0, 1]), r"labels \(argument 2\) must be a torch.Tensor"),
    (lambda e: e.update(torch.tensor(0.5), torch.tensor(1)), r"update got scores of shape \(\) .* `scores.reshape\(1\)`"),
    (lambda e: e.compute(), r"compute\(\) was called with no batch given to update\(\) since the last reset\(\)"),
])
def test_errors_say_what_is_wrong(call, message):
    evaluator = ml.evaluator("auc")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # TorchMetrics' own note on compute before update
        with pytest.raises(ml.InputError, match=message):
            call(evaluator)


def test_the_metric_must_be_one():
    with pytest.raises(ml.InputError, match=r"evaluator needs a metric: .* got int 42"):
        ml.evaluator(42)
    with pytest.raises(ml.PluginError, match="no metric named 'acuracy'"):
        ml.evaluator("acuracy")


def test_without_torchmetrics_it_says_which_extra_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchmetrics", None)
    with pytest.raises(ml.MetricLossError, match=r"torchmetrics is not installed: pip install 'metricloss\[torchmetrics\]'"):
        ml.evaluator("auc")


# --- two processes -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def gathered(tmp_path_factory) -> list[dict]:
    if not (torch.distributed.is_available() and torch.distributed.is_gloo_available()):
        pytest.skip("this torch has no gloo backend")
    out = tmp_path_factory.mktemp("evaluator")
    environment = {**os.environ, "OMP_NUM_THREADS": "1",
                   "PYTHONPATH": os.pathsep.join([str(ROOT), str(ROOT / "plugins"), os.environ.get("PYTHONPATH", "")])}
    done = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={PROCESSES}",
         str(TESTS / "evaluator_worker.py"), str(out)],
        cwd=out, env=environment, capture_output=True, text=True, timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return [torch.load(out / f"rank{rank}.pt", weights_only=True) for rank in range(PROCESSES)]


@pytest.mark.parametrize("name", list(DISTRIBUTED))
def test_two_processes_each_get_the_value_over_both_processes_batches(gathered, name):
    metric_name, params = DISTRIBUTED[name]
    metric = ml.get_metric(metric_name, **params)
    batches = [batch for rank in range(PROCESSES) for batch in batches_of(name, rank)]  # the order gathered
    width = max(batch[0].shape[-1] for batch in batches)
    if metric.declaration.padding:
        batches = [(padded(s, width, 0.0), padded(r, width, -1)) for s, r in batches]
    expected = metric(*concatenated(batches))
    for rank, result in enumerate(gathered):
        assert torch.equal(result[name], expected), (rank, result[name], expected)
    firsts = [batches_of(name, rank)[0] for rank in range(PROCESSES)]
    width = max(batch[0].shape[-1] for batch in firsts)
    if metric.declaration.padding:
        firsts = [(padded(s, width, 0.0), padded(r, width, -1)) for s, r in firsts]
    after_reset = metric(*concatenated(firsts))
    for result in gathered:
        assert torch.equal(result[f"{name}, after reset"], after_reset)
