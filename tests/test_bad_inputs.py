"""The bad-input matrix of the public API: every bad value given to a declaration, a lookup, a call,
a part or a plugin decorator is a MetricLossError of the right class whose message says what was
wrong and what to do (and, for a declaration, where: this file's line)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

import metricloss as ml

HERE = Path(__file__).name


def accuracy_fn(scores, labels):
    return (scores.argmax(1) == labels).float().mean()


def thresholded_fn(scores, labels):
    return ((scores > 0) == (labels == 1)).float().mean()


def starred_fn(scores, *targets):
    return (scores > 0).float().mean()


def declare(fn=accuracy_fn, **options):
    return ml.metric(**{"register": False, **options})(fn)


SHAPES = {"scores": "N C", "labels": "N"}
CLASSES = {"labels": "C"}


def my_auc_fn(scores, labels):  # the README's metric, without shapes=
    pos, neg = scores[labels == 1], scores[labels == 0]
    return (pos[:, None] > neg[None, :]).float().mean()


my_auc = ml.metric(best=1.0, register=False)(my_auc_fn)


@ml.metric(register=False, name="per_shape_accuracy")
def _per_shape(scores, labels):  # reads a shape as a number: compiled at its first batch
    return ((scores.argmax(1) == labels).float().sum() / len(labels))
BINARY = torch.tensor([0, 1, 0, 1, 1, 0])
CLASS3 = torch.tensor([0, 1, 2, 0, 1, 2])


def with_value(values, index, value):
    out = values.clone()
    out[index] = value
    return out


def pckh_batch(**change):
    generator = torch.Generator().manual_seed(0)
    batch = {
        "heatmaps": torch.randn(2, 3, 8, 8, generator=generator),
        "joints": torch.rand(2, 3, 2, generator=generator) * 7,
        "head_size": torch.full((2,), 4.0),
        "visible": torch.ones(2, 3, dtype=torch.bool),
    }
    batch.update(change)
    return tuple(batch.values())


def pckh(*batch, **params):
    return ml.get_metric("pckh", **params)(*batch)


def register_relaxation(name):
    return ml.relaxation(name=name)(lambda tau=1.0: ml.sigmoid(tau))


def register_twice(kind):
    if kind == "metric":
        ml.metric(name="bad_inputs_twice")(accuracy_fn)
        ml.metric(name="bad_inputs_twice")(thresholded_fn)
    else:
        def first(tau=1.0):
            return ml.sigmoid(tau)

        def second(tau=1.0):
            return ml.sigmoid(tau)
        ml.relaxation(name="bad_inputs_twice")(first)
        ml.relaxation(name="bad_inputs_twice")(second)


def interpolator_with_required_parameter():
    def needs_power(power):
        return ml.inverse_distance(power)
    return ml.interpolator(name="bad_inputs_required")(needs_power)


def broken_ideal_loss():
    metric = declare(best=1.0, ideal=lambda labels: labels.no_such_attribute)
    return ml.UniLoss(metric)(torch.randn(6, 3), CLASS3)


# (id, call, error class, what was wrong, what to do, whether the message points at this file)
with pytest.warns(ml.TieOrderWarning, match="scikit-learn"):  # topk itself: its k is what is checked
    @ml.metric(register=False)
    def _user_top5(scores, labels):
        return (scores.topk(5, 1).indices == labels[:, None]).any(1).float().mean()


CASES = [
    # the loss's parts
    ("sigmoid tau 0", lambda: ml.sigmoid(tau=0), ml.InputError,
     "sigmoid: tau must be a positive finite number, got 0", "pass a number above 0", False),
    ("sigmoid tau negative", lambda: ml.sigmoid(tau=-1.0), ml.InputError, "tau must be a positive finite number, got -1.0",
     "e.g. sigmoid(tau=1.0)", False),
    ("sigmoid tau inf", lambda: ml.sigmoid(tau=math.inf), ml.InputError, "got inf", "pass a number above 0", False),
    ("sigmoid tau string", lambda: ml.sigmoid(tau="1"), ml.InputError, "got '1'", "pass a number above 0", False),
    ("linear width 0", lambda: ml.linear(width=0), ml.InputError, "linear: width must be a positive finite number",
     "e.g. linear(width=1.0)", False),
    ("gaussian_cdf sigma nan", lambda: ml.gaussian_cdf(sigma=math.nan), ml.InputError,
     "gaussian_cdf: sigma must be a positive finite number", "pass a number above 0", False),
    ("inverse_distance power 0", lambda: ml.inverse_distance(power=0), ml.InputError,
     "inverse_distance: power must be a positive finite number, got 0", "pass a number above 0", False),
    ("gaussian_kernel bandwidth string", lambda: ml.gaussian_kernel("a"), ml.InputError,
     "bandwidth must be a positive finite number, got 'a'", "pass a number above 0", False),
    ("ideal count negative", lambda: ml.ideal(-1), ml.InputError, "ideal: count must be a non-negative int, got -1",
     "the number of anchors drawn per call, e.g. ideal(16)", False),
    ("random count float", lambda: ml.random(1.5), ml.InputError, "random: count must be a non-negative int, got 1.5",
     "e.g. random(16)", False),
    ("ideal count bool", lambda: ml.ideal(True), ml.InputError, "count must be a non-negative int, got True",
     "e.g. ideal(16)", False),
    ("good flips 0", lambda: ml.good(4, flips=0), ml.InputError, "good: flips must be a positive int, got 0",
     "e.g. good(16, flips=1)", False),
    ("good flips bool", lambda: ml.good(flips=True), ml.InputError, "flips must be a positive int, got True",
     "e.g. good(16, flips=1)", False),
    ("element_nearby direction", lambda: ml.element_nearby(4, direction="left"), ml.InputError,
     "element_nearby: direction must be one of", "('top', 'bottom', 'both'), got 'left'", False),
    ("hardest fraction above 1", lambda: ml.hardest(1.5), ml.InputError, "hardest: fraction must be in (0, 1], got 1.5",
     "e.g. hardest(0.2)", False),
    ("random_fraction 0", lambda: ml.random_fraction(0), ml.InputError,
     "random_fraction: fraction must be in (0, 1], got 0", "e.g. random_fraction(0.2)", False),
    ("hardest fraction string", lambda: ml.hardest("a"), ml.InputError, "fraction must be in (0, 1], got 'a'",
     "e.g. hardest(0.2)", False),
    ("hardest fraction None", lambda: ml.hardest(None), ml.InputError, "fraction must be in (0, 1], got None",
     "e.g. hardest(0.2)", False),
    ("UniLoss no samplers", lambda: ml.UniLoss("auc", samplers=[]), ml.InputError,
     "needs anchors to interpolate between", "give at least one sampler with a count above 0", False),
    ("UniLoss zero anchors", lambda: ml.UniLoss("auc", samplers=[ml.random(0), ml.ideal(0)]), ml.InputError,
     "at least one sampler with a count above 0", "the default is 16 each", False),
    ("UniLoss undefined policy", lambda: ml.UniLoss("auc", undefined="skip"), ml.InputError,
     "undefined must be one of", "got 'skip'", False),
    ("user topk past the classes", lambda: _user_top5(torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])),
     ml.InputError, "scores.topk(5) on scores with 3 entries along dim 1: k is out of range", "use a k from 1 to 3",
     False),
    ("user topk past the classes, as a loss", lambda: ml.UniLoss(_user_top5)(
        torch.randn(6, 3), torch.tensor([0, 1, 2, 0, 1, 2])),
     ml.InputError, "k is out of range (torch raises on this batch too)", "or min(k, scores.shape[1])", False),
    ("UniLoss without a metric", lambda: ml.UniLoss(None), ml.InputError,
     "got NoneType None", "a registered name (\"auc\") or a function decorated with @metricloss.metric", False),
    ("UniLoss generator as a seed", lambda: ml.UniLoss("auc", generator=42), ml.InputError,
     "generator must be a torch.Generator", "torch.Generator().manual_seed(42)", False),
    ("UniLoss samplers as one name", lambda: ml.UniLoss("auc", samplers="ideal"), ml.InputError,
     "got str 'ideal'", "samplers=[\"ideal\", \"random\"]", False),
    ("UniLoss selection as a name", lambda: ml.UniLoss("auc", selection="hardest"), ml.InputError,
     "got str 'hardest'", "such as ml.hardest(0.2)", False),
    ("UniLoss selection as a fraction", lambda: ml.UniLoss("auc", selection=0.2), ml.InputError,
     "got float 0.2", "such as ml.hardest(0.2)", False),
    ("UniLoss sizes not Sizes", lambda: ml.UniLoss("auc", sizes=5), ml.InputError,
     "got int 5", "must be an ml.Sizes(...)", False),
    ("UniLoss gather not a bool", lambda: ml.UniLoss("auc", gather=1), ml.InputError,
     "got 1", "gather must be True or False", False),
    ("Sizes negative", lambda: ml.Sizes(-1), ml.InputError,
     "dense must be a whole number of at least 0, got -1", "the default is 262144", False),
    ("Sizes chunk zero", lambda: ml.Sizes(g_chunk=0), ml.InputError,
     "g_chunk must be a whole number of at least 1, got 0", "the default is", False),
    ("UniLoss relaxation not a part", lambda: ml.UniLoss("auc", relaxation=3), ml.InputError,
     "relaxation must be a Relaxation", "(e.g. ml.sigmoid(tau=1.0)) or the name of a registered relaxation", False),
    ("UniLoss relaxation factory", lambda: ml.UniLoss("auc", relaxation=ml.sigmoid), ml.InputError,
     "relaxation must be a Relaxation", "call the factory: `sigmoid()` rather than `sigmoid`", False),
    ("UniLoss sampler not a part", lambda: ml.UniLoss("auc", samplers=["ideal", 3]), ml.InputError,
     "sampler must be a Sampler", "e.g. ml.ideal(16)", False),
    ("UniLoss relaxation misspelt", lambda: ml.UniLoss("auc", relaxation="sigmod"), ml.PluginError,
     "no relaxation named 'sigmod'", "Did you mean 'sigmoid'?", False),
    ("get_plugin kind", lambda: ml.get_plugin("metrics", "auc"), ml.InputError, "kind must be one of", "'metric'", False),
    ("get_plugin name not a string", lambda: ml.get_plugin("relaxation", 3), ml.PluginError, "got int 3",
     "name is a string", False),

    # looking a metric up, binding its parameters
    ("get_metric misspelt", lambda: ml.get_metric("acuracy"), ml.PluginError, "no metric named 'acuracy'",
     "Did you mean 'accuracy'?", False),
    ("get_metric not a name", lambda: ml.get_metric(3), ml.PluginError, "got int 3",
     "takes a metric's name (\"auc\") or a Metric", False),
    ("get_metric None", lambda: ml.get_metric(None), ml.PluginError, "got NoneType None",
     "a function decorated with @metricloss.metric", False),
    ("unknown parameter", lambda: ml.get_metric("accuracy", k=3), ml.InputError, "has no parameter ['k']",
     "its parameters (arguments with a default, or keyword-only) are none", False),
    ("misspelt parameter", lambda: ml.get_metric("topk_accuracy", kk=3), ml.InputError, "has no parameter ['kk']",
     "Did you mean k=?", False),
    ("unhashable parameter", lambda: ml.get_metric("precision_at_k", k=[3]), ml.InputError, "k=[3]",
     "pass a number, a string or a tuple", False),

    # the declaration
    ("best a string", lambda: declare(best="1"), ml.CompileError, "best= must be a finite number",
     "e.g. best=1.0", True),
    ("best nan", lambda: declare(best=math.nan), ml.CompileError, "got float nan", "e.g. best=1.0", True),
    ("best bool", lambda: declare(best=True), ml.CompileError, "got bool True", "e.g. best=1.0", True),
    ("higher_is_better a string", lambda: declare(higher_is_better="no"), ml.CompileError,
     "higher_is_better= must be True or False", "got str 'no'", True),
    ("register a string", lambda: declare(register="no"), ml.CompileError, "register= must be True or False",
     "got str 'no'", True),
    ("classes 0", lambda: declare(classes={"labels": 0}), ml.CompileError, "classes={'labels': 0}",
     "an int of at least 2 (2 for binary labels in {0, 1}) or the name of a dimension", True),
    ("classes 0 with shapes", lambda: declare(shapes=SHAPES, classes={"labels": 0}), ml.CompileError,
     "classes={'labels': 0}", "an int of at least 2", True),
    ("classes a float", lambda: declare(classes={"labels": 2.5}), ml.CompileError, "classes={'labels': 2.5}",
     "an int of at least 2", True),
    ("classes a list", lambda: declare(classes=["labels"]), ml.CompileError, "classes= must be a dict",
     'e.g. classes={"labels": "C"}', True),
    ("classes of the scores", lambda: declare(shapes=SHAPES, classes={"scores": "C"}), ml.CompileError,
     "scores is the scores (the model's outputs), not class indices", "classes= names the targets", True),
    ("classes an unknown dim", lambda: declare(classes={"labels": "K"}), ml.CompileError,
     "'K' is not a dimension named in shapes=", "name it there", True),
    ("shapes a string", lambda: declare(shapes="N C"), ml.CompileError, "shapes= must be a dict",
     'e.g. shapes={"scores": "N C", "labels": "N"}', True),
    ("shapes an int", lambda: declare(shapes={"scores": 2}), ml.CompileError, "a shape is a string",
     'e.g. "N C"', True),
    ("shapes a zero size", lambda: declare(shapes={"scores": "N 0", "labels": "N"}), ml.CompileError,
     "'0' is not a dimension", 'separated by spaces, e.g. "N J 2"', True),
    ("shapes unknown argument", lambda: declare(shapes={"score": "N"}), ml.CompileError,
     "shapes= names ['score'], which are not arguments", "its arguments are ['scores', 'labels']", True),
    ("shapes the code cannot run on", lambda: declare(shapes={"scores": "N", "labels": "N"}, classes={"labels": 2}),
     ml.CompileError, "does not run on a batch of the declared shapes (scores (6,), labels (6,))",
     "Correct shapes=", True),
    ("ideal not callable", lambda: declare(ideal=3), ml.CompileError, "ideal= must be",
     "a function of the targets returning perfect scores", True),
    ("ideal without the targets", lambda: declare(ideal=lambda: 1), ml.CompileError,
     "ideal= is called with the targets (labels) and cannot take them", "`ideal=lambda labels: ...`", True),
    ("ideal of the wrong shape", lambda: declare(best=1.0, shapes=SHAPES, classes=CLASSES, ideal=lambda labels: labels.float()),
     ml.CompileError, "ideal= returned scores of shape (6,), but the scores have shape (6, 3)",
     "must return perfect scores of the scores' shape", True),
    ("ideal that raises", broken_ideal_loss, ml.InputError, "ideal= raised AttributeError",
     "ideal= must return perfect scores", True),
    ("check not callable", lambda: declare(check="yes"), ml.CompileError, "check= must be",
     "returning a message or None", True),
    ("name empty", lambda: declare(name=""), ml.CompileError, "name= must be a non-empty string",
     "without surrounding spaces", True),
    ("name not a string", lambda: declare(name=3), ml.CompileError, "got 3", "name= must be a non-empty string", True),
    ("name not registrable", lambda: ml.metric(name="a b")(accuracy_fn), ml.CompileError,
     "'a b' cannot be registered", 'pass name="my_metric"', True),
    ("lambda registered", lambda: ml.metric(lambda scores, labels: (scores > 0).float().mean()), ml.CompileError,
     "(a lambda has no name of its own)", "or register=False", True),
    ("a class decorated", lambda: ml.metric(int), ml.CompileError, "@metric decorates a Python function",
     "`def metric(scores, labels): ...`", False),
    ("location a string", lambda: declare(location="x.py:3"), ml.CompileError, "location=",
     "SourceLocation(filename, lineno)", False),
    ("starred targets", lambda: declare(starred_fn), ml.CompileError, "`*targets`/`**targets` arguments",
     "list the targets as positional arguments", True),
    ("a name taken twice", lambda: register_twice("metric"), ml.PluginError, "two metrics are named 'bad_inputs_twice'",
     "Rename one of them", True),
    ("a built-in's name", lambda: ml.metric(name="auc")(thresholded_fn), ml.PluginError,
     "a metric named 'auc' is already provided by", "choose another name", False),

    # a call's inputs
    ("length mismatch", lambda: ml.get_metric("auc")(torch.randn(6), torch.tensor([0, 1, 0, 1, 1])), ml.InputError,
     "labels has N = 5 but scores has N = 6", "expected scores [N], labels [N]", False),
    ("rank too low", lambda: ml.get_metric("accuracy")(torch.randn(8), torch.zeros(8, dtype=torch.long)), ml.InputError,
     "got (8,)", "must have shape [N, C] (2 dimensions)", False),
    ("scores [N, 1] for [N]", lambda: ml.get_metric("auc")(torch.randn(6, 1), BINARY), ml.InputError,
     "must have shape [N] (1 dimensions), got (6, 1)", "`scores.squeeze(-1)`", False),
    ("scores [N, 2] for [N]", lambda: ml.get_metric("auc")(torch.randn(6, 2), BINARY), ml.InputError,
     "got (6, 2)", "the positive class's column, `scores[:, 1]`", False),
    ("NaN scores", lambda: ml.get_metric("auc")(with_value(torch.randn(6), 3, math.nan), BINARY), ml.InputError,
     "scores contain nan at index (3,)", "lower the learning rate", False),
    ("Inf scores", lambda: ml.get_metric("accuracy")(with_value(torch.randn(6, 3), (2, 1), math.inf), CLASS3),
     ml.InputError, "scores contain inf at index (2, 1)", "lower the learning rate", False),
    ("labels out of range", lambda: ml.get_metric("average_precision")(torch.randn(3), torch.tensor([0, 2, 1])),
     ml.InputError, "found 2 at index (1,)", "must hold class indices in [0, 2)", False),
    ("negative class index", lambda: ml.get_metric("accuracy")(torch.randn(3, 4), torch.tensor([0, -1, 3])),
     ml.InputError, "found -1 at index (1,)", "must hold class indices in [0, 4) (C = 4)", False),
    ("float labels", lambda: ml.get_metric("auc")(torch.randn(4), torch.tensor([0.0, 1.0, 1.0, 0.0])), ml.InputError,
     "got torch.float32", "convert with `labels.long()`", False),
    ("integer scores", lambda: ml.get_metric("auc")(torch.tensor([1, 2, 3]), torch.tensor([0, 1, 1])), ml.InputError,
     "must be a floating-point tensor of model outputs, got torch.int64", "`scores.float()`", False),
    ("bool scores", lambda: ml.get_metric("auc")(torch.tensor([True, False]), torch.tensor([0, 1])), ml.InputError,
     "got torch.bool", "pass the model's raw outputs (logits)", False),
    ("labels a list", lambda: ml.get_metric("auc")(torch.randn(3), [0, 1, 1]), ml.InputError,
     "metric `auc`: labels (argument 2) must be a torch.Tensor, got a list of 3 items",
     "convert it with `torch.as_tensor(labels)`", False),
    ("scores a string", lambda: ml.get_metric("auc")("0.5", torch.tensor([1])), ml.InputError,
     "scores (argument 1) must be a torch.Tensor, got str '0.5'", "pass a tensor holding the scores", False),
    ("scores a numpy array", lambda: ml.get_metric("auc")(np.zeros(4), BINARY[:4]), ml.InputError,
     "metric `auc`: scores (argument 1) must be a torch.Tensor, got a numpy ndarray of shape (4,) (float64)",
     "convert it with `torch.from_numpy(scores)` (or `torch.as_tensor(scores)`)", False),
    ("labels a numpy array", lambda: ml.get_metric("accuracy")(torch.randn(6, 3), CLASS3.numpy()), ml.InputError,
     "metric `accuracy`: labels (argument 2) must be a torch.Tensor, got a numpy ndarray of shape (6,) (int64)",
     "`torch.from_numpy(labels)`", False),
    ("labels a numpy number", lambda: ml.get_metric("auc")(torch.randn(1), np.int64(1)), ml.InputError,
     "labels (argument 2) must be a torch.Tensor, got a numpy int64;", "convert it with `torch.as_tensor(labels)`",
     False),
    ("labels a Python number", lambda: ml.get_metric("auc")(torch.randn(1), 1), ml.InputError,
     "labels (argument 2) must be a torch.Tensor, got the Python number 1", "`torch.as_tensor(labels)`", False),
    ("scores a Python number", lambda: my_auc(0.5, BINARY), ml.InputError,
     "metric `my_auc_fn`: scores (argument 1) must be a torch.Tensor, got the Python number 0.5",
     "`torch.as_tensor(scores)`", False),
    ("scores a numpy array, metric traced per shape", lambda: _per_shape(np.zeros((6, 3)), CLASS3), ml.InputError,
     "scores (argument 1) must be a torch.Tensor, got a numpy ndarray of shape (6, 3)", "`torch.from_numpy(scores)`",
     False),
    ("binaries of a numpy array", lambda: ml.get_metric("auc").binaries(np.zeros(6), BINARY), ml.InputError,
     "scores (argument 1) must be a torch.Tensor, got a numpy ndarray", "`torch.from_numpy(scores)`", False),

    # the loss's inputs: checked before anything reads their device or shape
    ("loss scores a numpy array", lambda: ml.UniLoss("auc")(np.zeros(6, dtype=np.float32), BINARY), ml.InputError,
     "UniLoss of metric `auc`: scores (argument 1) must be a torch.Tensor, got a numpy ndarray of shape (6,) (float32)",
     "Pass the tensor the model returned, before any `.detach()`, `.numpy()` or `.tolist()`", False),
    ("loss scores a list", lambda: ml.UniLoss("auc")([0.1, 0.2, 0.3, 0.4], BINARY[:4]), ml.InputError,
     "scores (argument 1) must be a torch.Tensor, got a list of 4 items",
     "a tensor made back from its values carries no gradient to the model", False),
    ("loss scores a Python number", lambda: ml.UniLoss("accuracy")(0.5, CLASS3), ml.InputError,
     "UniLoss of metric `accuracy`: scores (argument 1) must be a torch.Tensor, got the Python number 0.5",
     "call the metric, not the loss, on `torch.as_tensor(...)` of them", False),
    ("loss labels a numpy array", lambda: ml.UniLoss("auc")(torch.randn(6), BINARY.numpy()), ml.InputError,
     "UniLoss of metric `auc`: labels (argument 2) must be a torch.Tensor, got a numpy ndarray of shape (6,) (int64)",
     "convert it with `torch.from_numpy(labels)` (or `torch.as_tensor(labels)`)", False),
    ("loss labels a list", lambda: ml.UniLoss("auc")(torch.randn(6), BINARY.tolist()), ml.InputError,
     "labels (argument 2) must be a torch.Tensor, got a list of 6 items", "`torch.as_tensor(labels)`", False),
    ("loss labels None", lambda: ml.UniLoss("auc")(torch.randn(6), None), ml.InputError,
     "labels (argument 2) must be a torch.Tensor, got NoneType None", "pass a tensor holding the labels", False),
    ("loss a target missing", lambda: ml.UniLoss("auc")(np.zeros(6)), ml.InputError,
     "UniLoss of metric `auc` takes 2 arguments (scores, labels); got 1", "(scores, labels)", False),
    ("loss scores a numpy array, gather=True", lambda: ml.UniLoss("auc", gather=True)(np.zeros(6), BINARY),
     ml.InputError, "scores (argument 1) must be a torch.Tensor, got a numpy ndarray",
     "Pass the tensor the model returned", False),
    ("loss scores a numpy array, metric traced per shape", lambda: ml.UniLoss(_per_shape)(np.zeros((6, 3)), CLASS3),
     ml.InputError, "UniLoss of metric `per_shape_accuracy`: scores (argument 1) must be a torch.Tensor",
     "Pass the tensor the model returned", False),
    ("a target missing", lambda: ml.get_metric("auc")(torch.randn(3)), ml.InputError, "got 1",
     "takes 2 arguments (scores, labels)", False),
    ("a parameter by position", lambda: ml.get_metric("topk_accuracy")(torch.randn(6, 6), CLASS3, 3), ml.InputError,
     "takes 2 arguments (scores, labels); got 3", "parameters go by keyword (k=...)", False),
    ("different devices", lambda: ml.get_metric("auc")(torch.randn(3), torch.zeros(3, dtype=torch.long, device="meta")),
     ml.InputError, "labels is on meta but scores is on cpu", "`labels.to(scores.device)`", False),
    ("one class", lambda: ml.get_metric("accuracy")(torch.randn(4, 1), torch.zeros(4, dtype=torch.long)), ml.InputError,
     "scores has C = 1 classes (shape (4, 1))", "pass both classes' scores ([N, 2] logits)", False),
    ("one class, in the loss", lambda: ml.UniLoss("accuracy")(torch.randn(4, 1), torch.zeros(4, dtype=torch.long)),
     ml.InputError, "scores has C = 1 classes", "or use a binary metric on [N] scores", False),
    ("a mask over rows of scores", lambda: my_auc(torch.randn(6, 2), BINARY), ml.InputError,
     "the mask from labels (6,) at", "Pass scores of shape (6,), one per item", True),
    ("a mask over rows, in the loss", lambda: ml.UniLoss(my_auc)(torch.randn(6, 3), BINARY), ml.InputError,
     "selects from scores of shape (6, 3)", "or declare the shapes if rows are meant", True),
    ("labels a list, undeclared", lambda: my_auc(torch.randn(6), BINARY.tolist()), ml.InputError,
     "labels (argument 2) must be a torch.Tensor, got a list of 6 items", "`torch.as_tensor(labels)`", False),

    # the built-in metrics' parameters and conventions
    ("topk k 0", lambda: ml.get_metric("topk_accuracy", k=0), ml.InputError,
     "k must be a whole number from 1 (the size of the top), got 0", "get_metric('topk_accuracy', k=5)", False),
    ("topk k a float", lambda: ml.get_metric("topk_accuracy", k=2.5), ml.InputError, "got 2.5",
     "get_metric('topk_accuracy', k=5)", False),
    ("precision_at_k k 0", lambda: ml.get_metric("precision_at_k", k=0), ml.InputError, "got 0",
     "get_metric('precision_at_k', k=10)", False),
    ("recall_at_k k negative", lambda: ml.get_metric("recall_at_k", k=-1), ml.InputError, "got -1",
     "get_metric('recall_at_k', k=10)", False),
    ("fbeta beta negative", lambda: ml.get_metric("fbeta", beta=-1)(torch.randn(6), BINARY), ml.InputError,
     "beta must be at least 0 (0 is precision, 1 is F1), got -1", "get_metric('fbeta', beta=2.0)", False),
    ("f1 threshold nan", lambda: ml.get_metric("f1", threshold=math.nan), ml.InputError,
     "parameter threshold must be a finite real number, got nan", "bind a number", False),
    ("pckh threshold negative", lambda: pckh(*pckh_batch(), threshold=-1), ml.InputError,
     "threshold must be a finite number above 0, got -1", "get_metric('pckh', threshold=0.5)", False),
    ("pckh threshold nan", lambda: pckh(*pckh_batch(), threshold=math.nan), ml.InputError, "got nan",
     "get_metric('pckh', threshold=0.5)", False),
    ("pckh NaN visible joint", lambda: pckh(*pckh_batch(joints=torch.full((2, 3, 2), math.nan))), ml.InputError,
     "joint [0, 0] is visible but its coordinates are [nan, nan]", "mark a joint without coordinates as not visible",
     False),
    ("pckh negative head size", lambda: pckh(*pckh_batch(head_size=torch.tensor([4.0, -4.0]))), ml.InputError,
     "head_size[1] is -4.0, but sample 1 has visible joints", "a finite length above 0 in heatmap pixels", False),
    ("pckh zero head size", lambda: pckh(*pckh_batch(head_size=torch.tensor([0.0, 4.0]))), ml.InputError,
     "head_size[0] is 0.0", "or mark the sample's joints as not visible", False),
    ("pckh NaN head size", lambda: pckh(*pckh_batch(head_size=torch.tensor([math.nan, 4.0]))), ml.InputError,
     "head_size[0] is nan", "a finite length above 0", False),
    ("pckh visible flags", lambda: pckh(*pckh_batch(visible=torch.full((2, 3), 2))), ml.InputError,
     "visible must be bool or 0/1 (1: the joint is scored), found 2 at index (0, 0)", "`visible > 0`", False),

    # plugin decorators
    ("relaxation decorates a number", lambda: ml.relaxation(3), ml.PluginError, "got int 3",
     "decorates a factory (a function of the relaxation's parameters, each with a default)", False),
    ("relaxation name a number", lambda: register_relaxation(3), ml.PluginError,
     "@metricloss.relaxation(name=...) must be a non-empty string", "got int 3", False),
    ("relaxation name empty", lambda: register_relaxation(""), ml.PluginError, "must be a non-empty string without spaces",
     "got str ''", False),
    ("relaxation lambda without a name", lambda: ml.relaxation(lambda tau=1.0: ml.sigmoid(tau)), ml.PluginError,
     "has no name of its own", '@metricloss.relaxation(name="my_relaxation")', False),
    ("relaxation a built-in's name", lambda: register_relaxation("sigmoid"), ml.PluginError,
     "a relaxation named 'sigmoid' is already provided by", "choose another name", False),
    ("relaxation returns no Relaxation", lambda: ml.relaxation(name="bad_inputs_int")(lambda: 3), ml.PluginError,
     "returned a int when called with its defaults", "not a Relaxation", False),
    ("relaxation name taken twice", lambda: register_twice("relaxation"), ml.PluginError,
     "two relaxations are named 'bad_inputs_twice'", "Rename one of them", False),
    ("sampler decorates a string", lambda: ml.sampler(name="bad_inputs_str")("s"), ml.PluginError, "got str 's'",
     "decorates a factory", False),
    ("task decorates None", lambda: ml.task(name="bad_inputs_none")(None), ml.PluginError, "got None",
     "decorates a factory function", False),
    ("interpolator with a required parameter", interpolator_with_required_parameter, ml.PluginError,
     "takes required parameters ['power']", "needs a default", False),

    # count formulas
    ("formula floor division", lambda: ml.count_metric("TP // FP", name="bad_inputs_floor"), ml.CompileError,
     "uses `//` (use /)", "a formula may use the counts TP, FP, FN, TN", True),
    ("formula unknown call", lambda: ml.count_metric("log(TP)", name="bad_inputs_log"), ml.CompileError,
     "the call `log(TP)`", "the only function is sqrt", True),
    ("formula without a count", lambda: ml.count_metric("1", name="bad_inputs_one"), ml.CompileError,
     "does not depend on any count", "a formula may use the counts", True),
    ("formula average", lambda: ml.count_metric("TP / P", name="bad_inputs_micro", average="micro"), ml.CompileError,
     "average='micro' is not one of", "('binary', 'macro')", True),
    ("formula reserved parameter", lambda: ml.count_metric("TP / P", name="bad_inputs_tp", parameters={"TP": 1.0}),
     ml.CompileError, "parameter name 'TP' is taken", "choose another", True),
    ("formula not a string", lambda: ml.count_metric(3, name="bad_inputs_three"), ml.CompileError, "got int",
     "a count formula is a string or a sympy expression", True),
    ("formula name empty", lambda: ml.count_metric("TP / P", name=""), ml.CompileError, "name= must be",
     "a non-empty string", True),
    ("formula doc not a string", lambda: ml.count_metric("TP / P", name="bad_inputs_doc", doc=3), ml.CompileError,
     "got int", "doc= must be the metric's docstring (a str) or None", True),
]


@pytest.mark.parametrize("call, error, what, todo, here", [case[1:] for case in CASES], ids=[case[0] for case in CASES])
def test_a_bad_input_is_refused_with_what_where_and_what_to_do(call, error, what, todo, here):
    with pytest.raises(ml.MetricLossError) as caught:
        call()
    message = str(caught.value)
    assert isinstance(caught.value, error), f"{type(caught.value).__name__}: {message}"
    assert what in message
    assert todo in message
    if here:
        assert f"{HERE}:" in message
    if error is ml.InputError:
        assert isinstance(caught.value, ValueError)  # InputError stays a ValueError for existing handlers


def test_the_checks_refuse_nothing_valid():
    """The same entry points on valid inputs: the cases above fail for the reason they name."""
    assert 0.0 <= ml.get_metric("topk_accuracy", k=3)(torch.randn(6, 3), CLASS3).item() <= 1.0
    assert 0.0 <= my_auc(torch.randn(6), BINARY).item() <= 1.0
    assert 0.0 <= pckh(*pckh_batch()).item() <= 1.0
    assert ml.get_metric("fbeta", beta=0.0)(torch.randn(6), BINARY).item() >= 0.0


def test_pckh_scores_invisible_joints_without_coordinates():
    """A joint that is not visible is not scored, so its coordinates may be NaN, and a sample
    without a visible joint may have any head size."""
    heatmaps, joints, head_size, visible = pckh_batch()
    joints, visible, head_size = joints.clone(), visible.clone(), head_size.clone()
    joints[0, 1] = math.nan
    visible[0, 1] = False
    visible[1] = False
    head_size[1] = 0.0
    expected = pckh(heatmaps, joints.nan_to_num(-100.0), head_size, visible)
    assert pckh(heatmaps, joints, head_size, visible).item() == expected.item()
    loss = ml.UniLoss("pckh", generator=torch.Generator().manual_seed(0))(heatmaps.requires_grad_(), joints, head_size,
                                                                          visible.long())
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(heatmaps.grad).all()


def test_trailing_size_one_dimension_under_a_mask_keeps_its_value():
    """[N, 1] scores under a mask of [N] labels compare as [N] scores do: not refused."""
    scores = torch.randn(6)
    assert my_auc(scores[:, None], BINARY).item() == my_auc(scores, BINARY).item()


def test_declared_shapes_allow_masks_that_select_rows():
    """With shapes= the scores' dimensions are the declaration's: a row mask is meant."""
    @ml.metric(register=False, shapes={"scores": "N C", "valid": "N", "labels": "N"}, classes={"labels": "C"})
    def valid_accuracy(scores, valid, labels):
        return (scores[valid == 1].argmax(1) == labels[valid == 1]).float().mean()

    scores = torch.tensor([[0.0, 1.0], [1.0, 0.0], [0.0, 1.0]])
    value = valid_accuracy(scores, torch.tensor([1, 0, 1]), torch.tensor([1, 1, 0]))
    assert value.item() == 0.5
