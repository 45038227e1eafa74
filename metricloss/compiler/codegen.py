"""Code generation: the traced metric cut into the modules that run it.

- ``pairs_graph``: everything up to the comparisons, returning each block's differences (with
  autograd), hard binaries, dead-binary masks, and the target values ``g`` reads;
- ``values_graph``: the hard binaries and ``g``'s target values alone, for the exact value
  (``exact/`` runs it without computing large comparisons whole);
- ``g_graph``: everything after the comparisons, the re-expression, with the blocks as inputs;
- ``elements_graph``: which score element stands on each side of every comparison, for samplers
  that move one element.
"""

from __future__ import annotations

import torch
import torch.fx as fx

from . import ops
from .partition import Partition, Role
from .preimages import emit_difference
from .vectorise import reduce_masks_in_place


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


def pairs_graph(graph: fx.Graph, part: Partition, twins: tuple, complete: bool = True) -> fx.Graph:
    """Everything up to the comparisons, returning (differences, hard binaries, dead masks, g's
    target inputs); without ``complete``, (differences, hard binaries) alone: what the binaries of
    perfect scores need, at half the ops."""
    pairs = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    needed = _ancestors([b.node for b in part.blocks] + (part.target_inputs if complete else []))
    for node in graph.nodes:
        if node.op == "placeholder":
            env[node] = pairs.placeholder(node.target)
        elif node in needed:
            env[node] = pairs.node_copy(node, lambda n: env[n])
    differences, dead = [], []
    same_elements: dict = {}  # a twin compares the same elements as its source: one mask for both
    for block, twin in zip(part.blocks, twins):
        if twin is not None:  # the same difference as its source (negated): no new arithmetic
            source = differences[twin[0]]
            differences.append(pairs.call_function(torch.neg, (source,)) if twin[1] else source)
        else:
            lhs, rhs = ops.operands(block.node)[::block.sign]
            difference = emit_difference(pairs, env, lhs, rhs, lambda n: part.roles.get(n) is Role.SCORE)
            # Broadcast against the comparison so both have the block's full shape.
            differences.append(pairs.call_method("expand_as", (difference, env[block.node])))
        if complete:
            dead.append(_dead_binaries(pairs, env, block.node, part, same_elements))
    hard = [env[b.node] for b in part.blocks]
    if complete:
        pairs.output((tuple(differences), tuple(hard), tuple(dead), tuple(env[n] for n in part.target_inputs)))
    else:
        pairs.output((tuple(differences), tuple(hard)))
    pairs.lint()
    return pairs


def values_graph(graph: fx.Graph, part: Partition) -> fx.Graph:
    """Everything up to the comparisons, returning (hard binaries, g's target values): what the
    exact value needs, without differences or dead masks."""
    values = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    needed = _ancestors([b.node for b in part.blocks] + part.target_inputs)
    for node in graph.nodes:
        if node.op == "placeholder":
            env[node] = values.placeholder(node.target)
        elif node in needed:
            env[node] = values.node_copy(node, lambda n: env[n])
    values.output((tuple(env[b.node] for b in part.blocks), tuple(env[n] for n in part.target_inputs)))
    values.lint()
    return values


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


def _self_comparisons(pairs: fx.Graph, env: dict, comparison: fx.Node, part: Partition, seen: dict | None = None):
    """Emit a mask of the comparison's entries that compare a score element with itself, or None.

    ``seen``: masks already emitted, by operands (either order): twins share theirs.
    """
    left, right = ops.operands(comparison)
    seen = {} if seen is None else seen
    key = (_operand_key(left), _operand_key(right))
    if key in seen or key[::-1] in seen:
        found = seen.get(key, seen.get(key[::-1]))
        return None if found is None else pairs.call_method("expand_as", (found, env[comparison]))
    (left_root, left_chain), (right_root, right_chain) = (_element_chain(a, part) for a in (left, right))
    if not isinstance(left_root, fx.Node) or left_root is not right_root:
        seen[key] = None
        return None
    ids = pairs.call_function(element_ids, (env[left_root],))

    def replay(chain):
        local = {left_root: ids}
        for node in chain:
            local[node] = pairs.node_copy(node, lambda n: local.get(n, env.get(n)))
        return local[chain[-1]] if chain else ids

    same = pairs.call_function(torch.eq, (replay(left_chain), replay(right_chain)))
    seen[key] = same
    return pairs.call_method("expand_as", (same, env[comparison]))


def _dead_binaries(pairs: fx.Graph, env: dict, comparison: fx.Node, part: Partition, seen: dict | None = None):
    """Emit the mask of a block's binaries that cannot matter, or None when none can be proven dead."""
    masks = [m for m in (_self_comparisons(pairs, env, comparison, part, seen),
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


def elements_graph(graph: fx.Graph, part: Partition) -> fx.Graph | None:
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
                            (env[source], local[source], ops.argument(node, 1, "dim"),
                             bool(ops.argument(node, 2, "keepdim", False)), ops.selection(node) == "max"),
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


def _no_element(block: torch.Tensor) -> torch.Tensor:
    return torch.full(block.shape, -1, dtype=torch.long, device=block.device)


def g_graph(part: Partition) -> fx.Graph:
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
