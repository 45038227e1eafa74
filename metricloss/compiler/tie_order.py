"""Sorts of the scores whose order of ties torch leaves open, named before they are rewritten.

``argsort`` and ``sort`` without ``stable=True``, and ``topk`` (which has no ``stable``), may
return tied scores in any order, and torch's CPU kernels do reorder them. The compiled metric
cannot follow an order that is not defined, so it follows a fixed rule (``rewrites.rank``,
``sort_order``, ``topk_contains``): on tied scores its value can differ from the user's function
run eagerly. This pass reads the traced graph before the respellings turn ``sort`` and ``topk``
into ``argsort``, while each call is still as the user wrote it, so that the warning and
``explain`` can name it at its line, with the rule and the spelling that makes the two agree.
"""

from __future__ import annotations

import operator
import warnings
import weakref
from dataclasses import dataclass

import torch
import torch.fx as fx

from ..errors import SourceLocation, TieOrderWarning
from .ops import argument, is_call
from .render import render
from .spellings.orders import tests_membership
from .trace.dependencies import depends_on_scores
from .trace.locations import LOCATION

_IN_INDEX_ORDER = "puts tied scores in index order, as a stable sort does"
_SCIKIT_LEARN = ("counts the label among the top k by scikit-learn's `top_k_accuracy_score` rule: a "
                 "class tied with the label ranks above it when it comes later, below it when it comes earlier")


@dataclass(frozen=True)
class UnstableSort:
    """One such call: what the user wrote, where, the compiled metric's rule, and the remedy."""

    call: str  # "argsort", "sort" or "topk"
    location: SourceLocation | None
    rule: str  # what the compiled metric does with tied scores, after "the compiled metric"
    remedy: str  # the spelling whose eager run follows the rule

    @property
    def key(self) -> tuple:
        """What makes two the same sort: a loop repeats a line, a binding changes k in the remedy."""
        return self.call, self.location, self.rule

    @property
    def what(self) -> str:
        return "`topk`" if self.call == "topk" else f"`{self.call}` without `stable=True`"

    def explained(self) -> str:
        """One line for ``explain``'s lowering section."""
        return (f"tie order: {self.what} at {self.location or 'an unknown line'} is not stable in torch "
                f"(tied scores may come in any order); the compiled metric {self.rule}")

    def message(self, metric: str) -> str:
        leaves = ("leaves which of tied scores it returns, and in which order, to torch" if self.call == "topk"
                  else "leaves the order of tied scores to torch")
        return (f"metric `{metric}`: {self.what} at {self.location or 'an unknown line'} {leaves}, which does "
                f"not define it (it can reorder them); the compiled metric {self.rule}, so on tied scores "
                f"it can differ from your function run eagerly. {self.remedy}")


def unstable_sorts(graph: fx.Graph) -> tuple[UnstableSort, ...]:
    """Every unstable sort of the scores in ``graph``, once per line and rule (a loop repeats them)."""
    found: dict[tuple, UnstableSort] = {}
    for node in graph.nodes:
        for sort in _unstable(node):
            found.setdefault(sort.key, sort)
    return tuple(found.values())


# Per declaration, the sorts already warned about: a metric is compiled again for each binding of
# its parameters and, when its code reads shapes, for each shape, but the user wrote each sort once.
_WARNED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def warn_once(declaration, sorts: tuple[UnstableSort, ...]) -> None:
    """A ``TieOrderWarning`` for each sort not yet warned about for this declaration, at its line."""
    said = _WARNED.setdefault(declaration, set())
    for sort in sorts:
        if sort.key in said:
            continue
        said.add(sort.key)
        where = sort.location
        warnings.warn_explicit(TieOrderWarning(sort.message(declaration.name)), TieOrderWarning,
                               where.filename if where else "<metric>", where.lineno if where else 0)


def _unstable(node: fx.Node):
    if not (node.op in ("call_function", "call_method") and depends_on_scores(node)):
        return
    if is_call(node, "argsort", torch.argsort) and not _stable(node) and not _permutation(node.args[0]):
        yield UnstableSort("argsort", _where(node), _IN_INDEX_ORDER, _with_stable(node))
    elif is_call(node, "sort", torch.sort) and not _stable(node) and _reads_indices(node):
        yield UnstableSort("sort", _where(node), _IN_INDEX_ORDER, _with_stable(node))
    elif is_call(node, "topk", torch.topk):
        for indices in _index_readers(node):
            if tests_membership(indices):
                yield UnstableSort("topk", _where(node), _SCIKIT_LEARN, _membership_remedy(node))
            else:
                yield UnstableSort("topk", _where(node), _first_k(node), _order_remedy(node))


def _where(node: fx.Node) -> SourceLocation | None:
    return node.meta.get(LOCATION)


def _stable(node: fx.Node) -> bool:
    return node.kwargs.get("stable") is True  # keyword-only in torch


def _permutation(node) -> bool:
    """An argsort's or a sort's indices: distinct numbers, so sorting them meets no tie
    (the outer argsort of a rank)."""
    if is_call(node, "argsort", torch.argsort):
        return True
    return _index_part(node) is not None and is_call(node.args[0], "sort", torch.sort)


def _index_part(node) -> fx.Node | None:
    """``node`` when it reads the indices of a (values, indices) result: ``.indices`` or ``[1]``."""
    if isinstance(node, fx.Node) and node.op == "call_function" and (
            node.target is getattr and node.args[1] == "indices" or node.target is operator.getitem and node.args[1] == 1):
        return node
    return None


def _reads_indices(node: fx.Node) -> bool:
    """Whether anything but the sorted values is read (the values do not depend on the tie order)."""
    values = [u for u in node.users if u.op == "call_function" and (
        u.target is getattr and u.args[1] == "values" or u.target is operator.getitem and u.args[1] == 0)]
    return len(values) < len(node.users)


def _index_readers(node: fx.Node) -> list[fx.Node]:
    return [u for u in node.users if _index_part(u) is not None and u.users]


def _with_stable(node: fx.Node) -> str:
    """The call with ``stable=True``; torch takes ``dim`` and ``descending`` by keyword then."""
    name = node.target if isinstance(node.target, str) else node.target.__name__
    scores = _name(node.args[0])
    options = _keywords(render(argument(node, 1, "dim", -1)), bool(argument(node, 2, "descending", False)))
    call = f"{scores}.{name}({options})" if node.op == "call_method" else f"torch.{name}({scores}, {options})"
    return f"Write `{call}` there and the two agree (the compiled metric stays the same)."


def _name(value) -> str:
    """The sorted tensor as the user named it (an argument of the metric); else an ellipsis, as
    the line the message quotes shows it."""
    return value.target if isinstance(value, fx.Node) and value.op == "placeholder" else "…"


def _keywords(dim: str, descending: bool) -> str:
    """A stable sort's options: by keyword, the only way torch takes them with ``stable``."""
    return ", ".join(([f"dim={dim}"] if dim != "-1" else []) + (["descending=True"] if descending else [])
                     + ["stable=True"])


def _topk_parts(node: fx.Node) -> tuple[str, str, str, bool]:
    """(the ranked tensor, its dim, k, largest) as text, for a remedy."""
    return (_name(node.args[0]), render(argument(node, 2, "dim", -1)), render(argument(node, 1, "k")),
            bool(argument(node, 3, "largest", True)))


def _prefix(dim: str, k: str) -> str:
    """``[..., :k]`` along ``dim``: the first k entries."""
    if dim.isdigit():
        return "[" + ":, " * int(dim) + f":{k}]"
    return f"[..., :{k}]" if dim == "-1" else f".narrow({dim}, 0, {k})"


def _first_k(node: fx.Node) -> str:
    _, _, _, largest = _topk_parts(node)
    order = "descending" if largest else "ascending"
    return f"takes the first k of a stable {order} sort (tied scores in index order)"


def _order_remedy(node: fx.Node) -> str:
    scores, dim, k, largest = _topk_parts(node)
    options = _keywords(dim, largest)
    return (f"Write `{scores}.sort({options}).indices{_prefix(dim, k)}` for its indices and the two agree (the "
            "compiled metric stays the same), or keep `topk` and accept the rule.")


def _membership_remedy(node: fx.Node) -> str:
    scores, dim, k, _ = _topk_parts(node)
    options = _keywords(dim, False)
    return (f"Write the top k as scikit-learn does, `{scores}.argsort({options}).flip({dim}){_prefix(dim, k)}`, "
            "and the two agree (the compiled metric stays the same), or keep `topk` and accept the rule.")
