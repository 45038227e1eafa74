"""``Program``: the generated modules of one compiled metric, and how each is run.

One partition gives every module (``compiler/codegen.py``): the pairs module (differences with
autograd, hard binaries, dead masks, the target values ``g`` reads), the comparisons alone (for
the binaries of perfect scores), ``values`` (the exact value's inputs, ``exact/``), the
elements on each side of a comparison, and ``g``; ``affine_split`` reads ``g``'s affine
statistics off it. They are generated once, when the metric compiles; every method here runs
them on one batch and turns their failures into errors that name the metric.
"""

from __future__ import annotations

import warnings

import torch
import torch.fx as fx
from torch.func import vmap

from ...errors import InputError, MetricLossError, MetricLossWarning
from .. import exact
from ..affine_split import AffineSplit, affine_split
from ..binaries import Binaries
from ..bool_ops import with_fast_bools
from ..codegen import elements_graph, g_graph, pairs_graph, twin_blocks, values_graph
from ..partition import Partition
from ..rows import RowSplit
from .analyses import Analysis, AnalysisCache
from .dead_binaries import dead_binaries
from .failures import failing_line, metric_value
from .layout import flat, split_batched, split_blocks

# Configurations go through g in chunks of at most this many binaries, unless the caller says.
CHUNK_ELEMENTS = 1 << 24


class Program:
    """The pairs module and ``g`` of one compiled metric. Modules are called through ``forward``:
    a GraphModule's ``__call__`` prints its generated code to stderr on any error, including the
    ones the library handles (vmap refusing a data-dependent op)."""

    def __init__(self, name: str, graph: fx.Graph, part: Partition):
        self.name = name
        self.partition = part
        # Per block: (the earlier block it is a twin of, negated), or None.
        self.twins = twin_blocks(part)
        # Tensors the metric built from Python values (``torch.arange(2, 12)``) live on the tracer's
        # module; every generated module takes the ones it reads from there.
        root = getattr(graph, "constants", None) or torch.nn.Module()
        self.pairs_module = fx.GraphModule(root, pairs_graph(graph, part, self.twins))
        self.comparisons_module = fx.GraphModule(root, pairs_graph(graph, part, self.twins, False))
        self.g_module = fx.GraphModule(root, g_graph(part))
        self._g_run = with_fast_bools(self.g_module)  # what evaluates g: bools cast and counted fast
        self.values_module = fx.GraphModule(root, values_graph(graph, part))
        elements = elements_graph(graph, part)
        self.elements_module = None if elements is None else fx.GraphModule(root, elements)
        # g read through a few affine sums, when it is (AUC, the count metrics): anchors cost
        # O(flips) or one product instead of a pass of g each. Whether a batch uses them is
        # decided on that batch alone (``statistics``); nothing here changes after compiling.
        self.affine: AffineSplit | None = affine_split(self.g_module, len(part.blocks))
        # Per signature of shapes, what g's structure allows on such batches (``analyses.py``).
        self._analyses = AnalysisCache(self.g_module, self.affine, self.twins)

    @property
    def blocks(self):
        return self.partition.blocks

    def pairs(self, scores: torch.Tensor, targets: tuple) -> Binaries:
        try:
            differences, hard, dead, target_values = self.pairs_module.forward(scores, *targets)
        except InputError as error:  # a check inside the compiled code (a 0/1 region, say)
            raise InputError(f"metric `{self.name}`: {error}", metric=self.name) from None
        except (RuntimeError, IndexError, TypeError) as error:
            raise InputError(
                f"metric `{self.name}` failed on these inputs (scores {tuple(scores.shape)}, "
                f"targets {[tuple(t.shape) if isinstance(t, torch.Tensor) else t for t in targets]}): "
                f"{error}", metric=self.name
            ) from error
        dead = dead_binaries(differences, hard, dead, self.twins, scores.new_zeros(0, dtype=torch.bool))
        return Binaries(
            block_differences=tuple(differences),
            hard=flat(hard, scores.new_zeros(0, dtype=torch.bool)),
            shapes=tuple(h.shape for h in hard),
            target_values=tuple(target_values),
            dead=dead,
            twin_blocks=self.twins if any(self.twins) else (),
        )

    def evaluate(self, scores: torch.Tensor, targets: tuple, dense_below: int = exact.DENSE_BELOW,
                 chunk: int = exact.CHUNK) -> exact.Evaluation:
        """The exact value, g at the hard binaries, without holding large comparison blocks whole
        where the metric reads them through sums or one side's first match (``exact/``); the
        same value as ``value(pairs(scores, targets))``, up to the rounding of float sums.

        ``dense_below``: blocks with fewer entries are computed as written (0: every outer
        comparison is kept lazy). ``chunk``: entries per slab of a block reduced a slab at a time.
        A batch on which this path fails goes through the written one, which raises the metric's
        own error (or, should this path be wrong, gives the value); ``fallback`` says why.
        """
        try:
            value, blocks, others = exact.evaluate(self.values_module, self.g_module, len(self.blocks), scores,
                                                   targets, dense_below, chunk)
            return exact.Evaluation(metric_value(value, scores.device), blocks, others)
        except Exception as error:  # noqa: BLE001 - the written path says what is wrong, as it always has
            reason = f"{type(error).__name__}: {error}"
        value = self.value(self.pairs(scores, targets))
        return exact.Evaluation(value, (exact.WHOLE,) * len(self.blocks), {}, reason)

    def comparisons(self, scores: torch.Tensor, targets: tuple) -> tuple[torch.Tensor, torch.Tensor]:
        """(hard binaries, differences), flat over all K, of other scores than the batch's (perfect
        ones for the ideal): the pairs module without the masks and target values."""
        try:
            differences, hard = self.comparisons_module.forward(scores, *targets)
        except InputError as error:
            raise InputError(f"metric `{self.name}`: {error}", metric=self.name) from None
        empty = scores.new_zeros(0)
        return flat(hard, empty.bool()), flat(differences, empty)

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
        blocks = split_blocks(configuration, binaries.shapes)
        arguments = (*blocks, *binaries.target_values)
        try:
            result = self._g_run.forward(*arguments)
        except InputError as error:  # a check of the compiled code's own (a one-hot too narrow)
            raise InputError(f"metric `{self.name}`: {error}", metric=self.name) from None
        except (RuntimeError, IndexError, TypeError, ValueError) as error:
            # The code after the comparisons fails on this batch (``-mask`` of a bool, a shape that
            # does not broadcast): the function run eagerly fails there too. Say where.
            where = failing_line(self.g_module, arguments)
            raise InputError(
                f"metric `{self.name}` failed on these inputs{f' at {where}' if where else ''} "
                f"(block shapes {[tuple(b.shape) for b in blocks]}): {type(error).__name__}: {error}",
                metric=self.name,
            ) from error
        return metric_value(result, configuration.device)

    @torch.no_grad()
    def values(self, binaries: Binaries, configurations: torch.Tensor, pinned: bool = False,
               chunk: int = CHUNK_ELEMENTS) -> torch.Tensor:
        """g at each row of ``configurations`` ([A, K] bool): one vmapped call per chunk.

        ``pinned``: the rows already hold the dead binaries' hard values (``Binaries.complete``
        puts them there), so they need not be pinned again. ``chunk``: binaries per call of g.
        """
        count, size = configurations.shape
        if count == 0:
            return configurations.new_zeros(0, dtype=torch.float32)
        if not pinned:
            configurations = binaries.pin_dead(configurations)
        per_chunk = max(1, chunk // max(size, 1))
        results = [self._values(binaries, chunk) for chunk in configurations.split(per_chunk)]
        return torch.cat(results)

    def analysis(self, binaries: Binaries) -> Analysis:
        """The row split and the statistics' shapes for batches shaped like this one: g runs once
        on the hard binaries for the shapes of its nodes, the first time these shapes are seen."""
        return self._analyses.of(binaries)

    def frontier(self, binaries: Binaries, split: RowSplit, rows_configurations: torch.Tensor,
                 rows: torch.Tensor | None) -> tuple[torch.Tensor, ...]:
        """g's per-row part on ``rows_configurations`` ([P, L] bool: each a row of every block, the
        blocks' rows side by side), which are the batch's rows ``rows`` ([P], or None for all R in
        order): the frontier, each value [P, ...]."""
        count = rows_configurations.shape[0]
        blocks = [part.reshape(count, *shape[1:])
                  for part, shape in zip(rows_configurations.split(split.row_sizes, dim=1), binaries.shapes)]
        with torch.no_grad():
            return tuple(split.part.forward(*blocks, *binaries.target_values, rows))

    def frontier_from_counts(self, binaries: Binaries, split: RowSplit, counts: list[torch.Tensor],
                             rows: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """g's per-row part from each block's counts of the batch's rows ``rows`` ([P]; each
        count tensor [P, C], C the block's ``count_true`` values per row): the frontier, as
        ``frontier`` gives it from those rows' binaries (``split.counted``)."""
        shaped = [c.reshape(c.shape[0], *shape[1:-1]) for c, shape in zip(counts, binaries.shapes)]
        with torch.no_grad():
            return tuple(split.counted.forward(*shaped, *binaries.target_values, rows))

    def values_from_frontier(self, binaries: Binaries, split: RowSplit,
                             frontier: tuple[torch.Tensor, ...]) -> torch.Tensor | None:
        """g at each of A configurations given by their frontiers ([A, R, ...] each) through the
        rest of g, vmapped; None if the rest cannot be vectorised."""
        rest = split.rest

        def g(*values):
            return metric_value(rest.forward(*values, *binaries.target_values), values[0].device)

        try:
            with torch.no_grad():
                return vmap(g)(*frontier).to(torch.float32)
        except MetricLossError:
            raise
        except (RuntimeError, TypeError, IndexError, ValueError):
            return None

    def values_from_statistics(self, binaries: Binaries, statistics: torch.Tensor) -> torch.Tensor | None:
        """g at each row of ``statistics`` ([A, F]) through the rest of g; None if it cannot."""
        if self.affine is None:
            return None
        rest = self.affine.rest

        def g(row):
            return metric_value(rest.forward(*row.unbind(), *binaries.target_values), statistics.device)

        try:
            return vmap(g)(statistics).to(torch.float32)
        except (RuntimeError, TypeError, IndexError):
            return None

    def _values(self, binaries: Binaries, configurations: torch.Tensor) -> torch.Tensor:
        blocks = split_batched(configurations, binaries.shapes)

        def g(*blocks):
            return metric_value(self._g_run.forward(*blocks, *binaries.target_values), configurations.device)

        try:
            return vmap(g)(*blocks).to(torch.float32)
        except MetricLossError:  # the batch itself is refused (a topk's k past the classes): say so
            raise
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
