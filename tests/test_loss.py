"""UniLoss: zero at the ideal, exact gradients by autograd, deterministic under a seed."""

import pytest
import torch

import metricloss as ml
from strategies import seeded_binary_batch


@pytest.mark.parametrize("name", ["auc", "average_precision"])
def test_loss_is_zero_at_the_ideal(name):
    labels = torch.tensor([1, 0, 1, 0, 0, 1])
    # A perfect, tie-free ranking with gaps wide enough to saturate the relaxation.
    scores = (labels.float() * 2 - 1) * 1000 + torch.arange(6.0) * 50
    loss = ml.UniLoss(name)(scores, labels)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


def test_accuracy_loss_is_zero_at_the_ideal_and_positive_elsewhere():
    labels = torch.tensor([2, 0, 1])
    perfect = torch.nn.functional.one_hot(labels, 3).float() * 100
    assert ml.UniLoss("accuracy", seed=0)(perfect, labels).item() == pytest.approx(0.0, abs=1e-6)
    with pytest.warns(ml.SaturationWarning):  # logits of 100: the relaxation is flat there
        assert ml.UniLoss("accuracy", seed=0)(-perfect, labels).item() > 0.1


@pytest.mark.parametrize("name", ["auc", "average_precision"])
def test_gradient_raises_positives_and_lowers_negatives(name):
    scores, labels = seeded_binary_batch()
    ml.UniLoss(name, generator=torch.Generator().manual_seed(0))(scores, labels).backward()
    assert torch.isfinite(scores.grad).all()
    assert scores.grad[labels == 1].mean() < 0 < scores.grad[labels == 0].mean()


def test_gradient_matches_finite_differences():
    scores, labels = seeded_binary_batch(n=12)
    scores = scores.detach().double().requires_grad_()
    loss_fn = ml.UniLoss("auc", generator=torch.Generator().manual_seed(3))

    def loss_at(s):
        loss_fn.generator.manual_seed(3)
        return loss_fn(s, labels)

    assert torch.autograd.gradcheck(loss_at, (scores,), eps=1e-6, atol=1e-5)


def test_same_seed_same_loss_and_gradient():
    results = []
    for _ in range(2):
        scores, labels = seeded_binary_batch(seed=5)
        loss = ml.UniLoss("average_precision", generator=torch.Generator().manual_seed(11))(scores, labels)
        loss.backward()
        results.append((loss.detach(), scores.grad.clone()))
    assert torch.equal(results[0][0], results[1][0])
    assert torch.equal(results[0][1], results[1][1])


def test_anchors_are_resampled_every_call():
    scores, labels = seeded_binary_batch(seed=2)
    loss_fn = ml.UniLoss("auc", generator=torch.Generator().manual_seed(0))
    assert loss_fn(scores, labels).item() != loss_fn(scores, labels).item()


def test_terms_report_the_metric_and_the_anchor_count():
    scores, labels = seeded_binary_batch()
    loss_fn = ml.UniLoss("auc")
    loss_fn(scores, labels)
    terms = loss_fn.last
    assert terms.value.item() == pytest.approx(ml.get_metric("auc")(scores, labels).item())
    assert terms.ideal_value.item() == 1.0
    assert terms.anchors == 64
    positives = int(labels.sum())
    assert terms.binaries == positives * (len(labels) - positives)


def test_parts_are_injected_by_keyword():
    scores, labels = seeded_binary_batch()
    loss_fn = ml.UniLoss(
        "auc",
        relaxation=ml.sigmoid(tau=0.5),
        samplers=[ml.ideal(4), ml.good(8, flips=3), ml.nearby(2), ml.random(5)],
        interpolator=ml.inverse_distance(power=2.0),
    )
    loss_fn(scores, labels).backward()
    assert loss_fn.last.anchors == 19
    assert "sigmoid{'tau': 0.5}" in repr(loss_fn) and "good(count=8, flips=3)" in repr(loss_fn)


def test_the_relaxation_and_the_interpolator_can_be_set_between_steps():
    # a schedule of tau is an assignment in the loop: the next call is the loss built with the new
    # parts, names resolve as in the constructor, wrong values say what is expected, pickles keep them
    import pickle

    scores, labels = seeded_binary_batch()
    built = ml.UniLoss("auc", seed=0, relaxation=ml.sigmoid(tau=0.3), interpolator=ml.inverse_distance(power=2.0))
    changed = ml.UniLoss("auc", seed=0)
    changed.relaxation, changed.interpolator = ml.sigmoid(tau=0.3), ml.inverse_distance(power=2.0)
    results = []
    for loss_fn in (built, changed):
        leaf = scores.detach().clone().requires_grad_()
        loss = loss_fn(leaf, labels)
        loss.backward()
        results.append((loss.detach(), leaf.grad))
    assert torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1])
    changed.relaxation = "gaussian_cdf"
    assert changed.relaxation.name == "gaussian_cdf"
    with pytest.raises(ml.InputError, match=r"relaxation must be a Relaxation .*call the factory: `sigmoid\(\)`"):
        changed.relaxation = ml.sigmoid
    with pytest.raises(ml.InputError, match="interpolator must be a Interpolator .* got int 3"):
        changed.interpolator = 3
    changed.relaxation = ml.sigmoid(tau=0.25)
    assert pickle.loads(pickle.dumps(changed)).relaxation.params == {"tau": 0.25}


def test_good_anchors_flip_distinct_bits():
    from metricloss.loss.samplers import distinct_indices

    chosen = distinct_indices(500, 5, 7, torch.Generator().manual_seed(0), "cpu")
    assert all(len(set(row)) == 5 for row in chosen.tolist())
    assert chosen.min() >= 0 and chosen.max() < 7


def test_sparse_distances_equal_dense_ones():
    from metricloss.loss.anchors import FlipAnchors, signs

    generator = torch.Generator().manual_seed(0)
    base = torch.rand(50, generator=generator) < 0.5
    flips = torch.stack([torch.randperm(50, generator=generator)[:3] for _ in range(6)])
    anchors = FlipAnchors(base, flips)
    relaxed = torch.rand(50, generator=generator) * 2 - 1
    dense = signs(anchors.configurations(0, 6))
    torch.testing.assert_close(anchors.squared_distances(relaxed), (relaxed - dense).square().sum(1))


@pytest.mark.parametrize("chunk", [1 << 24, 64])
def test_dense_distances_and_their_gradient_equal_the_definition(chunk):
    """In column chunks under checkpointing (chunk 64) as in one product: same values, same gradient."""
    from metricloss.loss.anchors import DenseAnchors, signs

    sizes = ml.Sizes(distance_chunk=chunk, checkpoint=0 if chunk == 64 else 1 << 24)
    generator = torch.Generator().manual_seed(0)
    points = torch.rand(5, 301, generator=generator) < 0.5
    weights = torch.rand(5, generator=generator)
    relaxed = (torch.rand(301, generator=generator) * 2 - 1).requires_grad_()
    anchors = DenseAnchors(points, sizes=sizes)
    (anchors_grad,) = torch.autograd.grad((anchors.squared_distances(relaxed) * weights).sum(), relaxed)
    direct = (relaxed - signs(points)).square().sum(1)
    (direct_grad,) = torch.autograd.grad((direct * weights).sum(), relaxed)
    torch.testing.assert_close(anchors.squared_distances(relaxed), direct)
    torch.testing.assert_close(anchors_grad, direct_grad)


def test_random_bits_are_fair_and_fill_every_chunk():
    from metricloss.loss.samplers import random_bits

    bits = random_bits(3, 1001, torch.Generator().manual_seed(0), torch.device("cpu"), ml.Sizes(random_chunk=48))
    assert bits.shape == (3, 1001) and bits.dtype == torch.bool
    # Each 16-column chunk is drawn on its own; a chunk left unfilled would read as constant.
    chunks = bits[:, :992].reshape(3, -1, 16).float().mean((0, 2))
    assert 0.4 < bits.float().mean() < 0.6 and bool((chunks > 0).all() & (chunks < 1).all())


def test_nearby_anchors_flip_only_bits_that_disagree_with_the_ideal():
    from metricloss.loss.samplers import SamplingContext, nearby

    generator = torch.Generator().manual_seed(0)
    ideal = torch.ones(5000, dtype=torch.bool)
    current = ideal.clone()
    current[[7, 4000]] = False
    anchors = nearby(64)(SamplingContext(ideal=ideal, current=current, generator=generator))
    assert set(anchors.flips.flatten().tolist()) == {7, 4000}
    assert bool((anchors.base == current).all())


def test_nearby_anchors_draw_every_disagreeing_bit_alike():
    from metricloss.loss.samplers import SamplingContext, nearby

    generator = torch.Generator().manual_seed(1)
    ideal = torch.zeros(100_000, dtype=torch.bool)
    disagree = torch.randperm(100_000, generator=generator)[:50]
    current = ideal.clone()
    current[disagree] = True
    flips = nearby(20_000)(SamplingContext(ideal=ideal, current=current, generator=generator)).flips.flatten()
    counts = torch.bincount(flips, minlength=100_000)
    assert set(flips.unique().tolist()) == set(disagree.tolist())  # each of them, and nothing else
    assert 250 <= int(counts[disagree].min()) and int(counts[disagree].max()) <= 560  # 400 each, +-7 sd


def test_lower_is_better_metric_gives_a_loss_that_falls_with_the_metric():
    @ml.metric(best=0.0, higher_is_better=False, name="inversions")
    def inversions(scores, labels):
        return (scores[labels == 0][None, :] > scores[labels == 1][:, None]).float().mean()

    labels = torch.tensor([1, 0, 1, 0])
    good = torch.tensor([3.0, -3.0, 3.0, -3.0])
    assert ml.UniLoss(inversions, seed=0)(good, labels).item() < ml.UniLoss(inversions, seed=0)(-good, labels).item()


def test_undefined_batch_gives_zero_loss_no_gradient_and_one_warning():
    loss_fn = ml.UniLoss("auc")
    scores = torch.randn(8, requires_grad=True)
    with pytest.warns(ml.UndefinedBatchWarning, match="undefined on a batch") as caught:
        first = loss_fn(scores, torch.zeros(8, dtype=torch.long))
        second = loss_fn(scores, torch.ones(8, dtype=torch.long))
    assert len(caught) == 1
    assert first.item() == 0.0 and second.item() == 0.0
    (first + second).backward()
    assert torch.equal(scores.grad, torch.zeros(8))
    assert loss_fn.undefined_batches == 2


def test_undefined_batch_can_raise():
    loss_fn = ml.UniLoss("auc", undefined="raise")
    with pytest.raises(ml.InputError, match="undefined on this batch"):
        loss_fn(torch.randn(8), torch.zeros(8, dtype=torch.long))


def test_empty_batch_is_undefined_not_a_crash():
    loss_fn = ml.UniLoss("average_precision", undefined="raise")
    with pytest.raises(ml.InputError, match="undefined on this batch"):
        loss_fn(torch.randn(0), torch.zeros(0, dtype=torch.long))


def test_unknown_undefined_policy():
    with pytest.raises(ValueError, match="undefined must be one of"):
        ml.UniLoss("auc", undefined="skip")


@pytest.mark.cuda
def test_generator_on_another_device_follows_the_scores():
    scores, labels = seeded_binary_batch()
    loss_fn = ml.UniLoss("auc", generator=torch.Generator(device="cuda").manual_seed(0))
    assert torch.isfinite(loss_fn(scores, labels)) and loss_fn.generator.device.type == "cpu"


@pytest.mark.cuda
def test_loss_runs_on_cuda():
    scores, labels = seeded_binary_batch()
    scores = scores.detach().cuda().requires_grad_()
    loss = ml.UniLoss("auc", generator=torch.Generator(device="cuda").manual_seed(0))(scores, labels.cuda())
    loss.backward()
    assert loss.device.type == "cuda" and torch.isfinite(scores.grad).all()


@pytest.mark.parametrize("selection", [ml.hardest(0.25), ml.random_fraction(0.25)])
def test_selection_relaxes_a_fraction_and_holds_the_rest(selection):
    scores = torch.randn(16, 10, generator=torch.Generator().manual_seed(0), requires_grad=True)
    labels = torch.randint(10, (16,), generator=torch.Generator().manual_seed(1))
    loss_fn = ml.UniLoss("accuracy", selection=selection, generator=torch.Generator().manual_seed(0))
    loss_fn(scores, labels).backward()
    assert torch.isfinite(scores.grad).all()
    # Only the chosen comparisons carry gradient: at most 25% of the 16 * 9 binaries touch a rival.
    rival_grads = scores.grad.clone()
    rival_grads[torch.arange(16), labels] = 0
    assert 0 < int((rival_grads != 0).sum()) <= 36


def test_hardest_selection_picks_the_smallest_margins():
    chosen = ml.hardest(0.5)(torch.tensor([3.0, -1.0, 0.5, -2.0]), torch.tensor([True, True, False, False]), None)
    # margins toward the ideal: 3, -1, -0.5, 2 -> the two smallest are binaries 1 and 2
    assert chosen.tolist() == [1, 2]


def test_selection_fraction_is_checked():
    with pytest.raises(ValueError, match=r"hardest: fraction must be in \(0, 1\], got 0"):
        ml.hardest(0)


BINARY_METRICS = ["auc", "average_precision", "f1", "fbeta", "precision", "recall", "mcc", "iou",
                  "balanced_accuracy", "precision_at_k", "recall_at_k"]


@pytest.mark.parametrize("name", BINARY_METRICS)
@pytest.mark.parametrize("n", [5, 64])
def test_every_binary_metric_has_a_non_negative_loss_that_vanishes_at_perfect_scores(name, n):
    generator = torch.Generator().manual_seed(n)
    labels = (torch.rand(n, generator=generator) < 0.3).long()
    labels[:2] = torch.tensor([1, 0])
    loss_fn = ml.UniLoss(name, generator=torch.Generator().manual_seed(0))
    assert loss_fn(torch.randn(n, generator=generator), labels).item() >= -1e-6
    if loss_fn.metric.best is not None:
        assert loss_fn.last.ideal_value.item() == pytest.approx(loss_fn.metric.best)
    # Positives far above zero and negatives far below, 20 apart within each: every relaxed
    # comparison saturates.
    perfect = (labels.float() * 2 - 1) * 1e5 + torch.arange(n) * 20.0
    assert loss_fn(perfect, labels).item() == pytest.approx(0.0, abs=1e-5)


@pytest.mark.parametrize("name", ["accuracy", "topk_accuracy", "iou_macro"])
@pytest.mark.parametrize("classes", [2, 5, 10])
def test_every_multiclass_metric_has_a_non_negative_loss_that_vanishes_at_perfect_scores(name, classes):
    generator = torch.Generator().manual_seed(classes)
    labels = torch.randint(0, classes, (33,), generator=generator)
    loss_fn = ml.UniLoss(name, generator=torch.Generator().manual_seed(0))
    assert loss_fn(torch.randn(33, classes, generator=generator), labels).item() >= -1e-6
    assert loss_fn.last.ideal_value.item() == pytest.approx(1.0)
    perfect = torch.nn.functional.one_hot(labels, classes).float() * 1000 + torch.arange(classes) * 20.0
    assert loss_fn(perfect, labels).item() == pytest.approx(0.0, abs=1e-5)


def _pose_batch(generator):
    heatmaps = torch.randn(2, 3, 12, 12, generator=generator)
    joints = torch.rand(2, 3, 2, generator=generator) * 10 + 1
    return heatmaps, (joints, torch.tensor([6.0, 8.0]), torch.ones(2, 3, dtype=torch.bool))


@pytest.mark.parametrize("name", ["average_precision", "accuracy", "pckh", "auc"])
def test_the_loss_is_the_same_whichever_path_evaluates_the_anchors(name):
    """Dense (one set, small problems) and sparse/chunked (large ones, dead binaries completed
    per anchor set): the same anchors, so the same loss and gradient."""
    generator = torch.Generator().manual_seed(5)
    if name == "pckh":
        scores, targets = _pose_batch(generator)
    elif name == "accuracy":
        scores, targets = torch.randn(40, 6, generator=generator), (torch.randint(0, 6, (40,), generator=generator),)
    else:
        scores, targets = seeded_binary_batch(seed=5, n=60)
        scores, targets = scores.detach(), (targets,)

    def loss_and_gradient(sizes, path):
        leaf = scores.clone().requires_grad_()
        loss_fn = ml.UniLoss(name, generator=torch.Generator().manual_seed(3), sizes=sizes)
        loss = loss_fn(leaf, *targets)
        loss.backward()
        assert loss_fn.last.path in path
        return loss.detach(), leaf.grad

    dense = loss_and_gradient(ml.Sizes(), {"dense"})
    large = ml.Sizes(dense=0, g_chunk=500)  # several chunks of anchors for g
    torch.testing.assert_close(loss_and_gradient(large, {"statistics", "rows", "chunked"}), dense, rtol=1e-5, atol=1e-6)


def test_a_margin_keeps_pushing_a_perfectly_ranked_batch_apart():
    scores = torch.tensor([0.3, 0.2, -0.2, -0.3], requires_grad=True)  # ranked, by thin margins
    labels = torch.tensor([1, 1, 0, 0])
    plain = ml.UniLoss("auc", generator=torch.Generator().manual_seed(0))(scores, labels)
    pushed = ml.UniLoss("auc", margin=2.0, generator=torch.Generator().manual_seed(0))(scores, labels)
    pushed.backward()
    assert float(pushed.detach()) > float(plain.detach()) >= 0
    # positives up, negatives down. (Not "harder than without the margin": over 40 seeds of the
    # anchors, the gradient's size with the margin exceeds the plain one's in only about a quarter.)
    assert (scores.grad[:2] < 0).all() and (scores.grad[2:] > 0).all()


def test_margin_zero_is_the_loss_without_one():
    scores, labels = torch.randn(12, generator=torch.Generator().manual_seed(3)), torch.tensor([1, 0] * 6)
    one = ml.UniLoss("average_precision", generator=torch.Generator().manual_seed(0))(scores, labels)
    two = ml.UniLoss("average_precision", margin=0.0, generator=torch.Generator().manual_seed(0))(scores, labels)
    assert float(one) == float(two)


@pytest.mark.parametrize("margin", [-1.0, float("nan"), float("inf"), "1"])
def test_a_bad_margin_says_what_it_is(margin):
    with pytest.raises(ml.InputError, match=r"margin must be a finite number >= 0"):
        ml.UniLoss("auc", margin=margin)


def test_saturated_scores_say_that_the_gradient_is_zero():
    scores = (torch.tensor([1.0, -1.0, 0.5, -0.5, 2.0, -2.0]) * 1e4).requires_grad_()
    labels = torch.tensor([0, 1, 0, 1, 0, 1])  # ranked the wrong way round, by far
    loss_fn = ml.UniLoss("auc", generator=torch.Generator().manual_seed(0))
    with pytest.warns(ml.SaturationWarning, match=r"every relaxed comparison of a batch is saturated .*"
                                                  r"median \|d\| is 2\.5e\+04.*relaxation=ml\.sigmoid\(tau=\.\.\.\)") as caught:
        loss = loss_fn(scores, labels)
    assert caught[0].filename.endswith("test_loss.py")  # points at the caller, not into torch
    loss.backward()
    assert float(loss.detach()) > 0 and float(scores.grad.abs().sum()) == 0 and loss_fn.saturated_batches == 1
    # the same scores at a scale the relaxation sees train again
    ml.UniLoss("auc", relaxation=ml.sigmoid(tau=1e4), generator=torch.Generator().manual_seed(0))(
        scores.detach().requires_grad_(), labels)


def test_a_saturated_batch_at_its_ideal_is_not_a_problem():
    scores = (torch.tensor([1.0, -1.0, 0.5, -0.5]) * 1e4).requires_grad_()
    loss_fn = ml.UniLoss("auc", generator=torch.Generator().manual_seed(0))
    loss = loss_fn(scores, torch.tensor([1, 0, 1, 0]))  # no warning: perfect, nothing to move
    assert float(loss.detach()) == pytest.approx(0.0, abs=1e-6) and loss_fn.saturated_batches == 0
