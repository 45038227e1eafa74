"""Count-formula metrics: a metric declared as a formula of confusion counts.

Precision, recall, F-beta, MCC, IoU and balanced accuracy are all formulas of the four confusion
counts, and each count is a sum of comparisons of scores::

    f1 = count_metric("2*TP / (2*TP + FP + FN)", name="f1", best=1.0)

1. the formula is checked to be arithmetic on the counts and turned into torch code
   (``formulas/``);
2. every denominator becomes a test ``denominator != 0`` for scikit-learn's ``zero_division``;
3. an ordinary metric function is generated around it: the counts from comparisons of scores
   (``scores > threshold`` for ``average="binary"``, ``one_hot(scores.argmax(1))`` for
   ``average="macro"``), the formula on the counts, and ``@metric`` compiles and registers it
   like any hand-written metric. The formula stays on the metric for ``formula_text``.

In the binary case the comparisons are split by the labels, ``scores[positives] > threshold``
and ``scores[negatives] > threshold``, two blocks that read as TP and FP directly.
"""

from __future__ import annotations

import keyword
import math
import numbers
import sys
import weakref
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import torch

from ..errors import GENERATED_SOURCE, CompileError, InputError, SourceLocation, short_path
from .metric import Metric, metric

if TYPE_CHECKING:  # sympy (through .formulas) is imported on first use: `import metricloss` stays light
    import sympy

    from .formulas import CountFormula, FormulaText

AVERAGES = ("binary", "macro")

# The formula of each generated metric function (``Declaration.fn``), for ``formula_text``.
_FORMULAS: weakref.WeakKeyDictionary[Callable, CountFormula] = weakref.WeakKeyDictionary()


def count_metric(
    formula: str | sympy.Expr,
    *,
    name: str,
    best: float | None = None,
    higher_is_better: bool = True,
    average: str = "binary",
    zero_division: float = 0.0,
    parameters: Mapping[str, float] | None = None,
    doc: str | None = None,
    check: Callable | None = None,
) -> Metric:
    """Declare, compile and register a metric given as a formula of confusion counts.

    ``average="binary"``: ``scores`` [N] and ``labels`` [N] in {0, 1}; an item is predicted
    positive when ``scores > threshold`` (keyword ``threshold=0.0``, bound by
    ``get_metric(name, threshold=...)``).
    ``average="macro"``: ``scores`` [N, C] and ``labels`` [N] in [0, C); the predicted class is the
    one with the highest score; the formula is applied per class (one class against the rest) and
    averaged over the classes present in the labels or the predictions, as scikit-learn does.
    ``zero_division``: the value wherever a denominator of the formula is zero (scikit-learn's
    convention; for macro, per class).
    ``parameters``: extra symbols of the formula and their defaults (``{"beta": 1.0}``), keyword-only
    parameters of the metric.
    ``check``: as ``@metric(check=...)``, ``check(scores, labels, *, threshold, **parameters)``
    returning a message or None on every call (a parameter's range: ``beta >= 0``).

    >>> precision = count_metric("TP / (TP + FP)", name="doc_precision", best=1.0)
    >>> scores, labels = torch.tensor([0.9, 0.4, -0.2, 0.3]), torch.tensor([1, 0, 1, 1])
    >>> round(precision(scores, labels).item(), 4)  # 2 of the 3 items above 0 are positives
    0.6667
    >>> import metricloss
    >>> metricloss.get_metric("doc_precision", threshold=0.35)(scores, labels).item()
    0.5
    """
    from .formulas import CountFormula, parse_formula

    where, module = _caller()
    parameters = dict(parameters or {})
    try:
        _check_declaration(name, average, zero_division, parameters, doc)
        expression = parse_formula(formula, parameters)
    except CompileError as error:
        raise CompileError(f"count_metric `{name}` at {where}: {error}") from None
    declared = CountFormula(expression, parameters, average, float(zero_division))
    fn = _metric_function(declared, name, where, module, doc)
    if average == "binary":
        return metric(fn, name=name, best=best, higher_is_better=higher_is_better,
                      shapes={"scores": "N", "labels": "N"}, classes={"labels": 2}, location=where, check=check)
    return metric(fn, name=name, best=best, higher_is_better=higher_is_better,
                  shapes={"scores": "N C", "labels": "N"}, classes={"labels": "C"}, location=where, check=check)


def formula_of(target: Metric) -> CountFormula | None:
    """The formula a metric was declared with by ``count_metric``, or None for any other metric."""
    return _FORMULAS.get(target.declaration.fn)


def formula_text(target: Metric) -> FormulaText | None:
    """The metric's formula as sympy pretty text and LaTeX, or None if it is not a count metric."""
    declared = formula_of(target)
    if declared is None:
        return None
    import sympy

    from .formulas import COUNTS, DERIVED, FormulaText

    expression = declared.expression
    if declared.average == "binary":
        definition = sympy.Eq(sympy.Symbol(target.name), expression, evaluate=False)
        return FormulaText(sympy.pretty(definition, use_unicode=False), sympy.latex(definition),
                           _BINARY_COUNTS)
    per_class = expression.xreplace({s: sympy.Symbol(f"{s.name}_c") for s in (*COUNTS, *DERIVED)})
    pretty = (f"{target.name} = mean over classes c (present in labels or predictions) of\n"
              + sympy.pretty(per_class, use_unicode=False))
    latex = (rf"\mathrm{{{sympy.latex(sympy.Symbol(target.name))}}} = \operatorname{{mean}}_{{c}}"
             rf"\left({sympy.latex(per_class)}\right)")
    return FormulaText(pretty, latex, _MACRO_COUNTS)


_BINARY_COUNTS = (
    "TP = sum over positives of [score > threshold], FN = positives - TP, "
    "FP = sum over negatives of [score > threshold], TN = negatives - FP"
)
_MACRO_COUNTS = (
    "per class c, predicted = the class with the highest score: TP_c = [label c, predicted c], "
    "FP_c = [not label c, predicted c], FN_c = [label c, not predicted c], "
    "TN_c = [neither], summed over the batch"
)


def binary_counts(scores: torch.Tensor, labels: torch.Tensor, threshold: float) -> tuple[torch.Tensor, ...]:
    """(TP, FP, FN, TN) for ``scores > threshold``, as float64 (exact integers up to 2**53).

    Positives and negatives are compared in two blocks, so the ideal (all positives above the
    threshold, all negatives below) is "first block all true, second all false".
    """
    positive = labels == 1
    hits = scores[positive] > threshold
    false_alarms = scores[~positive] > threshold
    return (hits.sum().double(), false_alarms.sum().double(),
            (~hits).sum().double(), (~false_alarms).sum().double())


def predicted_classes(scores: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(one-hot of the arg-max class, one-hot of the label), both [N, C] bool.

    The arg-max is torch's (the first maximal class wins a tie), which is the prediction
    scikit-learn scores when it is given ``scores.argmax(1)``.
    """
    classes = scores.shape[1]
    predicted = torch.nn.functional.one_hot(scores.argmax(1), classes).bool()
    actual = torch.arange(classes, device=scores.device) == labels.long()[:, None]
    return predicted, actual


def macro_value(declared: CountFormula, scores: torch.Tensor, labels: torch.Tensor,
                parameters: Mapping[str, Any]) -> torch.Tensor:
    """The formula per class, averaged over the classes in the labels or the predictions."""
    predicted, actual = predicted_classes(scores, labels)
    counts = tuple(
        (a & b).sum(0).double()
        for a, b in ((predicted, actual), (predicted, ~actual), (~predicted, actual), (~predicted, ~actual))
    )
    per_class = declared.value(counts, parameters)
    present = (predicted | actual).any(0)
    return torch.where(present, per_class, 0.0).sum() / present.sum()




def _metric_function(declared: CountFormula, name: str, where: SourceLocation, module: str,
                     doc: str | None):
    """An ordinary metric function ``fn(scores, labels, *, threshold, **parameters)``.

    torch.fx and ``@metric`` read a metric's keyword-only parameters from its code object, so the
    signature is generated from a fixed template; only checked identifiers enter the source.
    """
    keywords = (("threshold",) if declared.average == "binary" else ()) + tuple(declared.parameters)
    readable = name.isidentifier() and not keyword.iskeyword(name) and not name.startswith("_")
    identifier = name if readable else "count_metric"
    star = f", *, {', '.join(keywords)}" if keywords else ""
    passed = ", ".join(f"{k}={k}" for k in keywords)
    source = f"def {identifier}(scores, labels{star}):\n    return _evaluate(scores, labels, {passed})\n"
    namespace = {"_evaluate": _evaluator(declared), "__name__": module}
    label = f"{GENERATED_SOURCE}count_metric {name} at {short_path(where.filename)}:{where.lineno}>"
    exec(compile(source, label, "exec"), namespace)  # noqa: S102 - a fixed template, see above
    fn = namespace[identifier]
    fn.__kwdefaults__ = ({"threshold": 0.0} if declared.average == "binary" else {}) | dict(declared.parameters)
    fn.__doc__ = doc or f"{name} = {declared.expression} ({declared.average} counts)"
    # What the generated source cannot show: the registry tells a re-run declaration from another by it.
    fn._metricloss_source = (f"count_metric({str(declared.expression)!r}, average={declared.average!r}, "
                             f"zero_division={declared.zero_division!r}, parameters={dict(declared.parameters)!r}, "
                             f"doc={doc!r})")
    _FORMULAS[fn] = declared
    return fn


def _evaluator(declared: CountFormula) -> Callable:
    """The metric's body: counts from comparisons, then the formula."""
    def evaluate(scores, labels, **bound):
        parameters = {k: _number(k, v) for k, v in bound.items() if k != "threshold"}
        if declared.average == "binary":
            counts = binary_counts(scores, labels, _number("threshold", bound["threshold"]))
            return declared.value(counts, parameters)
        return macro_value(declared, scores, labels, parameters)

    return evaluate


def _number(name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not math.isfinite(value):
        raise InputError(f"parameter {name} must be a finite real number, got {value!r}; bind a number, "
                         f"e.g. {name}=0.0")
    return float(value)


def _caller() -> tuple[SourceLocation, str]:
    """Where ``count_metric`` was called, and the module there (plugin checks compare modules)."""
    frame = sys._getframe(2)
    return (SourceLocation(frame.f_code.co_filename, frame.f_lineno),
            frame.f_globals.get("__name__", "__main__"))


def _check_declaration(name: str, average: str, zero_division: float, parameters: Mapping[str, float],
                       doc: str | None = None) -> None:
    if not isinstance(name, str) or not name:
        raise CompileError("name= must be a non-empty string")
    if doc is not None and not isinstance(doc, str):
        raise CompileError(f"doc= must be the metric's docstring (a str) or None, got {type(doc).__name__}")
    from .formulas import COUNTS, DERIVED, FUNCTIONS

    if average not in AVERAGES:
        raise CompileError(f"average={average!r} is not one of {AVERAGES}")
    if isinstance(zero_division, bool) or not isinstance(zero_division, numbers.Real):
        raise CompileError(
            f"zero_division={zero_division!r} must be a number (scikit-learn's 0.0, 1.0 or nan)"
        )
    for parameter, default in parameters.items():
        if not isinstance(parameter, str) or not parameter.isidentifier() or keyword.iskeyword(parameter):
            raise CompileError(f"parameter name {parameter!r} is not a Python identifier")
        taken = {s.name for s in (*COUNTS, *DERIVED)} | {"scores", "labels", "threshold", *FUNCTIONS}
        if parameter in taken or parameter.startswith("_"):
            raise CompileError(
                f"parameter name {parameter!r} is taken (reserved: {sorted(taken)}) or private; "
                "choose another"
            )
        try:
            _number(parameter, default)
        except InputError as error:
            raise CompileError(f"the default of {error}") from None
