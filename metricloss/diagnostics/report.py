"""A diagnosis as text (one Markdown table per block), as JSON, and as a plot.

Every file is written whole into place (``train.atomic``), so a reader never sees half of one.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from .diagnose import Block, Diagnosis, describe_anchors
from ..loss import NEARLY_SATURATED
from .tracking import NEAR_ZERO

JSON = "diagnosis.json"
TABLE = "diagnosis.md"
FIGURE = "diagnosis.png"
COLUMNS = ("distance", "flips", "gap (RMS ĝ − g)", "Spearman", "Spearman within batch", "sign agreement",
           "single flips")
PULL_COLUMNS = ("anchors", "weight in ĝ", "mean value", "share of the pull", "toward b*", "toward b")


def short_label(diagnosis: Diagnosis, block: Block) -> str:
    """What tells this block from the others: its tau, and its anchors when those vary."""
    anchors = {describe_anchors(b.anchors) for b in diagnosis.blocks}
    parts = []
    if block.tau is not None:
        parts.append(f"tau {block.tau:g}")
    elif len({b.relaxation for b in diagnosis.blocks}) > 1 or not parts:
        parts.append(block.relaxation)
    if len(anchors) > 1:
        parts.append(f"anchors {describe_anchors(block.anchors)}")
    if len({b.interpolator for b in diagnosis.blocks}) > 1:
        parts.append(block.interpolator)
    return ", ".join(parts)


def text(diagnosis: Diagnosis) -> str:
    """The header, one table per block, and the recommendation."""
    d = diagnosis
    first = d.blocks[0].run
    lines = [
        f"metricloss diagnose: task {d.task}, metric {d.metric}, seed {d.seed}, on {d.data_source} ({d.device})",
        f"each block: a short run of {d.steps} steps (batch {first.batch_size}, lr {first.lr:g}) trained with "
        f"its setting; the batches of steps {', '.join(map(str, first.collected_steps))} measured, "
        f"{d.draws} configurations b' per batch and distance",
    ]
    if d.scale is not None:
        lines.append(f"tau=auto: the untrained model's first batch with binaries has median |d| {d.scale:.3g}; "
                     f"tau tried at {', '.join(f'{b.tau:g}' for b in d.blocks if b.tau is not None)}")
    for block in d.blocks:
        lines += ["", block_text(d, block)]
    lines.append("")
    lines.append("distance: the Hamming distance of b' from the configuration met, as a fraction of the live binaries; "
                 "gap: root mean square of ĝ(x') − g(b'); Spearman: rank correlation of ĝ and g over every b' "
                 "(within batch: the mean of each batch's own); sign agreement: share of single flips from b' "
                 "with Δg ≠ 0 where Δĝ has Δg's sign. —: undefined (g took one value, or no flip moved it). "
                 "Where the gradient comes from: each sampler's share of ĝ's weights and of the norm of the "
                 "loss's gradient on the relaxed binaries, and the cosine of its pull with b* − x and with "
                 "b − x (a pull toward b and not b* sharpens the current order, right or wrong).")
    recommendation = d.recommendation
    if recommendation is not None:
        block = d.blocks[recommendation.index]
        lines += ["", f"recommended: {short_label(d, block)} — {recommendation.reason}",
                  f"  {recommendation.code}"]
        if recommendation.caution:
            lines.append(f"  caution: {recommendation.caution}")
    else:
        lines += ["", "no recommendation: no block had a single flip near the configurations met that changed g"]
    return "\n".join(lines)


def block_text(diagnosis: Diagnosis, block: Block) -> str:
    t, run = block.tracking, block.run
    lines = [
        f"## {short_label(diagnosis, block)}",
        "",
        f"{block.label}",
        f"short run: train {diagnosis.metric} {_number(run.train_metric, 4)} (batch mean over the last tenth of "
        f"the steps); measured {t.batches} batches"
        + (f" ({t.skipped} skipped: the metric undefined)" if t.skipped else "")
        + f", {t.binaries:.0f} live binaries and {t.anchors:.0f} anchors per batch on average, g(b) {t.value:.4f}",
        f"at the configurations met: median |d| {t.scale:.3g}; relaxed binaries {t.saturated:.0%} saturated "
        f"(|h| > {NEARLY_SATURATED}), "
        f"{t.near_zero:.0%} near 0 (|h| < {NEAR_ZERO}); "
        + ("no binary on the wrong side of b*" if math.isnan(t.stuck)
           else f"{t.stuck:.0%} of those on the wrong side of b* saturated (stuck)"),
        "",
        "| " + " | ".join(COLUMNS) + " |",
        "|" + "---:|" * len(COLUMNS),
    ]
    for row in t.rows:
        lines.append(f"| {row.label} | {row.flips:.1f} | {_number(row.gap, 4)} | {_number(row.spearman, 3)} | "
                     f"{_number(row.spearman_within, 3)} | {_number(row.sign_agreement, 3)} | {row.sign_flips} |")
    if t.pulls:
        lines += ["", "where the gradient comes from, at the configurations met (mean over the batches):", "",
                  "| " + " | ".join(PULL_COLUMNS) + " |", "|---|" + "---:|" * (len(PULL_COLUMNS) - 1)]
        for pull in t.pulls:
            lines.append(f"| {pull.sampler} | {_number(pull.weight, 3)} | {_number(pull.value, 4)} | "
                         f"{_percent(pull.share)} | {_number(pull.toward_ideal, 3)} | {_number(pull.toward_hard, 3)} |")
    return "\n".join(lines)


def record(diagnosis: Diagnosis) -> dict[str, Any]:
    """Everything in the tables, as plain values (NaN as null)."""
    d = diagnosis
    recommendation = d.recommendation
    return _plain({
        "task": d.task, "metric": d.metric, "seed": d.seed, "steps": d.steps, "collect": d.collect,
        "draws": d.draws, "fractions": list(d.fractions), "data_source": d.data_source, "device": d.device,
        "tau_auto_scale": d.scale,
        "blocks": [{
            "label": short_label(d, b), "tau": b.tau, "relaxation": b.relaxation, "samplers": b.samplers,
            "interpolator": b.interpolator, "anchors": b.anchors, "selection": b.selection or None,
            "margin": b.margin,
            "run": {"steps": b.run.steps, "collected_steps": list(b.run.collected_steps),
                    "batch_size": b.run.batch_size, "lr": b.run.lr, "train_metric": b.run.train_metric},
            "batches": b.tracking.batches, "skipped": b.tracking.skipped, "binaries": b.tracking.binaries,
            "anchor_count": b.tracking.anchors, "value": b.tracking.value, "scale": b.tracking.scale,
            "saturated": b.tracking.saturated,
            "near_zero": b.tracking.near_zero, "stuck": b.tracking.stuck,
            "rows": [{
                "fraction": r.fraction, "label": r.label, "flips": r.flips, "configurations": r.configurations,
                "gap": r.gap, "spearman": r.spearman, "spearman_within": r.spearman_within,
                "sign_agreement": r.sign_agreement, "sign_flips": r.sign_flips,
            } for r in b.tracking.rows],
            "pulls": [{
                "sampler": p.sampler, "weight": p.weight, "value": p.value, "share": p.share,
                "toward_ideal": p.toward_ideal, "toward_hard": p.toward_hard,
            } for p in b.tracking.pulls],
        } for b in d.blocks],
        "recommendation": None if recommendation is None else {
            "block": recommendation.index, "tau": recommendation.tau,
            "sign_agreement": recommendation.sign_agreement, "gap": recommendation.gap,
            "code": recommendation.code, "reason": recommendation.reason, "caution": recommendation.caution,
        },
    })


def plot(diagnosis: Diagnosis, path: Path) -> None:
    """Gap, Spearman and sign agreement against the distance, one line per block."""
    from matplotlib.figure import Figure  # no pyplot: the user's backend is left alone

    from metricloss.train.logs import save_figure

    d = diagnosis
    figure = Figure(figsize=(13, 4), layout="constrained")
    axes = figure.subplots(1, 3)
    positions = list(range(len(d.fractions)))
    labels = [row.label for row in d.blocks[0].tracking.rows]
    panels = (("gap", "gap: RMS of ĝ − g (lower is better)"), ("spearman", "Spearman of ĝ and g"),
              ("sign_agreement", "sign agreement of single flips"))
    for ax, (field, title) in zip(axes, panels):
        for block in d.blocks:
            ax.plot(positions, [getattr(row, field) for row in block.tracking.rows], marker="o",
                    label=short_label(d, block))
        ax.set(title=title, xlabel="Hamming distance from b (fraction of binaries)")
        ax.set_xticks(positions, labels)
        ax.grid(alpha=0.3)
    axes[1].set_ylim(-1.05, 1.05)
    axes[2].set_ylim(-0.05, 1.05)
    axes[0].legend(fontsize="small")
    figure.suptitle(f"how ĝ tracks g: task {d.task}, metric {d.metric}, {d.steps} steps, seed {d.seed}")
    save_figure(figure, path)


def write(diagnosis: Diagnosis, out: Path, json_path: Path | None = None) -> dict[str, Path]:
    """The table (Markdown), the JSON and the plot under ``out``; the JSON at ``json_path`` if given."""
    from metricloss.train.atomic import write_json, write_text

    out.mkdir(parents=True, exist_ok=True)
    paths = {"table": out / TABLE, "json": json_path or out / JSON, "figure": out / FIGURE}
    write_text(paths["table"], text(diagnosis) + "\n")
    paths["json"].parent.mkdir(parents=True, exist_ok=True)
    write_json(paths["json"], record(diagnosis))
    plot(diagnosis, paths["figure"])
    return paths


def _percent(value: float) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.0%}"


def _number(value: float, digits: int) -> str:
    return "—" if value is None or math.isnan(value) else f"{value:.{digits}f}"


def _plain(value):
    if isinstance(value, float):
        return None if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
