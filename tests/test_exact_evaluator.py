"""The exact value at validation sizes: large comparison blocks are counted by sorting (or read a
slab at a time), never built whole, and the value is the same as the metric's own.

Held against scikit-learn (the built-ins), against the function run eagerly (metrics written as
users write them), and against the written path, which builds every block (every zoo metric,
with every comparison kept lazy). ``Metric.evaluate`` says which path each block took. No
timing is asserted here: ``metricloss bench --tables exact_value`` measures it.
"""

from __future__ import annotations

import math
import sys
import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from sklearn.metrics import average_precision_score, roc_auc_score
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

import metricloss as ml
from metricloss.compiler import exact
from strategies import DEVICE
from zoo import batches
from zoo.catalog import ZOO


class LargestStorage(TorchDispatchMode):
    """The most bytes any one tensor made inside the block held (its storage: a view counts as
    the tensor it views)."""

    def __init__(self):
        super().__init__()
        self.bytes = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for value in tree_leaves(out):
            if isinstance(value, torch.Tensor) and value.device.type != "meta":
                self.bytes = max(self.bytes, value.untyped_storage().nbytes())
        return out


@st.composite
def large_binary_batches(draw, low: int = 1000, high: int = 2500):
    """(scores [N], labels [N]) with blocks of positives against negatives far above
    ``exact.DENSE_BELOW``: continuous scores, integer scores from a small range (ties everywhere),
    two levels, or one constant."""
    size = draw(st.integers(low, high))
    fraction = draw(st.floats(0.15, 0.85))
    kind = draw(st.sampled_from(["continuous", "ties", "two_levels", "constant"]))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    scores = {
        "continuous": lambda: torch.randn(size, generator=generator),
        "ties": lambda: torch.randint(-3, 4, (size,), generator=generator).float(),
        "two_levels": lambda: torch.randint(0, 2, (size,), generator=generator).float() / 2,
        "constant": lambda: torch.full((size,), 0.25),
    }[kind]()
    labels = (torch.rand(size, generator=generator) < fraction).long()
    labels[0], labels[1] = 1, 0
    return scores, labels


def counted_where_large(evaluation, shapes) -> bool:
    """Every block of DENSE_BELOW entries or more was counted; smaller ones were computed as written."""
    return all((how == exact.COUNTED) if math.prod(shape) >= exact.DENSE_BELOW else how == exact.DIRECT
               for how, shape in zip(evaluation.blocks, shapes))


@settings(max_examples=40)
@given(large_binary_batches())
def test_auc_equals_scikit_learn_when_counted(batch):
    scores, labels = batch
    evaluation = ml.get_metric("auc").evaluate(scores.to(DEVICE), labels.to(DEVICE))
    assert evaluation.blocks == (exact.COUNTED, exact.COUNTED) and evaluation.fallback is None
    assert evaluation.value.item() == pytest.approx(roc_auc_score(labels.numpy(), scores.numpy()), abs=1e-6)


@settings(max_examples=40)
@given(large_binary_batches())
def test_average_precision_equals_scikit_learn_when_counted(batch):
    scores, labels = batch
    evaluation = ml.get_metric("average_precision").evaluate(scores.to(DEVICE), labels.to(DEVICE))
    positives = int(labels.sum())
    assert counted_where_large(evaluation, [(positives, positives), (positives, len(labels) - positives)])
    assert evaluation.value.item() == pytest.approx(
        average_precision_score(labels.numpy(), scores.numpy()), abs=1e-6)


def _top_k_hits(scores: torch.Tensor, labels: torch.Tensor, k: int) -> int:
    """Positives among the first k of a stable descending sort (ties in index order)."""
    order = np.argsort(-scores.numpy(), kind="stable")
    return int(labels.numpy()[order[:k]].sum())


@settings(max_examples=25)
@given(large_binary_batches(400, 900), st.integers(1, 50))
def test_precision_and_recall_at_k_equal_a_stable_sort(batch, k):
    scores, labels = batch
    hits = _top_k_hits(scores, labels, k)
    for name, expected in (("precision_at_k", hits / min(k, len(labels))), ("recall_at_k", hits / int(labels.sum()))):
        evaluation = ml.get_metric(name, k=k).evaluate(scores.to(DEVICE), labels.to(DEVICE))
        assert evaluation.blocks == (exact.COUNTED,)
        assert evaluation.value.item() == pytest.approx(expected, abs=1e-6)


# Metrics as users write them, held to themselves run eagerly.

def readme_auc(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    return (pos[:, None] > neg[None, :]).float().mean()


def auc_with_equality(scores, labels):
    # a tie counts one half; scores cannot be tested with ==, so equality is >= and <=
    pos, neg = scores[labels == 1], scores[labels == 0]
    above = (pos[:, None] > neg[None, :]).float().mean()
    tied = ((pos[:, None] >= neg[None, :]) & (pos[:, None] <= neg[None, :])).float().mean()
    return above + tied / 2


def auc_from_signs(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    return ((torch.sign(pos[:, None] - neg[None, :]) + 1) / 2).mean()


def auc_from_row_sums(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (neg[None, :] < pos[:, None]).sum(1)
    return wins.double().mean() / neg.numel()


def auc_over_every_pair(scores, labels):
    # every pair of samples, the mask of (positive, negative) pairs from the labels
    positive = labels == 1
    right = (scores[:, None] > scores[None, :]) & positive[:, None] & ~positive[None, :]
    return right.sum() / (positive.sum() * (~positive).sum())


def ap_sort_cumsum(scores, labels):
    order = scores.argsort(descending=True, stable=True)
    hits = labels[order].float()
    ranks = torch.arange(1, hits.shape[0] + 1, device=scores.device)
    return ((hits.cumsum(0) / ranks) * hits).sum() / hits.sum()


def precision_at_5_topk_free(scores, labels):
    rank = scores.argsort(descending=True, stable=True).argsort(stable=True)
    return ((rank < 5) & (labels == 1)).sum() / 5


USER_FORMS = {  # function -> how its blocks are read at validation sizes
    readme_auc: (exact.COUNTED,),
    auc_with_equality: (exact.COUNTED,) * 3,
    auc_from_signs: (exact.COUNTED,) * 2,
    auc_from_row_sums: (exact.COUNTED,),
    auc_over_every_pair: (exact.COUNTED,),
    ap_sort_cumsum: (exact.COUNTED,),
    precision_at_5_topk_free: (exact.COUNTED,),
}


def _declared(fn):
    return ml.metric(register=False, shapes={"scores": "N", "labels": "N"}, classes={"labels": 2})(fn)


@pytest.mark.parametrize("fn", list(USER_FORMS), ids=lambda fn: fn.__name__)
@settings(max_examples=12)
@given(batch=large_binary_batches())
def test_user_forms_equal_themselves_run_eagerly(fn, batch):
    scores, labels = (t.to(DEVICE) for t in batch)
    evaluation = _declared(fn).evaluate(scores, labels)
    assert evaluation.blocks == USER_FORMS[fn] and evaluation.fallback is None
    assert evaluation.value.item() == pytest.approx(float(fn(scores, labels)), abs=1e-6)


def comparisons_read_by_sums(scores, thresholds, keep):
    a, b = scores[:, None], thresholds[None, :]
    return ((a > b).sum(1).double().mean() + (a >= b).double().mean(0).sum() + (~(a < b)).sum()
            + (a <= b).sum(1).max() + ((a >= b) & (a <= b)).sum() + ((a < b) & (keep[None, :] > 0)).sum(1).double().mean()
            + (~(a >= b)).sum(0).min())


VALUES = [math.nan, -math.inf, -1.5, 0.0, -0.0, 2.0, 2.0, math.inf]


@settings(max_examples=40)
@given(st.lists(st.sampled_from(VALUES), min_size=1, max_size=30),
       st.lists(st.tuples(st.sampled_from(VALUES), st.booleans()), min_size=1, max_size=30))
def test_counts_compare_as_torch_compares_nan_and_infinities(left, right):
    metric = ml.metric(register=False, shapes={"scores": "N", "thresholds": "T", "keep": "T"})(comparisons_read_by_sums)
    scores = torch.tensor(left, dtype=torch.float64)
    thresholds = torch.tensor([value for value, _ in right], dtype=torch.float64)
    keep = torch.tensor([flag for _, flag in right])
    targets = (thresholds.to(DEVICE), keep.to(DEVICE))
    evaluation = metric.program.evaluate(scores.to(DEVICE), targets, dense_below=0)  # no input checks: NaN scores too
    assert set(evaluation.blocks) == {exact.COUNTED} and not evaluation.comparisons
    assert evaluation.value.item() == pytest.approx(float(comparisons_read_by_sums(scores, thresholds, keep)))


def test_an_order_from_ranks_is_counted_then_sorted():
    scores, labels = torch.randint(0, 5, (1500,), generator=torch.Generator().manual_seed(0)).float(), \
        torch.arange(1500) % 3 == 0
    evaluation = _declared(ap_sort_cumsum).evaluate(scores.to(DEVICE), labels.long().to(DEVICE))
    # ``sort_order`` counts the ranks (by sorting, never holding the block) and sorts them back
    # into an order: nothing is searched, chunked or held whole
    assert set(evaluation.blocks) | set(evaluation.comparisons.values()) == {exact.COUNTED}


def test_a_first_match_along_a_comparison_is_found_by_searching():
    """``(ranks[:, None] == positions).float().argmax(0)``, the order written by hand from ranks."""
    @ml.metric(register=False)
    def precision_at_3_by_positions(scores, labels):
        ranks = scores.argsort(descending=True, stable=True).argsort(stable=True)
        positions = torch.arange(scores.shape[0], device=scores.device)
        order = (ranks[:, None] == positions[None, :]).to(torch.uint8).argmax(0)
        return labels[order][:3].float().mean()

    scores, labels = torch.randint(0, 5, (1500,), generator=torch.Generator().manual_seed(0)).float(), \
        (torch.arange(1500) % 3 == 0).long()
    evaluation = precision_at_3_by_positions.evaluate(scores.to(DEVICE), labels.to(DEVICE))
    assert exact.SEARCHED in set(evaluation.comparisons.values())
    assert float(evaluation.value) == pytest.approx(float(precision_at_3_by_positions.declaration.fn(scores, labels)))


def test_small_blocks_are_computed_as_written():
    metric = _declared(readme_auc)
    scores, labels = torch.randn(40), torch.arange(40) % 2
    assert metric.evaluate(scores, labels).blocks == (exact.DIRECT,)
    assert metric.program.evaluate(scores, (labels,), dense_below=0).blocks == (exact.COUNTED,)


def test_explain_says_how_the_exact_value_reads_each_block():
    text = ml.explain(readme_auc)
    assert "exact value, metric(scores, *targets)" in text
    assert "b0: its sums are counted by sorting: O(N log N), never held whole" in text


@pytest.mark.parametrize("name", ["auc", "average_precision", "precision_at_k"])
def test_a_hundred_thousand_samples_never_build_a_block(name):
    size = 100_000
    generator = torch.Generator().manual_seed(1)
    scores = torch.randint(0, 1000, (size,), generator=generator).float() / 1000  # ties too
    labels = (torch.rand(size, generator=generator) < 0.3).long()
    metric = ml.get_metric(name)
    with LargestStorage() as largest:
        evaluation = metric.evaluate(scores.to(DEVICE), labels.to(DEVICE))
    assert set(evaluation.blocks) == {exact.COUNTED}
    assert largest.bytes <= 16 * 8 * size  # vectors of N; one [P, N] block would be 2 * 10^9 bytes
    if name != "precision_at_k":
        reference = {"auc": roc_auc_score, "average_precision": average_precision_score}[name]
        assert evaluation.value.item() == pytest.approx(reference(labels.numpy(), scores.numpy()), abs=1e-6)


def concordance(scores, times):
    # pairs ordered by the scores as by the times: two comparisons of different vectors, together
    later = times[:, None] < times[None, :]
    return ((scores[:, None] < scores[None, :]) & later).sum() / later.sum()


def last_running_count(scores, labels):
    # a cumulative sum needs the block itself
    pos, neg = scores[labels == 1], scores[labels == 0]
    return (pos[:, None] > neg[None, :]).cumsum(1)[:, -1].float().mean() / neg.numel()


def test_other_reductions_read_the_block_a_slab_at_a_time():
    metric = ml.metric(register=False, shapes={"scores": "N", "times": "N"})(concordance)
    generator = torch.Generator().manual_seed(2)
    size, chunk = 1200, 1 << 14
    scores, times = torch.randint(0, 9, (size,), generator=generator).float(), torch.randn(size, generator=generator)
    with LargestStorage() as largest:
        evaluation = metric.program.evaluate(scores.to(DEVICE), (times.to(DEVICE),), chunk=chunk)
    assert evaluation.blocks == (exact.CHUNKED,)
    assert largest.bytes <= 16 * chunk  # slabs of `chunk` entries; the block would be size^2 bytes
    assert evaluation.value.item() == pytest.approx(float(concordance(scores, times)), abs=1e-6)


def test_an_op_that_needs_the_block_gets_it_whole():
    metric = _declared(last_running_count)
    scores, labels = torch.randn(800), torch.arange(800) % 2
    evaluation = metric.evaluate(scores.to(DEVICE), labels.to(DEVICE))
    assert evaluation.blocks == (exact.WHOLE,)
    assert evaluation.value.item() == pytest.approx(float(last_running_count(scores, labels)), abs=1e-6)


def test_a_large_block_with_a_small_tie_rule_is_computed_as_written():
    # one_hot(argmax) over [N, C]: the block is [N, C, C], its tie rule (class order) [C, C]
    from zoo.classification import torchmetrics_macro_f1

    metric = ml.metric(register=False)(torchmetrics_macro_f1)
    generator = torch.Generator().manual_seed(4)
    scores = torch.randint(0, 3, (5000, 5), generator=generator).float()
    labels = torch.randint(0, 5, (5000,), generator=generator)
    evaluation = metric.evaluate(scores.to(DEVICE), labels.to(DEVICE))
    assert evaluation.blocks == (exact.DIRECT,) and evaluation.fallback is None
    assert evaluation.value.item() == pytest.approx(float(torchmetrics_macro_f1(scores, labels)), abs=1e-6)


def per_positive_auc(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    return (pos[:, None] > neg[None, :]).float().mean(1)  # one number per positive: not a metric


def test_a_batch_the_metric_refuses_is_refused_as_before():
    metric = ml.metric(register=False)(per_positive_auc)
    scores, labels = torch.randn(1000), torch.arange(1000) % 2
    with pytest.raises(ml.InputError, match="a metric must return a single number; this one returned shape"):
        metric(scores.to(DEVICE), labels.to(DEVICE))


# Every zoo metric: the lazy path (every comparison of two vectors kept lazy, slabs of a few
# entries) gives the written path's value, ties and collapsed models included.

ZOO_ENTRIES = [pytest.param(e, id=e.name) for e in ZOO if not e.pending]


@pytest.mark.parametrize("entry", ZOO_ENTRIES)
def test_every_zoo_metric_keeps_its_value_when_no_block_is_built(entry):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        metric = ml.metric(name=f"exact_{entry.name}", best=entry.best, higher_is_better=entry.higher_is_better,
                           register=False)(entry.fn)
        for seed, (ties, constant) in enumerate([(False, None), (True, None), (True, "rows")]):
            generator = torch.Generator().manual_seed(seed)
            scores, targets = batches.batch(entry.kind, generator, ties=ties, constant=constant,
                                            classes=entry.classes[0])
            scores, targets = scores.to(DEVICE), tuple(t.to(DEVICE) for t in targets)
            metric.check_inputs(scores, *targets)
            program = metric.compiled_for(scores, *targets).program
            written = program.value(program.pairs(scores, targets)).item()
            evaluation = program.evaluate(scores, targets, dense_below=0, chunk=7)
            assert evaluation.fallback is None, evaluation.fallback
            value = evaluation.value.item()
            assert (math.isnan(value) and math.isnan(written)) or value == pytest.approx(written, abs=1e-6, rel=1e-6)


@pytest.mark.cuda
def test_counted_on_cuda_as_on_the_cpu():
    scores = torch.randint(0, 50, (20_000,), generator=torch.Generator().manual_seed(3)).float()
    labels = (torch.arange(20_000) % 7 == 0).long()
    for name in ("auc", "average_precision", "precision_at_k"):
        metric = ml.get_metric(name)
        on_gpu = metric.evaluate(scores.cuda(), labels.cuda())
        assert set(on_gpu.blocks) == {exact.COUNTED}
        assert on_gpu.value.item() == pytest.approx(metric(scores, labels).item(), abs=1e-6)


if __name__ == "__main__":  # pragma: no cover
    sys.exit(pytest.main([__file__, "-q"]))
