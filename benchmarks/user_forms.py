"""Table g: metrics written as users write them (sort family, class loops, flat-argmax keypoints).

Each case compiles a plain function, not a built-in, and times UniLoss's forward+backward
against the loss people train that metric with, on the same leaf scores: listwise softmax
cross-entropy for ranking, cross-entropy for classification, MSE to one-hot heatmaps for
keypoints.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F

import metricloss as ml

from .inputs import SEED, loss_step
from .tables import Table, contention_note, count, mark, ms, ratio
from .timing import Clock, measure_quietly


def ndcg_at_10(scores, relevance):
    order = scores.argsort(dim=1, descending=True)
    gains = (2 ** relevance.gather(1, order)[:, :10] - 1).float()
    discounts = 1 / torch.log2(torch.arange(2, 12, dtype=torch.float32))
    ideal = (2 ** relevance.sort(dim=1, descending=True).values[:, :10] - 1).float()
    return ((gains * discounts).sum(1) / (ideal * discounts).sum(1).clamp(min=1e-9)).mean()


def mrr(scores, relevance):
    order = scores.argsort(dim=1, descending=True)
    relevant = relevance.gather(1, order) > 0
    first = relevant.float().argmax(dim=1)
    return (relevant.any(1).float() / (first + 1).float()).mean()


def recall_at_10(scores, relevance):
    top = scores.topk(10, dim=1).indices
    hits = (relevance.gather(1, top) > 0).sum(1).float()
    return (hits / (relevance > 0).sum(1).clamp(min=1).float()).mean()


def macro_f1_loop(scores, labels):
    predicted = scores.argmax(1)
    per_class = []
    for c in range(scores.shape[1]):
        tp = ((predicted == c) & (labels == c)).sum()
        fp = ((predicted == c) & (labels != c)).sum()
        fn = ((predicted != c) & (labels == c)).sum()
        per_class.append(2 * tp / (2 * tp + fp + fn).clamp(min=1))
    return torch.stack(per_class).mean()


def pck_flat_argmax(heatmaps, keypoints):
    width = heatmaps.shape[-1]
    index = heatmaps.flatten(2).argmax(-1)
    predicted = torch.stack([index % width, index // width], dim=-1).float()
    return ((predicted - keypoints).norm(dim=-1) <= 3).float().mean()


def _listwise(scores, relevance):
    return -(F.softmax(relevance.float(), 1) * F.log_softmax(scores, 1)).sum(1).mean()


def _one_hot_heatmaps(heatmaps, keypoints):
    n, j, h, w = heatmaps.shape
    x, y = keypoints[..., 0].round().long(), keypoints[..., 1].round().long()
    target = F.one_hot(y * w + x, h * w).float().reshape(n, j, h, w)
    return F.mse_loss(heatmaps, target)


@dataclass(frozen=True)
class FormCase:
    label: str
    fn: Callable
    kind: str  # "ranking", "classes" or "keypoints"
    shape: tuple[int, ...]

    def make(self, device):
        generator = torch.Generator().manual_seed(SEED)
        scores = torch.randn(self.shape, generator=generator)
        if self.kind == "ranking":
            targets = (torch.randint(0, 4, self.shape, generator=generator) * (torch.rand(self.shape, generator=generator) < 0.1),)
        elif self.kind == "classes":
            targets = (torch.randint(self.shape[1], self.shape[:1], generator=generator),)
        else:
            n, j, h, w = self.shape
            targets = (torch.rand(n, j, 2, generator=generator) * torch.tensor([w - 1.0, h - 1.0]),)
        return scores.to(device).requires_grad_(), tuple(t.to(device) for t in targets)

    @property
    def reference(self) -> tuple[str, Callable]:
        """The ranking loss of the same pairwise kind (``floor.py``): ApproxNDCG, approximate MRR."""
        from .floor import approx_mrr_loss, approx_ndcg_loss

        if self.fn is mrr:
            return "ApproxMRR", approx_mrr_loss
        return "ApproxNDCG", approx_ndcg_loss

    @property
    def baseline(self) -> tuple[str, Callable]:
        return {"ranking": ("listwise CE", _listwise), "classes": ("CE", F.cross_entropy),
                "keypoints": ("MSE", _one_hot_heatmaps)}[self.kind]


def floor_forms(mode: str) -> list[FormCase]:
    """The ranking metrics the floor table holds to their floor and to ApproxNDCG."""
    shape = (4, 12) if mode == "smoke" else (64, 100)
    size = f"[{shape[0]}, {shape[1]}]"
    return [FormCase(f"ndcg@10 argsort {size}", ndcg_at_10, "ranking", shape),
            FormCase(f"mrr argsort {size}", mrr, "ranking", shape)]


def form_cases(mode: str) -> list[FormCase]:
    if mode == "smoke":
        return [FormCase("ndcg@10 [4, 12]", ndcg_at_10, "ranking", (4, 12)),
                FormCase("macro-F1 loop [8, 3]", macro_f1_loop, "classes", (8, 3)),
                FormCase("pck flat argmax [1, 2, 8, 8]", pck_flat_argmax, "keypoints", (1, 2, 8, 8))]
    return [FormCase("ndcg@10 argsort [64, 100]", ndcg_at_10, "ranking", (64, 100)),
            FormCase("mrr argsort [64, 100]", mrr, "ranking", (64, 100)),
            FormCase("recall@10 topk [64, 100]", recall_at_10, "ranking", (64, 100)),
            FormCase("macro-F1 class loop [128, 10]", macro_f1_loop, "classes", (128, 10)),
            FormCase("pck flat argmax [6, 16, 64, 64]", pck_flat_argmax, "keypoints", (6, 16, 64, 64))]


def user_forms(cases: list[FormCase], rounds: int, block_seconds: float, clock: Clock) -> Table:
    table = Table("user_forms", "g. Metrics as users write them: UniLoss / the usual loss on the same scores",
                  ["case", "binaries", "UniLoss ms", "baseline", "baseline ms", "UniLoss/baseline"])
    for case in cases:
        scores, targets = case.make(clock.device)
        with warnings.catch_warnings():  # forms as users write them: argsort and topk without stable=True
            warnings.simplefilter("ignore", ml.TieOrderWarning)  # the tie order changes no cost
            metric = ml.metric(register=False)(case.fn)
        uniloss = ml.UniLoss(metric, generator=torch.Generator(device=clock.device).manual_seed(SEED))
        name, baseline = case.baseline
        timings, busy = measure_quietly(f"user forms, {case.label}", {
            "uniloss": loss_step(uniloss, scores, targets),
            "baseline": loss_step(baseline, scores, targets),
        }, rounds, block_seconds, clock)
        uni, base = timings["uniloss"]["median_s"], timings["baseline"]["median_s"]
        row = {"case": case.label, "baseline": name, "binaries": uniloss.last.binaries,
               "path": uniloss.last.path, "timings": timings, **busy, "uniloss_over_baseline": uni / base}
        table.rows.append(row)
        table.cells.append([mark(row, case.label), count(row["binaries"]), ms(uni), name, ms(base),
                            ratio(uni / base)])
    table.notes += contention_note(table.rows)
    return table
