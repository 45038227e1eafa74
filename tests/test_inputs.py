"""Bad inputs fail at call time with an InputError naming the argument and what was expected."""

import pytest
import torch

import metricloss as ml


@pytest.fixture(params=["metric", "loss"])
def call(request):
    """Each check holds both for evaluating a metric and for its loss."""
    def run(name, *arguments):
        if request.param == "metric":
            return ml.get_metric(name)(*arguments)
        return ml.UniLoss(name)(*arguments)
    return run


def test_length_mismatch(call):
    with pytest.raises(ml.InputError, match=r"labels has N = 5 but scores has N = 6; expected scores \[N\], labels \[N\]"):
        call("auc", torch.randn(6), torch.tensor([0, 1, 0, 1, 1]))


def test_wrong_number_of_dimensions(call):
    with pytest.raises(ml.InputError, match=r"scores must have shape \[N, C\] \(2 dimensions\), got \(8,\)"):
        call("accuracy", torch.randn(8), torch.zeros(8, dtype=torch.long))


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf")])
def test_non_finite_scores(call, bad):
    scores = torch.randn(6)
    scores[3] = bad
    with pytest.raises(ml.InputError, match=rf"scores contain {bad} at index \(3,\); scores must be finite"):
        call("auc", scores, torch.tensor([0, 1, 0, 1, 1, 0]))


def test_labels_out_of_range(call):
    with pytest.raises(ml.InputError, match=r"labels must hold class indices in \[0, 2\); found 2 at index \(1,\)"):
        call("average_precision", torch.randn(3), torch.tensor([0, 2, 1]))


def test_class_index_beyond_the_number_of_classes(call):
    with pytest.raises(ml.InputError, match=r"labels must hold class indices in \[0, 4\) \(C = 4\); found -1"):
        call("accuracy", torch.randn(3, 4), torch.tensor([0, -1, 3]))


def test_float_labels(call):
    with pytest.raises(ml.InputError, match=r"labels must be an integer \(or bool\) tensor of class indices, got torch.float32; convert with `labels.long\(\)`"):
        call("auc", torch.randn(4), torch.tensor([0.0, 1.0, 1.0, 0.0]))


def test_integer_scores(call):
    with pytest.raises(ml.InputError, match="scores must be a floating-point tensor of model outputs, got torch.int64"):
        call("auc", torch.tensor([1, 2, 3]), torch.tensor([0, 1, 1]))


def test_not_a_tensor(call):
    with pytest.raises(ml.InputError, match=r"labels \(argument 2\) must be a torch.Tensor, got a list of 3 items"):
        call("auc", torch.randn(3), [0, 1, 1])


def test_missing_target(call):
    with pytest.raises(ml.InputError, match=r"takes 2 arguments \(scores, labels\); got 1"):
        call("auc", torch.randn(3))


def test_different_devices(call):
    with pytest.raises(ml.InputError, match="labels is on meta but scores is on cpu; move them to one device"):
        call("auc", torch.randn(3), torch.zeros(3, dtype=torch.long, device="meta"))


def test_bool_labels_are_accepted():
    scores = torch.tensor([0.9, 0.1, 0.5])
    assert ml.get_metric("auc")(scores, torch.tensor([True, False, False])).item() == 1.0


def test_metric_without_declared_shapes_reports_where_it_failed():
    @ml.metric(name="rowwise_wins")
    def rowwise_wins(scores, other):
        return (scores > other).float().mean()

    with pytest.raises(ml.InputError, match=r"metric `rowwise_wins` failed on these inputs \(scores \(3,\), targets \[\(4,\)\]\)"):
        rowwise_wins(torch.randn(3), torch.randn(4))


def test_a_declarations_check_runs_on_every_call_with_the_parameters():
    seen = []

    def at_most_one_positive(scores, labels, *, margin):
        seen.append(margin)
        return None if int(labels.sum()) <= 1 else f"{int(labels.sum())} positives; give at most one (margin {margin})"

    @ml.metric(register=False, shapes={"scores": "N", "labels": "N"}, classes={"labels": 2}, check=at_most_one_positive)
    def above_margin(scores, labels, *, margin=0.5):
        return (scores[labels == 1] > margin).float().mean()

    assert above_margin(torch.tensor([1.0, 0.0]), torch.tensor([1, 0])).item() == 1.0
    with pytest.raises(ml.InputError, match=r"metric `above_margin`: 2 positives; give at most one \(margin 0.25\)"):
        above_margin(torch.tensor([1.0, 0.0]), torch.tensor([1, 1]), margin=0.25)
    with pytest.raises(ml.InputError, match="2 positives"):
        ml.UniLoss(above_margin)(torch.tensor([1.0, 0.0]), torch.tensor([1, 1]))
    assert seen == [0.5, 0.25, 0.5]


def test_a_check_that_returns_no_message_is_a_compile_error():
    @ml.metric(register=False, check=lambda scores, labels: False)
    def anything(scores, labels):
        return (scores > labels).float().mean()

    with pytest.raises(ml.CompileError, match=r"check= must return a message \(str\) or None, got bool"):
        anything(torch.randn(3), torch.randn(3))


def test_an_example_replaces_the_synthetic_batch():
    def positive_sizes(seed):
        generator = torch.Generator().manual_seed(seed)
        return torch.randn(4, generator=generator), torch.rand(4, generator=generator) + 1

    @ml.metric(register=False, shapes={"scores": "N", "size": "N"}, example=positive_sizes)
    def within(scores, size):
        return (scores.abs() < size).float().mean()

    scores, size = within.declaration.spec.synthetic(seed=3)
    assert torch.equal(scores, positive_sizes(3)[0]) and bool((size >= 1).all())


def test_value_checks_find_the_first_bad_value_after_one_combined_test():
    """Labels in range and scores not finite: the scores are named first, as before."""
    scores = torch.tensor([[0.0, float("nan")], [1.0, 0.0]])
    with pytest.raises(ml.InputError, match=r"scores contain nan at index \(0, 1\)"):
        ml.get_metric("accuracy")(scores, torch.tensor([0, 1]))
    with pytest.raises(ml.InputError, match=r"found 5 at index \(1,\)"):
        ml.get_metric("accuracy")(scores.nan_to_num(), torch.tensor([0, 5]))
