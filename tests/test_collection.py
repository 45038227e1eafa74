"""Metrics written as people write them (``collection.py``): exact against their own eager value,
ties included; a realisable ideal; zero loss at perfect scores; and they train from raw scores."""

from __future__ import annotations

import contextlib
import math

import networkx as nx
import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from sklearn.metrics import top_k_accuracy_score

import metricloss as ml
from raw_training import train_raw_scores
from collection import COLLECTION, Entry, batch, perfect, top3_accuracy

_COMPILED: dict[str, ml.Metric] = {}


def compiled(entry: Entry) -> ml.Metric:
    name = f"collection_{entry.fn.__name__}"
    if name not in _COMPILED:
        # torch leaves topk's tie order open: compiling says which rule the metric follows instead
        said = pytest.warns(ml.TieOrderWarning) if not entry.eager_ties else contextlib.nullcontext()
        with said:
            _COMPILED[name] = ml.metric(name=name, best=entry.best, higher_is_better=entry.higher_is_better)(entry.fn)
    return _COMPILED[name]


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-5


IDS = [e.fn.__name__ for e in COLLECTION]


def test_the_collection_is_broad():
    assert len(COLLECTION) >= 15
    assert {e.kind for e in COLLECTION} == {"binary", "graded", "classes", "queries"}


@pytest.mark.parametrize("entry", COLLECTION, ids=IDS)
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), ties=st.booleans(), constant=st.booleans())
def test_compiled_equals_the_function_run_eagerly(entry, seed, ties, constant):
    generator = torch.Generator().manual_seed(seed)
    scores, targets = batch(entry.kind, generator, ties=ties)
    if constant:  # a collapsed model: every score (or every row) the same
        scores = torch.zeros_like(scores) if scores.dim() == 1 else scores[:1].expand_as(scores).clone()
    if (ties or constant) and not entry.eager_ties:
        return  # held to scikit-learn's tie rule below instead
    assert same(float(compiled(entry)(scores, *targets)), float(entry.fn(scores, *targets)))


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_topk_membership_on_ties_follows_scikit_learn(seed):
    generator = torch.Generator().manual_seed(seed)
    scores, (labels,) = batch("classes", generator, ties=True)
    expected = top_k_accuracy_score(labels.numpy(), scores.double().numpy(), k=3, labels=np.arange(5))
    assert same(float(compiled(COLLECTION[IDS.index("top3_accuracy")])(scores, labels)), expected)
    assert top3_accuracy is COLLECTION[IDS.index("top3_accuracy")].fn


def _assert_realisable(metric, scores, targets):
    """On tie-free scores b* is tie-free, so the wins it asserts between score elements must
    form an acyclic graph: a cycle is a set of scores each above the next, which none can be.
    Where comparisons are not between two score elements, b* must be the binaries of perfect
    scores built from the targets."""
    binaries = metric.binaries(scores, *targets)
    compiled = metric.compiled_for(scores, *targets)  # one program, or this shape's (topk_accuracy's min(k, C))
    ideal = compiled.ideal(binaries, scores, targets)
    assert ideal.defined
    elements = compiled.program.elements(scores, targets, binaries)
    if elements is None:  # a comparison of differences (sign(s_i - s_j)): b* is explicit scores' binaries
        assert "as levels" in ideal.source or "top class" in ideal.source
        return ideal
    left, right = elements
    asserted = binaries.restrict(ideal.configuration)
    both = (left >= 0) & (right >= 0) & (left != right)
    winners = torch.where(asserted, left, right)[both].tolist()
    losers = torch.where(asserted, right, left)[both].tolist()
    graph = nx.DiGraph(zip(winners, losers))
    assert nx.is_directed_acyclic_graph(graph), nx.find_cycle(graph)
    return ideal


@pytest.mark.parametrize("entry", COLLECTION, ids=IDS)
def test_ideal_is_realisable(entry):
    for seed in range(3):
        scores, targets = batch(entry.kind, torch.Generator().manual_seed(seed))
        ideal = _assert_realisable(compiled(entry), scores, targets)
        assert ideal.source.endswith(("score)", "dim 1"))


BUILT_IN_KINDS = {"auc": "binary", "average_precision": "binary", "precision_at_k": "binary",
                  "recall_at_k": "binary", "f1": "binary", "mcc": "binary", "balanced_accuracy": "binary",
                  "accuracy": "classes", "topk_accuracy": "classes", "iou_macro": "classes"}


@pytest.mark.parametrize("name", sorted(BUILT_IN_KINDS))
def test_built_in_ideals_are_realisable(name):
    metric = ml.get_metric(name, **({"k": 3} if name.endswith("_k") or name == "topk_accuracy" else {}))
    for seed in range(3):
        _assert_realisable(metric, *batch(BUILT_IN_KINDS[name], torch.Generator().manual_seed(seed)))


@pytest.mark.parametrize("entry", COLLECTION, ids=IDS)
def test_ideal_reaches_best_when_the_batch_can(entry):
    metric = compiled(entry)
    generator = torch.Generator().manual_seed(7)
    scores, targets = batch(entry.kind, generator)
    best = perfect(entry.kind, scores, targets, generator)
    ideal = metric.compiled.ideal(metric.binaries(scores, *targets), scores, targets)
    assert same(ideal.value, float(metric(best, *targets)))


@pytest.mark.parametrize("entry", COLLECTION, ids=IDS)
def test_loss_is_zero_at_perfect_scores(entry):
    metric = compiled(entry)
    for seed in range(3):
        generator = torch.Generator().manual_seed(seed)
        scores, targets = batch(entry.kind, generator)
        best = perfect(entry.kind, scores, targets, generator)
        loss = ml.UniLoss(metric, generator=torch.Generator().manual_seed(seed))(best, *targets)
        assert abs(float(loss)) < 0.02


def _train(entry: Entry, seed: int, steps: int = 50) -> tuple[float, float]:
    """Adam on raw scores (no model) from a random start: (start value, end value)."""
    metric = compiled(entry)
    generator = torch.Generator().manual_seed(seed)
    start, targets = batch(entry.kind, generator)
    return train_raw_scores(metric, start.shape, targets, generator, seed, steps)


TRAINED = {"mrr": 0.95, "recall_at_3": 0.95, "ndcg_at_3": 0.95, "multilabel_map": 0.95,
           "balanced_accuracy": 0.95, "macro_f1": 0.95, "spearman": 0.9,
           "ndcg_at_3_sorted": 0.95, "mrr_sorted": 0.95, "ap_cumsum": 0.95}


@pytest.mark.parametrize("name", sorted(TRAINED))
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_trains_from_raw_scores_without_ideal(name, seed):
    entry = COLLECTION[IDS.index(name)]
    before, after = _train(entry, seed)
    assert before < TRAINED[name] <= after, (before, after)  # from below the bar to at least it


def test_ranks_per_query_with_an_empty_query_train_and_warn():
    """A query without a relevant item cannot reach best=1: the batch trains toward the best
    reachable value, with a warning that says so, and never a CompileError."""
    metric = compiled(COLLECTION[IDS.index("recall_at_3")])
    scores, (relevance,) = batch("queries", torch.Generator().manual_seed(0))
    relevance[0] = 0
    parameter = torch.nn.Parameter(scores.clone())
    loss_fn = ml.UniLoss(metric, generator=torch.Generator().manual_seed(0))
    with pytest.warns(ml.MetricLossWarning, match="no configuration reaching best=1.0"):
        loss = loss_fn(parameter, relevance)
    loss.backward()
    assert loss_fn.short_batches == 1 and "short_batches=1" in repr(loss_fn)
    assert parameter.grad.abs().sum() > 0
    assert loss_fn.last.ideal_value.item() == pytest.approx(0.75)  # 3 of 4 queries can be perfect
    loss_fn.reset()
    assert loss_fn.short_batches == 0 and loss_fn.last is None


def test_spearman_gives_a_gradient_on_every_valid_batch():
    metric = compiled(COLLECTION[IDS.index("spearman")])
    loss_fn = ml.UniLoss(metric, generator=torch.Generator().manual_seed(0))
    for seed in range(5):
        scores, targets = batch("graded", torch.Generator().manual_seed(seed), ties=seed % 2 == 0)
        parameter = torch.nn.Parameter(scores)
        loss_fn(parameter, *targets).backward()
        assert loss_fn.last.defined and parameter.grad.abs().sum() > 0
    assert loss_fn.undefined_batches == 0
