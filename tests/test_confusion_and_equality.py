"""Equality of scores, ignore labels, selections of predictions and confusion matrices built by
indexing: exact against scikit-learn or a plain definition (ties included), trainable, and
refused with a clear message where the eager code would not mean what the table holds."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st
from sklearn.metrics import balanced_accuracy_score, cohen_kappa_score, roc_auc_score

import metricloss as ml

from zoo import classification as cls
from zoo import segmentation as seg


def _declared(fn, **options):
    return ml.metric(register=False, **options)(fn)


AUC_HALF = _declared(cls.auc_half_credit_for_ties, best=1.0)
KAPPA = _declared(cls.bincount_cohen_kappa, best=1.0)
BALANCED = _declared(cls.index_put_balanced_accuracy, best=1.0)


def _binary(seed: int, n: int, ties: bool):
    generator = torch.Generator().manual_seed(seed)
    scores = (torch.randint(-2, 3, (n,), generator=generator).float() if ties
              else torch.randn(n, generator=generator))
    labels = torch.randint(0, 2, (n,), generator=generator)
    labels[:2] = torch.tensor([0, 1])
    return scores, labels


def _classes(seed: int, n: int, classes: int, ties: bool):
    generator = torch.Generator().manual_seed(seed)
    scores = (torch.randint(-1, 2, (n, classes), generator=generator).float() if ties
              else torch.randn(n, classes, generator=generator))
    return scores, torch.randint(0, classes, (n,), generator=generator)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(2, 40), ties=st.booleans())
def test_equality_of_scores_gives_scikit_learns_auc(seed, n, ties):
    scores, labels = _binary(seed, n, ties)
    assert float(AUC_HALF(scores, labels)) == pytest.approx(roc_auc_score(labels, scores), abs=1e-6)


def test_equality_is_two_orderings_of_one_difference():
    text = ml.explain(AUC_HALF)
    assert ">=" in text and "<=" in text and "score_equality" in text
    assert "compares the same scores as b0" in text  # one difference for the three blocks
    scores, labels = _binary(0, 30, ties=True)
    scores.requires_grad_(True)
    loss = ml.UniLoss(AUC_HALF, generator=torch.Generator().manual_seed(0))(scores, labels)
    loss.backward()
    assert torch.isfinite(scores.grad).all() and scores.grad.abs().sum() > 0


def test_not_equal_of_scores_is_either_ordering():
    @ml.metric(register=False)
    def decided(scores, labels):
        return (scores[labels == 1][:, None] != scores[labels == 0][None, :]).float().mean()

    for seed in range(5):
        scores, labels = _binary(seed, 20, ties=True)
        pos, neg = scores[labels == 1].numpy(), scores[labels == 0].numpy()
        assert float(decided(scores, labels)) == pytest.approx(np.mean(pos[:, None] != neg[None, :]))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), n=st.integers(1, 30), classes=st.integers(2, 6), ties=st.booleans())
def test_confusion_matrices_built_by_indexing_match_scikit_learn(seed, n, classes, ties):
    scores, labels = _classes(seed, n, classes, ties)
    predicted = scores.argmax(1).numpy()  # scikit-learn sees torch's first maximal class
    kappa = cohen_kappa_score(labels.numpy(), predicted, labels=np.arange(classes))
    value = float(KAPPA(scores, labels))
    assert (np.isnan(kappa) and np.isnan(value)) or value == pytest.approx(kappa, abs=1e-5)
    present = np.unique(labels.numpy())
    with np.errstate(all="ignore"):
        balanced = balanced_accuracy_score(labels.numpy(), predicted) if set(predicted) <= set(present) else None
    if balanced is not None:  # scikit-learn warns and drops predicted classes absent from y_true
        assert float(BALANCED(scores, labels)) == pytest.approx(balanced, abs=1e-6)
    assert float(BALANCED(scores, labels)) == pytest.approx(float(cls.index_put_balanced_accuracy(scores, labels)),
                                                            abs=1e-6, nan_ok=True)


def test_a_target_outside_the_table_is_refused_with_the_fix():
    @ml.metric(register=False)
    def unmasked(scores, labels):
        n = scores.shape[1]
        cm = torch.bincount(labels * n + scores.argmax(1), minlength=n * n).reshape(n, n)
        return cm.trace() / cm.sum()

    scores, labels = _classes(0, 10, 3, ties=False)
    labels[3] = 7
    with pytest.raises(ml.InputError, match=r"outside \[0, 3\).*k = \(target >= 0\) & \(target < 3\)"):
        unmasked(scores, labels)


def test_a_table_narrower_than_the_classes_is_refused():
    @ml.metric(register=False)
    def narrow(scores, labels):
        cm = torch.zeros(2, 2)
        cm.index_put_((labels, scores.argmax(1)), torch.ones(()), accumulate=True)
        return cm.trace() / cm.sum()

    scores, labels = _classes(0, 10, 3, ties=False)
    with pytest.raises(ml.InputError, match="3 classes, but the confusion matrix built from their arg-max has 2"):
        narrow(scores, labels.clamp(max=1))


@pytest.mark.parametrize("ignore", [255, -100])
def test_an_ignore_label_is_no_class_for_the_ideal(ignore):
    """The ideal is built from the labels the metric uses: a masked-out label is not a class, so
    the loss is defined, has a gradient, and is zero at perfect scores."""
    @ml.metric(register=False, best=1.0)
    def miou(scores, labels):
        pred = scores.argmax(1)
        valid = labels != ignore
        ious = [(((pred == c) & (labels == c) & valid).sum() / (((pred == c) | (labels == c)) & valid).sum())
                for c in range(scores.shape[1])]
        return torch.stack(ious).nanmean()

    generator = torch.Generator().manual_seed(0)
    scores = torch.randn(2, 3, 4, 5, generator=generator, requires_grad=True)
    labels = torch.randint(0, 3, (2, 4, 5), generator=generator)
    labels[:, 0] = ignore
    loss_fn = ml.UniLoss(miou, generator=torch.Generator().manual_seed(0))
    loss = loss_fn(scores, labels)
    loss.backward()
    assert loss_fn.last.defined and float(loss.detach()) > 0
    assert scores.grad.abs().sum() > 0
    kept = labels.clamp(0, 2) * (labels != ignore)
    perfect = 20.0 * torch.nn.functional.one_hot(kept, 3).permute(0, 3, 1, 2).float()
    perfect = perfect * (labels != ignore)[:, None]
    assert float(miou(perfect, labels)) == 1.0
    assert float(loss_fn(perfect, labels)) == pytest.approx(0.0, abs=1e-6)


def test_a_selection_of_predictions_equals_the_eager_run():
    metric = _declared(seg.pixel_accuracy_ignore_index)
    for seed in range(5):
        generator = torch.Generator().manual_seed(seed)
        scores = torch.randint(-1, 2, (2, 3, 4, 5), generator=generator).float()  # tied scores
        labels = torch.randint(0, 3, (2, 4, 5), generator=generator).masked_fill(
            torch.rand(2, 4, 5, generator=generator) < 0.3, 255)
        assert float(metric(scores, labels)) == pytest.approx(float(seg.pixel_accuracy_ignore_index(scores, labels)))


def test_where_with_a_constant_tensor_fills_like_a_number():
    @ml.metric(register=False)
    def masked(scores, labels):
        kept = torch.where(labels >= 0, scores, torch.full((6,), -1e4))  # a constant of another shape
        return (kept[:, None] > 0.5).float().mean()

    scores = torch.tensor([0.0, 1.0, 2.0, -1.0, 0.7, 3.0])
    labels = torch.tensor([1, -1, 0, 1, -1, 0])
    assert float(masked(scores, labels)) == pytest.approx(2 / 6)
