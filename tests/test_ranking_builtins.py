"""The ranking built-ins (``ndcg_at_k``, ``mrr``, ``map_at_k``, ``hit_rate_at_k``) on batches of
queries padded to one length: exact against scikit-learn's ``ndcg_score`` (tie-free) and against
plain definitions written here from the papers (ties included: tied items keep index order),
padding neither counted nor ranked, and trainable from raw scores."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from sklearn.metrics import ndcg_score

import metricloss as ml
from raw_training import train_raw_scores

NAMES = ("ndcg_at_k", "mrr", "map_at_k", "hit_rate_at_k")


def _queries(seed: int, queries: int, items: int, ties: bool, padded: bool):
    """Graded relevance 0-4, most items irrelevant; lists of varying length padded with -1."""
    generator = torch.Generator().manual_seed(seed)
    scores = (torch.randint(-2, 3, (queries, items), generator=generator).float() if ties
              else torch.randn(queries, items, generator=generator))
    skew = torch.tensor([0.6, 0.2, 0.1, 0.06, 0.04])
    relevance = torch.multinomial(skew, queries * items, replacement=True, generator=generator).reshape(queries, items)
    if padded:
        lengths = torch.randint(1, items + 1, (queries,), generator=generator)
        relevance[torch.arange(items)[None, :] >= lengths[:, None]] = -1
    return scores, relevance


def _order(scores: np.ndarray, relevance: np.ndarray) -> np.ndarray:
    """The listed items from the highest score down, ties in index order."""
    listed = np.flatnonzero(relevance >= 0)
    return listed[np.argsort(-scores[listed], kind="stable")]


def ndcg_definition(scores, relevance, k, gain):
    values = []
    for s, r in zip(scores.double().numpy(), relevance.numpy()):
        grades = np.clip(r, 0, None).astype(float)
        gains = 2.0**grades - 1 if gain == "exponential" else grades
        discount = 1 / np.log2(np.arange(len(r)) + 2)
        ideal = np.sort(gains)[::-1][:k] @ discount[:min(k, len(r))]
        if ideal > 0:
            ranked = gains[_order(s, r)][:k]
            values.append(ranked @ discount[:len(ranked)] / ideal)
    return float(np.mean(values)) if values else math.nan


def mrr_definition(scores, relevance):
    values = [1.0 / (1 + next(p for p, i in enumerate(_order(s, r)) if r[i] > 0))
              for s, r in zip(scores.double().numpy(), relevance.numpy()) if (r > 0).any()]
    return float(np.mean(values)) if values else math.nan


def map_definition(scores, relevance, k):
    values = []
    for s, r in zip(scores.double().numpy(), relevance.numpy()):
        relevant = int((r > 0).sum())
        if relevant:
            hits = r[_order(s, r)][:k] > 0
            precision = np.cumsum(hits) / np.arange(1, len(hits) + 1)
            values.append(float((precision * hits).sum()) / min(k, relevant))
    return float(np.mean(values)) if values else math.nan


def hit_rate_definition(scores, relevance, k):
    values = [float((r[_order(s, r)][:k] > 0).any()) for s, r in zip(scores.double().numpy(), relevance.numpy())
              if (r > 0).any()]
    return float(np.mean(values)) if values else math.nan


def _same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-5


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), queries=st.integers(1, 6), items=st.integers(2, 15),
       k=st.integers(1, 12), ties=st.booleans(), padded=st.booleans(), gain=st.sampled_from(["exponential", "linear"]))
def test_each_built_in_equals_its_definition(seed, queries, items, k, ties, padded, gain):
    scores, relevance = _queries(seed, queries, items, ties, padded)
    assert _same(float(ml.get_metric("ndcg_at_k", k=k, gain=gain)(scores, relevance)),
                 ndcg_definition(scores, relevance, k, gain))
    assert _same(float(ml.get_metric("mrr")(scores, relevance)), mrr_definition(scores, relevance))
    assert _same(float(ml.get_metric("map_at_k", k=k)(scores, relevance)), map_definition(scores, relevance, k))
    assert _same(float(ml.get_metric("hit_rate_at_k", k=k)(scores, relevance)),
                 hit_rate_definition(scores, relevance, k))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), queries=st.integers(1, 6), items=st.integers(2, 15), k=st.integers(1, 12))
def test_ndcg_equals_scikit_learn_on_tie_free_lists(seed, queries, items, k):
    scores, relevance = _queries(seed, queries, items, ties=False, padded=False)
    relevance[:, 0] = torch.maximum(relevance[:, 0], torch.ones(()).long())  # every query has a relevant item
    expected = ndcg_score(relevance.numpy(), scores.numpy(), k=k)
    assert float(ml.get_metric("ndcg_at_k", k=k, gain="linear")(scores, relevance)) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_padding_is_neither_counted_nor_ranked(name):
    """A list padded with -1 (any scores there, however high) has the value of the list alone."""
    metric = ml.get_metric(name)
    scores, relevance = _queries(0, 4, 8, ties=False, padded=False)
    relevance[:, 0] = 2
    padded_scores = torch.cat([scores, torch.full((4, 5), 100.0)], dim=1)
    padded_relevance = torch.cat([relevance, torch.full((4, 5), -1)], dim=1)
    assert float(metric(padded_scores, padded_relevance)) == pytest.approx(float(metric(scores, relevance)))


@pytest.mark.parametrize("name", NAMES)
def test_a_query_without_a_relevant_item_is_left_out(name):
    metric = ml.get_metric(name)
    scores, relevance = _queries(1, 3, 8, ties=False, padded=False)
    relevance[:, 0] = 1
    with_empty = torch.cat([relevance, torch.zeros(1, 8, dtype=relevance.dtype)])
    assert float(metric(torch.cat([scores, torch.randn(1, 8)]), with_empty)) == pytest.approx(
        float(metric(scores, relevance)))


# hit_rate_at_k's default cut-off, 10, holds a relevant item of every 12-item list from the start
TRAINED_WITH = {"hit_rate_at_k": {"k": 1}}


@pytest.mark.parametrize("name", NAMES)
def test_trains_from_raw_scores(name):
    metric = ml.get_metric(name, **TRAINED_WITH.get(name, {}))
    for seed in range(3):
        generator = torch.Generator().manual_seed(seed)
        _, relevance = _queries(seed, 6, 12, ties=False, padded=True)
        relevance[:, 0] = 3  # every query has a relevant item
        before, after = train_raw_scores(metric, relevance.shape, (relevance,), generator, seed, 40)
        assert before < 1.0, (seed, before)  # a start at the best would prove nothing
        assert after - before >= 0.5 * (1.0 - before), (seed, before, after)


def test_gain_is_checked():
    with pytest.raises(ml.InputError, match="gain must be one of 'exponential', 'linear', got 'log'"):
        ml.get_metric("ndcg_at_k", gain="log")(torch.randn(2, 3), torch.ones(2, 3, dtype=torch.long))
