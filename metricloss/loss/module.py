"""``UniLoss``: the training loss of a metric, as a ``torch.nn.Module``."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Sequence
from typing import Any

import torch

from ..errors import InputError, MetricLossWarning, SaturationWarning, UndefinedBatchWarning
from .surrogate import UNDEFINED_POLICIES, Terms, undefined_error, uniloss_terms
from .interpolators import Interpolator, inverse_distance
from ..compiler.metric import Metric, get_metric
from ..registry import resolve
from .relaxations import Relaxation, sigmoid
from .samplers import Sampler, default_samplers
from .sizes import DEFAULT, Sizes
from ..compiler.goals import TOLERANCE
from .subsampling import Selection
from .compiled_call import compiled_loss, register
from .gather import collective_device, gather_batch, world
from .streams import check_same_everywhere, moved_generator, seed_from_state


class UniLoss(torch.nn.Module):
    """``m* - g^(h(d))``: zero at the ideal, differentiable in the scores.

    ``selection=ml.hardest(0.2)`` relaxes only the hardest 20% of the binaries on each step
    (the paper's CIFAR-100 setting); the rest are held at their hard values.

    ``gather=True``, under ``torch.distributed`` (DDP launched by ``torchrun``): every process's
    scores and targets are concatenated along the batch dimension (``gather.gather_batch``), so a
    pairwise metric sees the whole batch and every process returns the same loss, the whole batch's.
    Anchors are drawn alike everywhere: a ``generator`` must be seeded alike on every process
    (checked on the first call); without one, the module seeds its own from process 0. A
    process's own scores get exactly the gradient a single process holding the whole batch would
    give them; DDP then *averages* the parameters' gradients over the W processes: multiply the
    loss by W before ``backward()`` (what ``metricloss train`` does) or the learning rate by W to
    train as that single process would. Outside a group of several processes it does nothing.

    Parts are values (``relaxation=ml.sigmoid(tau=0.5)``) or registered names with default
    parameters (``relaxation="gaussian_cdf"``, ``samplers=["ideal", "random"]``).

    The random stream the anchors are drawn from: ``seed=0`` (a generator of the module's own),
    ``generator=`` (yours; the module draws from it), or neither (torch's global generator). A
    stream of the module's follows it: ``.to(device)`` moves it to that device, a batch of scores
    on another device moves it there, and ``state_dict()`` holds its state, so a run resumed from a
    checkpoint draws the anchors an uninterrupted one would. A generator that moves to another
    kind of device is re-seeded from its state there (CPU and CUDA streams differ): the same
    state always gives the same new stream.

    The module pickles by reference (its metric by registered name or ``module:qualname``, its
    parts by their factories' names), so ``torch.save`` of a model holding it and ``torch.load``
    in another process rebuild it from the installed and imported definitions.

    >>> import metricloss as ml
    >>> loss_fn = ml.UniLoss("auc", generator=torch.Generator().manual_seed(0))
    >>> scores = torch.tensor([2.0, -1.0, 0.5, 1.0], requires_grad=True)
    >>> loss = loss_fn(scores, torch.tensor([1, 0, 0, 1]))
    >>> loss.backward(); bool(scores.grad[0] < 0 and scores.grad[1] > 0)
    True
    """

    def __init__(
        self,
        metric: str | Metric,
        *,
        relaxation: Relaxation | str | None = None,
        samplers: Sequence[Sampler | str] | None = None,
        interpolator: Interpolator | str | None = None,
        generator: torch.Generator | None = None,
        seed: int | None = None,
        undefined: str = "zero",
        selection: Selection | None = None,
        sizes: Sizes | None = None,
        margin: float = 0.0,
        gather: bool = False,
    ):
        super().__init__()
        if undefined not in UNDEFINED_POLICIES:
            raise InputError(f"undefined must be one of {UNDEFINED_POLICIES}, got {undefined!r}")
        if not isinstance(metric, (str, Metric)):
            raise InputError(
                f"UniLoss needs a metric: a registered name (\"auc\") or a function decorated with "
                f"@metricloss.metric, got {type(metric).__name__} {metric!r}"[:300]
            )
        if generator is not None and not isinstance(generator, torch.Generator):
            raise InputError(
                f"generator must be a torch.Generator (for a seed, seed={generator!r} or "
                f"torch.Generator().manual_seed({generator!r})), got {type(generator).__name__}"
            )
        if seed is not None:
            if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**63:
                raise InputError(f"seed must be a whole number from 0 to 2**63 - 1, got {seed!r}")
            if generator is not None:
                raise InputError("give UniLoss a seed= or a generator=, not both: the seed makes the generator")
            generator = torch.Generator().manual_seed(seed)
        if samplers is not None and (isinstance(samplers, (str, bytes)) or not isinstance(samplers, Sequence)):
            raise InputError(
                f"samplers must be a list of samplers or their names (samplers=[\"ideal\", \"random\"]), "
                f"got {type(samplers).__name__} {samplers!r}"
            )
        if selection is not None and not isinstance(selection, Selection):
            raise InputError(f"selection must be a selection such as ml.hardest(0.2) or ml.random_fraction(0.2), "
                             f"got {type(selection).__name__} {selection!r}")
        if sizes is not None and not isinstance(sizes, Sizes):
            raise InputError(f"sizes must be an ml.Sizes(...), got {type(sizes).__name__} {sizes!r}")
        self.metric = get_metric(metric)
        self.relaxation = relaxation or sigmoid()  # resolved by the setter, as later assignments are
        self.samplers = [resolve("sampler", s) for s in (default_samplers() if samplers is None else samplers)]
        if all(sampler.params.get("count", 1) == 0 for sampler in self.samplers):
            raise InputError(
                "UniLoss needs anchors to interpolate between: give at least one sampler with a count "
                f"above 0 (got samplers={list(samplers) if samplers is not None else None}); the default "
                "is 16 each of ideal, good, nearby and random"
            )
        self.interpolator = interpolator or inverse_distance()
        self.generator = generator
        self.selection = selection
        self.sizes = sizes or DEFAULT
        self.undefined = undefined
        if not (isinstance(margin, (int, float)) and math.isfinite(margin) and margin >= 0):
            raise InputError(f"margin must be a finite number >= 0 (a score difference), got {margin!r}")
        self.margin = float(margin)
        if not isinstance(gather, bool):
            raise InputError(f"gather must be True or False, got {gather!r}")
        self.gather = gather
        self._gather_generator: torch.Generator | None = None  # gather=True without a generator
        self._generators_checked = False
        self.handle = register(self)  # how the compiled op finds this module
        self.reset()

    @property
    def relaxation(self) -> Relaxation:
        """Settable between steps, as a value or a registered name (``loss_fn.relaxation =
        ml.sigmoid(tau=t)``: a schedule of τ is a line of the training loop); pickled with it."""
        return self._relaxation

    @relaxation.setter
    def relaxation(self, relaxation: Relaxation | str) -> None:
        self._relaxation = resolve("relaxation", relaxation)

    @property
    def interpolator(self) -> Interpolator:
        """Settable between steps, as ``relaxation`` is."""
        return self._interpolator

    @interpolator.setter
    def interpolator(self, interpolator: Interpolator | str) -> None:
        self._interpolator = resolve("interpolator", interpolator)

    def reset(self) -> None:
        """Forget the counts and the last batch's terms (the module's only state)."""
        self.undefined_batches = 0  # batches on which the metric is undefined (zero loss)
        self.saturated_batches = 0  # batches whose every relaxed binary passes no gradient
        self.short_batches = 0  # batches on which no configuration reaching best= was found
        self.last: Terms | None = None

    def forward(self, scores: torch.Tensor, *targets) -> torch.Tensor:
        """The loss of one batch: ``m* - g^(h(d))``, a 0-d tensor on the scores' device.

        ``scores`` is the model's output as the metric takes it (``[N]``, ``[N, C]``, ...), with
        its graph: the gradient flows back through it. ``targets`` are the metric's other
        arguments, in its order. The loss is zero at perfect scores. ``self.last`` keeps the batch's terms
        (the exact metric, ``m*``, the estimate, counts). A batch on which the metric is undefined
        gives 0 (``undefined="zero"``) or raises (``"raise"``); under ``gather=True`` in a process
        group, the whole batch of every process is scored.

        Under ``torch.compile`` the loss is one op of the compiled graph (``compiled_call.py``):
        the graph around it compiles whole, even with ``fullgraph=True``, and the op runs
        ``eager_loss``, so values, anchors and gradient are the eager ones.
        """
        if torch.compiler.is_compiling():
            return compiled_loss(self, scores, targets)
        return self.eager_loss(scores, *targets)

    def eager_loss(self, scores: torch.Tensor, *targets) -> torch.Tensor:
        """``forward`` as it runs outside ``torch.compile``; the compiled op runs it too."""
        self.metric.check_tensors(scores, *targets, loss=True)  # before anything reads .device
        if self.gather and world()[1] > 1:
            scores, targets = gather_batch(scores, targets)
            generator = self._shared_generator(scores.device)
        else:
            generator = self._stream_on(scores.device)
        terms = uniloss_terms(
            self.metric, scores, *targets, relaxation=self.relaxation, samplers=self.samplers,
            interpolator=self.interpolator, generator=generator, selection=self.selection,
            sizes=self.sizes, margin=self.margin,
        )
        self.last = terms
        if not terms.defined:
            if self.undefined == "raise":
                raise undefined_error(self.metric, terms.ideal_source)
            self._count("undefined_batches", UndefinedBatchWarning, lambda: (
                f"metric `{self.metric.name}` is undefined on a batch: {terms.ideal_source} "
                "(e.g. AUC without a positive or a negative). Such batches give a zero loss with "
                "no gradient. They are counted in UniLoss.undefined_batches; pass "
                "undefined='raise' to stop instead."))
        elif terms.saturated == 1.0 and float(terms.loss.detach()) > TOLERANCE:
            self._count("saturated_batches", SaturationWarning, lambda: (
                f"metric `{self.metric.name}`: every relaxed comparison of a batch is saturated (the "
                f"median |d| is {terms.median_difference:.3g}, against {self.relaxation.name}"
                f"{self.relaxation.params}), so the loss is {float(terms.loss.detach()):.4g} but its "
                "gradient is zero and training cannot move. Bring the scores to a smaller scale (a "
                "logit difference, not a product of large numbers) or raise the relaxation's scale "
                "(relaxation=ml.sigmoid(tau=...)). Counted in UniLoss.saturated_batches."))
        if terms.defined and not terms.reaches_best:
            self._count("short_batches", MetricLossWarning, lambda: (
                f"metric `{self.metric.name}`: no configuration reaching best={self.metric.best} "
                f"was found on a batch; the best found is {float(terms.ideal_value):.6g} (from "
                f"{terms.ideal_source}), and the loss trains toward it. This is expected when a "
                "batch cannot reach best= (a query without a relevant item); otherwise pass "
                "ideal=. Counted in UniLoss.short_batches."))
        return terms.loss

    def _stream_on(self, device: torch.device) -> torch.Generator | None:
        """The module's generator, moved to ``device`` first if it is elsewhere (``moved_generator``)."""
        if self.generator is not None and self.generator.device != device:
            self.generator = moved_generator(self.generator, device)
        return self.generator

    def _apply(self, fn: Callable, recurse: bool = True):
        """``.to()``, ``.cuda()``, ``.cpu()`` (every move of an ``nn.Module``): the generator goes too."""
        result = super()._apply(fn, recurse)
        if self.generator is not None:
            try:
                device = fn(torch.empty(0, device=self.generator.device)).device
            except (RuntimeError, TypeError):  # a conversion that takes no tensor of ours: nothing moves
                return result
            if device.type != "meta":
                self._stream_on(device)
        return result

    def get_extra_state(self) -> dict[str, Any] | None:
        """The generator's state, for ``state_dict()``: a resumed run continues the same stream."""
        if self.generator is None:
            return None
        return {"device": str(self.generator.device), "generator": self.generator.get_state()}

    def set_extra_state(self, state: dict[str, Any] | None) -> None:
        """Restore the generator ``get_extra_state`` saved, on this module's device. A CUDA stream
        loaded where there is no CUDA is re-seeded from its state (``moved_generator``'s rule); a
        checkpoint without a stream (saved drawing from torch's global generator) changes nothing."""
        if state is None:
            return
        values = state["generator"].detach().to("cpu", torch.uint8)  # map_location may have moved it
        try:
            saved = torch.Generator(device=state["device"])
            saved.set_state(values)
        except RuntimeError:  # that device is not here
            saved = torch.Generator().manual_seed(seed_from_state(values))
        if self.generator is None:
            self.generator = saved
            return
        if saved.device.type != self.generator.device.type:
            saved = moved_generator(saved, self.generator.device)
        self.generator.set_state(saved.get_state())  # in place: whoever holds it sees the restored stream

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__().copy()
        state["last"] = None  # the last batch's terms hold tensors of a graph: not part of the module
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.handle = register(self)  # a copy is a module of its own

    def _shared_generator(self, device: torch.device) -> torch.Generator:
        """A generator in the same state on every process, so that they all draw the same anchors."""
        if self.generator is not None:
            generator = self._stream_on(device)
            if not self._generators_checked:
                check_same_everywhere(generator)
                self._generators_checked = True
            return generator
        if self._gather_generator is None or self._gather_generator.device.type != device.type:
            seed = torch.randint(2**62, (1,), dtype=torch.int64).to(collective_device(device))
            torch.distributed.broadcast(seed, src=0)
            self._gather_generator = torch.Generator(device=device).manual_seed(int(seed))
        return self._gather_generator

    def _count(self, counter: str, category: type[Warning], message) -> None:
        """Count a batch of one kind; warn on the first, so that a run is told once, not flooded."""
        setattr(self, counter, getattr(self, counter) + 1)
        if getattr(self, counter) == 1:
            # _count <- eager_loss <- forward <- _call_impl <- _wrapped_call_impl <- the caller's line
            warnings.warn(message(), category, stacklevel=6)

    def extra_repr(self) -> str:
        samplers = ", ".join(f"{s.name}({', '.join(f'{k}={v}' for k, v in s.params.items())})" for s in self.samplers)
        return (f"metric={self.metric.name!r}, relaxation={self.relaxation.name}{self.relaxation.params}, "
                f"samplers=[{samplers}], interpolator={self.interpolator.name}{self.interpolator.params}"
                + (f", selection={self.selection.name}{self.selection.params}" if self.selection else "")
                + (f", margin={self.margin:g}" if self.margin else "")
                + (", gather=True" if self.gather else "")
                + f", undefined={self.undefined!r}; undefined_batches={self.undefined_batches}, "
                f"short_batches={self.short_batches}")
