"""The exactness invariant: a built-in metric computed through its binaries equals scikit-learn."""

import pytest
import torch
from hypothesis import given
from sklearn.metrics import accuracy_score, average_precision_score, roc_auc_score

import metricloss as ml
from strategies import DEVICE, binary_batches, multiclass_batches


@given(binary_batches())
def test_auc_equals_scikit_learn(batch):
    scores, labels = batch
    assert ml.get_metric("auc")(scores.to(DEVICE), labels.to(DEVICE)).item() == pytest.approx(
        roc_auc_score(labels.numpy(), scores.numpy()), abs=1e-6
    )


@given(binary_batches())
def test_average_precision_equals_scikit_learn(batch):
    scores, labels = batch
    assert ml.get_metric("average_precision")(scores.to(DEVICE), labels.to(DEVICE)).item() == pytest.approx(
        average_precision_score(labels.numpy(), scores.numpy()), abs=1e-6
    )


@given(multiclass_batches())
def test_accuracy_equals_scikit_learn(batch):
    scores, labels = batch
    expected = accuracy_score(labels.numpy(), scores.argmax(1).numpy())
    assert ml.get_metric("accuracy")(scores.to(DEVICE), labels.to(DEVICE)).item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("name", ["auc", "average_precision"])
@pytest.mark.parametrize("labels", [[1, 0, 0, 0, 0], [0, 1, 1, 1, 1], [1, 0], [0, 1]])
def test_single_positive_or_single_negative(name, labels):
    reference = {"auc": roc_auc_score, "average_precision": average_precision_score}[name]
    labels = torch.tensor(labels)
    for seed in range(5):
        scores = torch.randperm(len(labels), generator=torch.Generator().manual_seed(seed)).float()
        assert ml.get_metric(name)(scores, labels).item() == pytest.approx(
            reference(labels.numpy(), scores.numpy()), abs=1e-6
        )


def test_accuracy_with_two_classes():
    scores = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.4]])
    labels = torch.tensor([1, 1, 0])
    assert ml.get_metric("accuracy")(scores, labels).item() == pytest.approx(1 / 3)


def test_value_is_computed_through_the_binaries():
    auc = ml.get_metric("auc")
    scores, labels = torch.tensor([0.3, 0.1, 0.2]), torch.tensor([1, 0, 0])
    binaries = auc.binaries(scores, labels)
    assert binaries.hard.tolist() == [True, True] * 2  # `>` and `>=`: ties count one half
    torch.testing.assert_close(binaries.differences, (torch.tensor([0.3, 0.3]) - torch.tensor([0.1, 0.2])).repeat(2))
    assert binaries.restrict(binaries.hard).numel() == 2  # the `>=` block is a twin, not new variables
    flipped = ~binaries.hard
    assert auc.program.value(binaries, flipped).item() == 0.0
