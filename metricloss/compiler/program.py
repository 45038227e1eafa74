"""A compiled metric: the pairs part and the re-expression ``g`` as two generated modules.

``pairs(scores, *targets)`` computes, for every binary block, the hard binaries (the user's own
comparison, so ties behave exactly as in their code) and the differences ``d`` whose sign they
are (with autograd from the scores), plus the target-only values ``g`` reads.
``g(*blocks, *target_values)`` is everything after the comparisons. Anchors are evaluated by
``torch.func.vmap`` over ``g``: one batched call, no loop over anchors.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass

import torch
import torch.fx as fx
from torch.func import vmap

from .errors import InputError, MetricLossWarning
from . import ops
from .partition import Partition, Role
from .preimages import emit_difference
from .vectorise import reduce_masks_in_place
from .statistics import AffineSplit, Statistics, affine_split

# Anchors are materialised for g in chunks of at most this many binaries.
CHUNK_ELEMENTS = 1 << 24


@dataclass
class Binaries:
    """The binary variables of one batch, flattened across blocks into vectors of length K.

    Some binaries are *dead*: a score compared with itself (the diagonal of
    ``x[None, :] > x[:, None]``) is the same constant for every score vector. They keep their
    hard value in every configuration g sees and are left out of the loss (``live``).

    Some are *twins*: ``p > n`` and ``p >= n`` (AUC's tie rule) compare the same two scores, so
    they have one difference and, away from a tie, one value. A twin is not a variable of its own:
    in every anchor it copies its source (negated for ``n > p``), while the hard and ideal
    configurations, which come from real scores, keep their exact values at ties.
    """

    differences: torch.Tensor  # [K], float, carries autograd to the scores
    hard: torch.Tensor  # [K], bool, the metric's own comparisons
    shapes: tuple[torch.Size, ...]  # one per block, for splitting a flat configuration
    target_values: tuple  # what g reads besides the binaries
    dead: torch.Tensor | None = None  # [K] bool, or None when every binary is live
    twin_blocks: tuple = ()  # per block: (source block, negated) for a twin, else None

    @property
    def count(self) -> int:
        return self.hard.numel()

    @functools.cached_property
    def sizes(self) -> list[int]:
        return [math.prod(s) for s in self.shapes]

    @functools.cached_property
    def _not_live(self) -> torch.Tensor | None:
        """[K] bool: dead binaries and twins, or None when every binary is live."""
        if not self.twin_blocks:
            return self.dead
        twin = torch.cat([torch.full((n,), t is not None, dtype=torch.bool, device=self.hard.device)
                          for n, t in zip(self.sizes, self.twin_blocks)])
        return twin if self.dead is None else twin | self.dead

    @functools.cached_property
    def live(self) -> torch.Tensor | None:
        """Indices of the live binaries, or None when all are live."""
        return None if self._not_live is None else (~self._not_live).nonzero().squeeze(1)

    def restrict(self, configuration: torch.Tensor) -> torch.Tensor:
        """[..., K] -> [..., live]."""
        if self._not_live is None:
            return configuration
        if self.dead is None:  # only twins: the live binaries are whole blocks
            own = [part for part, twin in zip(configuration.split(self.sizes, -1), self.twin_blocks) if twin is None]
            return own[0] if len(own) == 1 else torch.cat(own, -1)
        return configuration[..., self.live]

    def complete(self, live_configurations: torch.Tensor) -> torch.Tensor:
        """[A, live] bool -> [A, K] bool: dead binaries at their (constant) hard values, twins
        copied from their sources."""
        if self._not_live is None:
            return live_configurations
        if self.dead is None:  # only twins: the blocks are the live columns and copies of them
            own = iter(live_configurations.split([n for n, t in zip(self.sizes, self.twin_blocks) if t is None], 1))
            return torch.cat(self._with_twins(lambda: next(own)), 1)
        full = self.hard.expand(live_configurations.shape[0], -1).clone()
        full.masked_scatter_(~self._not_live, live_configurations)  # row by row, in order
        if self.twin_blocks:
            parts = list(full.split(self.sizes, 1))
            for part, twin in zip(parts, self.twin_blocks):
                if twin is not None:
                    part.copy_(~parts[twin[0]] if twin[1] else parts[twin[0]])
            full = torch.where(self.dead, self.hard, full)  # a dead twin keeps its own constant
        return full

    def _with_twins(self, own_block) -> list:
        """Per block, ``own_block()`` for a block of its own, or its source's (negated) for a twin."""
        blocks: list = []
        for twin in self.twin_blocks:
            if twin is None:
                blocks.append(own_block())
            else:
                source, negated = twin
                blocks.append(~blocks[source] if negated else blocks[source])
        return blocks

    def pin_dead(self, configuration: torch.Tensor) -> torch.Tensor:
        return configuration if self.dead is None else torch.where(self.dead, self.hard, configuration)


class Program:
    """The pairs module and ``g`` of one compiled metric. Modules are called through ``forward``:
    a GraphModule's ``__call__`` prints its generated code to stderr on any error, including the
    ones the library handles (vmap refusing a data-dependent op)."""

    def __init__(self, name: str, graph: fx.Graph, part: Partition):
        self.name = name
        self.partition = part
        # Per block: (the earlier block it is a twin of, negated), or None.
        self.twins = twin_blocks(part)
        self.pairs_module = fx.GraphModule(torch.nn.Module(), _pairs_graph(graph, part, self.twins))
        self.g_module = fx.GraphModule(torch.nn.Module(), _g_graph(part))
        elements = _elements_graph(graph, part)
        self.elements_module = None if elements is None else fx.GraphModule(torch.nn.Module(), elements)
        # g read through a few affine sums, when it is (AUC, the count metrics): anchors cost
        # O(flips) or one product instead of a pass of g each. Whether a batch uses them is
        # decided on that batch alone (``statistics``); nothing here changes after compiling.
        self.affine: AffineSplit | None = affine_split(self.g_module.graph, len(part.blocks))

    @property
    def blocks(self):
        return self.partition.blocks

    def pairs(self, scores: torch.Tensor, targets: tuple) -> Binaries:
        try:
            differences, hard, dead, target_values = self.pairs_module.forward(scores, *targets)
        except InputError as error:  # a check inside the compiled code (a 0/1 region, say)
            raise InputError(f"metric `{self.name}`: {error}") from None
        except (RuntimeError, IndexError, TypeError) as error:
            raise InputError(
                f"metric `{self.name}` failed on these inputs (scores {tuple(scores.shape)}, "
                f"targets {[tuple(t.shape) if isinstance(t, torch.Tensor) else t for t in targets]}): "
                f"{error}"
            ) from error
        shapes = tuple(h.shape for h in hard)
        flat_hard = _flat(hard, scores.new_zeros(0, dtype=torch.bool))
        flat_differences = _flat(differences, scores.new_zeros(0))
        # A difference of +-inf (a max over an empty set) is a constant: no finite score moves it.
        dead = torch.cat([
            (torch.zeros_like(h) if mask is None else mask).reshape(-1) for h, mask in zip(hard, dead)
        ]) | ~torch.isfinite(flat_differences.detach())
        dead = dead if bool(dead.any()) else None
        return Binaries(
            differences=flat_differences,
            hard=flat_hard,
            shapes=shapes,
            target_values=tuple(target_values),
            dead=dead,
            twin_blocks=self.twins if any(self.twins) else (),
        )

    def elements(self, scores: torch.Tensor, targets: tuple, binaries: Binaries):
        """(left, right) flat score indices of each live binary's two sides (-1: not a score).

        ``b_k`` is true when ``scores.flatten()[left_k]`` wins. None when some comparison's
        operand cannot be traced back to score elements (a max over a set, say).
        """
        if self.elements_module is None:
            return None
        with torch.no_grad():
            left, right = self.elements_module.forward(scores.detach(), *targets)
        return binaries.restrict(torch.cat(left)), binaries.restrict(torch.cat(right))

    def value(self, binaries: Binaries, configuration: torch.Tensor | None = None) -> torch.Tensor:
        """g at one configuration (default: the hard binaries): the exact metric value."""
        configuration = binaries.hard if configuration is None else binaries.pin_dead(configuration)
        blocks = _split(configuration, binaries.shapes)
        return _as_tensor(self.g_module.forward(*blocks, *binaries.target_values), configuration.device)

    @torch.no_grad()
    def values(self, binaries: Binaries, configurations: torch.Tensor, pinned: bool = False) -> torch.Tensor:
        """g at each row of ``configurations`` ([A, K] bool): one vmapped call per chunk.

        ``pinned``: the rows already hold the dead binaries' hard values (``Binaries.complete``
        puts them there), so they need not be pinned again.
        """
        count, size = configurations.shape
        if count == 0:
            return configurations.new_zeros(0, dtype=torch.float32)
        if not pinned:
            configurations = binaries.pin_dead(configurations)
        per_chunk = max(1, CHUNK_ELEMENTS // max(size, 1))
        results = [self._values(binaries, chunk) for chunk in configurations.split(per_chunk)]
        return torch.cat(results)

    def statistics(self, binaries: Binaries) -> Statistics | None:
        """This batch's affine statistics of g, or None when g must see every anchor itself."""
        if self.affine is None:
            return None
        try:
            return Statistics.of(self.affine, binaries)  # None for per-positive sums (AP), say
        except (RuntimeError, TypeError, IndexError):  # an op the split admitted but these inputs refuse
            return None

    @torch.no_grad()
    def values_from_statistics(self, binaries: Binaries, statistics: torch.Tensor) -> torch.Tensor | None:
        """g at each row of ``statistics`` ([A, F]) through the rest of g; None if it cannot."""
        if self.affine is None:
            return None
        rest = self.affine.rest

        def g(row):
            return _as_tensor(rest.forward(*row.unbind(), *binaries.target_values), statistics.device)

        try:
            return vmap(g)(statistics).to(torch.float32)
        except (RuntimeError, TypeError, IndexError):
            return None

    def _values(self, binaries: Binaries, configurations: torch.Tensor) -> torch.Tensor:
        blocks = _split_batched(configurations, binaries.shapes)

        def g(*blocks):
            return _as_tensor(self.g_module.forward(*blocks, *binaries.target_values), configurations.device)

        try:
            return vmap(g)(*blocks).to(torch.float32)
        except (RuntimeError, TypeError, IndexError, ValueError) as error:  # data-dependent ops
            warnings.warn(
                f"metric `{self.name}`: its re-expression cannot be vectorised over anchors "
                f"({type(error).__name__}: {error}); anchors are evaluated one at a time, which "
                "is slow. Avoid data-dependent ops (`.item()`, `.nonzero()`, masking by "
                "binaries) after the comparisons.",
                MetricLossWarning,
                stacklevel=3,
            )
        rows = [self.value(binaries, row) for row in configurations]
        return torch.stack(rows).to(torch.float32)


def twin_blocks(part: Partition) -> tuple[tuple[int, bool] | None, ...]:
    """Per block, the earlier block comparing the same two values (and whether in the other
    order), or None: ``p > n`` and ``p >= n`` have one difference, ``n > p`` its negation."""
    found: dict = {}
    twins = []
    for index, block in enumerate(part.blocks):
        lhs, rhs = ops.operands(block.node)[::block.sign]  # the difference is lhs - rhs
        key, reverse = (_operand_key(lhs), _operand_key(rhs)), (_operand_key(rhs), _operand_key(lhs))
        if key in found:
            twins.append((found[key], False))
        elif reverse in found:
            twins.append((found[reverse], True))
        else:
            found[key] = index
            twins.append(None)
    return tuple(twins)


def _operand_key(operand):
    return operand if isinstance(operand, fx.Node) else ("constant", repr(operand))


def _flat(blocks, empty: torch.Tensor) -> torch.Tensor:
    """Blocks flattened into one vector (no extra copy for a single block)."""
    if not blocks:
        return empty
    return blocks[0].reshape(-1) if len(blocks) == 1 else torch.cat([b.reshape(-1) for b in blocks])


def _as_tensor(value, device) -> torch.Tensor:
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise InputError(f"a metric must return a single number; this one returned shape {tuple(value.shape)}")
        return value.reshape(())
    if isinstance(value, (int, float, bool)):
        return torch.tensor(float(value), device=device)
    raise InputError(f"a metric must return a single number; this one returned {type(value).__name__}")


def _split(configuration: torch.Tensor, shapes) -> list[torch.Tensor]:
    sizes = [math.prod(s) for s in shapes]
    return [part.reshape(shape) for part, shape in zip(configuration.split(sizes), shapes)]


def _split_batched(configurations: torch.Tensor, shapes) -> list[torch.Tensor]:
    sizes = [math.prod(s) for s in shapes]
    count = configurations.shape[0]
    return [part.reshape(count, *shape) for part, shape in zip(configurations.split(sizes, dim=1), shapes)]


def _pairs_graph(graph: fx.Graph, part: Partition, twins: tuple) -> fx.Graph:
    """Everything up to the comparisons, returning (differences, hard binaries, g's target inputs)."""
    pairs = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    needed = _ancestors([b.node for b in part.blocks] + part.target_inputs)
    for node in graph.nodes:
        if node.op == "placeholder":
            env[node] = pairs.placeholder(node.target)
        elif node in needed:
            env[node] = pairs.node_copy(node, lambda n: env[n])
    differences, dead = [], []
    for block, twin in zip(part.blocks, twins):
        if twin is not None:  # the same difference as its source (negated): no new arithmetic
            source = differences[twin[0]]
            differences.append(pairs.call_function(torch.neg, (source,)) if twin[1] else source)
        else:
            lhs, rhs = ops.operands(block.node)[::block.sign]
            difference = emit_difference(pairs, env, lhs, rhs, lambda n: part.roles.get(n) is Role.SCORE)
            # Broadcast against the comparison so both have the block's full shape.
            differences.append(pairs.call_method("expand_as", (difference, env[block.node])))
        dead.append(_dead_binaries(pairs, env, block.node, part))
    hard = [env[b.node] for b in part.blocks]
    pairs.output((tuple(differences), tuple(hard), tuple(dead), tuple(env[n] for n in part.target_inputs)))
    pairs.lint()
    return pairs


def element_ids(values: torch.Tensor) -> torch.Tensor:
    """Each element's flat index, in ``values``' shape: provenance through structural ops."""
    return torch.arange(values.numel(), device=values.device).reshape(values.shape)


def _element_chain(node, part: Partition, elementwise: bool = False):
    """Walk back from a comparison operand through element-moving ops: (root, chain from root).

    With ``elementwise``, also through ops that keep each element's identity (sigmoid, a shift).
    """
    chain = []
    while (isinstance(node, fx.Node) and part.roles.get(node) is Role.SCORE and node.op != "placeholder"
           and (ops.moves_elements(node)
                or elementwise and (ops.keeps_elements(node) or ops.selection(node)))):
        sources = [n for n in node.all_input_nodes if part.roles[n] is Role.SCORE]
        if len(sources) != 1:
            break
        chain.append(node)
        node = sources[0]
    return node, chain[::-1]


def _self_comparisons(pairs: fx.Graph, env: dict, comparison: fx.Node, part: Partition):
    """Emit a mask of the comparison's entries that compare a score element with itself, or None."""
    left, right = ops.operands(comparison)
    (left_root, left_chain), (right_root, right_chain) = (_element_chain(a, part) for a in (left, right))
    if not isinstance(left_root, fx.Node) or left_root is not right_root:
        return None
    ids = pairs.call_function(element_ids, (env[left_root],))

    def replay(chain):
        local = {left_root: ids}
        for node in chain:
            local[node] = pairs.node_copy(node, lambda n: local.get(n, env.get(n)))
        return local[chain[-1]] if chain else ids

    same = pairs.call_function(torch.eq, (replay(left_chain), replay(right_chain)))
    return pairs.call_method("expand_as", (same, env[comparison]))


def _dead_binaries(pairs: fx.Graph, env: dict, comparison: fx.Node, part: Partition):
    """Emit the mask of a block's binaries that cannot matter, or None when none can be proven dead."""
    masks = [m for m in (_self_comparisons(pairs, env, comparison, part),
                         _masked_by_targets(pairs, env, comparison, part)) if m is not None]
    if not masks:
        return None
    return masks[0] if len(masks) == 1 else pairs.call_function(torch.logical_or, tuple(masks))


def zero_under(mask: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
    """Where ``block & mask`` is false whatever the block says, in the block's shape."""
    return _everywhere(torch.as_tensor(mask, device=block.device) == 0, block)


def true_under(mask: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
    """Where ``block | mask`` is true whatever the block says, in the block's shape."""
    return _everywhere(torch.as_tensor(mask, device=block.device) != 0, block)


def _everywhere(zero: torch.Tensor, block: torch.Tensor) -> torch.Tensor:
    """``zero`` reduced to the block's shape: an entry of the block is covered only if every
    entry of the (broadcast) mask it meets is."""
    shape = torch.broadcast_shapes(zero.shape, block.shape)
    zero = zero.expand(shape)
    extra = len(shape) - block.dim()
    if extra:
        zero = zero.all(dim=tuple(range(extra)))
    spread = tuple(d for d, (size, full) in enumerate(zip(block.shape, zero.shape)) if size == 1 and full != 1)
    if spread:
        zero = zero.all(dim=spread, keepdim=True)
    return zero.expand_as(block)


def _masked_by_targets(pairs: fx.Graph, env: dict, comparison: fx.Node, part: Partition):
    """A block used only as ``block & mask`` (``* mask``) or ``block | mask`` with a target-only
    mask: entries the mask decides (zero for ``&``, nonzero for ``|``) are dead."""
    current = comparison
    while len(current.users) == 1:
        user = next(iter(current.users))
        if ops.is_cast(user):
            current = user
            continue
        if (ops.is_masking(user) or ops.is_covering(user)) and len(user.args) == 2:
            other = user.args[1] if user.args[0] is current else user.args[0]
            if isinstance(other, fx.Node) and part.roles.get(other) is Role.TARGET:
                decided = zero_under if ops.is_masking(user) else true_under
                return pairs.call_function(decided, (env[other], env[comparison]))
        return None
    return None


def _elements_graph(graph: fx.Graph, part: Partition) -> fx.Graph | None:
    """(scores, *targets) -> per block, the flat score index on each side of every comparison."""
    out = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    needed = _ancestors([b.node for b in part.blocks])
    placeholders = [n for n in graph.nodes if n.op == "placeholder"]
    for node in graph.nodes:
        if node.op == "placeholder":
            env[node] = out.placeholder(node.target)
        elif node in needed:
            env[node] = out.node_copy(node, lambda n: env[n])
    ids = out.call_function(element_ids, (env[placeholders[0]],))
    sides: list[list[fx.Node]] = [[], []]
    for block in part.blocks:
        operands = ops.operands(block.node)[::block.sign]
        for side, operand in zip(sides, operands):
            if not isinstance(operand, fx.Node) or part.roles.get(operand) is Role.TARGET:
                index = out.call_function(_no_element, (env[block.node],))
            else:
                root, chain = _element_chain(operand, part, elementwise=True)
                if root is not placeholders[0]:
                    return None
                local = {root: ids}
                for node in chain:
                    source = next(n for n in node.all_input_nodes if part.roles[n] is Role.SCORE)
                    if ops.moves_elements(node):
                        local[node] = out.node_copy(node, lambda n: local.get(n, env.get(n)))
                    elif ops.selection(node):
                        if len(node.args) < 2 and "dim" not in node.kwargs:
                            return None  # a max over everything: not worth tracing
                        local[node] = out.call_function(
                            selected_ids,
                            (env[source], local[source], _argument(node, 1, "dim"),
                             bool(_argument(node, 2, "keepdim", False)), ops.selection(node) == "max"),
                        )
                    else:  # the element keeps its identity; only broadcasting can change the shape
                        local[node] = out.call_method("expand_as", (local[source], env[node]))
                index = out.call_method("expand_as", (local[chain[-1]] if chain else ids, env[block.node]))
            side.append(out.call_method("reshape", (index, -1)))
    out.output((tuple(sides[0]), tuple(sides[1])))
    out.lint()
    return out


def selected_ids(values: torch.Tensor, ids: torch.Tensor, dim, keepdim: bool, largest: bool) -> torch.Tensor:
    """The id of the element a max/min over ``dim`` selects."""
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    moved = values.movedim(dims, tuple(range(-len(dims), 0))).flatten(-len(dims))
    moved_ids = ids.expand_as(values).movedim(dims, tuple(range(-len(dims), 0))).flatten(-len(dims))
    pick = moved.argmax(-1, keepdim=True) if largest else moved.argmin(-1, keepdim=True)
    chosen = moved_ids.gather(-1, pick).squeeze(-1)
    if keepdim:
        for d in sorted(d % values.dim() for d in dims):
            chosen = chosen.unsqueeze(d)
    return chosen


def _argument(node: fx.Node, position: int, name: str, default=None):
    return node.args[position] if len(node.args) > position else node.kwargs.get(name, default)


def _no_element(block: torch.Tensor) -> torch.Tensor:
    return torch.full(block.shape, -1, dtype=torch.long, device=block.device)


def _g_graph(part: Partition) -> fx.Graph:
    """Everything after the comparisons, with the blocks and target values as inputs."""
    g = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    for index, block in enumerate(part.blocks):
        env[block.node] = g.placeholder(f"b{index}")
    for node in part.target_inputs:
        env[node] = g.placeholder(node.name)
    for node, role in part.roles.items():
        if role is Role.BINARY:
            env[node] = g.node_copy(node, lambda n: env[n])
    g.output(env[part.output])
    reduce_masks_in_place(g)
    g.lint()
    return g


def _ancestors(nodes: list[fx.Node]) -> set[fx.Node]:
    seen, stack = set(), list(nodes)
    while stack:
        node = stack.pop()
        if node not in seen:
            seen.add(node)
            stack.extend(node.all_input_nodes)
    return seen
