"""What a compiled metric and its loss promise whatever came before: no hidden state, a checked
``ideal=``, and a loss of zero at perfect scores for every built-in."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import metricloss as ml
from collection import batch


def _loss(loss_fn: ml.UniLoss, seed: int, scores, *targets) -> float:
    loss_fn.generator.manual_seed(seed)
    return float(loss_fn(scores, *targets))


CASES = [
    ("auc", "binary"), ("average_precision", "binary"), ("accuracy", "classes"),
    ("topk_accuracy", "classes"), ("iou_macro", "classes"), ("recall_at_k", "binary"),
]


@pytest.mark.parametrize("name, kind", CASES)
def test_a_batch_gives_the_same_loss_first_or_after_a_hundred_others(name, kind):
    params = {"k": 2} if name in ("topk_accuracy", "recall_at_k") else {}
    metric = ml.get_metric(name, **params)
    scores, targets = batch(kind, torch.Generator().manual_seed(0), size=10, classes=4)
    first = _loss(ml.UniLoss(metric, generator=torch.Generator()), 1, scores, *targets)
    loss_fn = ml.UniLoss(metric, generator=torch.Generator())
    generator = torch.Generator().manual_seed(1)
    for step in range(100):  # batches of other sizes and class counts, tied ones among them
        other, other_targets = batch(kind, generator, ties=step % 3 == 0, size=4 + step % 9, classes=2 + step % 5)
        loss_fn(other, *other_targets)
    assert _loss(loss_fn, 1, scores, *targets) == first


def test_two_losses_on_one_metric_do_not_affect_each_other():
    metric = ml.get_metric("topk_accuracy", k=3)
    small, (small_labels,) = batch("classes", torch.Generator().manual_seed(0), classes=3)
    large, (large_labels,) = batch("classes", torch.Generator().manual_seed(1), classes=7)
    alone = _loss(ml.UniLoss(metric, generator=torch.Generator()), 0, large, large_labels)
    a, b = (ml.UniLoss(metric, generator=torch.Generator()) for _ in range(2))
    _loss(a, 0, small, small_labels)  # top-3 of 3 classes: every label is in, whatever the scores
    _loss(b, 0, small, small_labels)
    assert _loss(b, 0, large, large_labels) == alone
    assert _loss(a, 0, large, large_labels) == alone


def test_the_compiled_metric_is_immutable():
    compiled = ml.get_metric("accuracy").compiled
    with pytest.raises(AttributeError):
        compiled.lowered = ()
    assert not hasattr(compiled, "pattern")


def _scaled_auc(scores, labels):
    positives, negatives = scores[labels == 1], scores[labels == 0]
    return (positives[:, None] > negatives[None, :]).float().mean() * 1.247


def test_ideal_whose_value_misses_best_fails_at_decoration_when_shapes_are_declared():
    with pytest.raises(ml.CompileError, match=r"give 1\.247 on this batch, not best=1\.0"):
        ml.metric(best=1.0, name="scaled_auc_declared", shapes={"scores": "N", "labels": "N"},
                  classes={"labels": 2}, ideal=lambda labels: labels.float())(_scaled_auc)


def test_ideal_whose_value_misses_best_fails_at_the_first_call():
    metric = ml.metric(best=1.0, name="scaled_auc", ideal=lambda labels: labels.float())(_scaled_auc)
    scores, labels = torch.randn(6), torch.tensor([1, 0, 1, 0, 0, 1])
    with pytest.raises(ml.InputError, match=r"metric `scaled_auc`: the scores from ideal= give 1\.247"):
        ml.UniLoss(metric)(scores, labels)


def test_ideal_of_the_wrong_shape_names_both_shapes():
    metric = ml.metric(best=1.0, name="auc_bad_ideal", ideal=lambda labels: labels[:3].float())(
        lambda scores, labels: (scores[labels == 1][:, None] > scores[labels == 0][None, :]).float().mean())
    with pytest.raises(ml.InputError, match=r"shape \(3,\), but the scores have shape \(6,\)"):
        ml.UniLoss(metric)(torch.randn(6), torch.tensor([1, 0, 1, 0, 0, 1]))


def test_ideal_that_is_not_a_float_tensor_says_what_it_got():
    metric = ml.metric(best=1.0, name="auc_int_ideal", ideal=lambda labels: labels)(
        lambda scores, labels: (scores[labels == 1][:, None] > scores[labels == 0][None, :]).float().mean())
    with pytest.raises(ml.InputError, match="must return a floating-point tensor of perfect scores, got torch.int64"):
        ml.UniLoss(metric)(torch.randn(6), torch.tensor([1, 0, 1, 0, 0, 1]))


def test_a_graded_target_gathered_at_the_argmax_is_refused_with_the_rewrite():
    metric = ml.metric(name="top_grade")(
        lambda scores, relevance: relevance.gather(1, scores.argmax(1, keepdim=True)).float().mean())
    scores, (relevance,) = batch("queries", torch.Generator().manual_seed(0))
    with pytest.raises(ml.InputError, match=r"values other than 0 and 1.*\(relevance > 0\)\.gather"):
        metric(scores, relevance)
    assert metric(scores, (relevance > 0).long()) == (relevance > 0).long().gather(1, scores.argmax(1, keepdim=True)).float().mean()


def _perfect_binary(n: int, generator):
    labels = torch.randint(0, 2, (n,), generator=generator)
    labels[:2] = torch.tensor([0, 1])
    return torch.where(labels == 1, 20.0, -20.0) + torch.randn(n, generator=generator), (labels,)


def _perfect_classes(n: int, generator, classes: int = 5):
    labels = torch.randint(0, classes, (n,), generator=generator)
    scores = torch.randn(n, classes, generator=generator)
    scores[torch.arange(n), labels] = 20.0
    return scores, (labels,)


def _perfect_pose(n: int, generator, joints: int = 3, side: int = 8):
    coordinates = torch.randint(0, side, (n, joints, 2), generator=generator)
    heatmaps = torch.randn(n, joints, side, side, generator=generator)
    rows, columns = torch.arange(n)[:, None], torch.arange(joints)[None, :]
    heatmaps[rows, columns, coordinates[..., 1], coordinates[..., 0]] = 20.0
    return heatmaps, (coordinates.float(), torch.full((n,), 4.0), torch.ones(n, joints))


BUILT_INS = {
    "auc": _perfect_binary, "average_precision": _perfect_binary, "precision_at_k": _perfect_binary,
    "recall_at_k": _perfect_binary, "f1": _perfect_binary, "fbeta": _perfect_binary,
    "precision": _perfect_binary, "recall": _perfect_binary, "mcc": _perfect_binary,
    "iou": _perfect_binary, "balanced_accuracy": _perfect_binary, "accuracy": _perfect_classes,
    "topk_accuracy": _perfect_classes, "iou_macro": _perfect_classes, "pckh": _perfect_pose,
}


@pytest.mark.parametrize("name", sorted(BUILT_INS))
@pytest.mark.parametrize("seed", [0, 1])
def test_every_built_in_loss_is_zero_at_perfect_scores_with_ordinary_separation(name, seed):
    params = {"k": 2} if name in ("topk_accuracy", "precision_at_k", "recall_at_k") else {}
    metric = ml.get_metric(name, **params)
    scores, targets = BUILT_INS[name](12, torch.Generator().manual_seed(seed))
    loss = ml.UniLoss(metric, generator=torch.Generator().manual_seed(seed))(scores, *targets)
    assert abs(float(loss)) < 0.02



@settings(max_examples=150, deadline=None)
@given(st.integers(1, 40), st.integers(2, 8), st.integers(0, 10_000))
def test_a_pattern_contradicts_itself_exactly_when_two_binaries_claim_opposite_wins(count, elements, seed):
    from metricloss.compiler.patterns import contradicts

    generator = torch.Generator().manual_seed(seed)
    left = torch.randint(-1, elements, (count,), generator=generator)  # -1: a constant, not an element
    right = torch.randint(-1, elements, (count,), generator=generator)
    configuration = torch.rand(count, generator=generator) < 0.5
    claims = {(int(a), int(b)) if bit else (int(b), int(a))
              for a, b, bit in zip(left, right, configuration) if a >= 0 and b >= 0 and a != b}
    expected = any((loser, winner) in claims for winner, loser in claims)
    assert contradicts(configuration, left, right) == expected
