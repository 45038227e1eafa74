"""A grammar of metric programs as evaluation code is written, and tie-heavy inputs for them.

A program is the body of ``def metric(scores, labels):`` built from productions of the ops the
guide says may compile (``docs/guide.md``, "What may happen to scores before a comparison"):
comparisons with both tie rules against constants, targets and other scores; masks from the
labels; broadcast pairs; argmax-based correctness in its spellings; top-k membership; arg-max in a
region; thresholds through monotone maps and clamps; ranks and orders from stable sorts and top-k;
per-class loops and one-hots; reductions (all, any, sum, mean, count_nonzero), casts, and
arithmetic of the aggregates, guarded or not. A few productions are constructs the guide says
are refused (``float()`` of a tensor mid-way, a mean of scores, ...): those programs must raise a
``CompileError``.

Every program also has a ``reference`` body, the same code with each ``topk`` (whose order of
tied entries torch leaves unspecified) replaced by the definition the library documents: a stable
descending sort for top-k used as an order, scikit-learn's rule for top-k membership (a later
entry that ties the labelled one ranks above it). Sorts are written ``stable=True``, so their
eager value is defined and is the reference itself.

Input kinds: ``binary`` (scores [N], labels [N] in {0, 1}), ``classes`` (scores [N, C], labels
[N] in [0, C)), ``multilabel`` (scores [N, D], relevance [N, D] in {0, 1}).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import torch
from hypothesis import strategies as st

KINDS = ("binary", "classes", "multilabel")
HEADER = "import math\n\nimport torch\nimport torch.nn.functional as F\n"


@dataclass(frozen=True)
class Program:
    kind: str
    width: int  # C or D for 2-d scores; 0 for 1-d
    min_batch: int  # programs that take k items need k of them
    body: tuple[str, ...]
    reference_body: tuple[str, ...]
    refused: str | None  # a construct the guide says is refused, when the program has one
    ops: frozenset[str] = field(default_factory=frozenset)  # the productions used

    def source(self) -> str:
        return "\n\n".join([HEADER, _function("metric", self.body), _function("reference", self.reference_body)])

    def __repr__(self) -> str:  # what hypothesis prints for a falsifying example
        return f"Program(kind={self.kind!r}, width={self.width}, min_batch={self.min_batch})\n" + self.source()


def _function(name: str, body: tuple[str, ...]) -> str:
    return f"def {name}(scores, labels):\n" + "".join(f"    {line}\n" for line in body)


_TOPK = re.compile(r"(torch\.topk\(scores, (?P<k1>\w+)(?P<d1>, (?:dim=)?1)?\)|scores\.topk\((?P<k2>\w+)(?P<d2>, (?:dim=)?1)?\))"
                   r"(?P<part>\.indices|\[1\])")


def _topk_as_order(line: str) -> str:
    """``scores.topk(k, dim).indices`` as the first k of a stable descending sort."""
    def replace(match):
        k = match["k1"] or match["k2"]
        if match["d1"] or match["d2"]:
            return f"scores.argsort(dim=1, descending=True, stable=True)[:, :{k}]"
        return f"scores.argsort(descending=True, stable=True)[:{k}]"
    return _TOPK.sub(replace, line)


def _topk_as_membership(line: str) -> str:
    """Top-k for a membership test, scikit-learn's rule: a stable ascending sort read backwards."""
    def replace(match):
        k = match["k1"] or match["k2"]
        return f"scores.argsort(dim=1, stable=True).flip(1)[:, :{k}]"
    return _TOPK.sub(replace, line)


@dataclass(frozen=True)
class Value:
    name: str
    shape: str  # "N", "N1", "NC", "PQ", "NN", "NDD" or "0" (a 0-d aggregate)
    boolean: bool


class Builder:
    """Collects the lines of one program (and of its reference) with fresh names."""

    def __init__(self, draw, kind: str, width: int):
        self.draw, self.kind, self.width = draw, kind, width
        self.body: list[str] = []
        self.reference: list[str] = []
        self.count = 0
        self.ops: set[str] = set()
        self.min_batch = 1
        self.refused: str | None = None
        self.numbers: set[str] = set()  # names that hold Python numbers, not tensors

    def pick(self, options):
        return self.draw(st.sampled_from(options))

    def chance(self, p: float = 0.5) -> bool:
        return self.draw(st.integers(0, 99)) < int(p * 100)

    def name(self, hint: str) -> str:
        self.count += 1
        return f"{hint}{self.count}"

    def line(self, text: str, reference: str | None = None) -> None:
        self.body.append(text)
        self.reference.append(text if reference is None else reference)

    def let(self, hint: str, expression: str, reference: str | None = None) -> str:
        name = self.name(hint)
        self.line(f"{name} = {expression}", None if reference is None else f"{name} = {reference}")
        return name

    def op(self, *names: str) -> None:
        self.ops.update(names)

    def comparison(self, lhs: str, rhs: str) -> str:
        """``lhs > rhs`` in one of its spellings, either tie rule (or an equality: two orderings)."""
        op = self.pick([">", ">=", "<", "<=", "==", "!="])
        self.op(f"compare{op}")
        style = self.pick(["infix", "infix", "swapped", "function", "method"])
        swapped = {">": "<", ">=": "<=", "<": ">", "<=": ">=", "==": "==", "!=": "!="}
        if style == "swapped":
            return f"{rhs} {swapped[op]} {lhs}"
        name = {">": "gt", ">=": "ge", "<": "lt", "<=": "le", "==": "eq", "!=": "ne"}[op]
        if style == "function":
            return f"torch.{name}({lhs}, {rhs})"
        if style == "method":
            return f"({lhs}).{name}({rhs})"
        return f"{lhs} {op} {rhs}"


# ---------------------------------------------------------------------------------------------
# Thresholds: scores (through shifts, scalings, monotone maps, clamps) against a number


_MAPS = (
    # (expression of x, thresholds that tie with integer scores or lie on either side of the map)
    ("{x}", ("0", "1", "-1", "0.5", "1.5")),
    ("{x} * 2", ("0", "2", "1", "-3")),
    ("{x} / 2", ("0", "0.5", "1", "-0.5")),
    ("{x} - 1", ("0", "1", "-1")),
    ("2 * {x} - 1", ("0", "1", "-3")),
    ("-{x}", ("0", "1", "-1")),
    ("torch.sigmoid({x})", ("0.5", "0.25", "0.7310585786300049", "0.2689414213699951", "0.0", "1.0")),
    ("{x}.sigmoid()", ("0.5", "0.8807970779778823", "0.75")),
    ("torch.tanh({x})", ("0", "0.5", "-0.7615941559557649", "1.0")),
    ("torch.exp({x})", ("1", "2", "0.36787944117144233", "7.38905609893065")),
    ("{x}.clamp(-1, 1)", ("-2", "-1", "0", "0.5", "1", "2")),
    ("torch.clamp({x}, min=0)", ("-1", "0", "1")),
    ("{x}.clamp_max(1)", ("0", "1", "2")),
    ("torch.relu({x})", ("-1", "0", "1")),
    ("F.relu({x})", ("0", "0.5")),
    ("{x}.data", ("0", "1")),
    ("{x}.double()", ("0", "-1")),
)


def threshold(b: Builder, scores: str = "scores", shape: str = "N") -> Value:
    template, thresholds = b.pick(_MAPS)
    b.op("threshold", template.split("(")[0].replace("{x}", "x"))
    lhs = template.format(x=scores)
    rhs = b.pick(thresholds)
    if b.kind == "binary" and b.chance(0.15):
        rhs = b.pick(["labels - 0.5", "labels.float() * 2 - 1", "labels"])
        b.op("threshold by targets")
    return Value(b.let("above", b.comparison(lhs, rhs)), shape, True)


def absolute_bound(b: Builder) -> Value:
    b.op("abs bound")
    x = b.pick(["scores - labels", "scores - labels.float()", "scores - 1", "scores"])
    op = b.pick(["<=", "<", ">", ">="])
    tol = b.pick(["1", "0.5", "0", "2"])
    spelling = b.pick(["({x}).abs() {op} {tol}", "torch.abs({x}) {op} {tol}"])
    return Value(b.let("near", spelling.format(x=x, op=op, tol=tol)), "N", True)


def rounded(b: Builder) -> Value:
    b.op("sigmoid round")
    prob = b.pick(["torch.sigmoid(scores)", "scores.sigmoid()"])
    if b.chance():
        return Value(b.let("hit", f"{prob}.round() == labels"), "N", True)
    return Value(b.let("pred", f"{prob}.round()"), "N", False)


# ---------------------------------------------------------------------------------------------
# Pairs


def positives_negatives(b: Builder) -> tuple[str, str]:
    pos = b.pick(["scores[labels == 1]", "scores[labels.bool()]", "scores[labels > 0]",
                  "torch.masked_select(scores, labels == 1)", "scores[labels != 0]"])
    neg = b.pick(["scores[labels == 0]", "scores[~labels.bool()]", "scores[labels < 1]",
                  "torch.masked_select(scores, labels == 0)"])
    b.op("mask by labels")
    return b.let("pos", pos), b.let("neg", neg)


def pairs(b: Builder) -> Value:
    pos, neg = positives_negatives(b)
    b.op("pairs")
    left, right = b.pick([("{p}[:, None]", "{n}[None, :]"), ("{p}.unsqueeze(1)", "{n}.unsqueeze(0)"),
                          ("{p}.view(-1, 1)", "{n}.view(1, -1)"), ("{p}[:, None]", "{n}")])
    lhs, rhs = left.format(p=pos), right.format(n=neg)
    if b.chance(0.3):  # a tie as one half: both tie rules of one difference
        b.op("half ties")
        name = b.let("wins", f"(({lhs} > {rhs}).float() + ({lhs} >= {rhs}).float()) / 2")
        return Value(name, "PQ", False)
    if b.chance(0.2):
        b.op("sign")
        return Value(b.let("wins", f"(torch.sign({lhs} - {rhs}) + 1) / 2"), "PQ", False)
    return Value(b.let("wins", b.comparison(lhs, rhs)), "PQ", True)


def all_pairs(b: Builder) -> Value:
    b.op("all pairs")
    if b.kind == "binary":
        s, t = "scores[:, None]", "scores[None, :]"
        better = "labels[:, None] > labels[None, :]"
    else:
        s, t = "scores[:, :, None]", "scores[:, None, :]"
        better = "labels[:, :, None] > labels[:, None, :]"
    if b.chance(0.3):
        b.op("sign")
        sign = b.let("concordant", f"torch.sign({s} - {t}) * torch.sign({better.replace(' > ', ' - ')})")
        return Value(sign, "NN", False)
    wins = b.let("ordered", b.comparison(s, t))
    mask = b.let("better", better)
    return Value(b.let("correct", f"{wins} & {mask}"), "NN", True)


# ---------------------------------------------------------------------------------------------
# Ranks and orders (stable sorts, and top-k held to their definitions)


def ranks_1d(b: Builder) -> Value:
    descending = b.pick(["True", "False"])
    b.op("rank")
    spelling = b.pick([
        f"scores.argsort(descending={descending}, stable=True).argsort(stable=True)",
        f"torch.argsort(torch.argsort(scores, descending={descending}, stable=True), stable=True)",
        f"scores.argsort(dim=0, descending={descending}, stable=True).argsort(dim=0, stable=True)",
    ])
    if b.chance(0.1):
        b.op("rank outer descending")
        spelling = f"scores.argsort(descending={descending}, stable=True).argsort(descending=True, stable=True)"
    ranks = b.let("ranks", spelling)
    use = b.pick(["top", "mann_whitney", "float"])
    if use == "top":
        k = b.pick(["1", "2", "3"])
        return Value(b.let("top", f"{ranks} < {k}"), "N", True)
    if use == "mann_whitney":
        b.op("mann whitney")
        n_pos = b.let("n_pos", "(labels == 1).sum()")
        n_neg = b.let("n_neg", "(labels == 0).sum()")
        total = b.let("rank_sum", f"({ranks} + 1)[labels == 1].sum()")
        return Value(b.let("auc", f"({total} - {n_pos} * ({n_pos} + 1) / 2) / ({n_pos} * {n_neg})"), "0", False)
    return Value(b.let("r", f"{ranks}.float()"), "N", False)


def _order_1d(b: Builder, k: str) -> tuple[str, bool]:
    """An order of the items, best first: (its name, whether it holds only the first k)."""
    form = b.pick(["argsort", "torch.argsort", "sort.indices", "sort[1]", "unpacked", "topk", "torch.topk"])
    b.op(f"order {form}")
    if form in ("topk", "torch.topk"):
        spelling = f"scores.topk({k}).indices" if form == "topk" else f"torch.topk(scores, {k})[1]"
        return b.let("order", spelling, _topk_as_order(spelling)), True
    if form == "unpacked":
        name = b.name("order")
        b.line(f"_, {name} = torch.sort(scores, descending=True, stable=True)")
        return name, False
    spelling = {
        "argsort": "scores.argsort(descending=True, stable=True)",
        "torch.argsort": "torch.argsort(scores, descending=True, stable=True)",
        "sort.indices": "torch.sort(scores, descending=True, stable=True).indices",
        "sort[1]": "scores.sort(descending=True, stable=True)[1]",
    }[form]
    return b.let("order", spelling), False


def ranking_1d(b: Builder) -> Value:
    """A retrieval metric of one ranked list: precision/recall/hit at k, AP, first hit, NDCG."""
    k_value = b.draw(st.integers(1, 3))
    if b.chance(0.2):
        b.op("k clipped by batch")
        k = b.let("k", f"min({k_value}, len(labels))")
    else:
        b.min_batch = max(b.min_batch, k_value)
        k = str(k_value)
    order, prefix = _order_1d(b, k)
    gathered = b.pick(["labels[{o}]", "labels.gather(0, {o})", "torch.index_select(labels, 0, {o})",
                       "labels[{o}].float()"]).format(o=order)
    hits = b.let("hits", gathered)
    top = hits if prefix else f"{hits}[:{k}]"
    use = b.pick(["precision", "recall", "hit", "ap", "first", "ndcg", "prefix"] if not prefix
                 else ["precision", "recall", "hit"])
    b.op(f"ranking {use}")
    if use == "precision":
        value = f"{top}.sum() / {k}"
    elif use == "recall":
        value = f"{top}.sum() / labels.sum()"
    elif use == "hit":
        value = f"({top} == 1).any().float()"
    elif use == "ap":
        tp = b.let("tp", f"{hits}.float().cumsum(0)")
        value = f"({tp} / torch.arange(1, len(labels) + 1) * {hits}).sum() / {hits}.sum()"
    elif use == "first":
        value = f"{hits}.any().float() / ({hits}.float().argmax() + 1)"
    elif use == "ndcg":
        discount = b.let("discount", "1.0 / torch.log2(torch.arange(len(labels)) + 2.0)")
        ideal = b.let("ideal", "labels.float().sort(descending=True).values")
        value = f"({hits} * {discount}).sum() / ({ideal} * {discount}).sum()"
    else:
        value = f"labels[{order}[:{k}]].float().mean()"
    return Value(b.let("ranked", value), "0", False)


# ---------------------------------------------------------------------------------------------
# Classes: scores [N, C], labels [N]

_PREDICTIONS = (
    "scores.argmax(1)", "scores.argmax(dim=1)", "torch.argmax(scores, dim=1)", "torch.max(scores, 1)[1]",
    "scores.max(1).indices", "scores.max(dim=1)[1]", "scores.argmin(1)", "(-scores).argmax(1)",
    "torch.softmax(scores, 1).argmax(1)", "scores.argmax(-1)", "F.log_softmax(scores, dim=1).argmax(1)",
    "scores.data.max(1)[1]",
)


def predicted(b: Builder) -> str:
    spelling = b.pick(_PREDICTIONS)
    b.op(f"predict {spelling}")
    return b.let("pred", spelling)


def correct(b: Builder) -> Value:
    if b.chance(0.15):
        b.op("keepdim argmax")
        pred = b.let("pred", b.pick(["scores.argmax(dim=1, keepdim=True)", "scores.data.max(1, keepdim=True)[1]"]))
        return Value(b.let("right", f"{pred}.eq(labels.view_as({pred}))"), "N1", True)
    pred = predicted(b)
    if b.chance(0.15):  # against a class number (out of range too), one label, every label
        test, shape = b.pick([(f"{{p}} == {b.draw(st.integers(0, b.width))}", "N"), ("{p} == labels[0]", "N"),
                              ("{p} == labels[:, None]", "NN"), ("{p} != labels.view(-1, 1)", "NN")])
        b.op("argmax test broadcast")
        return Value(b.let("right", test.format(p=pred)), shape, True)
    test = b.pick(["{p} == labels", "labels == {p}", "{p}.eq(labels)", "{p} != labels", "{p}.ne(labels)",
                   "torch.eq({p}, labels)"])
    b.op("argmax test")
    return Value(b.let("right", test.format(p=pred)), "N", True)


def class_loop(b: Builder) -> Value:
    """Per-class counts in a Python loop over the classes, unrolled per shape."""
    b.op("class loop")
    pred = predicted(b)
    C = b.pick(["scores.shape[1]", "scores.size(1)"])
    per_class = b.pick(["precision", "recall", "f1", "iou", "support"])
    fill = b.chance()
    if fill:
        values = b.let("per_class", f"torch.zeros({C})")
    else:
        values = b.let("per_class", "[]")
    b.line(f"for c in range({C}):")
    hit = b.pick(["({p} == c)", "({p} == c).long()", "(c == {p})"]).format(p=pred)
    b.line(f"    tp = ({hit} & (labels == c)).sum()" if "long" not in hit else f"    tp = ({hit} * (labels == c)).sum()")
    b.line(f"    fp = ({hit} & (labels != c)).sum()" if "long" not in hit else f"    fp = ({hit} * (labels != c)).sum()")
    b.line(f"    fn = (~({pred} == c) & (labels == c)).sum()")
    formula = {
        "precision": "tp / (tp + fp).clamp(min=1)",
        "recall": "tp / (tp + fn)",
        "f1": "2 * tp / (2 * tp + fp + fn).clamp(min=1)",
        "iou": "tp / (tp + fp + fn)",
        "support": "(tp + fn).float()",
    }[per_class]
    if fill:
        b.line(f"    {values}[c] = {formula}")
        stacked = values
    else:
        b.line(f"    {values}.append({formula})")
        stacked = b.let("stacked", f"torch.stack({values})")
    use = b.pick(["mean", "nanmean", "seen"])
    if use == "mean":
        return Value(b.let("macro", f"{stacked}.mean()"), "0", False)
    if use == "nanmean":
        return Value(b.let("macro", f"{stacked}[~torch.isnan({stacked})].mean()"), "0", False)
    return Value(b.let("macro", f"{stacked}.sum() / {C}"), "0", False)


def one_hot_counts(b: Builder) -> Value:
    b.op("one_hot argmax")
    C = b.pick(["scores.shape[1]", "scores.size(1)", str(b.width), str(b.width + 2)])
    pred = b.let("pred", f"F.one_hot(scores.argmax(1), {C})")
    truth = b.let("truth", f"F.one_hot(labels, {C})")
    use = b.pick(["f1", "micro", "confusion", "per_class_hit"])
    if use == "f1":
        tp = b.let("tp", f"({pred} * {truth}).sum(0)")
        fp = b.let("fp", f"({pred} * (1 - {truth})).sum(0)")
        fn = b.let("fn", f"((1 - {pred}) * {truth}).sum(0)")
        return Value(b.let("f1", f"(2 * {tp} / (2 * {tp} + {fp} + {fn}).clamp(min=1)).mean()"), "0", False)
    if use == "micro":
        return Value(b.let("micro", f"({pred} * {truth}).sum() / {truth}.sum()"), "0", False)
    if use == "confusion":
        b.op("confusion matrix")
        cm = b.let("cm", f"{truth}.t().float() @ {pred}.float()")
        return Value(b.let("kappa_like", f"torch.trace({cm}) / {cm}.sum()"), "0", False)
    return Value(b.let("hit", f"({pred} == 1) & ({truth} == 1)"), "NC", True)


def top_k_membership(b: Builder) -> Value:
    k = b.draw(st.integers(1, b.width))
    b.op("topk membership")
    spelling = b.pick([f"(scores.topk({k}, 1).indices == labels[:, None]).any(1)",
                       f"(labels.unsqueeze(1) == torch.topk(scores, {k}, dim=1).indices).any(dim=1)",
                       f"(scores.topk({k}, dim=1)[1] == labels.view(-1, 1)).any(1)"])
    name = b.name("in_top")
    b.line(f"{name} = {spelling}", f"{name} = {_topk_as_membership(spelling)}")
    return Value(name, "N", True)


def top_k_order(b: Builder) -> Value:
    """The ImageNet example: top-k indices used as an order, ``pred.t().eq(target.view(1, -1))``."""
    k = b.draw(st.integers(1, b.width))
    b.op("topk order")
    line = f"_, top = scores.topk({k}, 1, True, True)"
    b.line(line, f"top = scores.argsort(dim=1, descending=True, stable=True)[:, :{k}]")
    hit = b.let("hit", "top.t().eq(labels.view(1, -1).expand_as(top.t()))")
    return Value(b.let("hit_k", f"{hit}[:{k}].reshape(-1).float()"), "N", False)


def confidence(b: Builder) -> Value:
    b.op("confidence")
    lhs, t = b.pick([
        ("torch.softmax(scores, 1).amax(1)", "0.5"),
        ("scores.softmax(dim=1).max(1).values", "0.4"),
        ("torch.softmax(scores, dim=1).max(dim=1)[0]", "0.5"),
        ("F.log_softmax(scores, dim=1).gather(1, labels.unsqueeze(1))", "math.log(0.5)"),
        ("scores.gather(1, labels[:, None]).squeeze(1)", "0"),
        ("scores.amax(1)", "1"),
        ("scores.amin(dim=1)", "-1"),
        ("scores[:, 0]", "scores[:, 1]"),
        ("torch.softmax(scores, 1)[:, 0]", "0.5"),
        ("scores.max(1).values - 1", "scores.min(1).values"),
    ])
    shape = "N1" if "unsqueeze(1))" in lhs else "N"
    return Value(b.let("confident", b.comparison(lhs, t)), shape, True)


def margin(b: Builder) -> Value:
    """The true class against the best other class, through a masked fill or a where."""
    b.op("margin")
    C = "scores.shape[1]"
    true = b.let("true", "scores.gather(1, labels[:, None])")
    mask = b.let("mask", f"F.one_hot(labels, {C}).bool()")
    other = b.pick([f"scores.masked_fill({mask}, float('-inf')).amax(1, keepdim=True)",
                    f"torch.where({mask}, float('-inf'), scores).amax(1, keepdim=True)",
                    f"torch.where(~{mask}, scores, -1e9).max(1, keepdim=True).values"])
    rival = b.let("rival", other)
    return Value(b.let("beats", b.comparison(true, rival)), "N1", True)


def region(b: Builder) -> Value:
    b.op("argmax in region")
    C = "scores.shape[1]"
    area = b.pick([f"F.one_hot(labels, {C})", f"F.one_hot(labels, {C}) | F.one_hot((labels + 1) % {C}, {C})"])
    inside = b.let("region", area)
    hit = b.let("in_region", f"{inside}.gather(1, scores.argmax(1, keepdim=True))")
    return Value(hit, "N1", False)


def rank_of_true_class(b: Builder) -> Value:
    b.op("rank")
    ranks = b.let("ranks", "scores.argsort(dim=1, descending=True, stable=True).argsort(dim=1, stable=True)")
    k = b.draw(st.integers(1, b.width))
    return Value(b.let("top", f"{ranks}.gather(1, labels[:, None]).squeeze(1) < {k}"), "N", True)


# ---------------------------------------------------------------------------------------------
# Multi-label / queries: scores [N, D], labels [N, D] in {0, 1}


def multilabel_threshold(b: Builder) -> Value:
    above = threshold(b, "scores", "NC")
    use = b.pick(["itself", "match", "and", "f1"])
    if use == "itself":
        return above
    if use == "match":
        return Value(b.let("match", f"{above.name} == (labels == 1)"), "NC", True)
    if use == "and":
        return Value(b.let("tp", f"{above.name} & labels.bool()"), "NC", True)
    b.op("example f1")
    tp = b.let("tp", f"({above.name} & (labels == 1)).sum(1)")
    return Value(b.let("f1", f"(2 * {tp} / ({above.name}.sum(1) + labels.sum(1)).clamp(min=1)).mean()"), "0", False)


def ranking_2d(b: Builder) -> Value:
    k = b.draw(st.integers(1, b.width))
    form = b.pick(["argsort", "sort", "topk"])
    b.op(f"order {form} per query")
    if form == "topk":
        spelling = f"scores.topk({k}, dim=1).indices"
        order = b.let("order", spelling, _topk_as_order(spelling))
    elif form == "sort":
        order = b.let("order", "torch.sort(scores, dim=1, descending=True, stable=True).indices")
    else:
        order = b.let("order", "scores.argsort(dim=1, descending=True, stable=True)")
    ranked = b.let("ranked", b.pick(["labels.gather(1, {o})", "torch.gather(labels, 1, {o})",
                                    "torch.take_along_dim(labels, {o}, 1)"]).format(o=order))
    top = ranked if form == "topk" else f"{ranked}[:, :{k}]"
    use = b.pick(["precision", "recall", "hit", "mrr", "ndcg", "ap"] if form != "topk" else ["precision", "recall", "hit"])
    b.op(f"ranking {use}")
    if use == "precision":
        value = f"{top}.float().mean(1).mean()"
    elif use == "recall":
        value = f"({top}.sum(1) / labels.sum(1).clamp(min=1)).mean()"
    elif use == "hit":
        value = f"({top} > 0).any(dim=-1).float().mean()"
    elif use == "mrr":
        hits = b.let("hits", f"{ranked} > 0")
        value = f"({hits}.any(1).float() / ({hits}.float().argmax(dim=1) + 1)).mean()"
    elif use == "ndcg":
        discount = b.let("discount", "1.0 / torch.log2(torch.arange(scores.shape[1]) + 2.0)")
        ideal = b.let("ideal", "torch.sort(labels, dim=-1, descending=True).values")
        dcg = b.let("dcg", f"({ranked} * {discount}).sum(dim=-1)")
        idcg = b.let("idcg", f"({ideal} * {discount}).sum(dim=-1)")
        value = f"({dcg} / {idcg}).mean()"
    else:
        precision = b.let("precision", f"{ranked}.float().cumsum(dim=1) / torch.arange(1, scores.shape[1] + 1)")
        value = f"(({precision} * {ranked}).sum(1) / {ranked}.sum(1)).mean()"
    return Value(b.let("ranking", value), "0", False)


def multilabel_region(b: Builder) -> Value:
    b.op("argmax in region")
    return Value(b.let("top_hit", "labels.gather(1, scores.argmax(1, keepdim=True))"), "N1", False)


def r_precision(b: Builder) -> Value:
    b.op("rank", "r-precision")
    ranks = b.let("ranks", "scores.argsort(dim=1, descending=True, stable=True).argsort(dim=1, stable=True)")
    r = b.let("r", "labels.sum(1, keepdim=True)")
    return Value(b.let("found", f"({ranks} < {r}) & (labels == 1)"), "NC", True)


# ---------------------------------------------------------------------------------------------
# Constructs the guide says are refused (each program with one must raise a CompileError)


def refused(b: Builder, aggregate: str) -> str:
    construct = b.pick(["float", "int", "mean of scores", "if", "len", "detach", "tolist"])
    b.refused = construct
    b.op(f"refused {construct}")
    if construct == "float":
        return f"float({aggregate})"
    if construct == "int":
        return f"int({aggregate}) + {aggregate}"
    if construct == "mean of scores":
        return f"{aggregate} + scores.mean()"
    if construct == "if":
        b.line(f"if {aggregate} > 0:")
        b.line(f"    {aggregate} = {aggregate} + 1")
        return aggregate
    if construct == "len":
        return f"{aggregate} + len(scores[scores > 0])"
    if construct == "detach":
        return f"{aggregate} + (scores.detach() > 0).sum()"
    return f"{aggregate} + sum((scores > 0).tolist())"


# ---------------------------------------------------------------------------------------------
# Aggregates and their arithmetic


def aggregate(b: Builder, value: Value) -> str:
    """A 0-d tensor from a value."""
    if value.shape == "0":
        return value.name
    x = value.name
    if value.boolean and b.chance(0.12):
        return _changed_in_place(b, x)
    if not value.boolean:
        spelling = b.pick(["{x}.sum()", "{x}.float().mean()", "{x}.double().sum()", "torch.sum({x})",
                           "{x}.max()", "{x}.float().mean() * 100"])
        b.op(f"reduce {spelling.split('(')[0].replace('{x}', 'x')}")
        return b.let("total", spelling.format(x=x))
    options = ["{x}.float().mean()", "{x}.sum()", "{x}.all()", "{x}.any()", "torch.count_nonzero({x})",
               "{x}.long().sum()", "{x}.double().mean()", "torch.mean({x}.float())", "{x}.to(torch.float32).mean()",
               "{x}.float().sum() / {x}.numel()", "{x}.sum() / len(labels)", "{x}.all().float()",
               "{x}.int().sum()", "{x}.sum().item() / len(labels)"]
    if value.shape == "N" and b.kind == "binary":
        options += ["({x} & (labels == 1)).sum()", "{x}[labels == 1].float().mean()",
                    "({x}.float() * labels).sum() / labels.sum()", "({x} | (labels == 0)).all()",
                    "{x}[labels == 0].sum()", "({x} & labels.bool()).sum() / {x}.sum()"]
    if value.shape in ("NC", "NN", "N1"):
        options += ["{x}.all(1).float().mean()", "{x}.any(1).float().mean()", "{x}.float().mean(1).mean()",
                    "{x}.sum(1).float().mean()", "{x}.all(dim=1).sum()", "{x}.sum(0).max()"]
    spelling = b.pick(options)
    b.op(f"reduce {spelling.split('(')[0].replace('{x}', 'x')}")
    name = b.let("count", spelling.format(x=x))
    if ".item()" in spelling:
        b.numbers.add(name)  # a Python number: only arithmetic with it runs eagerly
    return name


def _changed_in_place(b: Builder, x: str) -> str:
    """A count changed in place (``mul_``, ``+=``), read under its name or another one."""
    b.op("in place")
    counts = b.let("counts", f"{x}.float()")
    alias = b.let("alias", counts) if b.chance() else counts
    change = b.pick(["{c}.mul_(2)", "{c} += 1", "{c} *= 0.5", "{c}.add_(1)", "{c}.clamp_(max=0.5)", "{c} -= {x}.float()",
                     "{c}[{x}] = 3"])
    b.line(change.format(c=counts, x=x))
    return b.let("total", f"{alias}.sum()")


def combine(b: Builder, parts: list[str], depth: int = 0) -> tuple[str, bool]:
    """Arithmetic of the aggregates: sums, differences, products, guarded and plain divisions.
    Returns the expression and whether it is a Python number (a ``.item()`` went into it alone)."""
    if len(parts) == 1 or depth > 2:
        term = parts[0]
        number = term in b.numbers
        if b.chance(0.3):
            form = b.pick(["({t} / 3)", "(2 * {t})", "(1 - {t})", "({t} + 0.5)", "({t} * 1.5 - 1)", "(-{t})"])
            b.op("scale")
            return form.format(t=term), number
        return term, number
    split = b.draw(st.integers(1, len(parts) - 1))
    (left, left_number), (right, right_number) = (combine(b, parts[:split], depth + 1),
                                                  combine(b, parts[split:], depth + 1))
    forms = ["({l} + {r})", "({l} - {r})", "({l} * {r})", "({l} / {r})", "({l} / ({r} + 1))", "(({l} + {r}) / 2)"]
    if not right_number:  # methods and torch functions of a tensor
        forms += ["({l} / torch.clamp({r}, min=1))", "torch.where({r} > 0, {l} / {r}, torch.zeros(()))"]
    if not (left_number and right_number):
        forms += ["torch.sqrt(({l} * {r}).float().abs())"]
    form = b.pick(forms)
    b.op(f"combine {form}")
    return form.format(l=left, r=right), left_number and right_number and "torch" not in form


_PRODUCERS = {
    "binary": ((threshold, 4), (absolute_bound, 1), (rounded, 1), (pairs, 3), (all_pairs, 1), (ranks_1d, 2),
               (ranking_1d, 3)),
    "classes": ((correct, 4), (class_loop, 2), (one_hot_counts, 2), (top_k_membership, 2), (top_k_order, 1),
                (confidence, 2), (margin, 1), (region, 1), (rank_of_true_class, 1)),
    "multilabel": ((multilabel_threshold, 3), (ranking_2d, 3), (multilabel_region, 1), (r_precision, 1),
                   (all_pairs, 1)),
}


def _producers(kind: str) -> list:
    return [producer for producer, weight in _PRODUCERS[kind] for _ in range(weight)]


@st.composite
def programs(draw, kinds=KINDS, refusals: bool = True) -> Program:
    kind = draw(st.sampled_from(kinds))
    width = draw(st.integers(2, 5)) if kind != "binary" else 0
    b = Builder(draw, kind, width)
    parts = []
    for _ in range(draw(st.integers(1, 3))):
        producer = draw(st.sampled_from(_producers(kind)))
        parts.append(aggregate(b, producer(b)))
    result, number = combine(b, parts)
    if refusals and not number and b.chance(0.08):
        result = refused(b, b.let("value", result))
    if not number and b.chance(0.1):
        b.op("item")
        result = f"({result}).item()"
    b.line(f"return {result}")
    return Program(kind, width, b.min_batch, tuple(b.body), tuple(b.reference), b.refused, frozenset(b.ops))


# ---------------------------------------------------------------------------------------------
# Inputs: integer scores from a small range (ties everywhere), constant rows, one-class labels


@st.composite
def inputs(draw, program: Program, sizes=None):
    """(scores, labels) for a program's kind: small batches, many ties."""
    n = draw(st.integers(program.min_batch, 12)) if sizes is None else draw(st.sampled_from(sizes))
    n = max(n, program.min_batch)
    shape = (n,) if program.kind == "binary" else (n, program.width)
    style = draw(st.sampled_from(["ints", "ints", "ints", "binary", "constant", "rows", "distinct", "zeros"]))
    seed = draw(st.integers(0, 2**32 - 1))
    generator = torch.Generator().manual_seed(seed)
    if style == "ints":
        scores = torch.randint(-2, 3, shape, generator=generator).float()
    elif style == "binary":
        scores = torch.randint(0, 2, shape, generator=generator).float()
    elif style == "constant":
        scores = torch.full(shape, float(draw(st.integers(-2, 2))))
    elif style == "rows":
        first = torch.randint(-2, 3, shape[1:], generator=generator).float()
        scores = first.expand(shape).clone() if program.kind != "binary" else torch.full(shape, float(first.sum()))
    elif style == "zeros":
        scores = torch.zeros(shape)
    else:
        scores = torch.randperm(max(1, torch.Size(shape).numel()), generator=generator)[:torch.Size(shape).numel()]
        scores = (scores.float() / 4 - 1).reshape(shape)
    label_style = draw(st.sampled_from(["random", "random", "all zero", "all one", "alternate"]))
    classes = 2 if program.kind != "classes" else program.width
    label_shape = shape if program.kind != "classes" else (n,)
    if label_style == "random":
        labels = torch.randint(0, classes, label_shape, generator=generator)
    elif label_style == "all zero":
        labels = torch.zeros(label_shape, dtype=torch.long)
    elif label_style == "all one":
        labels = torch.full(label_shape, classes - 1, dtype=torch.long)
    else:
        labels = torch.arange(torch.Size(label_shape).numel()).reshape(label_shape) % classes
    return scores, labels
