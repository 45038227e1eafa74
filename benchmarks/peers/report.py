"""What ``metricloss peers`` writes: ``results.json`` (every run), ``table.md`` (each method's
chosen learning rate and test metric, mean ± std over seeds, and its time per training epoch as a
ratio to a reference method's in the same run) and ``peers.png`` (the metrics, as bars with error
bars)."""

from __future__ import annotations

import json
import os
import statistics
from pathlib import Path
from typing import Any

from .runner import select

METRIC_NAMES = {"auc": "AUC", "average_precision": "AP", "iou": "IoU"}
# the published surrogates of each problem, apart from the usual loss (gray) and UniLoss (blue)
COLOURS = {"lovasz_hinge": "tab:green", "approx_ndcg": "tab:green", "neural_ndcg": "tab:olive",
           "lambda_loss": "tab:purple"}


def metric_name(metric: str) -> str:
    return METRIC_NAMES.get(metric, metric)


def _number(value: float | None, digits: int = 4) -> str:
    return "—" if value is None else f"{value:.{digits}f}"


def _lr(value: float | None) -> str:
    return "—" if value is None else f"{value:g}"


def summary(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per (problem, metric, method) with the chosen lr: what table.md and peers.png show.

    The lr is chosen on the problem's ``select_on`` metric where it has one, else on each metric."""
    rows = []
    for key, problem in results["problems"].items():
        runs = [r for r in results["runs"] if r["problem"] == key]
        for metric in problem["metrics"]:
            chosen = select(runs, metric, problem.get("select_on"))
            for method in problem["methods"]:
                pick = chosen.get((key, method))
                if pick is None:
                    continue
                rows.append({"problem": key, "metric": metric, "method": method, "lr": pick["lr"],
                             "validation_mean": pick["validation_mean"], "test": pick["test"],
                             "seeds": pick["seeds"], "test_mean": pick["test_mean"], "test_std": pick["test_std"],
                             "validation_by_lr": {repr(lr): v for lr, v in pick["grid"].items()}})
    return rows


def epoch_times(results: dict[str, Any]) -> dict[str, dict[str, dict[str, Any]]]:
    """Per problem, per method: the mean time of a training epoch over all its runs (every lr and
    seed) and its ratio to the problem's reference method's (None without that method)."""
    times: dict[str, dict[str, dict[str, Any]]] = {}
    for key, problem in results["problems"].items():
        means = {}
        for method in problem["methods"]:
            epochs = [s for r in _runs_of(results, key, method) for s in r.get("epoch_seconds", ())]
            means[method] = statistics.fmean(epochs) if epochs else None
        reference = means.get(problem.get("time_reference"))
        times[key] = {method: {"seconds_per_epoch": mean, "reference": problem.get("time_reference"),
                               "ratio": mean / reference if mean is not None and reference else None}
                      for method, mean in means.items()}
    return times


def write_json(path: Path, results: dict[str, Any]) -> None:
    """Written whole to a temporary file and renamed, so a reader never sees half a file."""
    results = {**results, "selected": summary(results), "epoch_times": epoch_times(results)}
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(json.dumps(results, indent=1, allow_nan=False) + "\n")
    os.replace(temporary, path)


def _runs_of(results: dict[str, Any], problem: str, method: str) -> list[dict[str, Any]]:
    return [r for r in results["runs"] if r["problem"] == problem and r["method"] == method]


def _ratio(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f}"


def table_markdown(results: dict[str, Any]) -> str:
    rows = summary(results)
    times = epoch_times(results)
    settings = results["settings"]
    lines = [
        "# metricloss peers",
        "",
        f"`{results['command']}`",
        "",
        f"Seeds {', '.join(map(str, settings['seeds']))}; {results['environment']['summary']}. A method's "
        "learning rate is the one with the best mean validation value over the seeds after the last epoch, "
        "for each metric (or for the one metric a problem names); the test value is reported at that "
        "learning rate, mean ± sample std over the seeds. Time per epoch: the mean time of a training epoch "
        "over all the method's runs, divided by the reference method's in this run.",
    ]
    if results.get("skipped"):
        lines += ["", f"Skipped: {results['skipped']}"]
    for key, problem in results["problems"].items():
        metrics, schedule, lrs = problem["metrics"], problem["schedule"], problem["lrs"]
        select_on, reference = problem.get("select_on"), problem.get("time_reference")
        lines += ["", f"## {problem['label']} (`{key}`)", "",
                  f"{schedule['epochs']} epoch{'s' if schedule['epochs'] != 1 else ''}, "
                  f"batch {schedule['batch_size']}, "
                  f"{problem['optimizer']}; learning rates {', '.join(map(_lr, lrs))}"
                  + (f", chosen on validation {metric_name(select_on)}" if select_on else "")
                  + f"; {problem['source']}.", ""]
        time_header = f" time per epoch ÷ {reference}'s |" if reference else ""
        if select_on:
            header = "| method | lr |" + "".join(f" test {metric_name(m)} |" for m in metrics)
            rule = "|---|---:|" + "---:|" * len(metrics)
        else:
            header = "| method |" + "".join(f" {metric_name(m)}: lr | test {metric_name(m)} |" for m in metrics)
            rule = "|---|" + "---:|---:|" * len(metrics)
        lines += [header + time_header + " skipped batches | s per run |",
                  rule + ("---:|" if reference else "") + "---:|---:|"]
        for method in problem["methods"]:
            cells = []
            for metric in metrics:
                row = next((r for r in rows if r["problem"] == key and r["metric"] == metric
                            and r["method"] == method), None)
                if row is None or row["lr"] is None:
                    cells += ["—", "every lr diverged" if row is not None else "—"]
                    continue
                std = "" if row["test_std"] is None or len(row["seeds"]) < 2 else f" ± {row['test_std']:.4f}"
                cells += [_lr(row["lr"]), f"{_number(row['test_mean'])}{std}"]
            if select_on:  # one lr for every metric: show it once
                cells = cells[:1] + cells[1::2]
            if reference:
                cells.append(_ratio(times[key][method]["ratio"]))
            runs = _runs_of(results, key, method)
            batches = [r["skipped_batches"] / max(1, r["skipped_batches"] + r["steps"]) for r in runs]
            skipped = f"{100 * sum(batches) / len(batches):.0f}%" if runs else "—"
            seconds = f"{sum(r['seconds'] for r in runs) / len(runs):.1f}" if runs else "—"
            lines.append(f"| {method} | " + " | ".join(cells) + f" | {skipped} | {seconds} |")
        for metric in (select_on,) if select_on else metrics:
            lines += ["", f"Validation {metric_name(metric)} by learning rate (mean over seeds; — : a run diverged "
                          "or the metric was undefined):", "",
                      "| method | " + " | ".join(_lr(lr) for lr in lrs) + " |",
                      "|---|" + "---:|" * len(lrs)]
            for method in problem["methods"]:
                row = next((r for r in rows if r["problem"] == key and r["metric"] == metric
                            and r["method"] == method), None)
                grid = {} if row is None else row["validation_by_lr"]
                lines.append(f"| {method} | " + " | ".join(_number(grid.get(repr(lr))) for lr in lrs) + " |")
    lines += ["", "Methods:", ""]
    for name, method in results["methods"].items():
        lines.append(f"- `{name}`: {method['description']} (batches: {method['sampler']})")
    return "\n".join(lines) + "\n"


def plot(path: Path, results: dict[str, Any]) -> None:
    """One panel per (problem, metric): each method's test metric at its chosen lr, ± std."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = summary(results)
    panels = [(key, metric) for key, problem in results["problems"].items() for metric in problem["metrics"]]
    columns = min(2, max(1, len(panels)))
    lines = -(-len(panels) // columns) if panels else 1
    figure, axes = plt.subplots(lines, columns, figsize=(5.5 * columns, 3.6 * lines), squeeze=False)
    for ax in axes.flat[len(panels):]:
        ax.set_visible(False)
    for ax, (key, metric) in zip(axes.flat, panels):
        picked = [r for r in rows if r["problem"] == key and r["metric"] == metric and r["test_mean"] is not None]
        names = [r["method"] for r in picked]
        means = [r["test_mean"] for r in picked]
        errors = [r["test_std"] or 0.0 for r in picked]
        colours = [COLOURS.get(n, "tab:blue" if n.startswith("uniloss") else "tab:orange" if n.startswith("libauc")
                               else "tab:gray") for n in names]
        ax.bar(range(len(names)), means, yerr=errors, capsize=4, color=colours)
        ax.set_xticks(range(len(names)), [f"{n}\nlr {_lr(r['lr'])}" for n, r in zip(names, picked)], fontsize=7)
        if means:
            low = min(m - e for m, e in zip(means, errors))
            high = max(m + e for m, e in zip(means, errors))
            pad = max(0.01, 0.15 * (high - low))
            ax.set_ylim(max(0.0, low - pad), min(1.0, high + pad) + 0.002)
        ax.set_ylabel(f"test {metric_name(metric)}")
        ax.set_title(f"{results['problems'][key]['label']}", fontsize=9)
        ax.grid(axis="y", alpha=0.3)
    seeds = len(results["settings"]["seeds"])
    figure.suptitle(f"metricloss peers: test metric at the lr chosen on validation, mean ± std over {seeds} "
                    f"seed{'s' if seeds != 1 else ''}", fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
