"""Each lowering rule rewrites evaluation code into comparisons, exactly (tie-free scores)."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from sklearn.metrics import top_k_accuracy_score

import metricloss as ml
from metricloss.compiler.lowering import REWRITES
from strategies import binary_batches, multiclass_batches


def test_every_rule_is_listed_once():
    names = [rule.name for rule in REWRITES]
    assert names == sorted(set(names), key=names.index)
    assert {"argmax_equals", "one_hot_argmax", "topk_contains", "rank"} <= set(names)


@given(multiclass_batches(), st.integers(1, 4))
def test_topk_accuracy_equals_scikit_learn(batch, k):
    scores, labels = batch
    classes = scores.shape[1]
    assume(classes > 2)  # scikit-learn reads two-class scores as binary decision values
    k = min(k, classes - 1)
    expected = top_k_accuracy_score(labels.numpy(), scores.numpy(), k=k, labels=list(range(classes)))
    assert ml.get_metric("topk_accuracy", k=k)(scores, labels).item() == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("k", [1, 2, 3])
def test_topk_ideal_holds_with_more_classes_than_the_probe_had(k):
    """The compile-time probe has 3 classes: there every item is in the top 3, its block looks
    free and the pattern says so. On 6 classes b* must be "no rival beats the label"."""
    metric = ml.get_metric("topk_accuracy", k=k)
    loss_fn = ml.UniLoss(metric, generator=torch.Generator().manual_seed(0))
    generator = torch.Generator().manual_seed(k)
    labels = torch.randint(0, 6, (16,), generator=generator)
    scores = torch.randn(16, 6, generator=generator, requires_grad=True)
    loss = loss_fn(scores, labels)
    assert loss_fn.last.ideal_value.item() == 1.0 and loss.item() >= 0
    perfect = F.one_hot(labels, 6).float() * 100 + torch.arange(6.0)
    assert loss_fn(perfect, labels).item() == pytest.approx(0.0, abs=1e-6)


@ml.metric(best=1.0, name="one_hot_recall")
def one_hot_recall(scores, labels):
    predicted = F.one_hot(scores.argmax(1), scores.shape[1])
    truth = F.one_hot(labels, scores.shape[1])
    return ((predicted * truth).sum(0) / truth.sum(0).clamp_min(1)).float().mean()


@given(multiclass_batches())
def test_one_hot_of_argmax(batch):
    scores, labels = batch
    predicted = F.one_hot(scores.argmax(1), scores.shape[1])
    truth = F.one_hot(labels, scores.shape[1])
    expected = ((predicted * truth).sum(0) / truth.sum(0).clamp_min(1)).float().mean()
    assert one_hot_recall(scores, labels).item() == pytest.approx(expected.item(), abs=1e-6)
    # Its diagonal (a class against itself) is dead: C per row.
    binaries = one_hot_recall.binaries(scores, labels)
    assert int(binaries.dead.sum()) == scores.shape[0] * scores.shape[1]


def _plain_at_k(scores, labels, k):
    top = scores.argsort(descending=True)[:k]
    hits = int(labels[top].sum())
    return hits / min(k, len(labels)), hits / int(labels.sum())


@given(binary_batches(), st.integers(1, 8))
def test_precision_and_recall_at_k(batch, k):
    scores, labels = batch
    precision, recall = _plain_at_k(scores, labels, k)
    assert ml.get_metric("precision_at_k", k=k)(scores, labels).item() == pytest.approx(precision, abs=1e-6)
    assert ml.get_metric("recall_at_k", k=k)(scores, labels).item() == pytest.approx(recall, abs=1e-6)


with pytest.warns(ml.TieOrderWarning, match="argsort` without `stable=True`"):  # the rank as often written
    @ml.metric(name="ascending_rank_sum")
    def ascending_rank_sum(scores, weights):
        return (scores.argsort().argsort() * weights).sum()


@given(binary_batches())
def test_ascending_rank(batch):
    scores, labels = batch
    weights = labels.float()
    expected = (scores.argsort().argsort() * weights).sum().item()
    assert ascending_rank_sum(scores, weights).item() == pytest.approx(expected)


def test_rank_metrics_train_towards_their_ideal():
    scores = torch.randn(40, generator=torch.Generator().manual_seed(0), requires_grad=True)
    labels = (torch.arange(40) % 4 == 0).long()
    loss_fn = ml.UniLoss(ml.get_metric("precision_at_k", k=5), generator=torch.Generator().manual_seed(0))
    loss = loss_fn(scores, labels)
    assert loss_fn.last.ideal_value.item() == 1.0
    loss.backward()
    assert scores.grad[labels == 1].mean() < 0 < scores.grad[labels == 0].mean()


def _stable_top(scores, labels, k):
    return (scores.argsort(dim=1, stable=True).flip(1)[:, :k] == labels[:, None]).any(1).float().mean()


@pytest.mark.parametrize("k", [2, 7])
def test_scikit_learns_own_top_k_is_a_membership_test(k):
    """scikit-learn's spelling of the top k (a stable ascending sort read backwards) compiles to
    one comparison per rival class, as topk membership does, not to an order of every class; it
    equals its eager value on ties, and a k past the classes takes them all, as slicing does."""
    def stable_top(scores, labels):
        return _stable_top(scores, labels, k)

    metric = ml.metric(register=False)(stable_top)
    assert metric.compiled.lowered[0].startswith("stable_top_contains")
    generator = torch.Generator().manual_seed(k)
    for _ in range(20):
        scores = torch.randint(0, 3, (8, 5), generator=generator).float()
        labels = torch.randint(0, 5, (8,), generator=generator)
        assert metric(scores, labels).item() == stable_top(scores, labels).item()
        assert metric.binaries(scores, labels).count == 8 * 4


def test_topk_with_largest_false_is_refused():
    with pytest.raises(ml.CompileError, match=r"topk\(largest=False\).*negate the scores"):
        @ml.metric
        def bottom(scores, labels):
            return (scores.topk(2, 1, False).indices == labels[:, None]).any(1).float().mean()


def test_argmax_without_a_dim_is_the_index_into_the_flattened_scores():
    def flat_argmax(scores, position):
        return (scores.argmax() == position).float()

    compiled = ml.metric(register=False)(flat_argmax)
    scores = torch.tensor([[0.0, 2.0, 1.0], [2.0, 0.5, 0.0]])  # tied maxima: the first one wins
    for position in range(6):
        target = torch.tensor(position)
        assert float(compiled(scores, target)) == float(flat_argmax(scores, target))


def test_argmax_with_a_dim_that_is_not_a_constant_is_refused():
    with pytest.raises(ml.CompileError, match="needs a constant `dim`"):
        @ml.metric
        def traced_dim(scores, labels, dims):
            return (scores.argmax(dims.sum()) == labels).float().mean()


def test_an_op_without_a_rule_names_the_supported_patterns():
    with pytest.raises(ml.CompileError) as caught:
        @ml.metric
        def sorted_scores(scores, labels):
            return (scores.sort().values[-1] > 0).float()
    message = str(caught.value)
    assert "(op `.sort()`)" in message and "scores.argsort(dim, descending).argsort(dim)" in message


def _keypoint_batch(generator, ties: bool):
    shape = (3, 2, 5, 6)
    heatmaps = torch.randint(0, 3, shape, generator=generator).float() if ties else torch.randn(shape, generator=generator)
    keypoints = torch.stack([torch.randint(0, 6, (3, 2), generator=generator),
                             torch.randint(0, 5, (3, 2), generator=generator)], -1).float()
    return heatmaps, keypoints


def pck_from_flat_argmax(heatmaps, keypoints, threshold=2.0):
    n, j, h, w = heatmaps.shape
    index = heatmaps.reshape(n, j, -1).argmax(-1)
    ys, xs = index // w, index % w
    distance = torch.sqrt((xs.float() - keypoints[..., 0]) ** 2 + (ys.float() - keypoints[..., 1]) ** 2)
    return (distance <= threshold).float().mean()


def pck_from_stacked_coordinates(heatmaps, keypoints):
    width = heatmaps.shape[-1]
    index = heatmaps.flatten(2).argmax(-1)
    predicted = torch.stack([index % width, index // width], dim=-1).float()
    return ((predicted - keypoints).norm(dim=-1) < 3).float().mean()


def inside_a_box(heatmaps, keypoints):
    width = heatmaps.shape[-1]
    index = heatmaps.flatten(2).argmax(-1)
    near_x = (index % width - keypoints[..., 0]).abs() <= 1
    near_y = (index // width - keypoints[..., 1]).abs() <= 1
    return (near_x & near_y).float().mean()


@pytest.mark.parametrize("fn", [pck_from_flat_argmax, pck_from_stacked_coordinates, inside_a_box],
                         ids=lambda f: f.__name__)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), ties=st.booleans())
def test_coordinates_of_a_flat_argmax_compared_with_targets_are_exact(fn, seed, ties):
    heatmaps, keypoints = _keypoint_batch(torch.Generator().manual_seed(seed), ties)
    compiled = ml.metric(register=False)(fn)
    assert float(compiled(heatmaps, keypoints)) == pytest.approx(float(fn(heatmaps, keypoints)), abs=1e-6)
    assert any(entry.startswith("argmax_position") for entry in compiled.compiled_for(heatmaps, keypoints).lowered)


def _train_flat_argmax_pck(seed: int, steps: int = 20) -> tuple[float, float]:
    """SGD on the heatmaps themselves (no model): (start, end) PCK."""
    heatmaps, keypoints = _keypoint_batch(torch.Generator().manual_seed(seed), ties=False)
    heatmaps.requires_grad_(True)
    compiled = ml.metric(register=False, best=1.0)(pck_from_flat_argmax)
    loss = ml.UniLoss(compiled, generator=torch.Generator().manual_seed(seed))
    optimiser = torch.optim.SGD([heatmaps], lr=10.0)
    start = float(compiled(heatmaps, keypoints))
    for _ in range(steps):
        optimiser.zero_grad()
        loss(heatmaps, keypoints).backward()
        optimiser.step()
    return start, float(compiled(heatmaps, keypoints))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_coordinates_of_a_flat_argmax_train(seed):
    start, end = _train_flat_argmax_pck(seed)
    assert start < 1.0 and end >= max(0.8, min(1.0, start + 0.3)), (start, end)


def _clamped_above(scores, labels):
    return ((scores.clamp(0, 1) > 0.5) == labels.bool()).float().mean()


def _relu_at_least(scores, labels):
    return ((torch.relu(scores) >= 0.25).long() == labels).float().mean()


def _clip_below(scores, labels):
    return ((0.2 > scores.clip(max=0.6)) & labels.bool()).float().sum()


def _clamp_to_targets(scores, labels):
    return (scores.clamp_min(-0.5) > labels - 0.75).float().mean()


@pytest.mark.parametrize("fn", [_clamped_above, _relu_at_least, _clip_below, _clamp_to_targets],
                         ids=lambda f: f.__name__)
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), ties=st.booleans())
def test_clamp_and_relu_before_a_comparison_are_exact_and_train(fn, seed, ties):
    generator = torch.Generator().manual_seed(seed)
    scores = (torch.randint(-3, 4, (12,), generator=generator).float() / 4 if ties
              else torch.randn(12, generator=generator))
    labels = torch.randint(0, 2, (12,), generator=generator)
    labels[0] = 1  # a positive, so that _clip_below has a binary the scores can move
    compiled = ml.metric(register=False)(fn)
    assert float(compiled(scores, labels)) == pytest.approx(float(fn(scores, labels)), abs=1e-6)
    scores.requires_grad_(True)
    ml.UniLoss(compiled)(scores, labels).backward()
    assert torch.isfinite(scores.grad).all()


def test_a_clamp_whose_bounds_decide_the_comparison_leaves_no_score_comparison():
    with pytest.raises(ml.CompileError, match="never compares scores"):
        @ml.metric(register=False)
        def always(scores, labels):
            return (scores.clamp(0, 1) >= -1).float().mean()
