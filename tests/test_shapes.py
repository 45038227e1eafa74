"""Metrics whose code reads shapes as Python numbers: loops over classes, ``len()``, a branch on
the number of classes. They are traced per shape signature; the batch size stays out of the
signature unless the code uses it."""

from __future__ import annotations

import math
import re
import warnings

import pytest
import torch
from hypothesis import given, settings, strategies as st

import metricloss as ml
from metricloss.compiler.shapes import CACHED_SIGNATURES
from metricloss_benchmarks.user_forms import macro_f1_loop  # a loop over classes, as users write it

HERE = "tests/test_shapes.py"


def accuracy_over_len(scores, labels):
    _, predicted = torch.max(scores, 1)
    return (predicted == labels).sum().item() / len(labels)


def binary_or_multiclass(scores, labels):
    if scores.shape[1] == 2:
        return ((scores[:, 1] > scores[:, 0]).long() == labels).float().mean()
    return (scores.argmax(1) == labels).float().mean()


def recall_per_class(scores, labels):
    n, num_classes = scores.shape
    recalls = torch.zeros(num_classes)
    for c in range(num_classes):
        mine = labels == c
        recalls[c] = ((scores.argmax(dim=1) == c) & mine).sum() / mine.sum().clamp(min=1)
    return recalls.mean()


def per_sample_loop(scores, labels):
    total = 0
    for i in range(len(labels)):
        total = total + (scores[i].argmax() == labels[i]).float()
    return total / len(labels)


SHAPED = [macro_f1_loop, accuracy_over_len, binary_or_multiclass, recall_per_class]


def batch(seed: int, size: int, classes: int, ties: bool):
    generator = torch.Generator().manual_seed(seed)
    if ties:
        scores = torch.randint(0, 3, (size, classes), generator=generator).float()
    else:
        scores = torch.randn(size, classes, generator=generator)
    return scores, torch.randint(0, classes, (size,), generator=generator)


def same(a: float, b: float) -> bool:
    return (math.isnan(a) and math.isnan(b)) or abs(a - b) <= 1e-6


@pytest.mark.parametrize("fn", SHAPED, ids=[f.__name__ for f in SHAPED])
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), size=st.integers(1, 12), classes=st.integers(2, 5),
       ties=st.booleans())
def test_shape_reading_metrics_equal_their_eager_value(fn, seed, size, classes, ties):
    compiled = ml.metric(register=False)(fn)
    scores, labels = batch(seed, size, classes, ties)
    assert compiled.per_shape
    assert same(float(compiled(scores, labels)), float(fn(scores, labels)))


def test_a_loop_over_classes_shares_one_program_across_batch_sizes():
    compiled = ml.metric(register=False)(macro_f1_loop)
    programs = {id(compiled.compiled_for(*batch(0, size, 4, False))) for size in (16, 16, 7, 3)}
    assert len(programs) == 1
    assert compiled.compiled_for(*batch(0, 16, 5, False)) is not compiled.compiled_for(*batch(0, 16, 4, False))


def test_code_that_uses_the_batch_size_gets_a_program_per_batch_size():
    compiled = ml.metric(register=False)(accuracy_over_len)
    first = compiled.compiled_for(*batch(0, 16, 4, False))
    assert compiled.compiled_for(*batch(1, 16, 4, False)) is first
    assert compiled.compiled_for(*batch(0, 7, 4, False)) is not first


def test_the_per_shape_cache_is_bounded():
    compiled = ml.metric(register=False)(accuracy_over_len)
    first = compiled.compiled_for(*batch(0, 2, 3, False))
    for size in range(3, 4 + CACHED_SIGNATURES):
        compiled.compiled_for(*batch(0, size, 3, False))
    assert compiled.compiled_for(*batch(0, 2, 3, False)) is not first  # evicted, traced again
    assert float(compiled(*batch(0, 2, 3, False))) == float(accuracy_over_len(*batch(0, 2, 3, False)))


def test_a_metric_with_symbolic_shapes_is_compiled_once():
    compiled = ml.get_metric("accuracy")
    assert not compiled.per_shape
    assert compiled.compiled_for(*batch(0, 8, 3, False)) is compiled.compiled


def test_compiled_of_a_per_shape_metric_says_to_use_compiled_for():
    compiled = ml.metric(register=False)(macro_f1_loop)
    with pytest.raises(ml.CompileError, match=r"compiled for each input shape.*compiled_for\(scores, \*targets\)"):
        compiled.compiled


def test_a_python_loop_over_the_samples_warns_and_stays_exact():
    compiled = ml.metric(register=False)(per_sample_loop)
    scores, labels = batch(3, 10, 4, True)
    with pytest.warns(ml.BatchLoopWarning, match=r"loops in Python over the samples.*one batched operation") as caught:
        value = float(compiled(scores, labels))
    assert caught[0].filename.endswith(HERE)
    assert same(value, float(per_sample_loop(scores, labels)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # once per metric, not on every batch size
        compiled(*batch(4, 6, 4, False))


def test_len_of_a_masked_selection_is_refused_with_the_rewrite():
    def positives_share(scores, labels):
        positives = scores[labels == 1]
        return (positives > 0).sum() / len(positives)

    compiled = ml.metric(register=False)(positives_share)
    with pytest.raises(ml.CompileError) as caught:
        compiled(torch.randn(6), torch.tensor([1, 0, 1, 1, 0, 0]))
    message = str(caught.value)
    line = positives_share.__code__.co_firstlineno + 2
    assert f"{HERE}:{line}" in message
    assert re.search(r"depends on the data.*`mask.sum\(\)` rather than `len\(x\[mask\]\)`", message)


def test_declared_shapes_compile_at_decoration():
    with pytest.raises(ml.CompileError, match="no ideal configuration"):
        @ml.metric(register=False, best=2.0, shapes={"scores": "N C", "labels": "N"}, classes={"labels": "C"})
        def loop_with_wrong_best(scores, labels):
            return macro_f1_loop(scores, labels)


def _train_macro_f1_loop(compiled: ml.Metric, seed: int) -> tuple[float, float]:
    """Sixty SGD steps of a linear model on a linearly separable 3-class problem: (start, end)."""
    generator = torch.Generator().manual_seed(seed)
    features = torch.randn(96, 6, generator=generator)
    labels = (features[:, :3]).argmax(1)
    torch.manual_seed(seed)  # the layer's initial weights
    model = torch.nn.Linear(6, 3)
    loss = ml.UniLoss(compiled, generator=generator)
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5)
    start = float(compiled(model(features), labels))
    for _ in range(60):
        optimiser.zero_grad()
        loss(model(features), labels).backward()
        optimiser.step()
    return start, float(compiled(model(features), labels))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_a_loop_over_classes_trains(seed):
    compiled = ml.metric(name="shapes_macro_f1", best=1.0)(macro_f1_loop)
    start, end = _train_macro_f1_loop(compiled, seed)
    assert end >= 0.75 and end >= start + 0.1, (start, end)
