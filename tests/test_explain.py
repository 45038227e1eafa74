"""``explain``: undecorated functions, the user's own comparisons, names in g, the ideal per block."""

import re
import textwrap

import pytest
import torch

import metricloss as ml
from metricloss.cli import main
from metricloss.compiler.explain import dot, find_metric, formula
from metricloss.compiler.metric import Metric
from metricloss.errors import CompileError, PluginError
from metricloss.registry import REGISTRY

PLAIN_F1 = """
    import torch


    def f1(scores, labels):
        predicted = scores > 0
        actual = labels == 1
        tp = (predicted & actual).sum()
        fp = (predicted & ~actual).sum()
        fn = (~predicted & actual).sum()
        return 2 * tp / (2 * tp + fp + fn)


    def tutorial_accuracy(scores, labels):
        _, predicted = torch.max(scores, 1)
        correct = (predicted == labels)
        return correct.float().mean()


    def spelled(scores, labels):
        hits = 0 < scores[labels == 1]
        misses = scores[labels == 0].gt(0.5)
        inside = (-1 < scores) & (scores < 1)
        return hits.float().mean() + misses.float().mean() + inside.float().mean()


    def weighted(scores, labels, weights):
        return (((scores > 0) & (labels == 1)).float() * weights).sum()


    def needs_k(scores, labels, *, k):
        return (scores > k).float().mean()


    def per_class(scores, labels):
        total = 0
        for c in range(scores.shape[1]):  # a shape as a number: compiled per shape
            hit = scores[:, c] > 0
            total = total + (hit == (labels == c)).float().mean()
        return total / scores.shape[1]


    def per_class_weighted(scores, labels, weights):
        total = 0
        for c in range(scores.shape[1]):
            total = total + ((scores[:, c] > 0) * weights).sum()
        return total


    def mask_iou(logits, masks):
        pred = logits > 0
        target = masks.bool()
        inter = (pred & target).float().sum((1, 2))
        union = (pred | target).float().sum((1, 2))
        return torch.stack([inter.sum(), union.sum()]).prod()


    THRESHOLD = 0.5


    class Scorer:
        def __call__(self, scores, labels):
            return (scores > 0).float().mean()
"""


@pytest.fixture
def module(tmp_path, monkeypatch, request):
    """A module of undecorated metric functions, importable under a name of its own per test."""
    name = "explain_" + re.sub(r"\W", "_", request.node.name)
    (tmp_path / f"{name}.py").write_text(textwrap.dedent(PLAIN_F1))
    monkeypatch.syspath_prepend(str(tmp_path))
    return name


def section(text: str, title: str) -> str:
    """The lines of one section of explain's text (up to the next blank line before a title)."""
    start = text.index(title)
    rest = text[start:]
    ends = [rest.find("\n\n" + other) for other in ("lowering:", "re-expression g as", "ideal b*")]
    ends = [e for e in ends if e > 0]
    return rest[:min(ends)] if ends else rest


def test_an_undecorated_function_is_compiled_without_registering_it(module):
    text = ml.explain(f"{module}:f1")
    assert text.startswith("metric `f1` (higher is better), declared at ")
    assert "b0 (predicted) = [scores > 0]  (your code)" in text
    assert REGISTRY.get("metric", "f1").declaration.fn.__module__ != module  # the count metric is kept


def test_a_decorated_metric_in_a_module_still_works(tmp_path, monkeypatch):
    (tmp_path / "explain_decorated.py").write_text(
        "import metricloss as ml\n\n"
        "@ml.metric(best=1.0, register=False)\n"
        "def folder_auc(scores, labels):\n"
        "    pos, neg = scores[labels == 1], scores[labels == 0]\n"
        "    return (pos[:, None] > neg[None, :]).float().mean()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    found = find_metric("explain_decorated:folder_auc")
    assert isinstance(found, Metric) and found.name == "folder_auc"
    assert "b0 = [pos[:, None] > neg[None, :]]  (your code; traced as scores[(labels == 1)][:, None] > " \
           "scores[(labels == 0)][None, :])" in ml.explain(found)


def test_the_command_explains_an_undecorated_function(module, capsys):
    assert main(["explain", f"{module}:f1"]) == 0
    assert capsys.readouterr().out == ml.explain(f"{module}:f1") + "\n"


def test_a_plain_function_object_is_explained_too(module):
    import importlib

    fn = importlib.import_module(module).f1
    assert "b0 (predicted) = [scores > 0]" in ml.explain(fn)


def test_blocks_show_the_comparison_as_written_and_as_traced():
    text = ml.explain("auc")
    assert ("b0 (above) = [positives[:, None] > negatives[None, :]]  (your code; traced as "
            "scores[(labels == 1)][:, None] > scores[(labels == 0)][None, :])") in text
    assert ("b1 (at_or_above) = [positives[:, None] >= negatives[None, :]]  (your code; traced as "
            "scores[(labels == 1)][:, None] >= scores[(labels == 0)][None, :])") in text


def test_reflected_method_and_several_comparisons_on_a_line_are_matched(module):
    text = section(ml.explain(f"{module}:spelled"), "binary variables")
    assert "b0 (hits) = [0 < scores[labels == 1]]  (your code; traced as scores[(labels == 1)] > 0)" in text
    assert "b1 (misses) = [scores[labels == 0].gt(0.5)]  (your code; traced as scores[(labels == 0)] > 0.5)" in text
    # two comparisons on one line, one of them reflected by Python: each finds its own
    assert "b2 = [-1 < scores]  (your code; traced as scores > -1)" in text
    assert "b3 = [scores < 1]  (your code)" in text


def test_a_lowered_block_names_the_expression_it_came_from(module):
    assert "lowered from your `scores.argmax(1) == labels`" in ml.explain("accuracy")
    text = ml.explain(f"{module}:tutorial_accuracy")
    assert "b0 = [scores[..., labels] ⋗ scores[..., c]] along dim 1" in text
    assert "lowered from your `predicted == labels`" in text


def test_without_readable_source_the_traced_rendering_stays():
    namespace = {}
    exec(compile("def unseen(scores, labels):\n"
                 "    above = scores[labels == 1][:, None] > scores[labels == 0][None, :]\n"
                 "    return above.float().mean()\n", "<unseen>", "exec"), namespace)
    text = ml.explain(namespace["unseen"])
    assert "b0 = [scores[(labels == 1)][:, None] > scores[(labels == 0)][None, :]]\n" in text
    assert "your code" not in text and "mean(b₀)" in text
    # generated source (a count metric) falls back the same way
    assert "b0 = [scores[(labels == 1)] > 0.0]\n" in ml.explain("f1")


def test_the_formula_and_the_code_call_blocks_after_the_users_variables(module):
    text = ml.explain("auc")
    assert "mean(above + at_or_above)" in section(text, "re-expression g as a formula")
    assert "def g(above, at_or_above):" in text and "above.float()" in text
    f1 = ml.explain(f"{module}:f1")
    formula_text = section(f1, "re-expression g as a formula")
    assert "sum(actual ∧ predicted)" in formula_text
    assert "where actual = (labels == 1)" in formula_text and "t0 = ~actual" in formula_text
    assert "def g(predicted, actual, t0):" in f1
    # the plain formula (and --latex) keeps b_0, b_1
    assert formula("auc").latex == r"\frac{\operatorname{mean}{\left(b_{0} + b_{1} \right)}}{2}"
    assert "above" in formula("auc", names=True).pretty


def test_names_that_collide_fall_back_to_b_i(tmp_path, monkeypatch):
    (tmp_path / "explain_collide.py").write_text(
        "def collide(scores, labels):\n"
        "    mean = scores > 0\n"  # `mean` is also a name in g's code
        "    close = (scores - labels).abs() <= 0.5\n"  # one comparison, two blocks
        "    return mean.float().mean() + close.float().mean()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    text = ml.explain("explain_collide:collide")
    assert "b0 = [scores > 0]  (your code)" in text
    assert "b1 = [(scores - labels).abs() <= 0.5]  (your code; traced as (scores - labels) <= 0.5)" in text
    assert "mean(b₀) + mean(b₁ ∧ b₂)" in section(text, "re-expression g as a formula")


FX_NAME = re.compile(r"\b[a-z][a-z_]*_\d+\b")  # bool_1, float_1, eq_1, sum_2, ...


@pytest.mark.parametrize("name", ["auc", "accuracy", "average_precision", "precision_at_k", "recall_at_k",
                                  "pckh", "topk_accuracy", "iou_macro", "mean_reciprocal_rank", "f1"])
def test_no_fx_names_in_the_formula_or_the_binaries(name):
    metric = ml.get_metric(name)
    text = ml.explain(metric)
    shown = section(text, "binary variables") + section(text, "re-expression g as a formula")
    if metric.per_shape:  # topk_accuracy reads the number of classes (min(k, C))
        program = metric.compiled_for(torch.randn(6, 7), torch.randint(0, 7, (6,))).program
    else:
        program = metric.program
    g = program.g_module.graph
    internal = {str(n.target) for n in g.nodes if n.op == "placeholder"} - {f"b{i}" for i in range(9)}
    internal |= {n.name for n in g.nodes if n.op != "placeholder" and "_" in n.name}
    assert not FX_NAME.search(shown), FX_NAME.search(shown)
    for fx_name in internal:  # as a value (`zero_one(...)`, a function, may be called)
        assert not re.search(rf"(?<![\w.]){re.escape(fx_name)}\b(?!\()", shown), fx_name
    signature = next(line for line in text.splitlines() if line.startswith("  def g("))
    parameters = re.findall(r"\w+", signature[len("  def g("):])
    assert not set(parameters) & internal, signature


def test_the_undecorated_f1_formula_has_no_fx_names(module):
    text = ml.explain(f"{module}:f1")
    shown = section(text, "binary variables") + section(text, "re-expression g as a formula")
    for fx_name in ("eq", "gt", "invert", "and_", "bool_1", "float_1", "sum_1"):
        assert not re.search(rf"(?<![\w.]){fx_name}\b", shown), fx_name


def test_the_ideal_per_block_on_the_synthetic_batch():
    text = ml.explain("auc")
    assert "on a synthetic batch (scores (6,)): from labels as levels" in text
    assert "    b0 (above): 9 of 9 true (all true)" in text
    assert "    b1 (at_or_above): 9 of 9 true (all true)" in text
    ap = ml.explain("average_precision")
    assert "    b0: 6 of 9 true; 6 free; 3 constant whatever the scores" in ap
    assert "    b1: 0 of 9 true (all false)" in ap


def test_the_ideal_on_a_guessed_batch_when_no_shapes_are_declared(module):
    text = ml.explain(f"{module}:f1")
    assert ("on an example batch (scores (6,), labels (6,) of 0 and 1; guessed, as the declaration "
            "has no shapes=): from labels as levels") in text
    assert "    b0 (predicted): 3 of 6 true" in text
    accuracy = ml.explain(f"{module}:tutorial_accuracy")
    assert "(scores (6, 3), labels (6,) of classes 0..2; guessed" in accuracy
    assert "    b0: 12 of 12 true (all true)" in accuracy


def test_without_an_example_batch_the_ideal_says_how_it_is_found(module):
    text = ml.explain(f"{module}:weighted")
    assert "ideal b*: found on each batch from perfect scores built from the targets" in text
    assert ('no example batch: declare shapes= for every argument, e.g. shapes={"scores": "N", '
            '"labels": "N", "weights": "N"}') in text


def test_a_metric_compiled_per_shape_is_explained_through_compiled_for():
    auc = ml.get_metric("auc")
    shapes = []

    class CompiledPerShape(Metric):
        def __init__(self):
            self.declaration, self.params = auc.declaration, auc.params

        @property
        def compiled(self):
            raise CompileError("compiled per input shape: use compiled_for")

        def compiled_for(self, scores, *targets):
            shapes.append(tuple(scores.shape))
            return auc.compiled

    per_shape = CompiledPerShape()
    assert ml.explain(per_shape) == ml.explain(auc)
    assert shapes and set(shapes) == {(6,)}
    assert formula(per_shape).latex == formula(auc).latex
    assert dot(per_shape) == dot(auc)


def test_no_such_module(module):
    with pytest.raises(PluginError, match=r"cannot import 'explain_no_such_module' for "
                                          r"'explain_no_such_module:f1': No module named .*; run from the folder"):
        find_metric("explain_no_such_module:f1")


def test_no_such_attribute(module):
    with pytest.raises(PluginError, match=rf"module '{module}' has no 'nothing' \(from '{module}:nothing'\)"):
        find_metric(f"{module}:nothing")


def test_an_attribute_that_is_not_a_function(module):
    with pytest.raises(PluginError, match=rf"'{module}:THRESHOLD' is a float, not a function or a metric"):
        find_metric(f"{module}:THRESHOLD")
    with pytest.raises(PluginError, match=rf"'{module}:Scorer' is a type, not a function or a metric"):
        find_metric(f"{module}:Scorer")


def test_other_bad_references(module, tmp_path, capsys):
    with pytest.raises(PluginError, match="is not package.module:function"):
        find_metric(":f1")
    with pytest.raises(PluginError, match=r"needs \['k'\] .*give them defaults"):
        find_metric(f"{module}:needs_k")
    (tmp_path / "explain_broken.py").write_text("raise RuntimeError('no data here')\n")
    with pytest.raises(PluginError, match="importing 'explain_broken' .* failed: RuntimeError: no data here"):
        find_metric("explain_broken:f")
    assert main(["explain", f"{module}:THRESHOLD"]) == 2
    assert "is a float, not a function or a metric" in capsys.readouterr().err


def test_a_module_whose_own_import_fails(tmp_path, monkeypatch):
    (tmp_path / "explain_needs_more.py").write_text("import explain_not_installed\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(PluginError, match="importing 'explain_needs_more' .* failed: No module named "
                                          "'explain_not_installed'; install what it imports"):
        find_metric("explain_needs_more:f")


def test_a_function_compiled_per_shape_is_explained_on_a_guessed_batch(module):
    text = ml.explain(f"{module}:per_class")
    assert "(scores (6, 3), labels (6,) of classes 0..2; guessed" in text
    assert "b0 = [scores[:, c] > 0]  (your code; traced as scores[:, 0] > 0)" in text
    assert "b2 = [scores[:, c] > 0]  (your code; traced as scores[:, 2] > 0)" in text
    assert "mean(b₀ = t₀)" in text  # `hit` names three blocks: they keep b0, b1, b2


def test_a_function_compiled_per_shape_without_an_example_says_to_declare_shapes(module):
    with pytest.raises(CompileError, match=r"is compiled for each input shape .* declare the inputs' shapes, "
                                           r"e.g. @metricloss.metric\(shapes=\{\"scores\": \"...\", "):
        ml.explain(f"{module}:per_class_weighted")


def test_masks_guess_and_lists_in_the_formula(module):
    text = ml.explain(f"{module}:mask_iou")
    assert "on an example batch (logits (2, 3, 3), masks (2, 3, 3) of 0 and 1; guessed" in text
    shown = section(text, "re-expression g as a formula")
    assert "stack((" in shown and not FX_NAME.search(shown), shown
