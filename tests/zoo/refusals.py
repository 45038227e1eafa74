"""Evaluation code that cannot be compiled, as people write it, with what the refusal must say.

Each entry is a function, a piece of its offending line (``marker``), the substrings the
``CompileError`` message must contain (besides ``zoo/refusals.py:<line of the marker>``), and the
one-line rewrite that compiles, for the catalog page.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import torch
import torch.nn.functional as F


def numpy_roc_auc(scores, labels):
    from sklearn.metrics import roc_auc_score

    return roc_auc_score(labels.cpu().numpy(), scores.detach().cpu().numpy())


def sklearn_f1_on_tensors(scores, labels):
    from sklearn.metrics import f1_score

    return f1_score(labels, scores.argmax(1), average="macro")


def tolist_accuracy(scores, labels):
    preds = scores.argmax(1).tolist()
    return sum(p == y for p, y in zip(preds, labels.tolist())) / len(preds)


def detached_accuracy(scores, labels):
    preds = scores.detach().argmax(dim=1)
    return (preds == labels).float().mean()


def per_sample_if(scores, labels):
    correct = 0
    for i in range(len(labels)):
        if scores[i].argmax() == labels[i]:
            correct += 1
    return correct / len(labels)


def branch_on_best_score(scores, labels):
    if scores.max() > 0:
        return (scores.argmax(1) == labels).float().mean()
    return torch.zeros(())


def float_midway_f1(scores, labels):
    tp = float(((scores > 0) & (labels == 1)).sum())
    predicted = (scores > 0).sum()
    return 2 * tp / (predicted + labels.sum())


def int_k_r_precision(scores, labels):
    r = int(labels.sum())
    return labels[scores.topk(r).indices].float().mean()


def zip_over_tensors(scores, labels):
    hits = [(s.argmax() == y).float() for s, y in zip(scores, labels)]
    return torch.stack(hits).mean()


def mean_score(scores, labels):
    return torch.sigmoid(scores[labels == 1]).mean()


def soft_accuracy(scores, labels):
    probs = F.softmax(scores, dim=1)
    return probs.gather(1, labels[:, None]).mean()


def mse(scores, targets):
    return F.mse_loss(scores, targets)


def len_of_mask(scores, labels):
    predicted_positive = len(scores[scores > 0])
    tp = ((scores > 0) & (labels == 1)).sum()
    return tp / max(predicted_positive, 1)


def binned_calibration_error(scores, labels, n_bins=10):
    probs = torch.sigmoid(scores)
    edges = torch.linspace(0, 1, n_bins + 1)
    err = torch.zeros(())
    for lo, hi in zip(edges[:-1], edges[1:]):
        in_bin = (probs > lo) & (probs <= hi)
        if in_bin.any():
            err += in_bin.float().mean() * (probs[in_bin].mean() - labels[in_bin].float().mean()).abs()
    return err


def calibration_error_on_device(scores, labels, n_bins=15):
    probs = torch.sigmoid(scores)
    edges = torch.linspace(0, 1, n_bins + 1, device=scores.device)
    ece = torch.zeros(1, device=scores.device)
    for bin_lower, bin_upper in zip(edges[:-1], edges[1:]):
        in_bin = probs.gt(bin_lower) * probs.le(bin_upper)
        prop_in_bin = in_bin.float().mean()
        accuracy_in_bin = labels[in_bin].float().mean()
        avg_confidence_in_bin = probs[in_bin].mean()
        ece += torch.abs(avg_confidence_in_bin - accuracy_in_bin) * prop_in_bin
    return ece


@dataclass(frozen=True)
class Refusal:
    fn: Callable
    marker: str             # a piece of the offending line, unique in the function
    expected: tuple[str, ...]  # substrings the CompileError message must contain
    hint: str               # what to write instead, for the catalog
    construct: str          # what is refused, in a few words, for the catalog
    kind: str = "classes"   # the batch it is called on (metrics traced per shape compile there)
    pending: str | None = None  # a compiler limitation that currently changes the message
    # A piece of a second line the message must point at: what keeps the metric from compiling
    # whatever is done about the first construct.
    deeper: str | None = None

    def _line_of(self, marker: str) -> int:
        lines, start = inspect.getsourcelines(self.fn)
        found = [start + i for i, text in enumerate(lines) if marker in text]
        assert len(found) == 1, (self.fn.__name__, marker, found)
        return found[0]

    @property
    def line(self) -> int:
        """The line of this file holding ``marker`` in ``fn``."""
        return self._line_of(self.marker)

    @property
    def where(self) -> str:
        return f"zoo/refusals.py:{self.line}"

    @property
    def deeper_where(self) -> str | None:
        return None if self.deeper is None else f"zoo/refusals.py:{self._line_of(self.deeper)}"


REFUSALS = [
    Refusal(numpy_roc_auc, "roc_auc_score(labels.cpu().numpy()",
            ("`.numpy()`", "takes the values out of torch"),
            "compare in torch: `(pos[:, None] > neg[None, :]).float().mean()`",
            construct="numpy conversion for scikit-learn", kind="binary"),
    Refusal(sklearn_f1_on_tensors, "f1_score(labels, scores.argmax(1)",
            ("handed to sklearn",),
            "count with `F.one_hot(scores.argmax(1), C)` and the labels' one-hot, then the F1 formula",
            construct="scikit-learn called on the tensors"),
    Refusal(tolist_accuracy, "scores.argmax(1).tolist()",
            ("`.tolist()`", "takes the values out of torch"),
            "keep tensors: `(scores.argmax(1) == labels).float().mean()`",
            construct="`.tolist()`"),
    Refusal(detached_accuracy, "scores.detach().argmax(dim=1)",
            ("`.detach()` of the scores", "would cut the loss off"),
            "drop `.detach()` (`scores.data` is read as the scores)",
            construct="`.detach()` of the scores"),
    Refusal(per_sample_if, "if scores[i].argmax() == labels[i]:",
            ("a comparison of scores drives Python control flow", "torch.where"),
            "count without `if`: `correct += (scores[i].argmax() == labels[i]).item()`, or batch it",
            construct="Python `if` on a score comparison"),
    Refusal(branch_on_best_score, "if scores.max() > 0:",
            ("a comparison of scores drives Python control flow", "torch.where"),
            "choose values with `torch.where(condition, a, b)` instead of `if`",
            construct="Python `if` on a score value"),
    Refusal(float_midway_f1, "tp = float(",
            ("`float(...)` of a tensor", "keep it a tensor"),
            "keep the count a tensor: `tp = ((scores > 0) & (labels == 1)).sum().float()`",
            construct="`float()` of a tensor mid-way", kind="binary"),
    Refusal(int_k_r_precision, "r = int(labels.sum())",
            ("`int(...)` of a tensor",),
            "a rank mask instead of a data-dependent k: `ranks < labels.sum()`, ranks from a double argsort",
            construct="`int()` of a tensor (a data-dependent k)", kind="binary"),
    Refusal(zip_over_tensors, "for s, y in zip(scores, labels)",
            ("iterating over a tensor",),
            "one batched operation: `(scores.argmax(1) == labels).float()`",
            construct="iterating over a tensor"),
    Refusal(mean_score, "return torch.sigmoid(scores[labels == 1]).mean()",
            ("scores are used outside a comparison", "(op `.mean()`)", "only through comparisons"),
            "compare the scores: `(scores[labels == 1] > 0).float().mean()`",
            construct="scores reaching the value without a comparison", kind="binary"),
    Refusal(soft_accuracy, "return probs.gather(1, labels[:, None]).mean()",
            ("scores are used outside a comparison", "(op `.mean()`)"),
            "threshold the probability: `(probs.gather(1, labels[:, None]) > 0.5).float().mean()`",
            construct="probabilities averaged (a soft accuracy)"),
    Refusal(mse, "return F.mse_loss(scores, targets)",
            ("scores are used outside a comparison", "(op `mse_loss`)"),
            "a tolerance: `((scores - targets).abs() <= tol).float().mean()`",
            construct="a regression loss as the metric", kind="regression"),
    Refusal(len_of_mask, "predicted_positive = len(scores[scores > 0])",
            ("`len()`", "`mask.sum()` rather than `len(x[mask])`"),
            "count with the mask: `(scores > 0).sum()`",
            construct="`len()` of a boolean-mask selection", kind="binary"),
    Refusal(binned_calibration_error, "for lo, hi in zip(edges[:-1], edges[1:]):",
            ("iterating over a tensor", "would not make the metric compile",
             "scores are used outside a comparison", "cannot become a UniLoss", "averages probabilities"),
            "nothing compiles: it averages probabilities, so it is no function of score comparisons; "
            "keep it for evaluation and train with a loss made for calibration",
            construct="a binned calibration error (ECE)", kind="binary",
            deeper="err += in_bin.float().mean() * (probs[in_bin].mean()"),
    Refusal(calibration_error_on_device, "for bin_lower, bin_upper in zip(edges[:-1], edges[1:]):",
            ("iterating over a tensor", "writing the loop batched would not make the metric compile",
             "scores are used outside a comparison", "cannot become a UniLoss", "averages probabilities"),
            "nothing compiles, batched or not: it averages probabilities; keep it for evaluation",
            construct="ECE with its bin edges on the scores' device (traced per shape)", kind="binary",
            deeper="avg_confidence_in_bin = probs[in_bin].mean()"),
]
