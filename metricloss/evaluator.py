"""``evaluator``: the metric a loss trains, measured exactly over a whole validation set.

A metric such as AUC or AP is not a mean over batches: its value on a validation set is not the
mean of its values on the set's batches. ``evaluator(metric)`` is a TorchMetrics ``Metric`` that
keeps every batch (``update``) and computes the compiled metric once, on their concatenation
(``compute``), so the number it reports is the one the loss is the surrogate of, to the bit. Its
states are lists with ``dist_reduce_fx="cat"``: under ``torch.distributed`` TorchMetrics gathers
every process's batches before ``compute``, and every process reports the value over all of them.

    >>> import torch, metricloss as ml
    >>> auc = ml.evaluator("auc")
    >>> auc.update(torch.tensor([0.9, 0.2]), torch.tensor([1, 0]))
    >>> auc.update(torch.tensor([0.6, 0.4]), torch.tensor([0, 1]))
    >>> auc.compute().item()   # over the four items: 3 of the 4 pairs are ordered right
    0.75

Batches are concatenated along their first dimension, so only it may differ between batches;
anything else is refused at ``update``. One exception: a metric that declares a padding value
for a target (``@metric(padding={"relevance": -1})``, the built-in ranking metrics) takes
``[Q, D]`` batches of different list lengths ``D``: shorter lists are padded to the longest with
that value (and a score of 0), which the metric ignores, so the value is that of the lists as
given. TorchMetrics is an optional dependency (``pip install 'metricloss[torchmetrics]'``); it
is imported on the first call, not with ``metricloss``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch

from .compiler.metric import Metric, get_metric, metric as declare, padded
from .errors import InputError, MetricLossError


def evaluator(metric: str | Metric | Callable, **params) -> Any:
    """A ``torchmetrics.Metric`` computing ``metric`` exactly over every batch given to it.

    ``metric``: a registered name (``"auc"``), a ``Metric``, or a plain function of
    ``(scores, *targets)``, compiled as ``@metric`` would without registering it. ``params``
    bind the metric's parameters (``ml.evaluator("topk_accuracy", k=3)``).

    ``update(scores, *targets)`` keeps a batch (detached); ``compute()`` returns
    ``metric(all scores, *all targets)``, a float32 0-d tensor, equal to the compiled metric on
    the concatenated batches; ``reset()`` forgets them. The usual TorchMetrics behaviour holds:
    ``.to(device)``, ``forward``, syncing across processes before ``compute``,
    ``MetricCollection``, logging with Lightning's ``self.log``.
    """
    try:
        import torchmetrics  # noqa: F401
    except ImportError:
        raise MetricLossError(
            "metricloss.evaluator is a TorchMetrics Metric, and torchmetrics is not installed: "
            "pip install 'metricloss[torchmetrics]'"
        ) from None
    if isinstance(metric, (str, Metric)):
        found = get_metric(metric, **params)
    elif callable(metric) and hasattr(metric, "__code__"):
        found = declare(metric, register=False)
        found = found.bind(**params) if params or found.declaration.required else found
    else:
        raise InputError(
            f"evaluator needs a metric: a registered name (\"auc\"), a Metric (a function decorated with "
            f"@metricloss.metric) or a plain function of (scores, *targets); got {type(metric).__name__} "
            f"{metric!r}"[:300]
        )
    return __getattr__("Evaluator")(found)


def _evaluator_class() -> type:
    """``Evaluator``, built on first use so that ``import metricloss`` does not import TorchMetrics."""
    from torchmetrics import Metric as TorchMetric
    from torchmetrics.utilities import dim_zero_cat

    class Evaluator(TorchMetric):
        """The exact value of a compiled metric over every batch given to ``update`` (``evaluator``)."""

        is_differentiable = False
        full_state_update = False

        def __init__(self, metric: Metric, **kwargs: Any) -> None:
            super().__init__(**kwargs)
            self.metric = metric
            self._names = metric.declaration.spec.names
            for name in self._names:
                self.add_state(_state(name), default=[], dist_reduce_fx="cat")

        @property
        def higher_is_better(self) -> bool:  # TorchMetrics reads it (MetricTracker's best); the metric's own
            return self.metric.higher_is_better

        @property
        def _who(self) -> str:
            return f"evaluator of metric `{self.metric.name}`"

        def update(self, scores: torch.Tensor, *targets: torch.Tensor) -> None:
            """Keep one batch: ``scores`` and the metric's targets, as the metric takes them."""
            decl = self.metric.declaration
            decl.spec.check_tensors(f"{self._who}: update", scores, *targets, parameters=tuple(decl.defaults))
            batch = (scores, *targets)
            for name, value in zip(self._names, batch):
                if value.dim() == 0:
                    raise InputError(
                        f"{self._who}: update got {name} of shape () (a single number); batches are "
                        f"concatenated along their first dimension, so each argument needs one: pass "
                        f"`{name}.reshape(1)` for a batch of one"
                    )
            kept = [getattr(self, _state(name)) for name in self._names]
            if kept[0]:
                batch = self._fitted(batch, [state[0] for state in kept])
                if batch[0].shape[-1] > kept[0][0].shape[-1]:  # a longer list: pad what is kept
                    width = batch[0].shape[-1]
                    for name, state in zip(self._names, kept):
                        state[:] = [self._pad(name, old, width) for old in state]
            for state, value in zip(kept, batch):
                state.append(value.detach())

        def compute(self) -> torch.Tensor:
            """The metric on the concatenation of every batch kept (every process's, when synced)."""
            kept = [getattr(self, _state(name)) for name in self._names]
            if isinstance(kept[0], list) and not kept[0]:
                raise InputError(
                    f"{self._who}: compute() was called with no batch given to update() since the "
                    "last reset(); update(scores, *targets) with the validation batches first"
                )
            # After a sync each state is one tensor; before it, a list of batches (of one width).
            parts = [state if isinstance(state, list) else [state] for state in kept]
            width = max(part.shape[-1] for part in parts[0])
            joined = [dim_zero_cat([self._pad(name, part, width) for part in state])
                      for name, state in zip(self._names, parts)]
            return self.metric(*joined)

        def _sync_dist(self, dist_sync_fn: Callable | None = None, process_group: Any | None = None) -> None:
            """TorchMetrics' own gathering, after every process has padded its lists to the longest
            of all processes (only for a metric that declares padding: others have one width)."""
            states = [getattr(self, _state(name)) for name in self._names]
            if self.metric.declaration.padding and torch.distributed.is_available() \
                    and torch.distributed.is_initialized():
                local = max((t.shape[-1] for t in states[0]), default=0)
                widest = torch.tensor([local], device=self.device)
                torch.distributed.all_reduce(widest, op=torch.distributed.ReduceOp.MAX,
                                             group=process_group or self.process_group)
                for name, state in zip(self._names, states):
                    state[:] = [self._pad(name, t, int(widest)) for t in state]
            kwargs = {"process_group": process_group}
            if dist_sync_fn is not None:
                kwargs["dist_sync_fn"] = dist_sync_fn
            super()._sync_dist(**kwargs)

        def _fitted(self, batch: tuple, first: list[torch.Tensor]) -> tuple:
            """``batch``, checked against the first batch kept: the same ranks, and the same sizes
            past the first dimension, except list lengths of a metric that declares padding."""
            padding = self.metric.declaration.padding
            for name, value, seen in zip(self._names, batch, first):
                if value.dim() == seen.dim() and value.shape[1:] == seen.shape[1:]:
                    continue
                same_but_last = value.dim() == seen.dim() >= 2 and value.shape[1:-1] == seen.shape[1:-1]
                if same_but_last and padding and (name == self._names[0] or name in padding):
                    continue
                if same_but_last and not padding:
                    hint = (f" Only a metric that marks padding (@metric(padding={{...: -1}}), as the built-in "
                            f"ranking metrics do) takes batches whose last dimension differs, by padding the "
                            f"shorter lists; `{self.metric.name}` does not.")
                elif same_but_last:
                    hint = (f" `{self.metric.name}` pads {', '.join(padding)} only; {name} cannot be padded.")
                else:
                    hint = ""
                raise InputError(
                    f"{self._who}: update got {name} of shape {tuple(value.shape)}, but the first batch's "
                    f"was {tuple(seen.shape)}; batches are concatenated along their first dimension, so "
                    f"the other sizes must agree.{hint}"
                )
            width = max(batch[0].shape[-1], first[0].shape[-1])
            return tuple(self._pad(name, value, width) for name, value in zip(self._names, batch))

        def _pad(self, name: str, tensor: torch.Tensor, width: int) -> torch.Tensor:
            """The scores (with 0) and the targets the metric pads (with their value), to ``width``."""
            padding = self.metric.declaration.padding
            if not padding or tensor.dim() < 2 or tensor.shape[-1] >= width:
                return tensor
            if name == self._names[0]:
                return padded(tensor, width, 0.0)
            return padded(tensor, width, padding[name]) if name in padding else tensor

        def extra_repr(self) -> str:
            params = "".join(f", {k}={v!r}" for k, v in self.metric.params.items())
            return f"metric={self.metric.name!r}{params}"

    Evaluator.__module__ = __name__
    Evaluator.__qualname__ = "Evaluator"
    return Evaluator


def _state(name: str) -> str:
    return f"kept_{name}"


def __getattr__(name: str) -> Any:
    # ``Evaluator`` (the class) is made on first access: pickling an evaluator finds it here.
    if name == "Evaluator":
        cls = globals().get("_Evaluator") or _evaluator_class()
        globals()["_Evaluator"] = cls
        return cls
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
