"""Table c: metricloss's loss against the per-pair loop reference (``loop_reference``).

Both forward+backward on the same scores. Where a full loop run would take minutes (PCKh, a large
accuracy batch in quick mode), the loop runs on a stated part of the batch (the first samples and
joints) and its time is scaled up by the ratio of binaries, full / part: the loop's work is linear
in the binaries (a fixed 64 anchors, each one pass over them). Such rows say "extrapolated".

``agreement`` is the check that the yardstick measures the same thing: the loop's metric at the
hard binaries equals metricloss's exact metric, and on identical anchors the two losses and their
gradients agree.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import torch

import metricloss as ml
from metricloss.loss.anchors import DenseAnchors

from . import loop_reference
from .inputs import SEED, Case, loss_step, make_uniloss
from .tables import Table, Target, contention_note, count, mark, ms, ratio, sig2
from .timing import Clock, measure_quietly

TARGET = Target("loop reference speed-up", 1000, at_most=False)
TARGETED = ("average_precision B=128", "pckh B=6 J=16 64x64")


@dataclass(frozen=True)
class LoopCase:
    case: Case
    samples: int | None = None  # time the loop on the first samples (and joints) only
    joints: int | None = None

    def part(self, scores: torch.Tensor, targets: tuple) -> tuple[torch.Tensor, tuple]:
        """The slice of the batch the loop runs on (all of it unless samples/joints are set)."""
        rows = slice(None, self.samples)
        if self.case.metric == "pckh":
            cols = slice(None, self.joints)
            joints, head_size, visible = targets
            return scores[rows, cols], (joints[rows, cols], head_size[rows], visible[rows, cols])
        return scores[rows], tuple(t[rows] for t in targets)

    @property
    def partial(self) -> bool:
        return self.samples is not None or self.joints is not None


def loop_loss(metric: str, rng: random.Random, case: LoopCase):
    reference = loop_reference.LOSSES[metric]

    def run(scores, *targets):
        part, part_targets = case.part(scores, targets)
        return reference(part, *part_targets, rng=rng)
    return run


def versus_loop(cases: list[LoopCase], rounds: int, block_seconds: float, clock: Clock) -> Table:
    table = Table("loop", "c. Loss forward+backward: per-pair loop reference / metricloss",
                  ["case", "binaries", "loop on", "loop ms", "metricloss ms", "speed-up", "target"])
    for loop_case in cases:
        case = loop_case.case
        scores, targets = case.make(clock.device)
        vectorised = make_uniloss(case.metric, clock.device)
        timings, busy = measure_quietly(f"loop reference, {case.label}", {
            "loop": loss_step(loop_loss(case.metric, random.Random(SEED), loop_case), scores, targets),
            "vectorised": loss_step(vectorised, scores, targets),
        }, rounds, block_seconds, clock)
        binaries = vectorised.last.binaries
        part_binaries = binaries
        if loop_case.partial:
            part_scores, part_targets = loop_case.part(scores.detach(), targets)
            probe = make_uniloss(case.metric, clock.device)
            probe(part_scores, *part_targets)
            part_binaries = probe.last.binaries
        loop_full = timings["loop"]["median_s"] * binaries / part_binaries
        speedup = loop_full / timings["vectorised"]["median_s"]
        row = {"case": case.label, "binaries": binaries, "loop_binaries": part_binaries,
               "extrapolated": loop_case.partial, "loop_full_s": loop_full, "timings": timings, **busy,
               "loop_over_vectorised": speedup}
        table.rows.append(row)
        targeted = case.label in TARGETED
        if targeted:
            table.targets.append(TARGET.record(speedup, case.label))
        share = "all" if not loop_case.partial else f"{sig2(100 * part_binaries / binaries)}%, extrapolated"
        table.cells.append([mark(row, case.label), count(binaries), share, ms(loop_full),
                            ms(timings["vectorised"]["median_s"]), ratio(speedup),
                            TARGET.cell(speedup) if targeted else ""])
    table.notes += contention_note(table.rows)
    table.notes.append("extrapolated: loop time on the part x (binaries / binaries in the part)")
    return table


def fixed_sampler(anchors: list[list[bool]], device) -> ml.Sampler:
    points = torch.tensor(anchors, device=device)
    return ml.Sampler("fixed", {}, lambda context: DenseAnchors(points))


def agreement(case: Case, device, scores: torch.Tensor | None = None, targets: tuple | None = None) -> dict:
    """The loop reference against metricloss on one batch (``case``'s, unless given): metric at the
    hard binaries (to the exact metric), then loss and gradient on identical anchors (the loop's)."""
    if scores is None:
        scores, targets = case.make(device)
    scores = scores.detach()
    reference = loop_reference.LOSSES[case.metric]
    anchors, value_at_hard = _loop_anchors_and_value(case.metric, scores, targets)
    exact = float(ml.get_metric(case.metric)(scores, *targets))
    loop_scores, vector_scores = scores.clone().requires_grad_(), scores.clone().requires_grad_()
    loop_loss_value = reference(loop_scores, *targets, anchors=anchors)
    vector_loss = ml.UniLoss(case.metric, samplers=[fixed_sampler(anchors, device)])(vector_scores, *targets)
    (loop_loss_value + vector_loss).backward()
    return {"case": case.label, "binaries": len(anchors[0]), "loop_value_at_hard": value_at_hard,
            "exact_value": exact, "value_gap": abs(value_at_hard - exact),
            "loop_loss": loop_loss_value.item(), "metricloss_loss": vector_loss.item(),
            "loss_gap": abs(loop_loss_value.item() - vector_loss.item()),
            "grad_gap": float((loop_scores.grad - vector_scores.grad).abs().max())}


def _loop_anchors_and_value(metric: str, scores: torch.Tensor, targets: tuple):
    """The loop reference's own anchors for this batch, and its metric at the hard binaries."""
    rng = random.Random(SEED)
    if metric == "average_precision":
        labels = [int(label) for label in targets[0].tolist()]
        _, n_pos, n_neg = loop_reference.pair_indices(labels)
        hard = loop_reference.hard_binaries(scores, labels)
        ideal = loop_reference.ideal_binaries(hard, n_pos, n_neg)
        value = loop_reference.average_precision_from_binaries(hard, n_pos, n_neg)
    elif metric == "accuracy":
        samples, classes = scores.shape
        values = scores.tolist()
        pairs = loop_reference.accuracy_pairs([int(label) for label in targets[0].tolist()], classes)
        hard = [values[i][y] > values[i][c] for i, y, c in pairs]
        ideal = [True] * len(hard)
        value = loop_reference.accuracy_from_binaries(hard, samples, classes)
    else:
        values = scores.tolist()
        joints, head_size, visible = (t.tolist() for t in targets)
        groups = loop_reference.pckh_pairs(values, joints, head_size, visible)
        hard = [values[n][j][by][bx] > values[n][j][y][x] for (n, j), (by, bx), outside in groups for y, x in outside]
        ideal = [True] * len(hard)
        seen = sum(1 for sample in visible for flag in sample if flag)
        value = loop_reference.pckh_from_binaries(hard, [len(g[2]) for g in groups], seen)
    return loop_reference.sample_anchors(hard, ideal, rng), value


def agreement_table(cases: list[Case], device) -> Table:
    table = Table("loop_check", "c'. The loop reference computes what metricloss computes (same batch, same anchors)",
                  ["case", "binaries", "loop metric at hard b", "exact metric", "loss gap", "gradient gap"])
    for case in cases:
        row = agreement(case, device)
        table.rows.append(row)
        table.cells.append([case.label, count(row["binaries"]), f"{row['loop_value_at_hard']:.6f}",
                            f"{row['exact_value']:.6f}", f"{row['loss_gap']:.1e}", f"{row['grad_gap']:.1e}"])
    return table
