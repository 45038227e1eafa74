"""Count-formula metrics: a metric declared as a formula of confusion counts (DESIGN §3.6).

Precision, recall, F-beta, MCC, IoU and balanced accuracy are all formulas of the four confusion
counts, and each count is a sum of comparisons of scores::

    f1 = count_metric("2*TP / (2*TP + FP + FN)", name="f1", best=1.0)

1. the formula (a string or a sympy expression) is checked to be arithmetic on the counts
   ``TP FP FN TN`` (and ``P = TP + FN``, ``N = TN + FP``), numbers and declared parameters;
   strings are checked as Python syntax trees *before* sympy's parser sees them, so nothing but
   arithmetic is ever evaluated;
2. sympy's torch printer (``lambdify(..., modules="torch")``) turns it into torch code, and every
   denominator into a test ``denominator != 0`` for scikit-learn's ``zero_division`` convention;
3. an ordinary metric function is generated around it: the counts from comparisons of scores
   (``scores > threshold`` for ``average="binary"``, ``one_hot(scores.argmax(1))`` for
   ``average="macro"``), the formula on the counts, and ``@metric`` compiles and registers it
   like any hand-written metric. The formula stays on the metric for ``formula_text``.

In the binary case the comparisons are split by the labels, ``scores[positives] > threshold``
and ``scores[negatives] > threshold``, two blocks that read as TP and FP directly.
"""

from __future__ import annotations

import ast
import keyword
import math
import numbers
import sys
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import sympy
import torch
from sympy.parsing.sympy_parser import auto_number, parse_expr

from .errors import CompileError, InputError, SourceLocation, short_path
from .metric import Metric, metric

COUNTS = sympy.symbols("TP FP FN TN")
TP, FP, FN, TN = COUNTS
DERIVED = {sympy.Symbol("P"): TP + FN, sympy.Symbol("N"): TN + FP}
FUNCTIONS = {"sqrt": sympy.sqrt}
AVERAGES = ("binary", "macro")
_RESERVED = {"scores", "labels", "threshold", *FUNCTIONS}

# The formula of each generated metric function (``Declaration.fn``), for ``formula_text``.
_FORMULAS: weakref.WeakKeyDictionary[Callable, CountFormula] = weakref.WeakKeyDictionary()

_LANGUAGE = (
    "a formula may use the counts TP, FP, FN, TN, P (= TP + FN) and N (= TN + FP), numbers, "
    "+ - * / ** and sqrt(...)"
)
_OPERATOR_NAMES = {
    ast.FloorDiv: "`//` (use /)", ast.Mod: "`%`", ast.MatMult: "`@`", ast.BitXor: "`^` (use ** for powers)",
    ast.BitAnd: "`&`", ast.BitOr: "`|`", ast.LShift: "`<<`", ast.RShift: "`>>`", ast.Invert: "`~`",
    ast.Not: "`not`",
}
_NODE_NAMES = {
    ast.Attribute: "attribute access", ast.IfExp: "a conditional expression (`... if ... else ...`)",
    ast.Compare: "a comparison", ast.BoolOp: "`and`/`or`", ast.Subscript: "indexing",
    ast.Lambda: "a lambda", ast.NamedExpr: "an assignment (`:=`)", ast.Starred: "`*` unpacking",
    ast.Tuple: "a tuple", ast.List: "a list", ast.Dict: "a dict", ast.Set: "a set",
    ast.JoinedStr: "an f-string", ast.ListComp: "a comprehension", ast.GeneratorExp: "a generator",
    ast.DictComp: "a comprehension", ast.SetComp: "a comprehension", ast.Await: "`await`",
    ast.Yield: "`yield`", ast.YieldFrom: "`yield from`", ast.Slice: "a slice",
}


@dataclass(frozen=True, eq=False)
class CountFormula:
    """A checked formula of confusion counts, and the torch code it turned into.

    ``expression`` is kept as declared (with ``P``/``N`` and parameter symbols) for display;
    ``value`` evaluates it on count tensors once the parameters are bound.
    """

    expression: sympy.Expr
    parameters: Mapping[str, float]  # formula parameters and their defaults
    average: str
    zero_division: float

    def bound(self, parameters: Mapping[str, float]) -> sympy.Expr:
        """The formula in the counts alone: P and N expanded, parameters replaced by their values."""
        values = {sympy.Symbol(name): sympy.Float(parameters[name]) for name in self.parameters}
        expression = self.expression.xreplace(DERIVED).xreplace(values)
        if expression.has(sympy.zoo, sympy.nan, sympy.oo, -sympy.oo):
            raise InputError(
                f"the formula {self.expression} divides by zero with the parameters "
                f"{dict(parameters)}: bind other values"
            )
        return expression

    def value(self, counts: tuple[torch.Tensor, ...], parameters: Mapping[str, float]) -> torch.Tensor:
        """The formula on ``counts``, ``zero_division`` wherever one of its denominators is zero.

        Runs on traced values inside the generated metric: sympy's torch printer writes the
        formula and each denominator as torch code, and the zero test is a ``torch.where``.
        """
        expression = self.bound(parameters)
        defined = None
        for denominator in denominators(expression):
            nonzero = _torch_code(denominator)(*counts) != 0
            defined = nonzero if defined is None else defined & nonzero
        result = _torch_code(expression)(*counts)
        return result if defined is None else torch.where(defined, result, self.zero_division)


def _torch_code(expression: sympy.Expr) -> Callable:
    """``f(TP, FP, FN, TN)`` as torch code, from sympy's torch printer."""
    return sympy.lambdify(COUNTS, expression, modules="torch")


class FormulaText(NamedTuple):
    """A count metric's formula for ``explain``: sympy's pretty print and LaTeX, and the counts."""

    pretty: str
    latex: str
    counts: str


def parse_formula(formula: str | sympy.Expr, parameters: Mapping[str, float] | None = None) -> sympy.Expr:
    """The sympy expression of ``formula``, checked to be arithmetic on counts and parameters.

    A string is checked as a Python syntax tree first (names, numbers, arithmetic, ``sqrt``), and
    only then handed to sympy's parser, with no builtins and only the count and parameter symbols
    in scope: no other Python is ever evaluated.
    """
    allowed = _allowed_symbols(parameters or {})
    if isinstance(formula, str):
        formula = formula.strip()
        _check_syntax(formula, allowed)
        scope = {name: symbol for name, symbol in allowed.items()} | FUNCTIONS
        names = {"__builtins__": {}, "Integer": sympy.Integer, "Float": sympy.Float,
                 "Rational": sympy.Rational}
        expression = parse_expr(formula, local_dict=scope, global_dict=names,
                                transformations=(auto_number,))
    elif isinstance(formula, sympy.Expr):
        expression = _own_symbols(formula, allowed)
    else:
        raise CompileError(
            f"a count formula is a string or a sympy expression, got {type(formula).__name__}"
        )
    _check_expression(expression, allowed)
    return expression


def denominators(expression: sympy.Expr) -> tuple[sympy.Expr, ...]:
    """Every base with counts in it raised to a negative power: where the formula divides."""
    found = []
    for node in sympy.preorder_traversal(expression):
        if (isinstance(node, sympy.Pow) and node.exp.is_negative and node.base not in found
                and node.base.free_symbols & set(COUNTS)):
            found.append(node.base)
    return tuple(found)


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

    >>> precision = count_metric("TP / (TP + FP)", name="doc_precision", best=1.0)
    >>> scores, labels = torch.tensor([0.9, 0.4, -0.2, 0.3]), torch.tensor([1, 0, 1, 1])
    >>> round(precision(scores, labels).item(), 4)  # 2 of the 3 items above 0 are positives
    0.6667
    >>> import metricloss
    >>> metricloss.get_metric("doc_precision", threshold=0.35)(scores, labels).item()
    0.5
    """
    where, module = _caller()
    parameters = dict(parameters or {})
    try:
        _check_declaration(name, average, zero_division, parameters)
        expression = parse_formula(formula, parameters)
    except CompileError as error:
        raise CompileError(f"count_metric `{name}` at {where}: {error}") from None
    declared = CountFormula(expression, parameters, average, float(zero_division))
    fn = _metric_function(declared, name, where, module, doc)
    if average == "binary":
        return metric(fn, name=name, best=best, higher_is_better=higher_is_better,
                      shapes={"scores": "N", "labels": "N"}, classes={"labels": 2}, location=where)
    return metric(fn, name=name, best=best, higher_is_better=higher_is_better,
                  shapes={"scores": "N C", "labels": "N"}, classes={"labels": "C"}, location=where)


def formula_of(target: Metric) -> CountFormula | None:
    """The formula a metric was declared with by ``count_metric``, or None for any other metric."""
    return _FORMULAS.get(target.declaration.fn)


def formula_text(target: Metric) -> FormulaText | None:
    """The metric's formula as sympy pretty text and LaTeX, or None if it is not a count metric."""
    declared = formula_of(target)
    if declared is None:
        return None
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


GENERATED_PREFIX = "<count_metric "  # generated code: messages point at the count_metric call instead


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
    label = f"{GENERATED_PREFIX}{name} at {short_path(where.filename)}:{where.lineno}>"
    exec(compile(source, label, "exec"), namespace)  # noqa: S102 - a fixed template, see above
    fn = namespace[identifier]
    fn.__kwdefaults__ = ({"threshold": 0.0} if declared.average == "binary" else {}) | dict(declared.parameters)
    fn.__doc__ = doc or f"{name} = {declared.expression} ({declared.average} counts)"
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
        raise InputError(f"parameter {name} must be a finite real number, got {value!r}")
    return float(value)


def _caller() -> tuple[SourceLocation, str]:
    """Where ``count_metric`` was called, and the module there (plugin checks compare modules)."""
    frame = sys._getframe(2)
    return (SourceLocation(frame.f_code.co_filename, frame.f_lineno),
            frame.f_globals.get("__name__", "__main__"))


def _check_declaration(name: str, average: str, zero_division: float, parameters: Mapping[str, float]) -> None:
    if not isinstance(name, str) or not name:
        raise CompileError("name= must be a non-empty string")
    if average not in AVERAGES:
        raise CompileError(f"average={average!r} is not one of {AVERAGES}")
    if isinstance(zero_division, bool) or not isinstance(zero_division, numbers.Real):
        raise CompileError(
            f"zero_division={zero_division!r} must be a number (scikit-learn's 0.0, 1.0 or nan)"
        )
    for parameter, default in parameters.items():
        if not isinstance(parameter, str) or not parameter.isidentifier() or keyword.iskeyword(parameter):
            raise CompileError(f"parameter name {parameter!r} is not a Python identifier")
        taken = {s.name for s in (*COUNTS, *DERIVED)} | _RESERVED
        if parameter in taken or parameter.startswith("_"):
            raise CompileError(
                f"parameter name {parameter!r} is taken (reserved: {sorted(taken)}) or private; "
                "choose another"
            )
        try:
            _number(parameter, default)
        except InputError as error:
            raise CompileError(f"the default of {error}") from None


def _allowed_symbols(parameters: Mapping[str, float]) -> dict[str, sympy.Symbol]:
    symbols = {s.name: s for s in (*COUNTS, *DERIVED)}
    return symbols | {name: sympy.Symbol(name) for name in parameters}


def _language(allowed: Mapping[str, sympy.Symbol]) -> str:
    extra = sorted(set(allowed) - {s.name for s in (*COUNTS, *DERIVED)})
    return _LANGUAGE + (f", and the parameters {', '.join(extra)}" if extra else "")


def _check_syntax(text: str, allowed: Mapping[str, sympy.Symbol]) -> None:
    """Reject, before any evaluation, every construct but names, numbers, arithmetic and sqrt."""
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as error:
        raise CompileError(
            f"formula {text!r} is not an arithmetic expression ({error.msg}, column "
            f"{error.offset}); {_language(allowed)}"
        ) from None
    for node in ast.walk(tree):
        problem = _syntax_problem(node, allowed)
        if problem:
            raise CompileError(f"formula {text!r} uses {problem}; {_language(allowed)}")


def _syntax_problem(node: ast.AST, allowed: Mapping[str, sympy.Symbol]) -> str | None:
    """What is not allowed about one syntax node, or None."""
    arithmetic = (ast.Add, ast.Sub, ast.Mult, ast.Div, ast.Pow, ast.UAdd, ast.USub)
    if isinstance(node, (ast.Expression, ast.BinOp, ast.UnaryOp, ast.Load, *arithmetic)):
        return None
    if type(node) in _OPERATOR_NAMES:
        return _OPERATOR_NAMES[type(node)]
    if isinstance(node, ast.Constant):
        if isinstance(node.value, (int, float)) and not isinstance(node.value, bool):
            return None
        return f"the constant {node.value!r} (only real numbers are allowed)"
    if isinstance(node, ast.Name):
        if node.id in allowed or node.id in FUNCTIONS:
            return None
        return f"`{node.id}`, which is neither a count nor a parameter"
    if isinstance(node, ast.Call):
        function = ast.unparse(node.func)
        if function in FUNCTIONS and len(node.args) == 1 and not node.keywords:
            return None
        if function in FUNCTIONS:
            return f"`{ast.unparse(node)}` ({function} takes exactly one argument)"
        return f"the call `{ast.unparse(node)}` (the only function is sqrt)"
    what = _NODE_NAMES.get(type(node), f"`{type(node).__name__}`")
    snippet = ast.unparse(node) if isinstance(node, ast.expr) else ""
    return f"{what} `{snippet}`" if snippet else what


def _own_symbols(expression: sympy.Expr, allowed: Mapping[str, sympy.Symbol]) -> sympy.Expr:
    """A user's sympy expression with its symbols replaced by ours (matched by name)."""
    unknown = sorted(s.name for s in expression.free_symbols if s.name not in allowed)
    if unknown:
        raise CompileError(
            f"formula {expression} uses {', '.join(unknown)}, which are neither counts nor "
            f"parameters; {_language(allowed)}"
        )
    return expression.xreplace({s: allowed[s.name] for s in expression.free_symbols})


def _check_expression(expression: sympy.Expr, allowed: Mapping[str, sympy.Symbol]) -> None:
    """Only symbols, finite real numbers, sums, products and numeric powers; at least one count."""
    for node in sympy.preorder_traversal(expression):
        if isinstance(node, sympy.Symbol):
            if node.name not in allowed or allowed[node.name] != node:
                raise CompileError(f"formula {expression} uses an unknown symbol {node}; {_language(allowed)}")
        elif isinstance(node, sympy.Number):
            if not (node.is_finite and node.is_real):
                raise CompileError(f"formula {expression} contains {node}; only finite real numbers are allowed")
        elif isinstance(node, sympy.Pow):
            if not isinstance(node.exp, sympy.Number):
                raise CompileError(
                    f"formula {expression} raises to the power {node.exp}; exponents must be numbers"
                )
        elif not isinstance(node, (sympy.Add, sympy.Mul)):
            raise CompileError(
                f"formula {expression} contains `{node.func.__name__}` ({node}); {_language(allowed)}"
            )
    counts = {s.name for s in (*COUNTS, *DERIVED)}
    if not any(s.name in counts for s in expression.free_symbols):
        raise CompileError(f"formula {expression} does not depend on any count; {_language(allowed)}")
