"""A conformance suite for plugins: run it on yours, as our tests run it on every registered one.

    >>> import metricloss as ml
    >>> from metricloss import testing
    >>> testing.check_metric(ml.get_metric("auc"))
    >>> testing.check_relaxation(ml.sigmoid(tau=0.5))

Each ``check_*`` raises ``ConformanceError`` (an AssertionError) saying which property failed.
The checks run on the CPU and need nothing but the plugin: metrics are exercised on a small
synthetic batch built from their declared ``shapes=``/``classes=`` (or on inputs you pass).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from .loss.anchors import Anchors
from .loss.interpolators import Interpolator
from .loss.module import UniLoss
from .compiler.metric import Metric, get_metric
from .registry import get_plugin
from .loss.relaxations import Relaxation
from .loss.samplers import Sampler, SamplingContext


class ConformanceError(AssertionError):
    """A plugin does not keep one of the properties every plugin of its kind must keep."""


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ConformanceError(message)


def check_metric(metric: Metric | str, inputs: Sequence | None = None,
                 reference: Callable | None = None, *, seed: int = 0, tolerance: float = 1e-6) -> None:
    """Value, exactness (when ``reference`` is given), loss, gradient and determinism of a metric."""
    metric = get_metric(metric)
    name = f"metric `{metric.name}`"
    if inputs is None:
        inputs = metric.declaration.spec.synthetic(seed=seed)
        _require(inputs is not None, f"{name}: declares no shapes= for every argument; pass inputs=")
    scores, *targets = inputs
    _require(scores.device.type == "cpu", f"{name}: the suite runs on the CPU; pass CPU inputs")
    value = metric(scores, *targets)
    _require(isinstance(value, torch.Tensor) and value.dim() == 0, f"{name}: value is not a 0-d tensor")
    _require(bool(torch.isfinite(value)), f"{name}: value {value.item()} on a valid batch is not finite")
    if reference is not None:
        expected = float(reference(scores, *targets))
        _require(abs(value.item() - expected) <= tolerance,
                 f"{name}: {value.item()!r} through the binaries, {expected!r} from the reference")
    results = []
    for _ in range(2):
        leaf = scores.detach().clone().requires_grad_()
        loss = UniLoss(metric, generator=torch.Generator().manual_seed(seed))(leaf, *targets)
        _require(loss.dim() == 0 and bool(torch.isfinite(loss)), f"{name}: loss {loss} is not a finite 0-d tensor")
        loss.backward()
        _require(leaf.grad is not None and leaf.grad.shape == scores.shape,
                 f"{name}: no gradient of the scores' shape")
        _require(bool(torch.isfinite(leaf.grad).all()), f"{name}: the gradient has non-finite entries")
        results.append((loss.detach(), leaf.grad))
    _require(torch.equal(results[0][0], results[1][0]) and torch.equal(results[0][1], results[1][1]),
             f"{name}: the same generator seed gave different losses or gradients")


def check_relaxation(relaxation: Relaxation | Callable[[], Relaxation]) -> None:
    """0 at d = 0, odd, increasing, within [-1, 1], finite gradient, shape kept."""
    relax = relaxation if isinstance(relaxation, Relaxation) else relaxation()
    name = f"relaxation `{relax.name}`"
    d = torch.linspace(-20, 20, 401, dtype=torch.float64, requires_grad=True)
    out = relax(d)
    _require(out.shape == d.shape, f"{name}: output shape {tuple(out.shape)} for input {tuple(d.shape)}")
    _require(abs(float(relax(torch.zeros(1, dtype=torch.float64)))) < 1e-12, f"{name}: not 0 at d = 0")
    _require(torch.allclose(relax(-d.detach()), -out.detach(), atol=1e-7), f"{name}: not odd")
    _require(bool((out.detach().diff() >= -1e-12).all()), f"{name}: not increasing")
    _require(bool((out.detach().abs() <= 1 + 1e-7).all()), f"{name}: leaves [-1, 1]")
    out.sum().backward()
    _require(bool(torch.isfinite(d.grad).all()), f"{name}: non-finite gradient")


def check_interpolator(interpolator: Interpolator | Callable[[], Interpolator]) -> None:
    """A convex combination of the anchors' values, 0-d, finite gradients (also at distance 0)."""
    interpolate = interpolator if isinstance(interpolator, Interpolator) else interpolator()
    name = f"interpolator `{interpolate.name}`"
    generator = torch.Generator().manual_seed(0)
    values = torch.rand(40, generator=generator, dtype=torch.float64)
    for distances in (torch.rand(40, generator=generator, dtype=torch.float64) * 50,
                      torch.cat([torch.zeros(1, dtype=torch.float64),
                                 torch.rand(39, generator=generator, dtype=torch.float64) * 50])):
        distances.requires_grad_()
        out = interpolate(distances, values)
        _require(out.dim() == 0, f"{name}: result is not 0-d")
        _require(values.min() - 1e-9 <= out <= values.max() + 1e-9, f"{name}: {out.item()} outside the values' range")
        out.backward()
        _require(bool(torch.isfinite(distances.grad).all()), f"{name}: non-finite gradient")


def check_sampler(sampler: Sampler | Callable[[], Sampler], *, size: int = 30) -> None:
    """Anchors of the promised shapes, on the context's device, the same under one seed."""
    sample = sampler if isinstance(sampler, Sampler) else sampler()
    name = f"sampler `{sample.name}`"
    n = 6  # a pairwise block over n elements: n * (n - 1) binaries with known element ids
    left, right = (torch.arange(n)[:, None].expand(n, n), torch.arange(n)[None, :].expand(n, n))
    keep = left != right
    left, right = left[keep], right[keep]
    size = left.numel()
    generator = torch.Generator().manual_seed(0)
    ideal = torch.rand(size, generator=generator) < 0.5
    current = torch.rand(size, generator=generator) < 0.5
    runs = []
    for _ in range(2):
        context = SamplingContext(ideal, current, torch.Generator().manual_seed(1), elements=(left, right))
        anchors = sample(context)
        _require(isinstance(anchors, Anchors), f"{name}: returned {type(anchors).__name__}, not Anchors")
        rows = anchors.configurations(0, anchors.count)
        _require(rows.shape == (anchors.count, size) and rows.dtype == torch.bool,
                 f"{name}: configurations of shape {tuple(rows.shape)}, expected ({anchors.count}, {size}) bool")
        relaxed = torch.rand(size, dtype=torch.float32) * 2 - 1
        distances = anchors.squared_distances(relaxed)
        exact = (relaxed - (rows.float() * 2 - 1)).square().sum(1)
        _require(torch.allclose(distances, exact, atol=1e-4), f"{name}: squared distances disagree with its configurations")
        runs.append(rows)
    _require(torch.equal(runs[0], runs[1]), f"{name}: the same generator seed gave different anchors")


CHECKS = {"metric": check_metric, "relaxation": check_relaxation,
          "interpolator": check_interpolator, "sampler": check_sampler}


def check_plugin(kind: str, name: str) -> None:
    """Run the suite of ``kind`` on the registered plugin ``name``."""
    plugin = get_metric(name) if kind == "metric" else get_plugin(kind, name)
    CHECKS[kind](plugin)


__all__ = ["CHECKS", "ConformanceError", "check_interpolator", "check_metric", "check_plugin",
           "check_relaxation", "check_sampler"]
