"""Bad declarations fail at decoration with the user's file:line and what to do."""

import inspect
import os
import re

import pytest
import torch

import metricloss as ml
from zoo.refusals import binned_calibration_error  # the calibration error as the zoo writes it

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


def _line_in(fn, marker: str) -> str:
    """``<fn's file>:<line>`` of the one line of ``fn`` holding ``marker``."""
    lines, start = inspect.getsourcelines(fn)
    found = [start + i for i, text in enumerate(lines) if marker in text]
    assert len(found) == 1, (fn.__name__, marker, found)
    return f"{os.path.basename(inspect.getsourcefile(fn))}:{found[0]}"


# A binned calibration error as it is written in evaluation code, in several spellings. It averages
# probabilities, so no spelling compiles: the first refusal must say so, whatever construct (a loop
# over a tensor, an `if` on one) it meets first, so that the user is not sent to batch the loop only
# to be refused for the average.

def _ece_on_the_scores_device(scores, labels, n_bins=10):
    probs = torch.sigmoid(scores)
    edges = torch.linspace(0, 1, n_bins + 1, device=scores.device)  # traced per shape: a graph node
    err = torch.zeros((), device=scores.device)
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = (probs > lo) & (probs <= hi)
        err += in_bin.float().mean() * (probs[in_bin].mean() - labels[in_bin].float().mean()).abs()
    return err


def _ece_arange_counted(scores, labels, n_bins=10):
    probs = torch.sigmoid(scores)
    n = len(labels)
    edges = torch.arange(n_bins + 1) / n_bins
    err = torch.zeros(())
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = (probs > lo) & (probs <= hi)
        if in_bin.sum() > 0:
            err += in_bin.sum() / n * (probs[in_bin].mean() - labels[in_bin].float().mean()).abs()
    return err


def _ece_counted_after_the_if(scores, labels, n_bins=10):
    probs = torch.sigmoid(scores)
    edges = torch.linspace(0, 1, n_bins + 1)
    err = torch.zeros(())
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = (probs > lo) & (probs <= hi)
        if in_bin.any():  # the loop over the bins' edges is met first
            err += in_bin.sum() / len(labels) * (probs[in_bin].mean() - labels[in_bin].float().mean()).abs()
    return err


def _ece_python_list(scores, labels, n_bins=10):
    probs = torch.sigmoid(scores)
    edges = [b / n_bins for b in range(n_bins + 1)]
    err = torch.zeros(())
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = (probs > lo) & (probs <= hi)
        err += in_bin.float().mean() * (probs[in_bin].mean() - labels[in_bin].float().mean()).abs()
    return err


def _ece_by_bin_index(scores, labels, n_bins=10):
    probs = torch.sigmoid(scores)
    edges = torch.linspace(0, 1, n_bins + 1)
    err = torch.zeros(())
    for b in range(n_bins):
        in_bin = (probs > edges[b]) & (probs <= edges[b + 1])
        err += in_bin.float().mean() * (probs[in_bin].mean() - labels[in_bin].float().mean()).abs()
    return err


def _ece_len_of_bin(scores, labels, n_bins=10):
    probs = torch.sigmoid(scores)
    edges = torch.linspace(0, 1, n_bins + 1)
    err = torch.zeros(())
    for b in range(n_bins):
        in_bin = (probs > edges[b]) & (probs <= edges[b + 1])
        weight = len(probs[in_bin]) / len(probs)
        err += weight * (probs[in_bin].mean() - labels[in_bin].float().mean()).abs()
    return err


def _ece_batched(scores, labels, n_bins=10):
    probs = torch.sigmoid(scores)
    edges = torch.linspace(0, 1, n_bins + 1)
    weights = ((probs[:, None] > edges[:-1]) & (probs[:, None] <= edges[1:])).float()
    count = weights.sum(0).clamp(min=1)
    confidence = (weights * probs[:, None]).sum(0) / count
    accuracy = (weights * labels[:, None].float()).sum(0) / count
    return (weights.mean(0) * (confidence - accuracy).abs()).sum()


NOT_A_LOSS = "is not a function of score comparisons and cannot become a UniLoss"
_OUTSIDE = "scores are used outside a comparison at "
CALIBRATION = [
    # (metric, the construct met first and the line it is on (None: none), the rewrite it asks for,
    #  the line where the score values are used)
    (binned_calibration_error, ("iterating over a tensor at ", "for lo, hi in zip(edges[:-1], edges[1:]):"),
     "writing the loop batched", "err += in_bin.float().mean()"),
    (_ece_on_the_scores_device, ("iterating over a tensor at ", "for lo, hi in zip(edges[:-1], edges[1:]):"),
     "writing the loop batched", "err += in_bin.float().mean()"),
    (_ece_arange_counted, ("iterating over a tensor at ", "for lo, hi in zip(edges[:-1], edges[1:]):"),
     "writing the loop batched", "err += in_bin.sum() / n"),
    (_ece_counted_after_the_if, ("iterating over a tensor at ", "for lo, hi in zip(edges[:-1], edges[1:]):"),
     "writing the loop batched", "err += in_bin.sum() / len(labels)"),
    (_ece_len_of_bin, ("`len()` of a tensor at ", "weight = len(probs[in_bin])"),
     "counting with the mask", "err += weight"),
    (_ece_python_list, None, None, "err += in_bin.float().mean()"),
    (_ece_by_bin_index, None, None, "err += in_bin.float().mean()"),
    (_ece_batched, None, None, "confidence = (weights * probs[:, None])"),
]


@pytest.mark.parametrize("fn, construct, fix, use", CALIBRATION, ids=[c[0].__name__ for c in CALIBRATION])
def test_a_calibration_error_is_refused_for_averaging_probabilities_at_the_first_try(fn, construct, fix, use):
    scores, labels = torch.randn(12, generator=torch.Generator().manual_seed(0)), torch.arange(12) % 2
    with pytest.raises(ml.CompileError) as caught:
        metric = ml.metric(name=f"refused{fn.__name__}", register=False)(fn)
        metric(scores, labels)  # a metric traced per shape compiles at its first batch
    message = str(caught.value)
    # in this order: the construct met first and its line, that rewriting it would not help, then
    # where the score values are used and that no rewrite makes this metric a loss
    said = [f"metric `refused{fn.__name__}`: "]
    if construct is not None:
        said += [construct[0], _line_in(fn, construct[1]), f"cannot be traced, but {fix} would not make the "
                 "metric compile: "]
    said += [_OUTSIDE, _line_in(fn, use), NOT_A_LOSS, "a calibration error, which averages probabilities",
             "train with a loss made for them and keep the metric for evaluation"]
    positions = [message.find(piece) for piece in said]
    assert -1 not in positions and positions == sorted(positions), (said, message)
    assert positions[0] == 0


def _recall_per_present_class(scores, labels):
    predicted = scores.argmax(1)
    recalls = []
    for c in labels.unique():
        recalls.append(((predicted == c) & (labels == c)).sum() / (labels == c).sum())
    return torch.stack(recalls).mean()


def _accuracy_at_thresholds(scores, labels):
    thresholds = torch.linspace(-1, 1, 5, device=scores.device)
    total = torch.zeros((), device=scores.device)
    for t in thresholds:
        total = total + ((scores > t) == (labels == 1)).float().mean()
    return total / 5


def _accuracy_at_threshold_positions(scores, labels):
    thresholds = torch.linspace(-1, 1, 5, device=scores.device)
    total = torch.zeros((), device=scores.device)
    for i in range(len(thresholds)):
        total = total + ((scores > thresholds[i]) == (labels == 1)).float().mean()
    return total / 5


def test_a_loop_over_targets_in_a_comparison_metric_is_still_told_to_batch():
    with pytest.raises(ml.CompileError) as caught:
        ml.metric(name="refused_recall_per_present_class", register=False)(_recall_per_present_class)
    message = str(caught.value)
    assert "iterating over a tensor at " in message
    assert _line_in(_recall_per_present_class, "for c in labels.unique():") in message
    assert "Write the loop as a batched tensor operation" in message
    assert "UniLoss" not in message and "range(len(" not in message  # a loop over data, not constants


def test_a_loop_over_constant_thresholds_is_told_to_batch_or_run_over_positions():
    scores, labels = torch.randn(12, generator=torch.Generator().manual_seed(0)), torch.arange(12) % 2
    with pytest.raises(ml.CompileError) as caught:
        ml.metric(name="refused_accuracy_at_thresholds", register=False)(_accuracy_at_thresholds)(scores, labels)
    message = str(caught.value)
    assert "iterating over a tensor at " in message
    assert _line_in(_accuracy_at_thresholds, "for t in thresholds:") in message
    assert "Write the loop as a batched tensor operation" in message
    assert "`for i in range(len(edges))` with `edges[i]`" in message and "UniLoss" not in message
    # and the rewrite it offers compiles, to the function's own value
    rewritten = ml.metric(name="accuracy_at_threshold_positions", register=False)(_accuracy_at_threshold_positions)
    assert torch.allclose(rewritten(scores, labels), _accuracy_at_threshold_positions(scores, labels))


def test_a_branch_in_a_comparison_metric_keeps_its_own_message():
    with pytest.raises(ml.CompileError) as caught:
        @ml.metric(register=False)
        def guarded_accuracy(scores, labels):
            if (scores > 0).any():
                return ((scores > 0) == (labels == 1)).float().mean()
            return (labels == 0).float().mean()
    message = str(caught.value)
    assert message.startswith("metric `guarded_accuracy`: a comparison of scores drives Python control flow at ")
    assert f"{HERE}:{_line_of('if (scores > 0).any():')}" in message
    assert "torch.where" in message and "UniLoss" not in message


def test_a_while_loop_on_a_tensor_is_refused_without_tracing_on_forever():
    with pytest.raises(ml.CompileError) as caught:
        @ml.metric(register=False)
        def countdown(scores, labels):
            left = (scores > 0).float().sum()
            while left > 0:
                left = left - 1
            return left
    message = str(caught.value)
    assert f"{HERE}:{_line_of('while left > 0:')}" in message
    assert "a comparison of scores drives Python control flow" in message and "torch.where" in message


def test_positions_in_arithmetic_are_not_said_to_be_score_values():
    # the argmax is a function of comparisons even where its use has no rewrite: not "cannot become a UniLoss"
    with pytest.raises(ml.CompileError) as caught:
        @ml.metric(register=False)
        def class_distance(scores, labels):
            return (scores.argmax(1) - labels).abs().float().mean()
    message = str(caught.value)
    assert f"{HERE}:{_line_of('return (scores.argmax(1) - labels).abs()')}" in message
    assert "(op `.argmax()`)" in message and "the rank-type ops that do are" in message
    assert "UniLoss" not in message
