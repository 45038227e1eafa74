"""Sorts whose tie order torch leaves open (``argsort``/``sort`` without ``stable=True``, ``topk``):
compiling one says so once, at the user's line, with the rule the compiled metric follows and the
spelling whose eager run agrees; a stable sort says nothing; the value is the rule's either way."""

from __future__ import annotations

import inspect
import warnings
from pathlib import Path

import pytest
import torch

import metricloss as ml

HERE = Path(__file__).name


def ndcg_at_3(scores, relevance):
    order = scores.argsort(dim=1, descending=True)
    gains = relevance.gather(1, order)[:, :3].float()
    return (gains / torch.arange(2.0, 5.0).log2()).sum(1).mean()


def ndcg_at_3_stable(scores, relevance):
    order = scores.argsort(dim=1, descending=True, stable=True)
    gains = relevance.gather(1, order)[:, :3].float()
    return (gains / torch.arange(2.0, 5.0).log2()).sum(1).mean()


def sorted_recall(scores, relevance):
    _, order = torch.sort(scores, dim=1, descending=True)
    return (relevance.gather(1, order)[:, :2].sum(1) / relevance.sum(1).clamp(min=1)).mean()


def sorted_recall_stable(scores, relevance):
    _, order = torch.sort(scores, dim=1, descending=True, stable=True)
    return (relevance.gather(1, order)[:, :2].sum(1) / relevance.sum(1).clamp(min=1)).mean()


def topk_recall(scores, relevance):
    top = scores.topk(2, dim=1).indices
    return (relevance.gather(1, top).sum(1) / relevance.sum(1).clamp(min=1)).mean()


def topk_recall_stable(scores, relevance):
    top = scores.sort(dim=1, descending=True, stable=True).indices[:, :2]
    return (relevance.gather(1, top).sum(1) / relevance.sum(1).clamp(min=1)).mean()


def top2_accuracy(scores, labels):
    top = torch.topk(scores, 2, dim=1).indices
    return (top == labels[:, None]).any(1).float().mean()


def top2_accuracy_stable(scores, labels):
    top = scores.argsort(dim=1, stable=True).flip(1)[:, :2]
    return (top == labels[:, None]).any(1).float().mean()


def rank_at_3(scores, relevance):
    ranks = scores.argsort(dim=1, descending=True).argsort(dim=1)  # the outer argsort meets no tie
    return ((ranks < 3) & (relevance > 0)).float().sum(1).mean()


def rank_at_3_stable(scores, relevance):
    ranks = scores.argsort(dim=1, descending=True, stable=True).argsort(dim=1)
    return ((ranks < 3) & (relevance > 0)).float().sum(1).mean()


def ideal_dcg_ratio(scores, relevance):
    order = scores.argsort(dim=1, descending=True, stable=True)
    ideal = relevance.sort(dim=1, descending=True).values  # the targets' own sort: torch runs it
    return (relevance.gather(1, order)[:, :3].sum(1) / ideal[:, :3].sum(1).clamp(min=1)).mean()


# (unstable, its stable twin, the batch kind, what the warning says of the call, the rule, the remedy)
PAIRS = [
    (ndcg_at_3, ndcg_at_3_stable, "relevance", "`argsort` without `stable=True`",
     "puts tied scores in index order, as a stable sort does",
     "`scores.argsort(dim=1, descending=True, stable=True)`"),
    (sorted_recall, sorted_recall_stable, "relevance", "`sort` without `stable=True`",
     "puts tied scores in index order, as a stable sort does",
     "`torch.sort(scores, dim=1, descending=True, stable=True)`"),
    (topk_recall, topk_recall_stable, "relevance", "`topk`",
     "takes the first k of a stable descending sort", "`scores.sort(dim=1, descending=True, stable=True).indices[:, :2]`"),
    (top2_accuracy, top2_accuracy_stable, "labels", "`topk`",
     "scikit-learn's `top_k_accuracy_score` rule: a class tied with the label ranks above it when it comes later",
     "`scores.argsort(dim=1, stable=True).flip(1)[:, :2]`"),
    (rank_at_3, rank_at_3_stable, "relevance", "`argsort` without `stable=True`",
     "puts tied scores in index order", "`scores.argsort(dim=1, descending=True, stable=True)`"),
]
IDS = [pair[0].__name__ for pair in PAIRS]


def _line(fn, text: str) -> int:
    """The line of ``fn`` on which ``text`` is written."""
    source, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(source) if text in line)


def _declared(fn, **options):
    """``fn`` compiled as a user declares it, and every warning that raised."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metric = ml.metric(register=False, **options)(fn)
    return metric, caught


def _tied_batch(kind: str, seed: int):
    """Scores from {0, 1, 2}, so that most rows hold ties; relevance in {0, 1} or class labels."""
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randint(0, 3, (6, 7), generator=generator).float()
    if kind == "labels":
        return scores, torch.randint(0, 7, (6,), generator=generator)
    return scores, (torch.rand(6, 7, generator=generator) < 0.4).long()


@pytest.mark.parametrize(("unstable", "stable", "kind", "call", "rule", "remedy"), PAIRS, ids=IDS)
def test_the_warning_names_the_line_the_rule_and_the_stable_spelling(unstable, stable, kind, call, rule, remedy):
    _, caught = _declared(unstable)
    assert [w.category for w in caught] == [ml.TieOrderWarning]
    warning = caught[0]
    line = _line(unstable, "sort(" if "sort" in call else "topk(")
    message = str(warning.message)
    assert f"metric `{unstable.__name__}`: {call} at " in message and f"{HERE}:{line} (`" in message, message
    assert rule in message and remedy in message, message
    assert "can differ from your function run eagerly" in message
    assert Path(warning.filename).name == HERE and warning.lineno == line  # where warnings point


@pytest.mark.parametrize(("unstable", "stable", "kind", "call", "rule", "remedy"), PAIRS, ids=IDS)
def test_the_stable_spelling_says_nothing_and_the_value_is_the_rules(unstable, stable, kind, call, rule, remedy):
    """On tie-heavy scores the compiled metric equals the stable twin run eagerly, and compiling
    the twin gives the same value without a warning."""
    metric, _ = _declared(unstable)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        twin = ml.metric(register=False)(stable)
    assert twin.compiled.unstable == ()
    assert len(metric.compiled.unstable) == 1
    for seed in range(15):
        scores, targets = _tied_batch(kind, seed)
        value = float(metric(scores, targets))
        assert value == pytest.approx(float(stable(scores, targets)), abs=1e-6)
        assert value == pytest.approx(float(twin(scores, targets)), abs=1e-6)


def test_a_sort_of_the_targets_or_of_a_permutation_says_nothing():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metric = ml.metric(register=False)(ideal_dcg_ratio)
    assert metric.compiled.unstable == ()


def test_warned_once_per_declaration_whatever_the_shapes_and_bindings():
    """A metric that reads a shape is compiled for each; each binding of k is compiled too; a loop
    repeats its line. The user wrote one sort: one warning."""
    def top_k_per_class_count(scores, labels, k=2):
        hits = []
        for column in range(scores.shape[1] - 1):  # a shape read as a number: compiled per shape
            top = scores.topk(min(k, scores.shape[1]), dim=1).indices
            hits.append((top == labels[:, None]).any(1).float().mean() * (column + 1))
        return sum(hits)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        metric = ml.metric(register=False)(top_k_per_class_count)
        for classes in (4, 5, 6):
            scores, labels = torch.randn(6, classes), torch.randint(0, classes, (6,))
            metric(scores, labels)
            metric(scores, labels, k=3)
    assert metric.per_shape
    assert [w.category for w in caught] == [ml.TieOrderWarning]
    assert f"{HERE}:{_line(top_k_per_class_count, 'topk(')}" in str(caught[0].message)


def test_explain_names_the_unstable_sort_in_the_lowering():
    metric, _ = _declared(ndcg_at_3)
    text = ml.explain(metric)
    lowering = text.split("\nlowering:\n")[1].split("\n\n")[0]
    line = _line(ndcg_at_3, "argsort(")
    assert "tie order: `argsort` without `stable=True` at " in lowering, lowering
    assert f"{HERE}:{line} (`order = scores.argsort(dim=1, descending=True)`) is not stable in torch" in lowering
    assert "the compiled metric puts tied scores in index order, as a stable sort does" in lowering
    stable, _ = _declared(ndcg_at_3_stable)
    assert "tie order" not in ml.explain(stable)


def test_the_built_in_metrics_follow_an_order_torch_defines():
    """Built-ins write their sorts stable (topk_accuracy as scikit-learn's own top k), so the code
    they are written in agrees with their compiled value on ties, and using them warns of nothing."""
    built_ins = [entry.plugin for entry in ml.plugins("metric")
                 if entry.plugin.declaration.fn.__module__.startswith("metricloss_builtins.")]
    assert {"topk_accuracy", "precision_at_k"} <= {metric.name for metric in built_ins}
    for metric in built_ins:
        name = metric.name
        arguments = metric.declaration.spec.synthetic(seed=0)
        compiled = metric.compiled_for(*arguments) if arguments is not None else metric.compiled
        assert compiled.unstable == (), name


@pytest.mark.parametrize("name", ["topk_accuracy", "precision_at_k", "recall_at_k"])
def test_the_built_in_sorts_run_eagerly_give_the_compiled_value_on_ties(name):
    metric = ml.get_metric(name, k=2)
    for seed in range(10):
        generator = torch.Generator().manual_seed(seed)
        if name == "topk_accuracy":
            scores = torch.randint(0, 3, (8, 5), generator=generator).float()
            targets = torch.randint(0, 5, (8,), generator=generator)
        else:
            scores = torch.randint(0, 3, (12,), generator=generator).float()
            targets = (torch.arange(12) % 3 == 0).long()
        eager = float(metric.declaration.fn(scores, targets, k=2))
        assert float(metric(scores, targets)) == pytest.approx(eager, abs=1e-6)
