"""The loss stays finite, with finite gradients, at the edges of floating point.

Saturated relaxations, a relaxed point exactly on an anchor, extreme relaxation scales, half
precision (as tensors and under autocast) and float64, for the built-in metrics used as losses.
"""

import warnings

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import accuracy_score, average_precision_score, f1_score, roc_auc_score

import metricloss as ml
from metricloss.compiler.preimages import softmax_logit

BINARY = ["auc", "average_precision", "f1", "precision_at_k"]
MULTICLASS = ["accuracy", "topk_accuracy"]
METRICS = BINARY + MULTICLASS + ["pckh"]
CLASSES = 5
POSE = (2, 2, 6, 6)  # heatmaps [N, J, H, W]


def get(name):
    return ml.get_metric(name, k=3) if name in ("topk_accuracy", "precision_at_k") else ml.get_metric(name)


def shape(name, n=16):
    return (n,) if name in BINARY else (n, CLASSES) if name in MULTICLASS else POSE


def targets(name, n=16):
    if name in BINARY:
        return (torch.arange(n) % 3 == 0).long(),  # a third positive, both classes present
    if name in MULTICLASS:
        return torch.randint(0, CLASSES, (n,), generator=torch.Generator().manual_seed(7)),
    joints = torch.tensor([[[1.0, 2.0], [3.0, 4.0]], [[2.0, 2.0], [4.0, 1.0]]])  # (x, y) pixels
    return joints, torch.tensor([4.0, 4.0]), torch.ones(2, 2, dtype=torch.bool)


def random_scores(name, dtype=torch.float32, seed=1):
    return torch.randn(shape(name), generator=torch.Generator().manual_seed(seed)).to(dtype)


def separated_scores(name, gap=1e4):
    """Distinct scores, every two (and every score and 0) at least ``gap`` apart, in a random order."""
    size = int(np.prod(shape(name)))
    order = torch.randperm(size, generator=torch.Generator().manual_seed(3)).double()
    return ((order - size / 2 + 0.5) * gap).float().reshape(shape(name))


def perfect_scores(name, gap=1e4):
    """Scores at which the metric is at its best, every binary decided by ``gap``."""
    if name in BINARY:
        labels, = targets(name)
        # positives above 0 above negatives; within a class distinct too (for the sorted
        # metrics' comparisons), all ``gap`` apart
        count = labels.numel()
        return ((labels.float() * 2 - 1) * (count + 1) + torch.arange(count)) * gap
    if name in MULTICLASS:
        labels, = targets(name)
        return torch.nn.functional.one_hot(labels, CLASSES).float() * gap
    joints, _, _ = targets(name)
    heatmaps = torch.zeros(POSE)
    for n in range(POSE[0]):
        for j in range(POSE[1]):
            x, y = joints[n, j].round().long().tolist()
            heatmaps[n, j, y, x] = gap  # one peak, at the pixel of the joint
    return heatmaps


def loss_and_grad(name, scores, **options):
    scores = scores.detach().clone().requires_grad_()
    loss_fn = ml.UniLoss(get(name), generator=torch.Generator().manual_seed(0), **options)
    loss = loss_fn(scores, *targets(name, scores.shape[0]))
    loss.backward()
    return loss_fn, loss, scores.grad


def assert_finite(loss, grad):
    assert torch.isfinite(loss).all(), loss
    assert grad is not None and torch.isfinite(grad).all(), grad


# --- saturated relaxations ----------------------------------------------------------------------


@pytest.mark.parametrize("name", METRICS)
def test_saturated_scores_warn_and_keep_a_finite_gradient(name):
    with pytest.warns(ml.SaturationWarning):
        loss_fn, loss, grad = loss_and_grad(name, separated_scores(name, gap=1e4))
    assert loss_fn.saturated_batches == 1 and loss_fn.last.saturated == 1.0
    assert loss.item() > 0
    assert_finite(loss, grad)
    assert not grad.any()  # every relaxed binary at +-1: nothing moves, which is what the warning says


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float64])
def test_saturated_scores_in_other_dtypes_warn_and_stay_finite(dtype):
    with pytest.warns(ml.SaturationWarning):
        loss_fn, loss, grad = loss_and_grad("auc", separated_scores("auc", gap=1e4).to(dtype))
    assert grad.dtype == dtype
    assert_finite(loss, grad)


# --- a relaxed point exactly on an anchor -------------------------------------------------------

INTERPOLATORS = [ml.inverse_distance(), ml.inverse_distance(power=8.0), ml.nearest(k=32), ml.gaussian_kernel(),
                 ml.gaussian_kernel(bandwidth=0.1)]


@pytest.mark.parametrize("interpolator", INTERPOLATORS, ids=lambda i: f"{i.name}{i.params}")
@pytest.mark.parametrize("name", METRICS)
def test_relaxed_point_on_the_ideal_anchor_is_finite(name, interpolator):
    # Scores so far apart that tanh(d / 2) is exactly +-1: the relaxed binaries are b* itself,
    # at distance 0 from the ideal anchors.
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a loss of 0 is not a saturated batch
        loss_fn, loss, grad = loss_and_grad(name, perfect_scores(name, gap=1e4), interpolator=interpolator)
    assert loss_fn.last.saturated == 1.0
    assert_finite(loss, grad)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)
    assert float(loss_fn.last.value) == float(loss_fn.last.ideal_value)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", METRICS)
def test_half_precision_point_on_the_ideal_anchor_is_finite(name, dtype):
    # float16 has no 1e-8 (the interpolator's eps): a distance of 0 must not weigh 1/0.
    loss_fn, loss, grad = loss_and_grad(name, perfect_scores(name, gap=100.0).to(dtype))
    assert loss_fn.last.saturated == 1.0
    assert_finite(loss, grad)
    assert grad.dtype == dtype and loss.item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("relaxation", [ml.sigmoid(tau=1e-6), ml.linear(width=1e-6), ml.gaussian_cdf(sigma=1e-6)],
                         ids=lambda r: r.name)
@pytest.mark.parametrize("name", METRICS)
def test_tiny_scale_puts_ordinary_perfect_scores_on_the_ideal_anchor(name, relaxation):
    loss_fn, loss, grad = loss_and_grad(name, perfect_scores(name, gap=1.0), relaxation=relaxation)
    assert loss_fn.last.saturated == 1.0
    assert_finite(loss, grad)
    assert loss.item() == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
@pytest.mark.parametrize("interpolator", INTERPOLATORS + [ml.inverse_distance(power=50.0, eps=1e-30)],
                         ids=lambda i: f"{i.name}{i.params}")
def test_interpolators_are_exact_and_finite_at_distance_zero(interpolator, dtype):
    distances = torch.tensor([0.0, 0.0, 4.0, 8.0, 16.0], dtype=dtype, requires_grad=True)
    values = torch.tensor([0.75, 0.75, 0.0, 1.0, 0.5])
    estimate = interpolator(distances, values)
    estimate.backward()
    assert torch.isfinite(estimate) and estimate.item() == pytest.approx(0.75, abs=1e-6)
    assert distances.grad.dtype == dtype and torch.isfinite(distances.grad).all()


def test_interpolators_keep_large_powers_finite_off_the_anchors():
    distances = torch.tensor([1e-6, 1.0, 4.0], requires_grad=True)
    estimate = ml.inverse_distance(power=40.0)(distances, torch.tensor([1.0, 0.0, 0.5]))
    estimate.backward()
    assert estimate.item() == pytest.approx(1.0) and torch.isfinite(distances.grad).all()


# --- extreme relaxation scales ------------------------------------------------------------------

RELAXATIONS = [ml.sigmoid, ml.linear, ml.gaussian_cdf]


@pytest.mark.parametrize("scale", [1e-6, 1e6])
@pytest.mark.parametrize("factory", RELAXATIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("name", METRICS)
def test_extreme_relaxation_scales_give_finite_losses_and_gradients(name, factory, scale):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.SaturationWarning)  # expected at 1e-6
        loss_fn, loss, grad = loss_and_grad(name, random_scores(name), relaxation=factory(scale))
    assert_finite(loss, grad)
    if scale > 1:  # every comparison undecided: the gradient is small but there
        assert grad.abs().max() > 0 and loss_fn.last.saturated == 0.0


@pytest.mark.parametrize("factory", RELAXATIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("name", ["auc", "accuracy", "precision_at_k"])
def test_tiny_scale_with_tied_scores_stays_finite(name, factory):
    # Ties give d = 0 exactly, where the relaxation's slope is 1 / scale: large, not infinite.
    scores = random_scores(name)
    scores = (scores * 2).round() / 2  # many ties
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ml.SaturationWarning)
        _, loss, grad = loss_and_grad(name, scores, relaxation=factory(1e-6))
    assert_finite(loss, grad)


@pytest.mark.parametrize("factory", RELAXATIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("scale", [1e-6, 1.0, 1e6])
@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_relaxations_map_extreme_differences_into_the_closed_interval(factory, scale, dtype):
    finfo = torch.finfo(dtype)
    d = torch.tensor([-finfo.max, -1e4, -1.0, -finfo.tiny, 0.0, finfo.tiny, 1.0, 1e4, finfo.max],
                     dtype=dtype, requires_grad=True)
    relaxed = factory(scale)(d)
    relaxed.sum().backward()
    assert relaxed.dtype == torch.promote_types(dtype, torch.float32)  # halves are relaxed in float32
    assert torch.isfinite(relaxed).all() and (relaxed.abs() <= 1).all()
    assert (relaxed.diff() >= 0).all() and relaxed[0] < 0 < relaxed[-1] and relaxed[4] == 0
    assert d.grad.dtype == dtype and not d.grad.isnan().any() and (d.grad >= 0).all()
    if 1 / scale < finfo.max:  # the steepest slope, at d = 0, is about 1 / scale
        assert torch.isfinite(d.grad).all()


# --- half precision -----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", METRICS)
def test_half_precision_scores_give_finite_float32_losses_and_gradients_of_their_dtype(name, dtype):
    scores = random_scores(name, dtype)
    loss_fn, loss, grad = loss_and_grad(name, scores)
    assert_finite(loss, grad)
    assert grad.dtype == dtype and grad.abs().max() > 0
    assert loss.dtype == torch.float32
    exact = get(name)(scores, *targets(name))
    assert float(loss_fn.last.value) == float(exact) == float(get(name)(scores.float(), *targets(name)))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
@pytest.mark.parametrize("name", METRICS)
def test_autocast_gives_finite_losses_and_gradients_and_the_exact_value(name, dtype):
    torch.manual_seed(0)
    features = torch.randn(shape(name)[0], 8)
    model = torch.nn.Linear(8, int(np.prod(shape(name)[1:])))
    loss_fn = ml.UniLoss(get(name), generator=torch.Generator().manual_seed(0))
    with torch.autocast("cpu", dtype=dtype):
        scores = model(features).reshape(shape(name))
        assert scores.dtype == dtype  # the network's output is in half precision
        loss = loss_fn(scores, *targets(name))
        inside = get(name)(scores, *targets(name))
    loss.backward()
    assert torch.isfinite(loss) and loss.dtype == torch.float32
    assert all(p.grad.dtype == torch.float32 and torch.isfinite(p.grad).all() for p in model.parameters())
    assert model.weight.grad.abs().max() > 0
    exact = get(name)(scores.detach().float(), *targets(name))
    assert float(loss_fn.last.value) == float(inside) == float(exact)


def test_float16_distances_over_many_binaries_do_not_overflow():
    # 400 x 800 pairs: |x - a|^2 sums 320000 terms, far past float16's largest number, 65504.
    loss_fn, loss, grad = loss_and_grad("auc", torch.randn(1200, generator=torch.Generator().manual_seed(0)).half())
    assert loss_fn.last.binaries == 320000
    assert_finite(loss, grad)
    assert grad.dtype == torch.float16


@pytest.mark.parametrize("name", ["auc", "accuracy", "pckh"])
def test_autocast_does_not_change_the_loss(name):
    # Inside autocast the dense anchors' product would run in bfloat16; the loss opts out of it.
    scores = random_scores(name, torch.bfloat16)
    outside, _, grad_outside = loss_and_grad(name, scores)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        inside, _, grad_inside = loss_and_grad(name, scores)
    assert torch.equal(inside.last.estimate, outside.last.estimate)
    assert torch.equal(grad_inside, grad_outside)


def test_bfloat16_auc_on_a_large_batch_is_the_tie_aware_exact_value():
    # bfloat16 keeps 8 bits: 4000 normal scores take about 1300 values, so ties are everywhere.
    generator = torch.Generator().manual_seed(3)
    labels = (torch.rand(4000, generator=generator) < 0.3).long()
    scores = torch.randn(4000, generator=generator).bfloat16().requires_grad_()
    assert scores.unique().numel() < 2000
    reference = roc_auc_score(labels.numpy(), scores.detach().double().numpy())
    loss_fn = ml.UniLoss("auc", generator=torch.Generator().manual_seed(0))
    loss = loss_fn(scores, labels)
    loss.backward()
    assert torch.isfinite(loss) and scores.grad.dtype == torch.bfloat16 and torch.isfinite(scores.grad).all()
    assert float(loss_fn.last.value) == pytest.approx(reference, abs=1e-6)
    assert float(ml.get_metric("auc")(scores.detach(), labels)) == pytest.approx(reference, abs=1e-6)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_values_match_scikit_learn_with_ties(dtype):
    generator = torch.Generator().manual_seed(4)
    labels = (torch.rand(600, generator=generator) < 0.4).long()
    scores = (torch.randn(600, generator=generator) * 3).round().to(dtype)  # heavy ties, and zeros
    as_float = scores.double().numpy()
    assert float(ml.get_metric("auc")(scores, labels)) == pytest.approx(roc_auc_score(labels, as_float), abs=1e-6)
    assert float(ml.get_metric("average_precision")(scores, labels)) == pytest.approx(
        average_precision_score(labels, as_float), abs=1e-6)
    assert float(ml.get_metric("f1")(scores, labels)) == pytest.approx(f1_score(labels, as_float > 0), abs=1e-6)
    classes = torch.randint(0, CLASSES, (600,), generator=generator)
    logits = (torch.randn(600, CLASSES, generator=generator) * 2).round().to(dtype)  # tied maxima
    predicted = logits.double().numpy().argmax(1)  # numpy's argmax takes the first maximum, as torch's
    assert float(ml.get_metric("accuracy")(logits, classes)) == pytest.approx(
        accuracy_score(classes, predicted), abs=1e-6)


# --- float64 ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", METRICS)
def test_float64_scores_give_float64_losses_and_gradients_that_agree_with_float32(name):
    scores = random_scores(name)
    loss_fn64, loss64, grad64 = loss_and_grad(name, scores.double())
    loss_fn32, loss32, grad32 = loss_and_grad(name, scores)
    assert loss64.dtype == grad64.dtype == loss_fn64.last.estimate.dtype == torch.float64
    assert loss32.dtype == grad32.dtype == torch.float32
    assert_finite(loss64, grad64)
    assert float(loss_fn64.last.value) == float(loss_fn32.last.value)
    assert loss64.item() == pytest.approx(loss32.item(), abs=1e-5)
    torch.testing.assert_close(grad64, grad32.double(), atol=1e-5, rtol=1e-4)


# --- gradcheck ----------------------------------------------------------------------------------


@pytest.mark.parametrize("name, sizes", [("f1", None), ("accuracy", None), ("auc", ml.Sizes(dense=0))],
                         ids=["f1", "accuracy", "auc-statistics"])
def test_gradcheck_in_float64(name, sizes):
    # Scores 0.3 apart at least (and from the threshold 0): the perturbation of gradcheck changes
    # no hard binary, so the ideal and the anchors stay the same when the generator is reset.
    count = int(np.prod(shape(name, 8)))
    order = torch.randperm(count, generator=torch.Generator().manual_seed(5)).double()
    scores = ((order - count / 2 + 0.5) * 0.3).reshape(shape(name, 8)).requires_grad_()
    generator = torch.Generator().manual_seed(0)
    loss_fn = ml.UniLoss(get(name), generator=generator, sizes=sizes)

    def loss_at(s):
        generator.manual_seed(0)
        return loss_fn(s, *targets(name, 8))

    assert torch.autograd.gradcheck(loss_at, (scores,), eps=1e-6, atol=1e-6, rtol=1e-4)
    if sizes is not None:
        assert loss_fn.last.path == "statistics"


@settings(max_examples=200, deadline=None)
@given(st.lists(st.lists(st.one_of(st.integers(-3, 3).map(float), st.floats(-1e4, 1e4, width=32)),
                         min_size=1, max_size=6).filter(lambda row: len(row) > 0), min_size=1, max_size=4)
       .filter(lambda rows: len({len(r) for r in rows}) == 1), st.integers(0, 1))
def test_softmax_preimage_is_each_entry_minus_the_log_sum_exp_of_the_others(rows, dim):
    """The O(C) pre-image of softmax entries equals its definition written over every pair, for
    dominant entries (differences up to 2e4), ties at the maximum and single classes."""
    values = torch.tensor(rows, dtype=torch.float32)
    moved = values.movedim(dim, -1).double()
    size = moved.shape[-1]
    others = moved.unsqueeze(-2).expand(*moved.shape[:-1], size, size)
    rest = others.masked_fill(torch.eye(size, dtype=torch.bool), float("-inf")).logsumexp(-1)
    expected = (moved - rest).movedim(-1, dim)
    got = softmax_logit(values, dim)
    assert got.dtype == torch.float32
    finite = torch.isfinite(expected)
    assert torch.equal(torch.isfinite(got), finite)
    assert torch.allclose(got[finite].double(), expected[finite], rtol=1e-6, atol=1e-5)
