"""The loss's replaceable parts: relaxations, interpolators and the element-nearby sampler."""

import itertools

import pytest
import torch

import metricloss as ml
from metricloss.loss.anchors import DenseAnchors
from metricloss.loss.interpolators import gaussian_kernel, inverse_distance, nearest
from metricloss.loss.relaxations import gaussian_cdf, linear, sigmoid
from metricloss.loss.samplers import SamplingContext, element_nearby
from strategies import seeded_binary_batch

RELAXATIONS = [sigmoid(), sigmoid(tau=0.3), linear(), linear(width=2.5), gaussian_cdf(), gaussian_cdf(sigma=0.2)]
INTERPOLATORS = [inverse_distance(), inverse_distance(power=2.0), gaussian_kernel(), gaussian_kernel(bandwidth=3.0),
                 nearest(), nearest(k=2, power=2.0)]


def _name(part):
    return f"{part.name}{part.params}"


# -- relaxations ---------------------------------------------------------------------------------

GRID = torch.linspace(-50, 50, 2001, dtype=torch.float64)


@pytest.mark.parametrize("relax", RELAXATIONS, ids=_name)
def test_relaxation_is_zero_at_zero_odd_bounded_and_monotone(relax):
    assert relax(torch.zeros(1)).item() == 0.0
    values = relax(GRID)
    torch.testing.assert_close(relax(-GRID), -values)
    assert values.min() >= -1 and values.max() <= 1
    assert (values.diff() >= 0).all()
    assert values[-1] > 0.99 and values[0] < -0.99


@pytest.mark.parametrize("relax", RELAXATIONS, ids=_name)
def test_relaxation_gradient_is_finite(relax):
    d = torch.cat([GRID, torch.tensor([0.0, 1e6, -1e6], dtype=torch.float64)]).requires_grad_()
    relax(d).sum().backward()
    assert torch.isfinite(d.grad).all() and (d.grad >= 0).all()


def test_sigmoid_is_twice_the_logistic_minus_one():
    tau = 0.7
    torch.testing.assert_close(sigmoid(tau)(GRID), 2 * torch.sigmoid(GRID / tau) - 1)


def test_linear_is_a_clamped_ramp_with_no_gradient_outside_its_band():
    d = torch.tensor([-3.0, -1.0, 0.5, 3.0], requires_grad=True)
    relaxed = linear(width=2.0)(d)
    assert relaxed.tolist() == [-1.0, -0.5, 0.25, 1.0]
    relaxed.sum().backward()
    assert d.grad.tolist() == [0.0, 0.5, 0.5, 0.0]


def test_gaussian_cdf_is_twice_the_normal_cdf_minus_one():
    sigma = 1.5
    normal = torch.distributions.Normal(torch.tensor(0.0, dtype=torch.float64), torch.tensor(1.0, dtype=torch.float64))
    torch.testing.assert_close(gaussian_cdf(sigma)(GRID), 2 * normal.cdf(GRID / sigma) - 1)


@pytest.mark.parametrize("factory, parameter", [(sigmoid, "tau"), (linear, "width"), (gaussian_cdf, "sigma")])
@pytest.mark.parametrize("bad", [0.0, -1.0, float("nan"), float("inf"), "1"])
def test_relaxation_parameters_must_be_positive(factory, parameter, bad):
    with pytest.raises(ValueError, match=f"{factory.__name__}: {parameter} must be a positive"):
        factory(bad)


# -- interpolators -------------------------------------------------------------------------------

def _anchors(seed=0, count=12):
    generator = torch.Generator().manual_seed(seed)
    squared = torch.rand(count, generator=generator, dtype=torch.float64) * 40 + 4
    values = torch.rand(count, generator=generator, dtype=torch.float64)
    return squared, values


EXACT = [i for i in INTERPOLATORS if i.name != "gaussian_kernel" or i.params["bandwidth"] is None]


@pytest.mark.parametrize("interpolate", EXACT, ids=_name)
def test_interpolator_is_exact_at_an_anchor(interpolate):
    squared, values = _anchors()
    for near in (0.0, 1e-12):
        squared[5] = near
        assert interpolate(squared, values).item() == pytest.approx(values[5].item(), abs=1e-5)


def test_fixed_bandwidth_is_exact_at_an_anchor_only_when_the_others_are_far():
    squared, values = _anchors()  # the other anchors are at squared distance >= 4
    squared[5] = 0.0
    assert gaussian_kernel(bandwidth=3.0)(squared, values).item() != pytest.approx(values[5].item(), abs=1e-3)
    assert gaussian_kernel(bandwidth=0.2)(squared, values).item() == pytest.approx(values[5].item(), abs=1e-6)


@pytest.mark.parametrize("interpolate", INTERPOLATORS, ids=_name)
@pytest.mark.parametrize("seed", range(5))
def test_interpolator_is_a_convex_combination(interpolate, seed):
    squared, values = _anchors(seed)
    estimate = interpolate(squared, values).item()
    assert values.min().item() - 1e-12 <= estimate <= values.max().item() + 1e-12


@pytest.mark.parametrize("interpolate", INTERPOLATORS, ids=_name)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_interpolator_gradient_is_finite_even_at_zero_distance(interpolate, dtype):
    squared, values = _anchors()
    for zero, near in itertools.product(([], [3], [3, 7]), (0.0, 1e-10)):
        at = squared.to(dtype).clone()
        at[zero] = near
        at.requires_grad_()
        interpolate(at, values.to(dtype)).backward()
        assert torch.isfinite(at.grad).all(), (zero, near)


@pytest.mark.parametrize("interpolate", [inverse_distance(), gaussian_kernel(bandwidth=4.0), gaussian_kernel(),
                                         nearest(k=4)], ids=_name)
def test_interpolator_gradient_matches_finite_differences(interpolate):
    squared, values = _anchors()
    squared.requires_grad_()
    assert torch.autograd.gradcheck(lambda s: interpolate(s, values), (squared,))


def test_interpolator_gradient_falls_toward_a_better_anchor():
    squared = torch.tensor([4.0, 9.0], requires_grad=True)
    for interpolate in INTERPOLATORS:
        squared.grad = None
        interpolate(squared, torch.tensor([1.0, 0.0])).backward()
        assert squared.grad[0] < 0 < squared.grad[1], interpolate


def test_gaussian_kernel_weights_are_the_gaussian_of_the_distance():
    squared, values = _anchors()
    h = 5.0
    weights = torch.exp(-squared / (2 * h * h))
    expected = (weights * values).sum() / weights.sum()
    torch.testing.assert_close(gaussian_kernel(bandwidth=h)(squared, values), expected)


def test_gaussian_kernel_bandwidth_moves_between_the_mean_and_the_nearest_anchor():
    squared, values = _anchors()
    wide = gaussian_kernel(bandwidth=1e6)(squared, values)
    narrow = gaussian_kernel(bandwidth=0.05)(squared, values)
    torch.testing.assert_close(wide, values.mean())
    torch.testing.assert_close(narrow, values[squared.argmin()])


def test_gaussian_kernel_is_stable_where_every_weight_underflows():
    squared = torch.tensor([1e5, 2e5, 3e5])
    values = torch.tensor([0.2, 0.5, 0.9])
    assert gaussian_kernel(bandwidth=1.0)(squared, values).item() == pytest.approx(0.2)


def test_gaussian_kernel_default_bandwidth_is_the_nearest_distance_and_scale_free():
    squared, values = _anchors()
    default = gaussian_kernel()
    for scale in (1e-3, 1.0, 1e4):
        torch.testing.assert_close(default(squared * scale, values), default(squared, values))
    nearest_squared = squared.min().item()
    torch.testing.assert_close(default(squared, values), gaussian_kernel(bandwidth=nearest_squared ** 0.5)(squared, values))


def test_nearest_uses_only_the_k_nearest_anchors():
    squared, values = _anchors()
    order = squared.argsort()
    estimate = nearest(k=3)(squared, values)
    changed = values.clone()
    changed[order[3:]] = torch.rand(len(order) - 3, dtype=torch.float64) + 5
    assert nearest(k=3)(squared, changed).item() == estimate.item()
    assert nearest(k=4)(squared, changed).item() != estimate.item()
    torch.testing.assert_close(estimate, inverse_distance()(squared[order[:3]], values[order[:3]]))


def test_nearest_with_more_k_than_anchors_is_inverse_distance():
    squared, values = _anchors(count=5)
    torch.testing.assert_close(nearest(k=50, power=2.0)(squared, values), inverse_distance(power=2.0)(squared, values))


def test_nearest_gradient_reaches_only_the_k_nearest():
    squared, values = _anchors()
    squared.requires_grad_()
    nearest(k=3)(squared, values).backward()
    far = squared.detach().argsort()[3:]
    assert (squared.grad[far] == 0).all() and (squared.grad != 0).sum() == 3


@pytest.mark.parametrize("make, message", [
    (lambda: gaussian_kernel(bandwidth=0.0), "gaussian_kernel: bandwidth"),
    (lambda: gaussian_kernel(bandwidth=-2.0), "gaussian_kernel: bandwidth"),
    (lambda: nearest(k=0), "nearest: k"),
    (lambda: nearest(k=2.5), "nearest: k"),
    (lambda: nearest(power=0.0), "nearest: power"),
    (lambda: nearest(eps=0.0), "nearest: eps"),
    (lambda: inverse_distance(power=-1.0), "inverse_distance: power"),
    (lambda: inverse_distance(eps=0.0), "inverse_distance: eps"),
])
def test_interpolator_parameters_are_checked(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# -- element-nearby anchors ----------------------------------------------------------------------

# Scores of 6 elements; elements 0, 1, 2 and 5 are compared pairwise (every ordered pair), each
# also against a threshold; elements 3 and 4 take part in no binary.
USED = [0, 1, 2, 5]
PAIRS = [(i, j) for i, j in itertools.permutations(USED, 2)] + [(i, -1) for i in USED]
LEFT = torch.tensor([i for i, _ in PAIRS])
RIGHT = torch.tensor([j for _, j in PAIRS])


def _context(seed=0, elements=(LEFT, RIGHT)):
    current = torch.rand(len(PAIRS), generator=torch.Generator().manual_seed(100)) < 0.5
    ideal = torch.ones(len(PAIRS), dtype=torch.bool)
    return SamplingContext(ideal, current, torch.Generator().manual_seed(seed), elements)


def _expected(current, element, top):
    """From the definition, one binary at a time."""
    row = current.clone()
    for k, (i, j) in enumerate(PAIRS):
        if i == element:
            row[k] = top
        elif j == element:
            row[k] = not top
    return row


@pytest.mark.parametrize("direction", ["top", "bottom", "both"])
def test_element_nearby_moves_one_element_to_the_top_or_bottom(direction):
    context = _context()
    anchors = element_nearby(64, direction)(context)
    assert isinstance(anchors, DenseAnchors) and anchors.points.shape == (64, len(PAIRS))
    directions = {"top": [True], "bottom": [False], "both": [True, False]}[direction]
    expected = {(e, top): _expected(context.current, e, top) for e in USED for top in directions}
    seen = set()
    for row in anchors.points:
        matches = [key for key, candidate in expected.items() if torch.equal(row, candidate)]
        assert matches, row
        seen.update(matches)
    assert {e for e, _ in seen} == set(USED)  # every used element is drawn, and only those
    assert {top for _, top in seen} == set(directions)


def test_element_nearby_sets_every_comparison_of_the_element():
    context = _context()
    anchors = element_nearby(1, "top")(context)
    changed = anchors.points[0] != context.current
    row = anchors.points[0]
    # The one chosen element e wins all its comparisons, so it is the left side of all true bits
    # that changed and the right side of all false ones.
    elements = set(LEFT[changed & row].tolist()) | set(RIGHT[changed & ~row].tolist())
    assert len(elements) <= 1


def test_element_nearby_is_deterministic_under_a_seed():
    sampler = element_nearby(16, "both")
    first, second, other = (sampler(_context(seed)).points for seed in (7, 7, 8))
    assert torch.equal(first, second)
    assert not torch.equal(first, other)


def test_element_nearby_leaves_self_comparisons_at_their_hard_value():
    left, right = torch.tensor([0, 0, 1]), torch.tensor([0, 1, 0])
    current = torch.tensor([False, False, True])
    context = SamplingContext(current, current, torch.Generator().manual_seed(0), (left, right))
    points = element_nearby(32, "top")(context).points
    assert not points[:, 0].any()
    assert {tuple(row) for row in points.tolist()} == {(False, True, False), (False, False, True)}


def test_element_nearby_anchors_have_dense_distances():
    context = _context()
    anchors = element_nearby(5, "both")(context)
    relaxed = torch.rand(len(PAIRS), dtype=torch.float64) * 2 - 1
    dense = anchors.points.double() * 2 - 1
    torch.testing.assert_close(anchors.squared_distances(relaxed), (relaxed - dense).square().sum(1))


def test_element_nearby_with_no_binaries():
    empty = torch.empty(0, dtype=torch.long)
    context = SamplingContext(torch.empty(0, dtype=torch.bool), torch.empty(0, dtype=torch.bool), None, (empty, empty))
    assert element_nearby(3)(context).points.shape == (3, 0)


def test_element_nearby_needs_element_ids():
    with pytest.raises(ValueError, match="does not expose"):
        element_nearby()(_context(elements=None))
    with pytest.raises(ValueError, match="one per live binary"):
        element_nearby()(_context(elements=(LEFT[:3], RIGHT[:3])))


def test_element_nearby_parameters_are_checked():
    with pytest.raises(ValueError, match="element_nearby: direction"):
        element_nearby(direction="up")
    with pytest.raises(ValueError, match="element_nearby: count"):
        element_nearby(count=-1)


# -- end to end ----------------------------------------------------------------------------------

@pytest.mark.parametrize("relaxation", [sigmoid(), linear(width=3.0), gaussian_cdf()], ids=_name)
@pytest.mark.parametrize("interpolator", [inverse_distance(), gaussian_kernel(), gaussian_kernel(bandwidth=2.0),
                                          nearest(), nearest(k=20, power=2.0)], ids=_name)
def test_uniloss_with_each_part_gives_a_finite_loss_and_gradient(relaxation, interpolator):
    scores, labels = seeded_binary_batch()
    loss_fn = ml.UniLoss("auc", relaxation=relaxation, interpolator=interpolator,
                         generator=torch.Generator().manual_seed(0))
    loss = loss_fn(scores, labels)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(scores.grad).all()
    assert scores.grad.abs().sum() > 0
    assert f"{relaxation.name}{relaxation.params}" in repr(loss_fn)


@pytest.mark.parametrize("interpolator", [gaussian_kernel(), nearest()], ids=_name)
def test_uniloss_is_zero_at_the_ideal_with_exact_interpolators(interpolator):
    labels = torch.tensor([1, 0, 1, 0, 0, 1])
    scores = (labels.float() * 2 - 1) * 1000 + torch.arange(6.0) * 50
    assert ml.UniLoss("auc", interpolator=interpolator)(scores, labels).item() == pytest.approx(0.0, abs=1e-6)
