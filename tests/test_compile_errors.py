"""Bad declarations fail at decoration with the user's file:line and what to do."""

import re

import pytest
import torch

import metricloss as ml

HERE = "test_compile_errors.py"


def _line_of(text: str) -> int:
    with open(__file__) as source:
        for number, line in enumerate(source, 1):
            if text in line and "_line_of" not in line:
                return number
    raise AssertionError(text)


def test_scores_reduced_outside_a_comparison():
    with pytest.raises(ml.CompileError) as caught:
        @ml.metric
        def mean_score(scores, labels):
            return scores.mean()
    message = str(caught.value)
    assert f"{HERE}:{_line_of('return scores.mean()')}" in message
    assert "scores are used outside a comparison" in message and "(op `.mean()`)" in message
    assert "only through comparisons" in message


def test_weighted_scores_summed():
    with pytest.raises(ml.CompileError) as caught:
        @ml.metric
        def weighted(scores, labels):
            w = labels.float()
            return (scores * w).sum()
    message = str(caught.value)
    assert f"{HERE}:{_line_of('return (scores * w).sum()')}" in message
    assert "scores are used outside a comparison" in message


def test_scores_mixed_into_the_reexpression():
    with pytest.raises(ml.CompileError, match="scores are used outside a comparison") as caught:
        @ml.metric
        def weighted_hits(scores, labels):
            hits = scores > 0
            return (hits.float() * scores).sum()
    assert f"{HERE}:{_line_of('return (hits.float() * scores).sum()')}" in str(caught.value)


def test_no_comparison_at_all():
    with pytest.raises(ml.CompileError, match="never compares scores") as caught:
        @ml.metric
        def label_rate(scores, labels):
            return labels.float().mean()
    assert "pos[:, None] > neg[None, :]" in str(caught.value)


def test_returning_scores():
    with pytest.raises(ml.CompileError, match="returns score values") as caught:
        @ml.metric
        def identity(scores, labels):
            return scores[labels == 1]
    assert f"{HERE}:{_line_of('return scores[labels == 1]')}" in str(caught.value)


def test_python_if_on_a_score_comparison():
    with pytest.raises(ml.CompileError) as caught:
        @ml.metric
        def branching(scores, labels):
            if scores[0] > scores[1]:
                return (scores > 0).float().mean()
            return (scores < 0).float().mean()
    message = str(caught.value)
    assert f"{HERE}:{_line_of('if scores[0] > scores[1]:')}" in message
    assert "a comparison of scores drives Python control flow" in message
    assert "torch.where" in message


def test_python_if_on_targets():
    with pytest.raises(ml.CompileError, match="a tensor drives Python control flow") as caught:
        @ml.metric
        def guarded(scores, labels):
            if labels.sum() == 0:
                return labels.float().sum()
            return (scores > 0).float().mean()
    assert f"{HERE}:{_line_of('if labels.sum() == 0:')}" in str(caught.value)




def test_unreachable_best_asks_for_ideal():
    with pytest.raises(ml.CompileError) as caught:
        @ml.metric(best=1.0, shapes={"scores": "N", "labels": "N"}, classes={"labels": 2})
        def far_thresholded_accuracy(scores, labels):
            return ((scores > 50) == (labels == 1)).float().mean()
    message = str(caught.value)
    assert f"{HERE}:{_line_of('def far_thresholded_accuracy(scores, labels):')}" in message
    assert "Pass ideal=" in message


def test_ideal_given_as_perfect_scores():
    @ml.metric(best=1.0, shapes={"scores": "N", "labels": "N"}, classes={"labels": 2},
               ideal=lambda labels: labels.float() * 2 - 1, name="thresholded_accuracy_ok")
    def thresholded_accuracy(scores, labels):
        return ((scores > 0) == (labels == 1)).float().mean()

    scores = torch.tensor([1.0, -2.0, 0.5, -0.1], requires_grad=True)
    labels = torch.tensor([1, 1, 0, 0])
    assert thresholded_accuracy(scores, labels).item() == 0.5
    loss_fn = ml.UniLoss(thresholded_accuracy, generator=torch.Generator().manual_seed(0))
    loss = loss_fn(scores, labels)
    assert loss_fn.last.ideal_value.item() == 1.0
    loss.backward()
    assert scores.grad[1] < 0 and scores.grad[2] > 0


def test_star_arguments_are_refused():
    with pytest.raises(ml.CompileError, match=re.escape("`*targets`")):
        @ml.metric
        def variadic(scores, *targets):
            return (scores > 0).float().mean()


def test_shapes_naming_an_unknown_argument():
    with pytest.raises(ml.CompileError, match="not arguments of the metric"):
        @ml.metric(shapes={"score": "N"})
        def typo(scores, labels):
            return (scores > 0).float().mean()


def test_python_if_on_the_size_of_a_score_tensor_is_traced_per_shape():
    def sized(scores, labels):
        wins = scores > 0
        return wins.float().mean() if wins.numel() > 0 else wins.float().sum()

    compiled = ml.metric(register=False)(sized)
    scores = torch.tensor([0.5, -1.0, 2.0])
    assert compiled.per_shape
    assert float(compiled(scores, torch.ones(3))) == float(sized(scores, torch.ones(3)))


def test_python_if_on_a_score_value_is_refused():
    with pytest.raises(ml.CompileError, match="a comparison of scores drives Python control flow"):
        @ml.metric
        def branching(scores, labels):
            return (scores > 0).float().mean() if scores.max() > 0 else (scores < 0).float().mean()


def _numpy_auc(scores, labels):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(labels.numpy(), scores.detach().cpu().numpy())  # evaluation code as often written


def _sklearn_on_tensors(scores, labels):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(labels, scores)  # scikit-learn called on the tensors themselves


def _listed(scores, labels):
    return sum(scores.tolist())  # a Python list of the scores


def _detached(scores, labels):
    return ((scores.detach() > 0) == (labels == 1)).float().mean()  # detached scores


def _floated(scores, labels):
    return float(((scores > 0) == (labels == 1)).float().mean())  # float() of the result


REFUSALS = [
    (_numpy_auc, "roc_auc_score(labels.numpy()", r"`\.numpy\(\)` at .* takes the values out of torch"),
    (_sklearn_on_tensors, "roc_auc_score(labels, scores)", r"the scores are handed to sklearn"),
    (_listed, "sum(scores.tolist())", r"`\.tolist\(\)` at .* takes the values out of torch"),
    (_detached, "scores.detach() > 0", r"`\.detach\(\)` of the scores at .* would cut the loss off"),
    (_floated, "return float(((scores", r"`float\(\.\.\.\)` of a tensor at .* keep it a tensor"),
]


@pytest.mark.parametrize("fn, line, message", REFUSALS, ids=[r[0].__name__ for r in REFUSALS])
def test_constructs_that_leave_the_trace_are_refused_at_the_users_line(fn, line, message):
    with pytest.raises(ml.CompileError) as caught:
        ml.metric(name=f"refused{fn.__name__}")(fn)
    text = str(caught.value)
    assert f"{HERE}:{_line_of(line)}" in text
    assert re.search(message, text), text


def test_data_reads_as_the_scores_and_a_final_item_as_the_value():
    @ml.metric(best=1.0, name="with_data_and_item")
    def with_data_and_item(scores, labels):
        correct = (scores.data > 0) == (labels == 1)
        return correct.sum().item() / labels.shape[0]

    scores, labels = torch.tensor([1.0, -1.0, 2.0, 0.5]), torch.tensor([1, 0, 0, 1])
    assert with_data_and_item(scores, labels).item() == 0.75
    loss = ml.UniLoss(with_data_and_item)(scores.requires_grad_(), labels)
    loss.backward()
    assert scores.grad.abs().sum() > 0
