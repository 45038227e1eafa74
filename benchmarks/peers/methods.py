"""The methods ``metricloss peers`` compares: each a loss, an optimizer and a batch sampler.

A method is a row of ``METHODS``: ``build(setup)`` gives its ``Trainer`` (a loss of the network's
output, the batch's labels and sample indices, and the problem's optimizer at the setup's learning
rate), ``sampler`` how batches are drawn (``"shuffle"`` or ``"balanced:SHARE"``, as
``metricloss.train.sampling.parse_sampler`` reads it). A loss of ``None`` marks the batch undefined
(no positive for AP, say): the step is skipped and counted.

A UniLoss variant is a row: ``uniloss_row("uniloss_auc_tau2", "auc", relaxation=ml.sigmoid(tau=2))``
(UniLoss's keyword arguments, a sampler, a τ schedule); it uses only UniLoss's public interface.

LibAUC (Yuan et al., KDD 2023) is optional (its rows are skipped with a note without it); they
predict ``sigmoid(score)``, in [0, 1] as LibAUC expects, with the optimizer LibAUC pairs with each
loss at its defaults but for the learning rate.
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

import metricloss as ml
from metricloss.errors import InputError
from metricloss.train.task import Split

from . import ranking
from .lovasz import lovasz_hinge
from .problems import Problem

LIBAUC_INSTALL = '.venv/bin/pip install -c constraints.txt -e ".[peers]" && .venv/bin/pip install --no-deps libauc==2.0.1'


@dataclass(frozen=True)
class Setup:
    """What a method is built from, for one run."""

    problem: Problem
    model: torch.nn.Module
    train: Split
    lr: float
    seed: int
    device: torch.device
    weight_decay: float = 0.0  # the SGD problems' (``--weight-decay``); LibAUC's optimizers keep their own
    steps: int = 1  # the run's optimiser steps (epochs x batches an epoch), over which a τ schedule runs


# (output, labels, index) -> the batch's loss, or None when it is undefined on the batch
Loss = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], "torch.Tensor | None"]


@dataclass
class Trainer:
    loss: Loss
    optimizer: torch.optim.Optimizer
    optimizer_label: str  # for results.json: "SGD(momentum=0.5)", "PESG(...)"


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    kinds: tuple[str, ...]  # the problem kinds it applies to: "ranking", "segmentation", "queries"
    build: Callable[[Setup], Trainer]
    sampler: str = "shuffle"  # "shuffle" or "balanced:SHARE"
    needs: str | None = None  # an optional package: "libauc"
    warm_start: int = 0  # epochs trained with the problem's usual loss before the method's own
    default: bool = True  # run when --methods is not given
    details: dict[str, Any] = field(default_factory=dict)


def problem_optimizer(setup: Setup) -> tuple[torch.optim.Optimizer, str]:
    """The problem's optimizer at the setup's learning rate: its own (the ltr task's Adam), else
    SGD with its schedule's momentum and the setup's weight decay."""
    problem = setup.problem
    if problem.optimizer is not None:
        return problem.optimizer(setup.model.parameters(), setup.lr), problem.optimizer_label
    momentum = problem.schedule.momentum
    decay = f", weight_decay={setup.weight_decay:g}" if setup.weight_decay else ""
    return (torch.optim.SGD(setup.model.parameters(), lr=setup.lr, momentum=momentum, weight_decay=setup.weight_decay),
            f"SGD(momentum={momentum:g}{decay})")


def _baseline(setup: Setup) -> Trainer:
    problem = setup.problem
    optimizer, label = problem_optimizer(setup)
    return Trainer(lambda output, labels, index: problem.baseline(output, labels), optimizer, label)


def _uniloss(metric: str, options: dict[str, Any], setup: Setup, tau: tuple[float, float] | None = None) -> Trainer:
    problem = setup.problem
    generator = torch.Generator(device=setup.device).manual_seed(setup.seed)
    loss_fn = ml.UniLoss(metric, generator=generator, **options)
    calls = iter(range(1 << 62))

    def loss(output, labels, index):
        if tau is not None:  # the sigmoid's tau from tau[0] to tau[1], geometrically over the run's steps
            done = min(next(calls) / max(setup.steps - 1, 1), 1)
            loss_fn.relaxation = ml.sigmoid(tau=tau[0] * (tau[1] / tau[0]) ** done)
        before = loss_fn.undefined_batches
        value = loss_fn(problem.scores(output), problem.targets(labels))
        return None if loss_fn.undefined_batches > before else value

    optimizer, label = problem_optimizer(setup)
    return Trainer(loss, optimizer, label)


def uniloss_row(name: str, metric: str, *, sampler: str = "shuffle", default: bool = False,
                kinds: tuple[str, ...] = ("ranking",), description: str | None = None, warm_start: int = 0,
                tau_schedule: tuple[float, float] | None = None, **options) -> Method:
    """A row training ``UniLoss(metric, generator=..., **options)`` with the problem's optimizer;
    ``tau_schedule=(start, end)``: its relaxation a sigmoid whose τ goes geometrically from start to end."""
    text = description or f"UniLoss({metric!r}{''.join(f', {k}={v!r}' for k, v in options.items())}) on the "\
                          "scores, with the problem's optimizer"
    text += f", after {warm_start} epochs of the usual loss" if warm_start else ""
    text += f", sigmoid tau from {tau_schedule[0]:g} to {tau_schedule[1]:g} over the run" if tau_schedule else ""
    details = {"metric": metric, "options": {k: repr(v) for k, v in options.items()}, "tau_schedule": tau_schedule}
    return Method(name, text, kinds, functools.partial(_uniloss, metric, options, tau=tau_schedule), sampler=sampler,
                  default=default, warm_start=warm_start, details=details)


def _loss_of_scores(loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], setup: Setup) -> Trainer:
    """A published loss of the batch's scores and targets (``ranking.py``'s on ``[Q, D]`` scores and
    relevance, the Lovász hinge on pixels), with the problem's optimizer."""
    problem = setup.problem
    optimizer, label = problem_optimizer(setup)
    return Trainer(lambda output, labels, index: loss_fn(problem.scores(output), problem.targets(labels)),
                   optimizer, label)


# --- LibAUC ---------------------------------------------------------------------------------


@functools.cache
def libauc_missing() -> str | None:
    """None when ``libauc.losses`` and ``libauc.optimizers`` import; else why not, in one line."""
    try:
        importlib.import_module("libauc.losses")
        importlib.import_module("libauc.optimizers")
    except Exception as error:  # ImportError, or a dependency's failure at import time
        return f"{type(error).__name__}: {error}"
    return None


def _libauc_aucm(setup: Setup, sampler_share: float | None = None) -> Trainer:
    """AUC-M loss (Yuan et al., ICCV 2021), version 1, the class prior ``p`` fixed to the training
    split's share of positives (``auto=False``: not re-estimated from each batch), margin 1.0, by
    PESG at LibAUC's defaults (momentum 0.9, epoch decay 2e-3, weight decay 1e-5, gradients clipped
    at 1) but for the learning rate, constant as for every method (no ``update_regularizer``)."""
    from libauc.losses import AUCMLoss
    from libauc.optimizers import PESG

    problem = setup.problem
    share = float((setup.train.targets[0] == 1).float().mean()) if sampler_share is None else sampler_share
    loss_fn = AUCMLoss(margin=1.0, imratio=share, device=setup.device)
    optimizer = PESG(setup.model.parameters(), loss_fn=loss_fn, lr=setup.lr, verbose=False, device=setup.device)

    def loss(output, labels, index):
        prediction = torch.sigmoid(problem.scores(output))
        return loss_fn(prediction, problem.targets(labels), auto=False)

    return Trainer(loss, optimizer, f"PESG(LibAUC defaults, imratio={share:.4f})")


def _libauc_ap(setup: Setup, mode: str) -> Trainer:
    """The AP loss of SOAP (Qi et al., NeurIPS 2021): squared hinge surrogate, margin 1.0, moving
    averages with gamma 0.9 (LibAUC's defaults), one pair of averages per training sample (hence
    the batch's sample indices); trained by the SOAP optimizer in ``mode`` at LibAUC's defaults
    (momentum 0.9, weight decay 1e-5, gradients clipped at 1) but for the learning rate. A batch
    without a positive is undefined for it (LibAUC asserts on one): the step is skipped."""
    from libauc.losses import APLoss
    from libauc.optimizers import SOAP

    problem = setup.problem
    loss_fn = APLoss(data_len=len(setup.train), margin=1.0, gamma=0.9, device=setup.device)
    optimizer = SOAP(setup.model.parameters(), lr=setup.lr, mode=mode, verbose=False, device=setup.device)

    def loss(output, labels, index):
        targets = problem.targets(labels)
        if not bool((targets == 1).any()):
            return None
        prediction = torch.sigmoid(problem.scores(output))
        return loss_fn(prediction, targets, index.to(prediction.device))

    return Trainer(loss, optimizer, f"SOAP(mode={mode!r}, LibAUC defaults)")


# --- the table --------------------------------------------------------------------------------

METHODS: dict[str, Method] = {}


def add(method: Method) -> Method:
    if method.name in METHODS:
        raise ValueError(f"method {method.name!r} is already in the table")
    METHODS[method.name] = method
    return method


add(Method("bce", "the usual loss: cross-entropy on the 2 logits (digits), per-pixel binary "
                  "cross-entropy (blobs); SGD", ("ranking", "segmentation"), _baseline))
add(uniloss_row("uniloss_auc", "auc", default=True))
add(uniloss_row("uniloss_ap", "average_precision", default=True))
add(Method("libauc_aucm", "LibAUC AUCMLoss (margin 1, imratio of the training split) with PESG",
           ("ranking",), _libauc_aucm, needs="libauc"))
add(Method("libauc_ap", "LibAUC APLoss (SOAP's, margin 1, gamma 0.9) with the SOAP optimizer (mode 'sgd')",
           ("ranking",), functools.partial(_libauc_ap, mode="sgd"), needs="libauc"))
# Variants, run when named in --methods.
add(uniloss_row("uniloss_auc_balanced", "auc", sampler="balanced:0.5"))
add(uniloss_row("uniloss_ap_balanced", "average_precision", sampler="balanced:0.5"))
add(Method("libauc_aucm_balanced", "LibAUC AUCMLoss with PESG, half of every batch positive (LibAUC's "
                                   "DualSampler setting); imratio 0.5", ("ranking",),
           functools.partial(_libauc_aucm, sampler_share=0.5), sampler="balanced:0.5", needs="libauc", default=False))
add(Method("libauc_ap_balanced", "LibAUC APLoss with SOAP (mode 'sgd'), half of every batch positive",
           ("ranking",), functools.partial(_libauc_ap, mode="sgd"), sampler="balanced:0.5", needs="libauc",
           default=False))
add(Method("libauc_ap_adam", "LibAUC APLoss with SOAP in its default mode 'adam'", ("ranking",),
           functools.partial(_libauc_ap, mode="adam"), needs="libauc", default=False))
# Segmentation.
add(Method("lovasz_hinge", "the Lovász hinge (Berman et al., CVPR 2018) on the batch's pixels; SGD",
           ("segmentation",), functools.partial(_loss_of_scores, lovasz_hinge)))
add(uniloss_row("uniloss_auc_warm", "auc", warm_start=5))
add(uniloss_row("uniloss_ap_warm", "average_precision", warm_start=5))
add(uniloss_row("uniloss_auc_margin", "auc", margin=1.0))
add(uniloss_row("uniloss_auc_balanced25", "auc", sampler="balanced:0.25"))
add(uniloss_row("uniloss_auc_tau4", "auc", sampler="balanced:0.25", relaxation=ml.sigmoid(tau=4.0)))
add(uniloss_row("uniloss_auc_tau025", "auc", sampler="balanced:0.25", relaxation=ml.sigmoid(tau=0.25)))
add(uniloss_row("uniloss_auc_power4", "auc", interpolator=ml.inverse_distance(power=4.0)))
add(uniloss_row("uniloss_ap_power4", "average_precision", interpolator=ml.inverse_distance(power=4.0)))
add(uniloss_row("uniloss_iou", "iou", kinds=("segmentation",), default=True,
                description="UniLoss('iou') on the batch's per-pixel logits, flattened, with the problem's SGD"))
# Learning to rank: every row with the ltr task's Adam; ``ranking.py`` has the losses' papers and
# the choices they leave open.
add(Method("listnet", "the usual loss: ListNet's top-one cross-entropy, the ltr task's own", ("queries",),
           _baseline))
add(Method("approx_ndcg", "1 - ApproxNDCG (Qin, Liu & Li 2010), whole list, temperature 1", ("queries",),
           functools.partial(_loss_of_scores, ranking.approx_ndcg)))
add(Method("neural_ndcg", "-NeuralNDCG (Pobrotyn & Białobrzeski 2021), whole list, temperature 1, 50 Sinkhorn "
                          "rounds", ("queries",), functools.partial(_loss_of_scores, ranking.neural_ndcg)))
add(Method("lambda_loss", "LambdaLoss NDCG-Loss2++ (Wang et al. 2018), mu 5, sigma 1", ("queries",),
           functools.partial(_loss_of_scores, ranking.lambda_loss)))
add(uniloss_row("uniloss_ndcg", "ndcg_at_k", kinds=("queries",), default=True,
                description="UniLoss('ndcg_at_k'), NDCG@10 with gain 2^rel - 1, on the [queries, items] scores, "
                            "its default parts, with the problem's optimizer"))
add(uniloss_row("uniloss_mrr", "mrr", kinds=("queries",), default=True,
                description="UniLoss('mrr') on the [queries, items] scores, its default parts, with the "
                            "problem's optimizer"))
# Variants that `metricloss diagnose --task ltr` and the scale search pointed at (docs/results.md,
# Learning-to-rank peers): tau, the anchors' counts, the interpolator's power.
for _name, _metric, _options in [
        ("uniloss_ndcg_tau03", "ndcg_at_k", {"relaxation": ml.sigmoid(tau=0.3)}),
        ("uniloss_ndcg_anchors4", "ndcg_at_k",
         {"samplers": [ml.ideal(count=4), ml.good(count=4), ml.nearby(count=4), ml.random(count=4)]}),
        ("uniloss_ndcg_tau05", "ndcg_at_k", {"relaxation": ml.sigmoid(tau=0.5)}),
        ("uniloss_ndcg_tau2", "ndcg_at_k", {"relaxation": ml.sigmoid(tau=2.0)}),
        ("uniloss_mrr_tau01", "mrr", {"relaxation": ml.sigmoid(tau=0.1)}),
        ("uniloss_mrr_anchors64", "mrr",
         {"samplers": [ml.ideal(count=64), ml.good(count=64), ml.nearby(count=64), ml.random(count=64)]}),
        ("uniloss_mrr_power4", "mrr", {"interpolator": ml.inverse_distance(power=4.0)}),
        ("uniloss_mrr_power4_tau2", "mrr", {"interpolator": ml.inverse_distance(power=4.0), "relaxation": ml.sigmoid(tau=2.0)}),
        ("uniloss_ndcg_anneal", "ndcg_at_k", {"tau_schedule": (4.0, 1.0)}),  # around the fixed tau chosen, 2
        ("uniloss_mrr_power4_anneal", "mrr", {"interpolator": ml.inverse_distance(power=4.0), "tau_schedule": (2.0, 0.5)})]:
    add(uniloss_row(_name, _metric, kinds=("queries",), **_options))
# The peers' own scale parameters over the same kind of grid, so that no method is tuned alone.
for _name, _loss, _text in [
        ("lambda_loss_sigma05", functools.partial(ranking.lambda_loss, sigma=0.5), "LambdaLoss NDCG-Loss2++, sigma 0.5"),
        ("lambda_loss_sigma2", functools.partial(ranking.lambda_loss, sigma=2.0), "LambdaLoss NDCG-Loss2++, sigma 2"),
        ("approx_ndcg_t03", functools.partial(ranking.approx_ndcg, temperature=0.3), "1 - ApproxNDCG, temperature 0.3"),
        ("approx_ndcg_t3", functools.partial(ranking.approx_ndcg, temperature=3.0), "1 - ApproxNDCG, temperature 3")]:
    add(Method(_name, _text, ("queries",), functools.partial(_loss_of_scores, _loss), default=False))


def methods_for(kind: str, names: list[str] | None) -> list[Method]:
    """The methods to run on a problem of ``kind``: ``names`` in order, or the kind's defaults."""
    if names is None:
        return [m for m in METHODS.values() if m.default and kind in m.kinds]
    return [METHODS[name] for name in names if kind in METHODS[name].kinds]


def check_names(names: list[str]) -> None:
    unknown = [name for name in names if name not in METHODS]
    if unknown:
        raise InputError(f"unknown method(s) {', '.join(unknown)}; choose from {', '.join(METHODS)}")


def available(methods: list[Method]) -> tuple[list[Method], str | None]:
    """The methods that can run here, and a one-line note on those skipped (None if none)."""
    missing = libauc_missing()
    if missing is None:
        return methods, None
    skipped = [m for m in methods if m.needs == "libauc"]
    if not skipped:
        return methods, None
    note = (f"skipping {', '.join(m.name for m in skipped)}: LibAUC is not importable ({missing}); "
            f"to add them: {LIBAUC_INSTALL}")
    return [m for m in methods if m.needs != "libauc"], note
