"""What each traced op means to the compiler: a comparison, a pass-through for scores, or metadata.

Scores may reach a comparison only through ops that keep "which score is larger" computable by
autograd: indexing and reshaping (structural), monotone elementwise maps, and shifts or scalings by
values that do not depend on the scores. Anything else applied to scores (a sum, a mean, a max) is
a compile error, because the metric would then not be a function of comparisons.
"""

from __future__ import annotations


import torch
import torch.fx as fx

from . import table


def beats(lhs: torch.Tensor, rhs: torch.Tensor, tie_wins: torch.Tensor) -> torch.Tensor:
    """``[lhs > rhs]``, where a tie counts as a win wherever ``tie_wins`` holds (``lhs >= rhs``).

    One binary variable per entry, whatever its tie rule: the rewrites of argmax, top-k and ranks
    use it to carry torch's tie-breaking (the first maximal index wins; a stable sort keeps index
    order) into the hard binaries. The difference is ``lhs - rhs`` either way, so the relaxation
    does not see the rule. ``tie_wins`` may come from the scores (which element a max picked): it
    decides only hard values at ties, never a difference.

    Written as ``gt | (tie_wins & ge)`` (``ge`` holds wherever ``gt`` does): a ``torch.where``
    between two bool tensors costs about three times the two comparisons on the CPU, and this is
    a pass over every pair of a ranking.
    """
    return (lhs > rhs) | (tie_wins & (lhs >= rhs))

# A comparison's target -> whether the difference is ``lhs - rhs`` (+1) or ``rhs - lhs`` (-1).
def hard_only(values: torch.Tensor) -> torch.Tensor:
    """Score values used only to decide ties (which element a max picked), never differentiated.

    The compiler treats the result like a target: it may feed ``beats``' tie rule, and nothing
    downstream of it is a binary variable.
    """
    return values.detach()


def zero_one(region: torch.Tensor) -> torch.Tensor:
    """``region`` as bool, refusing values other than 0 and 1.

    "The arg-max lies in the region" reads a 0/1 target; a graded one (relevance 0..3) gathered
    at the arg-max is the grade of the top item, which the region rewrite cannot express.
    """
    if region.dtype != torch.bool and bool(((region != 0) & (region != 1)).any()):
        from ...errors import InputError

        raise InputError(
            "a target gathered at the scores' arg-max holds values other than 0 and 1; the arg-max "
            "rewrite reads it as a region (is the top item inside?). Gather a 0/1 mask, e.g. "
            "`(relevance > 0).gather(dim, scores.argmax(dim, keepdim=True))`, or for the grade of "
            "the top item write `(F.one_hot(scores.argmax(dim), C) * relevance).sum(dim)`."
        )
    return region.bool()


def assigned(tensor: torch.Tensor, index, value) -> torch.Tensor:
    """``tensor[index] = value`` as a new tensor, so that a traced metric has no mutation.

    Users fill preallocated tensors (``recalls = torch.zeros(C); recalls[c] = ...``); the trace
    records the assignment, and this is what it means. The zero added first gives the copy
    ``value``'s batching under ``vmap`` (g is evaluated on many configurations at once), without
    touching its values even when ``value`` holds NaN.
    """
    if isinstance(value, torch.Tensor):
        out = tensor + torch.zeros_like(value, dtype=tensor.dtype).sum()
    else:  # a Python number
        out = tensor.clone()
    out[index] = value
    return out


def broadcast_with(scores: torch.Tensor, labels: torch.Tensor) -> torch.Size:
    """The shape of ``scores`` [..., C] broadcast against class indices ``labels``: what
    ``scores.argmax(-1) == labels`` compares, with the classes last. Reads only shapes (by hand:
    ``torch.broadcast_shapes`` is Python-level reference code, a tenth of a small loss's call)."""
    return torch.Size((*_broadcast(tuple(scores.shape[:-1]), tuple(labels.shape)), scores.shape[-1]))


def _broadcast(left: tuple, right: tuple) -> tuple:
    """Two shapes broadcast together, as torch does; a RuntimeError (as torch raises) where not."""
    width = max(len(left), len(right))
    left, right = (1,) * (width - len(left)) + left, (1,) * (width - len(right)) + right
    if any(a != b and a != 1 and b != 1 for a, b in zip(left, right)):
        raise RuntimeError(f"shapes {left} and {right} do not broadcast")
    return tuple(b if a == 1 else a for a, b in zip(left, right))


# Functions the tracer records as single nodes rather than tracing through.
LEAF_FUNCTIONS = (beats, hard_only, zero_one, assigned, broadcast_with)

# What passes ask of a node, each derived from the one table (``table.py``).
_COMPARISON_SIGNS = {beats: 1, **{s: 1 if table.family(s) in table.TRAITS["greater"] else -1
                                  for s in table.having("ordering")}}
_COMPARISON_SYMBOLS = {1: (">", ">="), -1: ("<", "<=")}
_STRICT = table.having("strict")
_EQUALITIES = table.having("equality")
_STRUCTURAL = table.having("structural")
_MONOTONE = table.having("monotone")
# Selections: the value of one score element (the largest or smallest of a set), so a comparison
# of it is still a comparison of scores; autograd sends the gradient to the selected element.
_SELECTIONS = table.having("selection")
# Shifts (any operand) and scalings (by something that is not a score).
SHIFTS = table.having("shift")
_SCALINGS = table.having("scaling")
# Ops whose result is positions or bins (which element wins, where a value falls among
# thresholds): a function of comparisons of their input, not of its values, even where the
# compiler has no rewrite for the way the result is used.
_RANK_TYPE = table.having("rank")
# Ops that read only a tensor's metadata: their result carries no score value.
_METADATA_ATTRIBUTES = {"shape", "dtype", "device", "ndim", "is_cuda"}
_METADATA = table.having("metadata") | {broadcast_with}


def is_call(node, method: str, function=None) -> bool:
    """Whether ``node`` calls the tensor method ``method`` or the function ``function``."""
    return isinstance(node, fx.Node) and (
        (node.op == "call_method" and node.target == method)
        or (node.op == "call_function" and function is not None and node.target is function)
    )


def argument(node: fx.Node, position: int, name: str, default=None):
    """A call's argument given by position or by keyword."""
    return node.args[position] if len(node.args) > position else node.kwargs.get(name, default)


def _key(node: fx.Node):
    if node.op in ("call_function", "call_method"):
        return node.target
    return None


def is_comparison(node: fx.Node) -> bool:
    return _key(node) in _COMPARISON_SIGNS and len(node.args) == (3 if _key(node) is beats else 2)


def operands(node: fx.Node) -> tuple:
    """A comparison's two compared values (``beats`` also takes its tie rule)."""
    return tuple(node.args[:2])


def comparison_sign(node: fx.Node) -> int:
    return _COMPARISON_SIGNS[_key(node)]


def comparison_symbol(node: fx.Node) -> str:
    key = _key(node)
    if key is beats:
        return "⋗"  # > or >= by entry
    strict, loose = _COMPARISON_SYMBOLS[_COMPARISON_SIGNS[key]]
    return strict if key in _STRICT else loose


def is_equality(node: fx.Node) -> bool:
    return _key(node) in _EQUALITIES


def is_hard_only(node: fx.Node) -> bool:
    return _key(node) is hard_only


def is_rank_type(node: fx.Node) -> bool:
    return _key(node) in _RANK_TYPE


def is_metadata(node: fx.Node) -> bool:
    if node.op == "call_function" and node.target is getattr:
        return node.args[1] in _METADATA_ATTRIBUTES
    return _key(node) in _METADATA


_CONVERSIONS = table.having("conversion")


def moves_elements(node: fx.Node) -> bool:
    """Structural ops that only select, repeat or rearrange elements (no dtype change).

    Replaying them on element ids tells which score element ends up where.
    """
    key = _key(node)
    return key in _STRUCTURAL and key not in _CONVERSIONS


_CASTS = table.having("cast")
MASKINGS = table.having("masking")
# What g's affine split (affine_split.py) and its vectorising rewrites (vectorise.py) read.
FLOAT_CASTS = table.having("wide_float_cast") | {"to"}
REDUCTIONS = table.having("reduction")
RESHAPES = table.having("reshape")
NEGATIONS = table.having("negation")
DIVISIONS = table.having("division")
SIGN_CHANGES = table.having("sign_change")
BOOLEAN_PRODUCERS = table.having("boolean")
_COVERINGS = table.having("covering")


def is_cast(node: fx.Node) -> bool:
    return _key(node) in _CASTS


def is_masking(node: fx.Node) -> bool:
    """``a & m``, ``a * m``: zero wherever ``m`` is zero, whatever ``a`` is."""
    return _key(node) in MASKINGS


def is_covering(node: fx.Node) -> bool:
    """``a | m``: true wherever ``m`` is true, whatever ``a`` is."""
    return _key(node) in _COVERINGS


def selection(node: fx.Node) -> str | None:
    """"max"/"min" for ops that select one element per reduced slice; None otherwise."""
    key = _key(node)
    if key in ("amax", "max", torch.amax):
        return "max"
    if key in ("amin", "min", torch.amin):
        return "min"
    return None


def keeps_elements(node: fx.Node) -> bool:
    """Elementwise ops on scores: each output element is still "that score" for element samplers."""
    key = _key(node)
    return (key in _MONOTONE or key in SHIFTS or key in _SCALINGS or key in _CONVERSIONS
            or table.family(key) == "masked_fill")


def passes_scores(node: fx.Node, score_operands: list[fx.Node]) -> bool:
    """Whether ``node`` may carry score values on toward a comparison."""
    key = _key(node)
    if key in _STRUCTURAL or key in _MONOTONE or key in SHIFTS or key in _SELECTIONS:
        return True
    if key in _SCALINGS:
        # ``scores * 2`` or ``scores / temperature`` keeps comparisons meaningful; ``a * b`` of two
        # score-derived values does not, and a divisor that is a score is not a scaling.
        if len(score_operands) != 1:
            return False
        return not (key in DIVISIONS and node.args[0] is not score_operands[0])
    return False


def describe(node: fx.Node) -> str:
    """A short human name for an op: ``scores.mean()``-style for methods, the function otherwise."""
    if node.op == "call_method":
        return f".{node.target}()"
    if node.op == "call_function":
        return getattr(node.target, "__name__", str(node.target))
    return node.op
