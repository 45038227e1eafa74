"""Anchors evaluated through g's affine statistics give the values g itself gives."""

import pytest
import torch

import metricloss as ml
from metricloss import get_metric
from metricloss.loss.samplers import SamplingContext, default_samplers, element_nearby
from metricloss.loss.affine_statistics import Statistics


@ml.metric(best=1.0, name="graded_concordance")
def graded_concordance(scores, grades):
    """Concordance over pairs with different grades: a target mask, a negation, a division."""
    ordered = grades[:, None] > grades[None, :]
    wrong = ~(scores[:, None] > scores[None, :]) & ordered
    return 1 - wrong.float().sum() / ordered.sum()


@ml.metric(best=1.0, name="integer_counts_auc")
def integer_counts_auc(scores, labels):
    """Counts through an integer cast: no gradient reaches them, so no statistics either."""
    positives, negatives = scores[labels == 1], scores[labels == 0]
    correct = (positives[:, None] > negatives[None, :]).long().sum()
    return correct / (positives.numel() * negatives.numel())


@ml.metric(name="every_pair_in_order")
def every_pair_in_order(scores):
    """A mean over every pair, the item against itself included (a dead binary)."""
    return (scores[:, None] > scores[None, :]).float().mean()


def _binary_batch(seed, n=120):
    generator = torch.Generator().manual_seed(seed)
    labels = (torch.rand(n, generator=generator) < 0.3).long()
    labels[:2] = torch.tensor([1, 0])
    return torch.randn(n, generator=generator), labels


def _anchors(metric, scores, targets, samplers, seed):
    binaries = metric.binaries(scores, *targets)
    ideal = metric.compiled.ideal(binaries, scores, targets).configuration
    program = metric.compiled.program
    context = SamplingContext(
        ideal=binaries.restrict(ideal), current=binaries.restrict(binaries.hard),
        generator=torch.Generator().manual_seed(seed),
        elements=lambda: program.elements(scores, targets, binaries),
    )
    return binaries, [sampler(context) for sampler in samplers]


STATISTIC_METRICS = ["auc", "f1", "fbeta", "mcc", "precision", "recall", "iou", "balanced_accuracy"]


@pytest.mark.parametrize("name", STATISTIC_METRICS)
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_anchor_values_from_statistics_equal_g_on_the_anchors(name, seed):
    metric = get_metric(name)
    scores, labels = _binary_batch(seed)
    samplers = default_samplers() + [element_nearby(8, "both")]
    binaries, anchor_sets = _anchors(metric, scores, (labels,), samplers, seed)
    program = metric.compiled.program
    statistics = Statistics.of(program.affine, binaries)
    assert statistics is not None and _columns(statistics) == binaries.restrict(binaries.hard).numel()
    for anchors in anchor_sets:
        through_statistics = program.values_from_statistics(binaries, anchors.statistics(statistics))
        direct = program.values(binaries, binaries.complete(anchors.configurations(0, anchors.distinct)))
        torch.testing.assert_close(through_statistics, direct, rtol=1e-6, atol=1e-7, equal_nan=True)


def _columns(statistics):
    """How many live binaries ``statistics``' weights cover."""
    return statistics.weights.shape[1] if statistics.segments is None else sum(statistics.segments)


def _dense_weights(program, binaries):
    """J entry by entry, by autograd on float64 copies of the own blocks (a twin reads its source)."""
    twins = binaries.twin_blocks or (None,) * len(binaries.shapes)
    leaves, blocks = [], []
    for shape, twin in zip(binaries.shapes, twins):
        if twin is None:
            leaves.append(torch.zeros(shape, dtype=torch.float64, requires_grad=True))
            blocks.append(leaves[-1])
        else:
            source = blocks[twin[0]]
            blocks.append(1 - source if twin[1] else source)
    values = program.affine.statistics(*blocks, *binaries.target_values)
    rows = [torch.cat([(torch.zeros_like(leaf) if g is None else g).reshape(-1) for leaf, g in
                       zip(leaves, torch.autograd.grad(v, leaves, retain_graph=True, allow_unused=True))])
            for v in values]
    return torch.stack([v.detach() for v in values]).double(), torch.stack(rows)


# AUC is a mean of one block and its twin; the count metrics' TP, FP, FN and TN are sums over the
# blocks of positives and of negatives, each a block of its own.
UNIFORM = ["auc", "f1", "precision", "recall", "mcc", "balanced_accuracy"]


@pytest.mark.parametrize("name", UNIFORM)
@pytest.mark.parametrize("tied", [False, True])
def test_one_weight_per_block_is_every_binary_weight(name, tied):
    metric = get_metric(name)
    scores, labels = _binary_batch(5)
    if tied:  # integer scores from a small range: many comparisons are ties
        scores = torch.randint(0, 3, scores.shape, generator=torch.Generator().manual_seed(5)).float()
    binaries = metric.binaries(scores, labels)
    statistics = Statistics.of(metric.compiled.program.affine, binaries)
    assert statistics.segments is not None
    constant, dense = _dense_weights(metric.compiled.program, binaries)
    torch.testing.assert_close(statistics.constant, constant, rtol=0, atol=1e-15)
    per_binary = torch.cat([w[:, None].expand(-1, n) for w, n in zip(statistics.weights.T, statistics.segments)], 1)
    torch.testing.assert_close(per_binary, dense, rtol=1e-12, atol=0)


@pytest.mark.parametrize("name", UNIFORM)
def test_every_block_weights_give_g_at_the_hard_binaries_ties_included(name):
    metric = get_metric(name)
    _, labels = _binary_batch(6)
    scores = torch.randint(0, 3, labels.shape, generator=torch.Generator().manual_seed(6)).float()
    binaries = metric.binaries(scores, labels)
    program = metric.compiled.program
    statistics = Statistics.of(program.affine, binaries)
    hard = binaries.hard[None]
    torch.testing.assert_close(program.values_from_statistics(binaries, statistics.at_configurations(hard)),
                               program.values(binaries, hard), rtol=1e-6, atol=1e-7)


def test_statistics_with_a_target_mask_or_dead_binaries_keep_a_weight_per_binary():
    generator = torch.Generator().manual_seed(0)
    scores, grades = torch.randn(30, generator=generator), torch.randint(0, 4, (30,), generator=generator)
    binaries = graded_concordance.binaries(scores, grades)  # the mask varies from pair to pair
    statistics = Statistics.of(graded_concordance.compiled.program.affine, binaries)
    assert statistics.segments is None and statistics.weights.shape[1] == binaries.restrict(binaries.hard).numel()
    scores, _ = _binary_batch(1, n=40)
    binaries = every_pair_in_order.binaries(scores)
    assert binaries.dead is not None  # an item against itself: a constant
    statistics = Statistics.of(every_pair_in_order.compiled.program.affine, binaries)
    assert statistics.segments is None and statistics.weights.shape[1] == binaries.restrict(binaries.hard).numel()


def test_a_user_metric_with_a_target_mask_and_a_negation_has_statistics():
    metric = graded_concordance
    generator = torch.Generator().manual_seed(0)
    scores, grades = torch.randn(30, generator=generator), torch.randint(0, 4, (30,), generator=generator)
    binaries, anchor_sets = _anchors(metric, scores, (grades,), default_samplers(), 0)
    program = metric.compiled.program
    statistics = Statistics.of(program.affine, binaries)
    assert statistics is not None and statistics.weights.shape[0] <= 3
    for anchors in anchor_sets:
        torch.testing.assert_close(
            program.values_from_statistics(binaries, anchors.statistics(statistics)),
            program.values(binaries, binaries.complete(anchors.configurations(0, anchors.distinct))),
        )


@pytest.mark.parametrize("name", ["accuracy", "average_precision", "integer_counts_auc"])
def test_metrics_that_read_whole_blocks_have_no_statistics(name):
    metric = get_metric(name)
    if name == "accuracy":
        targets = (torch.tensor([0, 2, 1, 1]),)
        scores = torch.randn(4, 3)
    else:
        scores, labels = _binary_batch(0)
        targets = (labels,)
    program = metric.compiled.program
    assert program.affine is None or Statistics.of(program.affine, metric.binaries(scores, *targets)) is None


def test_pckh_has_no_affine_split():
    assert get_metric("pckh").compiled.program.affine is None


@pytest.mark.parametrize("ties", ["distinct", "ties", "constant"])
@pytest.mark.parametrize("name", ["auc", "f1", "graded_concordance"])
def test_the_loss_is_the_same_through_statistics_as_through_g(name, ties):
    scores, labels = _binary_batch(3, n=60)
    if ties == "ties":  # the hard configuration's twin blocks (AUC's > and >=) then differ from each other
        scores = torch.randint(0, 3, (60,), generator=torch.Generator().manual_seed(3)).float()
    elif ties == "constant":  # a collapsed model: every pair tied
        scores = torch.full((60,), 0.25)
    if name == "graded_concordance":
        labels = torch.randint(0, 4, (60,), generator=torch.Generator().manual_seed(3))

    def loss_and_gradient(sizes, path):
        scores_ = scores.clone().requires_grad_()
        loss_fn = ml.UniLoss(name, generator=torch.Generator().manual_seed(7), sizes=sizes)
        loss = loss_fn(scores_, labels)
        loss.backward()
        assert loss_fn.last.path == path
        return loss.detach(), scores_.grad

    dense = loss_and_gradient(ml.Sizes(), "dense")
    through_statistics = loss_and_gradient(ml.Sizes(dense=0), "statistics")
    torch.testing.assert_close(through_statistics, dense, rtol=1e-5, atol=1e-7)


def test_statistics_that_disagree_with_g_are_not_used_on_that_batch(monkeypatch):
    metric = ml.metric(best=1.0, name="auc_for_dropping")(
        lambda scores, labels: (scores[labels == 1][:, None] > scores[labels == 0][None, :]).float().mean()
    )
    scores, labels = _binary_batch(4)
    reference = ml.UniLoss(metric, generator=torch.Generator().manual_seed(0))(scores, labels)
    monkeypatch.setattr(Statistics, "at_points", lambda self, points, sizes=None: self.constant.expand(len(points), -1) + 0.25)
    monkeypatch.setattr(Statistics, "at_configurations", lambda self, rows: self.constant.expand(len(rows), -1) + 0.25)
    loss_fn = ml.UniLoss(metric, generator=torch.Generator().manual_seed(0), sizes=ml.Sizes(dense=0))
    loss = loss_fn(scores, labels)
    assert loss_fn.last.path == "chunked"  # g itself saw every anchor
    assert metric.compiled.program.affine is not None  # the compiled metric is unchanged
    torch.testing.assert_close(loss, reference)
