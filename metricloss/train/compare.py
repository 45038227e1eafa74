"""The paper's comparison for one task: its usual loss against UniLoss, over the same seeds.

``compare(task, seeds=3)`` trains the baseline and UniLoss once per seed (the same seeds, so each
pair starts from the same initial weights and sees the same batches), each into its own run
directory under ``out``. It then writes, and prints:

- ``comparison.md``: the test metric after the last epoch, mean +- sample standard deviation over
  the seeds, for each loss, with the data source and whether it is synthetic, and a column for
  each further test metric the task reports (``Task.reports``: NDCG@1, @5, @10 and MRR for ``ltr``);
- ``comparison.json``: the same numbers, each seed's, and where each run lives;
- ``comparison.png``: both losses' validation curves, the mean over seeds with a +-1 std band.

The number compared is the test metric after the last epoch, as the paper reports it, not the
test metric at the best validation epoch; every epoch of every run is in its ``metrics.csv``.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metricloss.errors import InputError

from .atomic import write_json, write_text
from .config import resolve_device
from .distributed import join
from .logs import save_figure, style_epoch_axes
from .loop import RunResult, train
from .task import Task, get_task

MARKDOWN = "comparison.md"
JSON = "comparison.json"
FIGURE = "comparison.png"
_ORDER = ("baseline", "uniloss")  # config.LOSSES in the table's order: the reference first
_COLOURS = {"baseline": "tab:gray", "uniloss": "tab:blue"}


@dataclass(frozen=True)
class Figures:
    """One test metric of one loss over the seeds: each seed's value, their mean and sample std."""

    test: tuple[float | None, ...]  # per seed, in the order of the comparison's seeds
    mean: float | None  # over the seeds where the metric is defined; None if it is on none
    std: float | None  # sample standard deviation; None with fewer than two defined seeds


@dataclass(frozen=True)
class LossSummary:
    """One loss over the seeds: each seed's final test metric, their mean and sample std, and the
    same figures for each of the task's further test metrics (by label)."""

    loss: str
    label: str  # "baseline" or "UniLoss(auc)"
    epochs: int
    test: tuple[float | None, ...]  # per seed, in the order of the comparison's seeds
    mean: float | None  # over the seeds where the metric is defined; None if it is on none
    std: float | None  # sample standard deviation; None with fewer than two defined seeds
    reported: dict[str, Figures] = field(default_factory=dict)  # Task.reports, by label


@dataclass(frozen=True)
class ComparisonResult:
    task: str
    metric: str
    data_source: str
    synthetic: bool
    seeds: tuple[int, ...]
    summaries: dict[str, LossSummary]
    runs: dict[str, tuple[RunResult, ...]]
    out: Path

    @property
    def table(self) -> str:
        """The Markdown written to comparison.md (and printed)."""
        return _markdown(self)

    @property
    def markdown(self) -> Path:
        return self.out / MARKDOWN

    @property
    def json(self) -> Path:
        return self.out / JSON

    @property
    def figure(self) -> Path:
        return self.out / FIGURE


def default_compare_out(task: str) -> Path:
    """Where a comparison writes when no ``out`` is given: ``runs/compare-TASK``."""
    return Path("runs") / f"compare-{task}"


def compare(
    task: Task | str,
    *,
    seeds: int | Sequence[int] = 3,
    metric: str | None = None,
    epochs: int | None = None,
    batch_size: int | None = None,
    lr: float | None = None,
    device: str = "auto",
    data_dir: str | Path | None = None,
    out: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    sampler: str | None = None,
    warm_start: int | None = None,
    margin: float | None = None,
) -> ComparisonResult:
    """Train the baseline and UniLoss for each seed, then write and print the comparison.

    ``seeds``: how many (seeds 0, 1, ...) or which. ``epochs`` applies to both losses; unset, each
    takes the task's own (UniLoss may have a longer schedule). ``resume=True`` continues runs a
    killed comparison left behind and reuses finished ones.
    """
    task = get_task(task)
    chosen = _seeds(seeds)
    out = Path(out) if out is not None else default_compare_out(task.name)
    runs: dict[str, list[RunResult]] = {loss: [] for loss in _ORDER}
    processes = join(resolve_device(device))  # one process group for every run (under torchrun)
    try:
        for seed in chosen:
            for loss in reversed(_ORDER):  # UniLoss first: its own options (warm start) fail before any run
                runs[loss].append(train(
                    task, loss=loss, metric=metric, epochs=epochs, batch_size=batch_size, lr=lr,
                    device=device, data_dir=data_dir, out=out / f"{loss}-seed{seed}", seed=seed,
                    resume=resume, progress=progress, sampler=sampler, warm_start=warm_start,
                    margin=margin,
                ))
    finally:
        processes.end()
    first = runs["baseline"][0].config
    result = ComparisonResult(
        task=task.name, metric=first.metric, data_source=first.data_source, synthetic=first.synthetic,
        seeds=chosen, summaries={loss: _summary(loss, tuple(runs[loss])) for loss in _ORDER},
        runs={loss: tuple(found) for loss, found in runs.items()}, out=out,
    )
    if processes.leader:
        write_text(result.markdown, result.table)
        write_json(result.json, _record(result))
        _plot(result)
        print(result.table)
        print(f"figure: {result.figure}")
    return result


def _seeds(seeds: int | Sequence[int]) -> tuple[int, ...]:
    chosen = tuple(range(seeds)) if isinstance(seeds, int) else tuple(int(s) for s in seeds)
    if not chosen:
        raise InputError(f"a comparison needs at least one seed, got seeds={seeds!r}")
    if len(set(chosen)) != len(chosen):
        raise InputError(f"seeds must differ from one another, got {list(chosen)}")
    return chosen


def _summary(loss: str, runs: tuple[RunResult, ...]) -> LossSummary:
    main = _figures(tuple(run.test_metric for run in runs))
    config = runs[0].config
    label = f"UniLoss({config.metric})" if loss == "uniloss" else "baseline"
    reported = {report.label: _figures(tuple(run.test_metrics[report.label] for run in runs))
                for report in runs[0].reported}
    return LossSummary(loss=loss, label=label, epochs=config.epochs, test=main.test, mean=main.mean,
                       std=main.std, reported=reported)


def _figures(test: tuple[float | None, ...]) -> Figures:
    defined = [value for value in test if value is not None]
    return Figures(test=test, mean=statistics.fmean(defined) if defined else None,
                   std=statistics.stdev(defined) if len(defined) > 1 else None)


def _markdown(result: ComparisonResult) -> str:
    seeds = ", ".join(str(s) for s in result.seeds)
    reports = list(next(iter(result.summaries.values())).reported)
    also = f"; also test {', '.join(reports)}" if reports else ""
    lines = [
        f"# {result.task}: baseline vs UniLoss({result.metric})",
        "",
        f"- data: {result.data_source}",
        f"- synthetic: {'yes' if result.synthetic else 'no'}",
        f"- seeds: {seeds} (each seed gives both losses the same initial weights and batches)",
        f"- reported: test {result.metric}{also} after the last epoch, mean ± sample std over the seeds",
        "",
        f"| loss | epochs | test {result.metric} | per seed |" + "".join(f" test {r} |" for r in reports),
        "|---|---:|---:|---|" + "---:|" * len(reports),
    ]
    for summary in result.summaries.values():
        per_seed = ", ".join(_number(v) for v in summary.test)
        further = "".join(f" {_mean_std(summary.reported[r])} |" for r in reports)
        lines.append(f"| {summary.label} | {summary.epochs} | {_mean_std(summary)} | {per_seed} |{further}")
    return "\n".join(lines) + "\n"


def _mean_std(summary: LossSummary | Figures) -> str:
    if summary.mean is None:
        return "undefined"
    return _number(summary.mean) + (f" ± {summary.std:.4f}" if summary.std is not None else "")


def _number(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.4f}"


def _record(result: ComparisonResult) -> dict[str, Any]:
    return {
        "task": result.task,
        "metric": result.metric,
        "data_source": result.data_source,
        "synthetic": result.synthetic,
        "seeds": list(result.seeds),
        "reported": "test metric after the last epoch; std is the sample standard deviation",
        "losses": {
            loss: {
                "label": summary.label,
                "epochs": summary.epochs,
                "mean": summary.mean,
                "std": summary.std,
                "runs": [
                    {"seed": seed, "test_metric": run.test_metric,
                     "validation_metric": run.validation_metric, "out": str(run.out),
                     **({"test_metrics": run.test_metrics} if run.reported else {})}
                    for seed, run in zip(result.seeds, result.runs[loss])
                ],
                **({"reported": {label: {"mean": figures.mean, "std": figures.std}
                                 for label, figures in summary.reported.items()}}
                   if summary.reported else {}),
            }
            for loss, summary in result.summaries.items()
        },
    }


def _plot(result: ComparisonResult) -> None:
    """Validation metric by epoch: each loss's mean over seeds, with a band of +-1 sample std."""
    from matplotlib.figure import Figure  # no pyplot: the user's backend is left alone

    figure = Figure(figsize=(7, 4.5), layout="constrained")
    axes = figure.subplots()
    for loss, summary in result.summaries.items():
        epochs, mean, low, high = _curve(result.runs[loss])
        axes.plot(epochs, mean, marker=".", color=_COLOURS[loss], label=summary.label)
        if len(result.runs[loss]) > 1:
            axes.fill_between(epochs, low, high, color=_COLOURS[loss], alpha=0.2, linewidth=0)
    kind = "synthetic" if result.synthetic else "real"
    axes.set(xlabel="epoch", ylabel=f"validation {result.metric}",
             title=f"{result.task} ({kind} data), {len(result.seeds)} seed(s): mean ± std")
    axes.legend()
    style_epoch_axes(axes)
    save_figure(figure, result.figure)


def _curve(runs: tuple[RunResult, ...]) -> tuple[list[int], list[float], list[float], list[float]]:
    """Per epoch: the mean of the seeds' validation metric and mean -+ std (NaN where undefined)."""
    by_epoch: dict[int, list[float]] = {}
    for run in runs:
        for row in run.history:
            if row["validation_metric"] is not None:
                by_epoch.setdefault(row["epoch"], []).append(row["validation_metric"])
    epochs = sorted({row["epoch"] for run in runs for row in run.history})
    mean, low, high = [], [], []
    for epoch in epochs:
        values = by_epoch.get(epoch, [])
        centre = statistics.fmean(values) if values else math.nan
        spread = statistics.stdev(values) if len(values) > 1 else 0.0
        mean.append(centre)
        low.append(centre - spread)
        high.append(centre + spread)
    return epochs, mean, low, high
