"""Metrics declared in a user's file compile, are exact, and bind their parameters."""

import pytest
import torch
from hypothesis import given

import metricloss as ml
from strategies import binary_batches, multiclass_batches


@ml.metric(best=1.0)
def pairwise_auc(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    return (pos[:, None] > neg[None, :]).float().mean()


@ml.metric(best=0.0, higher_is_better=False)
def misordered_pairs(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    return (neg[None, :] > pos[:, None]).float().sum()


@ml.metric(best=1.0)
def precision_over_threshold(scores, labels, *, threshold=0.0):
    predicted = scores > threshold
    return (predicted & (labels == 1)).sum() / predicted.sum().clamp_min(1)


@ml.metric(best=1.0)
def top1_error_free(scores, labels):
    return (labels == scores.argmax(dim=1)).float().mean()


@ml.metric
def bare_accuracy(scores, labels):
    return (torch.argmax(scores, 1) == labels).float().mean()


def plain_auc(scores, labels):
    pos, neg = scores[labels == 1].tolist(), scores[labels == 0].tolist()
    return sum(p > n for p in pos for n in neg) / (len(pos) * len(neg))


@given(binary_batches())
def test_user_auc_is_exact(batch):
    scores, labels = batch
    assert pairwise_auc(scores, labels).item() == pytest.approx(plain_auc(scores, labels), abs=1e-6)


@given(binary_batches())
def test_lower_is_better_metric_is_exact(batch):
    scores, labels = batch
    pos, neg = scores[labels == 1].tolist(), scores[labels == 0].tolist()
    assert misordered_pairs(scores, labels).item() == sum(n > p for p in pos for n in neg)


@given(multiclass_batches())
def test_argmax_lowering_in_either_order(batch):
    scores, labels = batch
    expected = (scores.argmax(1) == labels).float().mean().item()
    assert top1_error_free(scores, labels).item() == pytest.approx(expected)
    assert bare_accuracy(scores, labels).item() == pytest.approx(expected)


def test_argmax_over_a_leading_dimension():
    @ml.metric(best=1.0, name="accuracy_classes_first")
    def accuracy_classes_first(scores, labels):
        return (scores.argmax(0) == labels).float().mean()

    scores = torch.randn(5, 30, generator=torch.Generator().manual_seed(0))
    labels = torch.randint(5, (30,), generator=torch.Generator().manual_seed(1))
    expected = (scores.argmax(0) == labels).float().mean().item()
    assert accuracy_classes_first(scores, labels).item() == pytest.approx(expected)


def test_keyword_parameters_are_bound_by_get_metric():
    scores = torch.tensor([-1.0, 0.5, 2.0, 3.0])
    labels = torch.tensor([1, 0, 1, 1])
    assert precision_over_threshold(scores, labels).item() == pytest.approx(2 / 3)
    strict = ml.get_metric("precision_over_threshold", threshold=2.5)
    assert strict(scores, labels).item() == pytest.approx(1.0)
    assert strict.params == {"threshold": 2.5}
    with pytest.raises(ml.InputError, match="has no parameter \\['thresh'\\]"):
        ml.get_metric("precision_over_threshold", thresh=1.0)


def test_registered_under_its_name_and_usable_as_a_loss():
    assert ml.get_metric("pairwise_auc") is pairwise_auc
    scores = torch.randn(20, requires_grad=True, generator=torch.Generator().manual_seed(0))
    labels = (torch.arange(20) % 3 == 0).long()
    loss = ml.UniLoss(pairwise_auc)(scores, labels)
    loss.backward()
    assert torch.isfinite(scores.grad).all() and scores.grad.abs().sum() > 0


def test_redeclaring_in_the_same_place_replaces_the_metric():
    def declare():
        @ml.metric(name="redeclared")
        def redeclared(scores, labels):
            return (scores[labels == 1][:, None] > scores[labels == 0][None, :]).float().mean()
        return redeclared

    first, second = declare(), declare()
    assert ml.get_metric("redeclared") is second is not first


def test_explain_names_binaries_reexpression_and_ideal():
    text = ml.explain("pairwise_auc")
    assert ("b0 = [pos[:, None] > neg[None, :]]  (your code; traced as "
            "scores[(labels == 1)][:, None] > scores[(labels == 0)][None, :])") in text
    assert "test_user_metrics.py" in text
    assert "def g(b0)" in text and "mean()" in text
    assert "ideal b*: found on each batch from perfect scores built from the targets" in text


def test_explain_accuracy_shows_the_lowering():
    text = ml.explain("accuracy")
    assert "for every class c != labels" in text
    assert "argmax_equals" in text
    assert ".all(-1)" in text


def test_monotone_maps_and_thresholds_before_the_comparison():
    @ml.metric(name="recall_at_half")
    def recall_at_half(scores, labels):
        hits = scores[labels == 1].sigmoid() > 0.5
        return hits.float().mean()

    scores = torch.tensor([0.3, -0.2, 1.0, -4.0])
    labels = torch.tensor([1, 1, 0, 1])
    assert recall_at_half(scores, labels).item() == pytest.approx(1 / 3)


def test_concordance_drops_binaries_its_target_mask_hides():
    @ml.metric(name="concordance", best=1.0)
    def concordance(scores, grades):
        ordered = grades[:, None] > grades[None, :]
        agree = (scores[:, None] > scores[None, :]) & ordered
        return agree.sum() / ordered.sum()

    generator = torch.Generator().manual_seed(0)
    grades = torch.randint(0, 4, (12,), generator=generator)
    scores = torch.randn(12, generator=generator)
    expected = sum(
        int(scores[i] > scores[j]) for i in range(12) for j in range(12) if grades[i] > grades[j]
    ) / sum(int(grades[i] > grades[j]) for i in range(12) for j in range(12))
    assert concordance(scores, grades).item() == pytest.approx(expected)
    binaries = concordance.binaries(scores, grades)
    # Only pairs with grade_i > grade_j can change the value (which also drops s_i > s_i).
    assert torch.equal(binaries.dead, ~(grades[:, None] > grades[None, :]).reshape(-1))


@ml.metric(name="concordance_trained", best=1.0)
def concordance(scores, grades):
    ordered = grades[:, None] > grades[None, :]
    return ((scores[:, None] > scores[None, :]) & ordered).sum() / ordered.sum()


def _train_concordance(seed: int) -> tuple[float, float]:
    """A linear model on graded data a linear score orders almost perfectly: (start, end) on all of it."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(256, 5, generator=generator)
    grades = (x @ torch.tensor([1.0, -2.0, 0.5, 0.0, 1.5])).mul(2).round().long()
    torch.manual_seed(seed)  # the layer's initial weights
    model = torch.nn.Linear(5, 1)
    loss_fn = ml.UniLoss(concordance, generator=torch.Generator().manual_seed(seed))
    optimiser = torch.optim.SGD(model.parameters(), lr=0.5, momentum=0.9)
    start = concordance(model(x).squeeze(1), grades).item()
    for _ in range(60):
        index = torch.randperm(256, generator=generator)[:64]
        loss = loss_fn(model(x[index]).squeeze(1), grades[index])
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
    return start, concordance(model(x).squeeze(1), grades).item()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_concordance_trains_on_raw_scores(seed):
    start, end = _train_concordance(seed)
    assert end >= 0.95 > start, (start, end)


def test_a_reexpression_vmap_cannot_batch_falls_back_with_a_warning():
    @ml.metric(name="item_in_g")
    def item_in_g(scores, labels):
        wins = scores[labels == 1][:, None] > scores[labels == 0][None, :]
        return wins.float().mean() + 0 * wins.nonzero().float().sum()  # nonzero() cannot be vmapped

    scores = torch.randn(10, requires_grad=True, generator=torch.Generator().manual_seed(0))
    labels = (torch.arange(10) % 2)
    with pytest.warns(ml.MetricLossWarning, match="cannot be vectorised over anchors"):
        loss = ml.UniLoss(item_in_g, generator=torch.Generator().manual_seed(0))(scores, labels)
    loss.backward()
    assert torch.isfinite(scores.grad).all()


def test_an_argument_with_a_default_is_a_parameter_not_a_target():
    @ml.metric(name="hits_at")
    def hits_at(scores, labels, k=2):
        rank = scores.argsort(descending=True, stable=True).argsort(stable=True)
        return ((rank < k) & (labels == 1)).sum() / k

    scores, labels = torch.tensor([0.9, 0.1, 0.5, 0.3]), torch.tensor([1, 0, 0, 1])
    assert hits_at.declaration.spec.names == ("scores", "labels")
    assert hits_at(scores, labels).item() == 0.5  # k=2: items 0 and 2, one positive
    assert ml.get_metric("hits_at", k=4)(scores, labels).item() == 0.5
    assert hits_at(scores, labels, k=1).item() == 1.0
    with pytest.raises(ml.InputError, match=r"has no parameter \['top'\]; its parameters .* are \['k'\]"):
        hits_at(scores, labels, top=3)


def test_the_tutorial_idiom_for_the_predicted_class_compiles():
    @ml.metric(best=1.0, name="tutorial_style")
    def tutorial_style(scores, labels):
        _, predicted = torch.max(scores, 1)
        return (predicted == labels).float().mean()

    assert any(line.startswith("max_indices") for line in tutorial_style.compiled.lowered)
    scores = torch.tensor([[1.0, 1.0, 0.0], [0.0, 2.0, 2.0]])
    assert tutorial_style(scores, torch.tensor([0, 2])).item() == 0.5  # first maximal index wins


@ml.metric(best=1.0, name="within_half")
def within_half(scores, targets):
    return ((scores - targets).abs() <= 0.5).float().mean()


def test_an_absolute_error_within_a_tolerance_is_two_comparisons():
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):  # halves: differences of exactly 0.5 are frequent
        scores = torch.randint(-4, 5, (12,), generator=generator) / 2
        targets = torch.randint(-4, 5, (12,), generator=generator) / 2
        assert within_half(scores, targets).item() == within_half.declaration.fn(scores, targets).item()
    assert any(line.startswith("abs_bound") for line in within_half.compiled.lowered)


def _train_within_half(seed: int) -> tuple[float, float]:
    """Adam on 30 scores started 3 standard deviations away from their targets: (start, end)."""
    generator = torch.Generator().manual_seed(seed)
    targets = torch.randn(30, generator=generator)
    scores = torch.nn.Parameter(targets + 3 * torch.randn(30, generator=generator))
    start = within_half(scores.detach(), targets).item()
    loss_fn = ml.UniLoss(within_half, generator=torch.Generator().manual_seed(seed))
    optimizer = torch.optim.Adam([scores], lr=0.1)
    for _ in range(100):
        optimizer.zero_grad()
        loss_fn(scores, targets).backward()
        optimizer.step()
    return start, within_half(scores.detach(), targets).item()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_an_absolute_error_within_a_tolerance_trains(seed):
    start, end = _train_within_half(seed)
    assert end >= 0.95 > start, (start, end)


def test_topk_indices_that_order_targets_are_the_first_k_of_the_order():
    with pytest.warns(ml.TieOrderWarning, match="first k of a stable descending sort"):
        @ml.metric(best=1.0, name="recall_by_topk")
        def recall_by_topk(scores, relevance):
            top = scores.topk(3, dim=1).indices
            return (relevance.gather(1, top).sum(1) / relevance.sum(1).clamp(max=3)).mean()

    assert recall_by_topk.compiled.lowered[0].startswith("topk_indices")
    generator = torch.Generator().manual_seed(0)
    for _ in range(20):  # tie-free: torch does not say which of tied entries topk returns
        scores = torch.randn(4, 8, generator=generator)
        relevance = (torch.rand(4, 8, generator=generator) < 0.3).long()
        relevance[:, 0] = 1
        assert recall_by_topk(scores, relevance).item() == pytest.approx(
            recall_by_topk.declaration.fn(scores, relevance).item())
