"""Table h: the exact value at validation sizes, against what a user would otherwise call.

``metric(scores, labels)`` over a whole validation set: the built-in AUC and AP against
scikit-learn's ``roc_auc_score`` and ``average_precision_score`` (on the same scores, already on
the CPU as NumPy arrays, as scikit-learn takes them), and the pairwise AUC of the README against
the same function run eagerly, which builds the [P, N] comparison. Both sides are timed side by
side in interleaved rounds; the values are compared, and the peak memory of metricloss's call is
measured as the other tables measure it. The path column says how each block was read
(``Metric.evaluate``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

import metricloss as ml

from .inputs import SEED
from .tables import Table, Target, contention_note, count, mark, mib, ms, ratio
from .timing import Clock, measure_quietly, peak_bytes

REFERENCE_TARGET = Target("exact value / scikit-learn's time", 10)
EAGER_TARGET = Target("exact value / the function run eagerly", 3)


def readme_auc(scores, labels):
    """The README's pairwise AUC, as a user writes it."""
    pos, neg = scores[labels == 1], scores[labels == 0]
    return (pos[:, None] > neg[None, :]).float().mean()


@dataclass(frozen=True)
class ExactCase:
    label: str
    metric: str  # a built-in's name, or "readme_auc"
    size: int
    positives: float = 0.3

    def make(self, device: torch.device) -> tuple[torch.Tensor, torch.Tensor]:
        generator = torch.Generator().manual_seed(SEED)
        scores = torch.randn(self.size, generator=generator)
        labels = (torch.rand(self.size, generator=generator) < self.positives).long()
        labels[:2] = torch.tensor([1, 0])
        return scores.to(device), labels.to(device)


def exact_cases(mode: str) -> list[ExactCase]:
    if mode == "smoke":
        return [ExactCase("auc", "auc", 2_000), ExactCase("readme AUC", "readme_auc", 1_000)]
    return [ExactCase("auc", "auc", 100_000), ExactCase("average_precision", "average_precision", 100_000),
            ExactCase("readme AUC", "readme_auc", 20_000)]


def _reference(case: ExactCase, scores: torch.Tensor, labels: torch.Tensor) -> tuple[str, Callable[[], float], Target]:
    if case.metric == "readme_auc":
        return "eager", lambda: float(readme_auc(scores, labels)), EAGER_TARGET
    from sklearn.metrics import average_precision_score, roc_auc_score

    function = {"auc": roc_auc_score, "average_precision": average_precision_score}[case.metric]
    y, s = labels.cpu().numpy(), scores.cpu().numpy()
    return "scikit-learn", lambda: float(function(y, s)), REFERENCE_TARGET


def exact_value(cases: list[ExactCase], rounds: int, block_seconds: float, clock: Clock) -> Table:
    table = Table("exact_value", "h. The exact value at validation sizes: metric(scores, labels) / the reference",
                  ["case", "N", "pairs", "path", "metricloss ms", "reference", "reference ms", "ratio", "target",
                   "|difference|", "metricloss MiB"])
    readme = ml.metric(best=1.0, register=False)(readme_auc)
    for case in cases:
        scores, labels = case.make(clock.device)
        metric = readme if case.metric == "readme_auc" else ml.get_metric(case.metric)
        evaluation = metric.evaluate(scores, labels)
        name, reference, target = _reference(case, scores, labels)
        timings, busy = measure_quietly(f"exact value, {case.label} N={case.size}", {
            "metricloss": lambda: metric(scores, labels), "reference": reference,
        }, rounds, block_seconds, clock)
        mine, theirs = timings["metricloss"]["median_s"], timings["reference"]["median_s"]
        value, expected = float(evaluation.value), reference()
        positives = int((labels == 1).sum())
        row = {"case": case.label, "size": case.size, "pairs": positives * (case.size - positives),
               "path": list(evaluation.blocks), "reference": name, "timings": timings, **busy,
               "value": value, "reference_value": expected, "difference": abs(value - expected),
               "metricloss_peak_bytes": peak_bytes(lambda: metric(scores, labels), clock),
               "metricloss_over_reference": mine / theirs}
        table.rows.append(row)
        table.targets.append(target.record(mine / theirs, f"{case.label} N={case.size:,}"))
        table.cells.append([mark(row, case.label), count(case.size), count(row["pairs"]), ",".join(evaluation.blocks),
                            ms(mine), name, ms(theirs), ratio(mine / theirs), target.cell(mine / theirs),
                            f"{row['difference']:.1e}", mib(row["metricloss_peak_bytes"])])
    table.notes.append("path: how each comparison block was read (counted: by sorting, never held whole)")
    table.notes += contention_note(table.rows)
    return table
