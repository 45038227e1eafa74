"""Ties: every built-in metric equals its reference on tie-heavy inputs.

The other exactness suites draw tie-free scores; here scores are small integers (-2..2), whole
constant vectors and rows, constant columns, batches whose rows are all identical, and heatmaps
whose maximum is shared by several pixels. Each built-in must follow one stated tie rule:

* ``auc``, ``average_precision``: scikit-learn (a tied pair counts one half; tied scores share a
  threshold), so a constant model scores 0.5 and the fraction of positives.
* ``accuracy``, ``iou_macro``, ``pckh``: torch's argmax (the first maximal index wins).
* ``topk_accuracy``: scikit-learn's ``top_k_accuracy_score`` (a later class that ties the true
  class ranks above it).
* ``precision_at_k``, ``recall_at_k``: a stable descending sort (ties keep index order).
* the thresholded counts (``f1``, ``fbeta``, ``precision``, ``recall``, ``mcc``, ``iou``,
  ``balanced_accuracy``): scikit-learn on ``scores > threshold`` (a score equal to the threshold is
  a negative prediction).
"""

import math
import warnings

import numpy as np
import pytest
import torch
from hypothesis import example, given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    fbeta_score,
    jaccard_score,
    roc_auc_score,
    top_k_accuracy_score,
)

import metricloss as ml
from references import ANY_LABELS, BINARY_REFERENCES, plain_pckh

TOLERANCE = 1e-5
FAST = settings(max_examples=60, deadline=None)
QUICK = settings(max_examples=30, deadline=None)

# The all-zero model on fixed batches (the brief's explicit examples).
ZERO_BINARY_LABELS = [1, 0, 0, 1, 0, 0, 0, 0, 0, 1]
ZERO_BINARY_SCORES = [0.0] * 10
ZERO_MULTICLASS_LABELS = [0, 1, 2, 3, 4, 0]  # scores torch.zeros(6, 5)
ZERO_IOU_LABELS = [0, 1, 2, 3, 1, 2, 0, 3]  # scores torch.zeros(8, 4)


def close(ours: float, reference: float) -> bool:
    return abs(ours - reference) <= TOLERANCE


def value(name, *inputs, **params) -> float:
    return ml.get_metric(name, **params)(*inputs).item()


# -- strategies -----------------------------------------------------------------------------------

def small_ints(low=-2, high=2):
    return st.integers(low, high)


@st.composite
def tied_score_vectors(draw, size):
    """[size] float scores, heavy in ties: small integers, two values, or one constant."""
    kind = draw(st.sampled_from(["small", "two_values", "constant", "zero"]))
    if kind == "small":
        values = draw(st.lists(small_ints(), min_size=size, max_size=size))
    elif kind == "two_values":
        values = draw(st.lists(st.sampled_from([-1, 1]), min_size=size, max_size=size))
    elif kind == "constant":
        values = [draw(small_ints())] * size
    else:
        values = [0] * size
    return torch.tensor(values, dtype=torch.float32)


@st.composite
def tied_binary_batches(draw, min_size=1, max_size=16, both_classes=True):
    """(scores [N], labels [N] in {0, 1}); with ``both_classes`` at least one positive and one negative."""
    size = draw(st.integers(max(min_size, 2 if both_classes else 1), max_size))
    scores = draw(tied_score_vectors(size))
    labels = draw(st.lists(st.integers(0, 1), min_size=size, max_size=size))
    if both_classes:
        positive = draw(st.integers(0, size - 1))
        negative = draw(st.integers(0, size - 2))
        negative += negative >= positive  # a different index
        labels[positive], labels[negative] = 1, 0
    return scores, torch.tensor(labels, dtype=torch.long)


@st.composite
def tied_score_matrices(draw, rows, classes):
    """[rows, classes] scores: small integers with constant rows, constant columns, or all rows equal."""
    kind = draw(st.sampled_from(["small", "constant_rows", "constant_columns", "identical_rows", "zero"]))
    entries = st.lists(small_ints(), min_size=classes, max_size=classes)
    matrix = [draw(entries) for _ in range(rows)]
    if kind == "identical_rows":
        matrix = [list(matrix[0]) for _ in range(rows)]
    elif kind == "zero":
        matrix = [[0] * classes for _ in range(rows)]
    elif kind == "constant_rows":  # some rows (drawn) hold one value throughout
        for row in range(rows):
            if draw(st.booleans()):
                matrix[row] = [draw(small_ints())] * classes
    elif kind == "constant_columns":  # some columns (drawn) hold one value throughout
        for column in range(classes):
            if draw(st.booleans()):
                constant = draw(small_ints())
                for row in range(rows):
                    matrix[row][column] = constant
    return torch.tensor(matrix, dtype=torch.float32)


@st.composite
def tied_multiclass_batches(draw, min_classes=2, max_classes=6, max_rows=12):
    """(scores [N, C], labels [N] in [0, C))."""
    rows = draw(st.integers(1, max_rows))
    classes = draw(st.integers(min_classes, max_classes))
    scores = draw(tied_score_matrices(rows, classes))
    labels = draw(st.lists(st.integers(0, classes - 1), min_size=rows, max_size=rows))
    return scores, torch.tensor(labels, dtype=torch.long)


# -- auc and average precision --------------------------------------------------------------------

@FAST
@given(tied_binary_batches())
@example((torch.tensor(ZERO_BINARY_SCORES), torch.tensor(ZERO_BINARY_LABELS)))
def test_auc_on_ties_equals_scikit_learn(batch):
    scores, labels = batch
    reference = roc_auc_score(labels.numpy(), scores.double().numpy())
    ours = value("auc", scores, labels)
    assert close(ours, reference), (scores.tolist(), labels.tolist(), ours, reference)


@FAST
@given(tied_binary_batches())
@example((torch.tensor(ZERO_BINARY_SCORES), torch.tensor(ZERO_BINARY_LABELS)))
def test_average_precision_on_ties_equals_scikit_learn(batch):
    scores, labels = batch
    reference = average_precision_score(labels.numpy(), scores.double().numpy())
    ours = value("average_precision", scores, labels)
    assert close(ours, reference), (scores.tolist(), labels.tolist(), ours, reference)


@QUICK
@given(tied_binary_batches(), small_ints())
def test_constant_scores_give_one_half_and_the_positive_fraction(batch, constant):
    _, labels = batch
    scores = torch.full(labels.shape, float(constant))
    assert close(value("auc", scores, labels), 0.5)
    assert close(value("average_precision", scores, labels), labels.double().mean().item())


def test_the_all_zero_model_on_ranking_metrics():
    scores, labels = torch.zeros(10), torch.tensor(ZERO_BINARY_LABELS)
    assert close(value("auc", scores, labels), 0.5)
    assert close(value("average_precision", scores, labels), 0.3)
    assert close(value("precision_at_k", scores, labels, k=2), 0.5)  # items 0 and 1: one positive
    assert close(value("recall_at_k", scores, labels, k=2), 1 / 3)
    assert close(value("precision_at_k", scores, labels, k=4), 0.5)  # items 0..3: two positives
    assert close(value("recall_at_k", scores, labels, k=10), 1.0)


# -- accuracy, top-k accuracy and macro iou -------------------------------------------------------

@FAST
@given(tied_multiclass_batches())
@example((torch.zeros(6, 5), torch.tensor(ZERO_MULTICLASS_LABELS)))
def test_accuracy_on_ties_takes_the_first_maximal_class(batch):
    scores, labels = batch
    reference = accuracy_score(labels.numpy(), scores.argmax(1).numpy())
    ours = value("accuracy", scores, labels)
    assert close(ours, reference), (scores.tolist(), labels.tolist(), ours, reference)


def topk_reference(scores: torch.Tensor, labels: torch.Tensor, k: int) -> float:
    """scikit-learn's top_k_accuracy_score over the classes range(C).

    For C = 2 scikit-learn reads [N, 2] scores as binary and refuses them; a third column scored
    strictly below every other score leaves its multiclass rule (a stable ascending sort, reversed)
    unchanged on the two real classes, so that is what it is given then.
    """
    classes = scores.shape[1]
    matrix = scores.double().numpy()
    if classes == 2:
        matrix = np.concatenate([matrix, np.full((matrix.shape[0], 1), matrix.min() - 1.0)], axis=1)
        classes = 3
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*greater than or equal to 'n_classes'")
        return top_k_accuracy_score(labels.numpy(), matrix, k=k, labels=list(range(classes)))


@pytest.mark.parametrize("k", [1, 2, 3])
@FAST
@given(batch=tied_multiclass_batches())
@example(batch=(torch.zeros(6, 5), torch.tensor(ZERO_MULTICLASS_LABELS)))
@example(batch=(torch.zeros(3, 2), torch.tensor([0, 1, 1])))
@example(batch=(torch.zeros(4, 3), torch.tensor([0, 1, 2, 2])))
def test_topk_accuracy_on_ties_equals_scikit_learn(k, batch):
    scores, labels = batch
    reference = topk_reference(scores, labels, k)
    ours = value("topk_accuracy", scores, labels, k=k)
    assert close(ours, reference), (k, scores.tolist(), labels.tolist(), ours, reference)


def test_the_all_zero_model_on_multiclass_metrics():
    scores, labels = torch.zeros(6, 5), torch.tensor(ZERO_MULTICLASS_LABELS)
    assert close(value("accuracy", scores, labels), 1 / 3)  # class 0 predicted: two of six
    assert close(value("topk_accuracy", scores, labels, k=2), 1 / 3)  # classes 4 and 3 on top
    assert close(value("topk_accuracy", scores, labels, k=5), 1.0)
    assert close(value("topk_accuracy", scores, labels, k=7), 1.0)
    assert close(value("iou_macro", torch.zeros(8, 4), torch.tensor(ZERO_IOU_LABELS)), 0.0625)


@FAST
@given(tied_multiclass_batches())
@example((torch.zeros(8, 4), torch.tensor(ZERO_IOU_LABELS)))
def test_iou_macro_on_ties_equals_scikit_learn(batch):
    scores, labels = batch
    # Without `labels=`, scikit-learn averages over the classes in the labels or the predictions.
    reference = jaccard_score(labels.numpy(), scores.argmax(1).numpy(), average="macro", zero_division=0.0)
    ours = value("iou_macro", scores, labels)
    assert close(ours, reference), (scores.tolist(), labels.tolist(), ours, reference)


# -- precision and recall at k --------------------------------------------------------------------

def at_k_reference(scores: torch.Tensor, labels: torch.Tensor, k: int) -> tuple[float, float]:
    """(precision, recall) at k from the definition, the top k by a stable descending sort."""
    top = scores.argsort(descending=True, stable=True)[:k]
    hits = int(labels[top].sum())
    positives = int(labels.sum())
    precision = hits / min(k, labels.shape[0])
    recall = hits / positives if positives else math.nan
    return precision, recall


@pytest.mark.parametrize("k", [1, 2, 3, 5, 10])
@FAST
@given(batch=tied_binary_batches(both_classes=False))
@example(batch=(torch.tensor(ZERO_BINARY_SCORES), torch.tensor(ZERO_BINARY_LABELS)))
@example(batch=(torch.tensor([0.0, 0.0, 0.0]), torch.tensor([0, 0, 1])))
@example(batch=(torch.tensor([1.0, 2.0, 2.0, 1.0]), torch.tensor([1, 0, 1, 1])))
def test_precision_and_recall_at_k_on_ties_keep_index_order(k, batch):
    scores, labels = batch
    precision, recall = at_k_reference(scores, labels, k)
    ours = value("precision_at_k", scores, labels, k=k)
    assert close(ours, precision), ("precision_at_k", k, scores.tolist(), labels.tolist(), ours, precision)
    if not math.isnan(recall):  # recall at k is undefined without a positive
        ours = value("recall_at_k", scores, labels, k=k)
        assert close(ours, recall), ("recall_at_k", k, scores.tolist(), labels.tolist(), ours, recall)


# -- thresholded counts ---------------------------------------------------------------------------

# Integers tie with the integer scores: a score equal to the threshold is a negative prediction.
TIED_THRESHOLDS = (0.0, 1.0, -1.0, 2.0, -2.0, 0.5, -3.0, 3.0)


def threshold_predictions(scores: torch.Tensor, threshold: float) -> np.ndarray:
    return (scores.double() > threshold).long().numpy()


@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")  # sklearn, for mcc
@pytest.mark.parametrize("name", sorted(BINARY_REFERENCES))
@QUICK
@given(data=st.data(), threshold=st.sampled_from(TIED_THRESHOLDS))
def test_thresholded_counts_on_ties_equal_scikit_learn(name, data, threshold):
    scores, labels = data.draw(tied_binary_batches(both_classes=name not in ANY_LABELS))
    reference = BINARY_REFERENCES[name](labels.numpy(), threshold_predictions(scores, threshold))
    ours = value(name, scores, labels, threshold=threshold)
    assert close(ours, reference), (name, threshold, scores.tolist(), labels.tolist(), ours, reference)


@pytest.mark.parametrize("name", sorted(BINARY_REFERENCES))
def test_thresholded_counts_default_threshold_on_the_all_zero_model(name):
    # threshold 0: every zero score is a negative prediction.
    scores, labels = torch.zeros(10), torch.tensor(ZERO_BINARY_LABELS)
    reference = BINARY_REFERENCES[name](labels.numpy(), np.zeros(10, dtype=np.int64))
    assert close(value(name, scores, labels), reference)
    # threshold -1: every zero score is a positive prediction.
    reference = BINARY_REFERENCES[name](labels.numpy(), np.ones(10, dtype=np.int64))
    assert close(value(name, scores, labels, threshold=-1.0), reference)


@pytest.mark.parametrize("beta", [0.0, 0.5, 2.0])
@QUICK
@given(batch=tied_binary_batches(both_classes=False), threshold=st.sampled_from(TIED_THRESHOLDS))
def test_fbeta_on_ties_equals_scikit_learn(beta, batch, threshold):
    scores, labels = batch
    reference = fbeta_score(labels.numpy(), threshold_predictions(scores, threshold), beta=beta, zero_division=0.0)
    ours = value("fbeta", scores, labels, beta=beta, threshold=threshold)
    assert close(ours, reference), (beta, threshold, scores.tolist(), labels.tolist(), ours, reference)


# -- pckh -----------------------------------------------------------------------------------------

@st.composite
def tied_pose_batches(draw):
    """Heatmaps with integer values in 0..2 (many pixels share the maximum), or constant maps."""
    n, j = draw(st.integers(1, 3)), draw(st.integers(1, 3))
    height, width = draw(st.integers(2, 8)), draw(st.integers(2, 8))
    generator = torch.Generator().manual_seed(draw(st.integers(0, 2**31 - 1)))
    kind = draw(st.sampled_from(["small", "constant_maps", "zero", "sparse_peaks"]))
    if kind == "small":
        heatmaps = torch.randint(0, 3, (n, j, height, width), generator=generator).float()
    elif kind == "constant_maps":
        heatmaps = torch.randint(0, 3, (n, j, 1, 1), generator=generator).float().expand(n, j, height, width)
    elif kind == "zero":
        heatmaps = torch.zeros(n, j, height, width)
    else:  # mostly zeros, a few tied peaks of 2
        heatmaps = 2.0 * (torch.rand(n, j, height, width, generator=generator) < 0.15).float()
    heatmaps = heatmaps.contiguous()
    joints = torch.rand(n, j, 2, generator=generator) * torch.tensor([width + 2.0, height + 2.0]) - 1
    head_size = torch.rand(n, generator=generator) * 8 + 0.5
    visible = torch.rand(n, j, generator=generator) < 0.8
    visible[0, 0] = True
    return heatmaps, joints, head_size, visible


@FAST
@given(batch=tied_pose_batches(), threshold=st.sampled_from([0.5, 0.2, 1.0]))
def test_pckh_on_ties_takes_the_first_maximal_pixel(batch, threshold):
    reference = plain_pckh(*batch, threshold=threshold)
    ours = value("pckh", *batch, threshold=threshold)
    assert close(ours, reference), (threshold, [t.tolist() for t in batch], ours, reference)


def test_pckh_on_a_flat_heatmap_takes_the_top_left_pixel():
    heatmaps = torch.zeros(1, 2, 4, 4)  # every pixel ties: the peak is pixel (0, 0)
    joints = torch.tensor([[[0.2, 0.3], [3.0, 3.0]]])  # near (0, 0), and far from it
    head_size, visible = torch.tensor([2.0]), torch.tensor([[True, True]])
    assert close(value("pckh", heatmaps, joints, head_size, visible), 0.5)
    # Two tied peaks, (x, y) = (3, 0) first in flattened order and (0, 3): only the first counts.
    heatmaps = torch.zeros(1, 1, 4, 4)
    heatmaps[0, 0, 0, 3] = heatmaps[0, 0, 3, 0] = 2.0
    near_second = torch.tensor([[[0.0, 3.0]]])
    near_first = torch.tensor([[[3.0, 0.0]]])
    assert close(value("pckh", heatmaps, near_second, head_size, visible[:, :1]), 0.0)
    assert close(value("pckh", heatmaps, near_first, head_size, visible[:, :1]), 1.0)
