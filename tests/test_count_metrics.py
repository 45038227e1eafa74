"""Count-formula metrics: exact against scikit-learn, safe to parse, and trainable.

The built-ins are imported directly, so they register without their entry points.
"""

import math

import metricloss_builtins.balanced_accuracy
import metricloss_builtins.f1
import metricloss_builtins.fbeta
import metricloss_builtins.iou
import metricloss_builtins.iou_macro
import metricloss_builtins.mcc
import metricloss_builtins.precision
import metricloss_builtins.recall
import numpy as np
import pytest
import sympy
import torch
from hypothesis import given
from hypothesis import strategies as st
from sklearn.metrics import (
    f1_score,
    fbeta_score,
    jaccard_score,
    precision_score,
)

import metricloss as ml
from count_strategies import THRESHOLDS, binary_batches_any_labels, thresholds
from metricloss.compiler.counts import count_metric, formula_text
from metricloss.compiler.formulas import parse_formula
from references import ANY_LABELS, BINARY_REFERENCES
from strategies import binary_batches, multiclass_batches
from sympy_work import SympyWork

BUILTIN_MODULES = {
    "f1": metricloss_builtins.f1, "fbeta": metricloss_builtins.fbeta,
    "precision": metricloss_builtins.precision, "recall": metricloss_builtins.recall,
    "mcc": metricloss_builtins.mcc, "iou": metricloss_builtins.iou,
    "iou_macro": metricloss_builtins.iou_macro,
    "balanced_accuracy": metricloss_builtins.balanced_accuracy,
}


def predictions(scores: torch.Tensor, threshold: float) -> np.ndarray:
    return (scores > threshold).long().numpy()


# -- exactness ------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", sorted(BINARY_REFERENCES))
@given(batch=binary_batches(), threshold=thresholds())
def test_binary_metrics_equal_scikit_learn(name, batch, threshold):
    scores, labels = batch
    value = ml.get_metric(name, threshold=threshold)(scores, labels).item()
    expected = BINARY_REFERENCES[name](labels.numpy(), predictions(scores, threshold))
    assert value == pytest.approx(expected, abs=1e-6)


@pytest.mark.filterwarnings("ignore:A single label was found:UserWarning")  # sklearn, for mcc
@pytest.mark.parametrize("name", ANY_LABELS)
@given(batch=binary_batches_any_labels(), threshold=thresholds())
def test_single_class_batches_follow_zero_division(name, batch, threshold):
    scores, labels = batch
    value = ml.get_metric(name, threshold=threshold)(scores, labels).item()
    expected = BINARY_REFERENCES[name](labels.numpy(), predictions(scores, threshold))
    assert value == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("beta", [0.0, 0.5, 2.0, 3.0])
@given(batch=binary_batches_any_labels(), threshold=thresholds())
def test_fbeta_equals_scikit_learn(beta, batch, threshold):
    scores, labels = batch
    value = ml.get_metric("fbeta", beta=beta, threshold=threshold)(scores, labels).item()
    expected = fbeta_score(labels.numpy(), predictions(scores, threshold), beta=beta, zero_division=0.0)
    assert value == pytest.approx(expected, abs=1e-6)


@given(multiclass_batches())
def test_iou_macro_equals_scikit_learn(batch):
    scores, labels = batch
    expected = jaccard_score(labels.numpy(), scores.argmax(1).numpy(), average="macro", zero_division=0.0)
    assert ml.get_metric("iou_macro")(scores, labels).item() == pytest.approx(expected, abs=1e-6)


F1_MACRO = count_metric("2*TP / (2*TP + FP + FN)", name="test_counts_f1_macro", average="macro", best=1.0)
PRECISION_MACRO = count_metric("TP / (TP + FP)", name="test_counts_precision_macro", average="macro")


@given(multiclass_batches())
def test_macro_formulas_equal_scikit_learn(batch):
    scores, labels = batch
    y, p = labels.numpy(), scores.argmax(1).numpy()
    assert F1_MACRO(scores, labels).item() == pytest.approx(
        f1_score(y, p, average="macro", zero_division=0.0), abs=1e-6)
    assert PRECISION_MACRO(scores, labels).item() == pytest.approx(
        precision_score(y, p, average="macro", zero_division=0.0), abs=1e-6)


def test_macro_averages_over_classes_in_labels_or_predictions():
    # 4 classes; class 3 is neither a label nor predicted, class 2 is predicted but no label.
    scores = torch.tensor([[3.0, 0, 0, 0], [0, 3.0, 0, 0], [0, 0, 3.0, 0]])
    labels = torch.tensor([0, 1, 1])
    assert ml.get_metric("iou_macro")(scores, labels).item() == pytest.approx((1 + 0.5 + 0) / 3)


def test_two_classes_macro():
    scores = torch.tensor([[0.1, 0.9], [0.8, 0.2], [0.3, 0.4]])
    labels = torch.tensor([1, 1, 0])
    expected = jaccard_score(labels.numpy(), scores.argmax(1).numpy(), average="macro")
    assert ml.get_metric("iou_macro")(scores, labels).item() == pytest.approx(expected)


ZERO_DIVISION_ONE = count_metric("TP / (TP + FP)", name="test_counts_precision_zd1", zero_division=1.0)
ZERO_DIVISION_NAN = count_metric("TP / (TP + FP)", name="test_counts_precision_nan", zero_division=float("nan"))


@given(binary_batches_any_labels(), thresholds())
def test_zero_division_value_is_scikit_learns(batch, threshold):
    scores, labels = batch
    bound = ml.get_metric(ZERO_DIVISION_ONE, threshold=threshold)
    expected = precision_score(labels.numpy(), predictions(scores, threshold), zero_division=1.0)
    assert bound(scores, labels).item() == pytest.approx(expected, abs=1e-6)


def test_all_negative_predictions_give_zero_division():
    scores, labels = torch.tensor([-0.5, -0.2, -0.1]), torch.tensor([1, 0, 1])
    assert ml.get_metric("precision")(scores, labels).item() == 0.0
    assert ml.get_metric("f1")(scores, labels).item() == 0.0
    assert ZERO_DIVISION_ONE(scores, labels).item() == 1.0
    assert math.isnan(ZERO_DIVISION_NAN(scores, labels).item())
    assert ml.get_metric("f1", threshold=-1.0)(scores, labels).item() == pytest.approx(0.8)


def test_sympy_expression_and_derived_counts():
    tp, fp, p = sympy.symbols("TP FP P")
    from_sympy = count_metric(tp / (tp + fp), name="test_counts_precision_sympy")
    derived = count_metric("TP / P", name="test_counts_recall_p")
    scores, labels = torch.tensor([0.5, -0.5, 0.2, 0.3, -0.1]), torch.tensor([1, 1, 0, 1, 0])
    assert from_sympy(scores, labels).item() == pytest.approx(ml.get_metric("precision")(scores, labels).item())
    assert derived(scores, labels).item() == pytest.approx(ml.get_metric("recall")(scores, labels).item())


# -- the ideal and the loss -----------------------------------------------------------------------

def perfect_scores(labels: torch.Tensor, threshold: float) -> torch.Tensor:
    return labels.float() * 2 - 1 + threshold


@pytest.mark.parametrize("name", sorted(BINARY_REFERENCES))
@pytest.mark.parametrize("threshold", [0.0, 3.0, -7.5])
def test_binary_ideal_is_found_for_any_threshold(name, threshold):
    bound = ml.get_metric(name, threshold=threshold)
    labels = torch.tensor([1, 0, 0, 1, 1, 0, 0])
    assert bound(perfect_scores(labels, threshold), labels).item() == 1.0
    scores = torch.linspace(-1, 1, 7)
    loss_fn = ml.UniLoss(bound, generator=torch.Generator().manual_seed(0))
    loss_fn(scores, labels)
    assert loss_fn.last.ideal_value.item() == 1.0
    assert loss_fn.last.ideal_source.startswith("labels as levels (higher labels")  # positives above


def test_macro_ideal_is_the_true_class_on_top():
    metric = ml.get_metric("iou_macro")
    labels = torch.tensor([0, 2, 1, 2])
    scores = torch.randn(4, 3)
    ideal = metric.compiled.ideal(metric.binaries(scores, labels), scores, (labels,))
    assert ideal.value == 1.0 and ideal.source == "labels as the top class along dim 1"
    assert ideal.free is not None and bool(ideal.free.any())  # the order among rivals is free
    assert metric(torch.nn.functional.one_hot(labels, 3).float(), labels).item() == 1.0


@pytest.mark.parametrize("name", sorted(set(BINARY_REFERENCES)))
def test_uniloss_gradients_raise_positives(name):
    generator = torch.Generator().manual_seed(3)
    scores = torch.randn(48, generator=generator, requires_grad=True)
    labels = (torch.rand(48, generator=generator) < 0.4).long()
    loss = ml.UniLoss(name, generator=torch.Generator().manual_seed(0))(scores, labels)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(scores.grad).all()
    assert scores.grad[labels == 1].mean() < 0
    if name != "recall":  # recall does not see negatives
        assert scores.grad[labels == 0].mean() > 0


def test_uniloss_gradients_raise_the_true_class():
    generator = torch.Generator().manual_seed(3)
    scores = torch.randn(24, 5, generator=generator, requires_grad=True)
    labels = torch.randint(5, (24,), generator=generator)
    loss = ml.UniLoss("iou_macro", generator=torch.Generator().manual_seed(0))(scores, labels)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(scores.grad).all()
    true_class = torch.nn.functional.one_hot(labels, 5).bool()
    assert scores.grad[true_class].mean() < 0 < scores.grad[~true_class].mean()


def test_same_seed_same_loss():
    scores, labels = torch.randn(20, generator=torch.Generator().manual_seed(1)), torch.arange(20) % 2
    losses = [ml.UniLoss("mcc", generator=torch.Generator().manual_seed(5))(scores, labels) for _ in range(2)]
    assert losses[0].item() == losses[1].item()


# -- declarations and the formula language --------------------------------------------------------

@pytest.mark.parametrize("formula, found", [
    ("__import__('os')", "the call `__import__('os')`"),
    ("__import__('os').system('true')", "the call `__import__('os').system('true')`"),
    ("TP.__class__", "attribute access `TP.__class__`"),
    ("foo + TP", "`foo`, which is neither a count nor a parameter"),
    ("TP if FP else FN", "a conditional expression"),
    ("TP ^ 2", "`^` (use ** for powers)"),
    ("(lambda: TP)()", "the call"),
    ("'TP'", "the constant 'TP'"),
    ("TP and FP", "`and`/`or`"),
    ("TP > FP", "a comparison"),
    ("sqrt(TP, FP)", "sqrt takes exactly one argument"),
    ("log(TP)", "the only function is sqrt"),
    ("TP +", "is not an arithmetic expression"),
    ("[TP][0]", "indexing"),
])
def test_bad_formula_strings_are_rejected_before_evaluation(formula, found):
    with SympyWork() as work, pytest.raises(ml.CompileError) as error:
        count_metric(formula, name="test_counts_bad")
    assert work.calls == 0  # refused from its syntax alone: sympy never built any of it
    message = str(error.value)
    assert found in message
    assert "count_metric `test_counts_bad` at" in message and "test_count_metrics.py" in message
    assert "a formula may use the counts TP, FP, FN, TN" in message


@pytest.mark.parametrize("formula, found", [
    ("TP**FP", "an exponent must be a number between"),
    ("1 + 2", "does not depend on any count"),
    ("TP - TP", "does not depend on any count"),
    (sympy.sin(sympy.Symbol("TP")), "`sin`"),
    (sympy.Symbol("TP") + sympy.pi, "`Pi` (pi)"),
    (sympy.Symbol("TP") * sympy.I, "`ImaginaryUnit`"),
    (sympy.Symbol("TP") + sympy.oo, "only finite real numbers"),
    (sympy.Symbol("TP") + sympy.Symbol("x"), "x, which are neither counts nor parameters"),
    (42, "a string or a sympy expression"),
])
def test_bad_formula_expressions_are_rejected(formula, found):
    with pytest.raises(ml.CompileError, match="count_metric `test_counts_bad`") as error:
        count_metric(formula, name="test_counts_bad")
    assert found in str(error.value)


def test_formula_numbers_are_exact():
    assert parse_formula("TP / 3 + 0.5 * FN") == sympy.Symbol("TP") / 3 + sympy.Float(0.5) * sympy.Symbol("FN")
    assert parse_formula("(TP/P + TN/N) / 2").free_symbols == set(sympy.symbols("TP P TN N"))


@pytest.mark.parametrize("arguments, found", [
    ({"average": "micro"}, "average='micro' is not one of"),
    ({"zero_division": "warn"}, "zero_division='warn' must be a number"),
    ({"parameters": {"TP": 1.0}}, "parameter name 'TP' is taken"),
    ({"parameters": {"threshold": 1.0}}, "parameter name 'threshold' is taken"),
    ({"parameters": {"_beta": 1.0}}, "or private"),
    ({"parameters": {"2x": 1.0}}, "is not a Python identifier"),
    ({"parameters": {"beta": "one"}}, "must be a finite real number"),
])
def test_bad_declarations_are_rejected(arguments, found):
    with pytest.raises(ml.CompileError) as error:
        count_metric("TP / (TP + FP)", name="test_counts_bad", **arguments)
    assert found in str(error.value)


def test_parameters_are_keyword_only_and_checked_at_binding():
    weighted = count_metric("TP / (TP + weight * FP)", name="test_counts_weighted",
                            parameters={"weight": 2.0})
    assert weighted.params == {"threshold": 0.0, "weight": 2.0}
    scores, labels = torch.tensor([0.5, 0.4, -0.3]), torch.tensor([1, 0, 1])
    assert weighted(scores, labels).item() == pytest.approx(1 / 3)
    assert ml.get_metric("test_counts_weighted", weight=1.0)(scores, labels).item() == pytest.approx(0.5)
    with pytest.raises(ml.InputError, match="weight must be a finite real number"):
        ml.get_metric("test_counts_weighted", weight="heavy")
    with pytest.raises(ml.InputError, match="threshold must be a finite real number"):
        ml.get_metric("test_counts_weighted", threshold=float("inf"))
    with pytest.raises(ml.InputError, match="no parameter"):
        ml.get_metric("test_counts_weighted", beta=1.0)


def test_parameters_that_divide_by_zero_are_rejected():
    scaled = count_metric("TP / (scale * (TP + FP))", name="test_counts_scaled", parameters={"scale": 1.0})
    with pytest.raises(ml.InputError, match="divides by zero"):
        scaled.bind(scale=0.0)


def test_builtins_are_named_as_their_files():
    for name, module in BUILTIN_MODULES.items():
        declared = getattr(module, name)
        assert declared.name == name
        assert ml.get_metric(name) is declared
        assert declared.declaration.fn.__module__ == module.__name__  # what plugin checks compare
        assert declared.best == 1.0 and declared.higher_is_better


def test_formula_text_renders_the_declaration():
    text = formula_text(ml.get_metric("mcc"))
    assert "mcc" in text.pretty and "TP" in text.pretty
    assert "sqrt" in text.latex and r"\frac" in text.latex and "mcc" in text.latex
    assert "threshold" in text.counts
    bound = formula_text(ml.get_metric("fbeta", beta=2.0))
    assert "beta" in bound.pretty  # the declared formula; bound values are the metric's params
    macro = formula_text(ml.get_metric("iou_macro"))
    assert "mean over classes c" in macro.pretty and "TP_c" in macro.pretty
    assert r"\operatorname{mean}_{c}" in macro.latex and "TP_{c}" in macro.latex
    assert formula_text(ml.get_metric("auc")) is None


def test_explain_shows_the_count_blocks():
    text = ml.explain(ml.get_metric("f1", threshold=0.5))
    assert "labels == 1" in text and "> 0.5" in text


@given(st.sampled_from(THRESHOLDS))
def test_metric_value_is_computed_through_the_binaries(threshold):
    bound = ml.get_metric("f1", threshold=threshold)
    scores, labels = torch.tensor([0.3, -0.1, 0.2, -0.4]), torch.tensor([1, 1, 0, 0])
    binaries = bound.binaries(scores, labels)
    assert binaries.hard.tolist() == (scores[labels == 1] > threshold).tolist() + (scores[labels == 0] > threshold).tolist()
    perfect = torch.tensor([True, True, False, False])
    assert bound.program.value(binaries, perfect).item() == 1.0


@pytest.mark.parametrize("formula, message", [
    ("TP*9**9**9**9", "the power `9 ** 9 ** 9 ** 9` (an exponent must be a number between -16 and 16)"),
    ("2**TP", "an exponent must be a number between -16 and 16"),
    ("1e400*TP", "numbers must be finite, at most 1e+15 in size"),
    ("TP*1e16 / (TP + FP)", "numbers must be finite"),
    ("+".join(["TP"] * 20_000), "formula of 59,999 characters is longer than the 2,000 allowed"),
    ("(" * 300 + "TP" + ")" * 300, "is not an arithmetic expression"),
])
def test_formulas_that_would_hang_or_overflow_are_refused_before_sympy(formula, message):
    with pytest.raises(ml.CompileError) as caught:
        ml.count_metric(formula, name="bounded")
    assert message in str(caught.value)


def test_bounded_powers_and_numbers_still_compile():
    metric = ml.count_metric("TP**2 / (TP + FP)**0.5 * 1e3 * TP**-1", name="bounded_ok")
    scores, labels = torch.tensor([1.0, -1.0, 2.0, 0.5]), torch.tensor([1, 0, 1, 0])
    tp, fp = 2.0, 1.0  # scores above 0: 1.0 (positive), 2.0 (positive), 0.5 (negative)
    assert float(metric(scores, labels)) == pytest.approx(tp**2 / (tp + fp) ** 0.5 * 1e3 / tp)
