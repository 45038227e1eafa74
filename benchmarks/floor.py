"""Table d: the loss against its floor, relaxing the comparisons alone.

Every surrogate of this kind must at least form each difference the metric compares, relax it
and send a gradient back through it. The floor is exactly that, forward and backward of the sum
of ``tanh(d / 2)`` (UniLoss's default relaxation) over every difference, in two forms:

- ``compiled_floor``: read off the compiled metric itself, the live differences of its pairs
  module (``metric.binaries``). It applies to any metric, and table i (``zoo_floor.py``) holds
  every zoo metric to it;
- ``floor_loss``: written directly in torch, for AUC, accuracy, PCKh and ranking. They are kept
  because they do not go through the compiler: the compiled floor also runs the input checks and
  the whole pairs module (the hard binaries, the dead ones left out), which costs 1.5x to 4x the
  bare relaxation at these sizes (docs/performance.md), so a ratio to the compiled floor alone
  would hide that cost. The ranking floor, with the ApproxNDCG reference, needs no metric at all.

The hand-written floors relax:

- AUC: every positive minus every negative;
- accuracy: the true class's score minus every class's (the true class against itself adds a
  zero, 1/C of the work);
- PCKh: the best pixel inside each joint's region minus every pixel outside it (it relaxes
  every pixel and zeroes those inside);
- ranking (a metric written with ``argsort`` over [Q, n], as NDCG@10 and MRR in
  ``user_forms.py``): every item's score minus every other item's of its query (the item against
  itself adds a zero, 1/n of the work).

Ranking metrics also meet the loss people train them with that works the same way, pairwise
sigmoids of the same differences: ApproxNDCG (Qin, Liu & Li, "A general approximation framework
for direct optimization of information retrieval measures", Information Retrieval 13, 2010), in
plain torch below, and for MRR the same framework's approximate reciprocal rank.

Time ratio = UniLoss forward+backward / floor forward+backward; memory ratio = UniLoss's peak
extra memory / the floor's (``timing.peak_bytes``); for ranking, also UniLoss / the reference.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable

import torch

from .inputs import Case, loss_step, make_uniloss
from .tables import Table, Target, contention_note, count, mark, mib, ms, ratio
from .timing import Clock, measure_quietly, peak_bytes

TIME_TARGET = Target("loss time / floor time (>= 1e5 binaries)", 3)
MEMORY_TARGET = Target("loss peak memory / floor peak memory (>= 1e5 binaries)", 4)
TARGETED_BINARIES = 100_000


def floor_loss(metric: str) -> Callable[..., torch.Tensor]:
    """The sum of the relaxed comparisons of ``metric``, as a function of (scores, *targets)."""
    if metric == "auc":
        def auc(scores, labels):
            positives, negatives = scores[labels == 1], scores[labels == 0]
            return torch.tanh((positives[:, None] - negatives[None, :]) / 2).sum()
        return auc
    if metric == "accuracy":
        def accuracy(scores, labels):
            return torch.tanh((scores.gather(1, labels[:, None]) - scores) / 2).sum()
        return accuracy
    if metric == "pckh":
        def pckh(heatmaps, joints, head_size, visible, threshold=0.5):
            height, width = heatmaps.shape[-2:]
            ys = torch.arange(height, device=heatmaps.device, dtype=joints.dtype)[:, None]
            xs = torch.arange(width, device=heatmaps.device, dtype=joints.dtype)[None, :]
            radius = threshold * head_size[:, None, None, None]
            within = ((xs - joints[..., 0, None, None]) ** 2 + (ys - joints[..., 1, None, None]) ** 2
                      <= radius ** 2).flatten(2)
            flat = heatmaps.flatten(2)
            best = flat.masked_fill(~within, float("-inf")).amax(2, keepdim=True)
            relaxed = torch.tanh((best - flat) / 2)
            return torch.where(within | ~visible.bool()[..., None], 0.0, relaxed).sum()
        return pckh
    if metric == "ranking":
        def ranking(scores, relevance):
            return torch.tanh((scores[..., :, None] - scores[..., None, :]) / 2).sum()
        return ranking
    raise ValueError(f"no floor for {metric!r}: the floor covers auc, accuracy, pckh and ranking")


def compiled_floor(metric, relaxation=None) -> Callable[..., torch.Tensor]:
    """The floor of any compiled metric, read off its own program: the sum of the relaxed live
    differences that ``metric.binaries`` (the generated pairs module, the user's comparisons)
    gives for a batch, with ``relaxation`` (default: UniLoss's default, ``ml.sigmoid()``).

    It is what every UniLoss call pays before anchors: the input checks, the comparisons and
    their relaxation, forward and backward. Dead binaries (a score against itself) and twins
    (``>=`` beside ``>`` of the same pair) are left out, as the loss leaves them out.
    """
    import metricloss as ml

    relax = relaxation or ml.sigmoid()

    def floor(scores, *targets):
        return relax(metric.binaries(scores, *targets).live_differences).sum()
    floor.__name__ = f"floor of {metric.name}"
    return floor


def approximate_ranks(scores: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """Qin, Liu & Li (2010), eq. 11: the position of item i, 1 + sum over j != i of
    sigmoid((s_j - s_i) / T), from the pairwise differences of each query ([Q, n] -> [Q, n])."""
    pairs = torch.sigmoid((scores[..., None, :] - scores[..., :, None]) / temperature)  # [Q, i, j]
    return 0.5 + pairs.sum(-1)  # the j = i term is sigmoid(0) = 1/2: 1 + sum over j != i


def approx_ndcg_loss(scores: torch.Tensor, relevance: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """1 - ApproxNDCG (Qin, Liu & Li 2010, eq. 13): DCG with each item at its approximate
    position, over the ideal DCG, averaged over queries (over every position, as there)."""
    gains = 2.0 ** relevance.to(scores.dtype) - 1
    dcg = (gains / torch.log2(1 + approximate_ranks(scores, temperature))).sum(-1)
    ideal_gains = gains.sort(-1, descending=True).values
    positions = torch.arange(2, gains.shape[-1] + 2, device=scores.device, dtype=scores.dtype)
    ideal = (ideal_gains / torch.log2(positions)).sum(-1)
    return 1 - (dcg / ideal.clamp(min=1e-9)).mean()


def approx_mrr_loss(scores: torch.Tensor, relevance: torch.Tensor, temperature: float = 0.1) -> torch.Tensor:
    """1 - approximate MRR in the same framework: the reciprocal of the best approximate position
    of a relevant item, per query."""
    reciprocal = (relevance > 0).to(scores.dtype) / approximate_ranks(scores, temperature)
    return 1 - reciprocal.amax(-1).mean()



REFERENCE_TARGET = Target("ranking: loss time / ApproxNDCG-style reference time", 3)


def versus_floor(cases: list[Case], rounds: int, block_seconds: float, clock: Clock,
                 forms: list | None = None) -> Table:
    """``cases``: built-in metrics against their floor; ``forms``: ranking metrics written with
    ``argsort`` (``user_forms.FormCase``), against the ranking floor and their reference."""
    table = Table("floor", "d. UniLoss / the floor (tanh of every difference, forward+backward of the sum)",
                  ["case", "binaries", "UniLoss ms", "floor ms", "time ratio", "target",
                   "UniLoss MiB", "floor MiB", "memory ratio", "target ", "reference", "UniLoss/reference",
                   "target  ", "compiled floor ms", "compiled/floor"])
    measured = [(case, lambda case=case: _row(case, rounds, block_seconds, clock)) for case in cases]
    measured += [(form, lambda form=form: _form_row(form, rounds, block_seconds, clock)) for form in forms or []]
    for case, measure in measured:
        try:
            row = measure()
        except (RuntimeError, MemoryError) as error:  # out of memory, or a size the core cannot run
            table.rows.append({"case": case.label, "error": f"{type(error).__name__}: {error}"})
            table.cells.append([case.label, "", f"failed: {str(error).splitlines()[0][:60]}"] + [""] * 12)
            continue
        table.rows.append(row)
        targeted = row["binaries"] >= TARGETED_BINARIES
        if targeted:
            table.targets.append(TIME_TARGET.record(row["time_ratio"], case.label))
            table.targets.append(MEMORY_TARGET.record(row["memory_ratio"], case.label))
        reference = row.get("reference_ratio")
        if reference is not None and targeted:
            table.targets.append(REFERENCE_TARGET.record(reference, case.label))
        table.cells.append([
            mark(row, case.label), count(row["binaries"]), ms(row["timings"]["uniloss"]["median_s"]),
            ms(row["timings"]["floor"]["median_s"]), ratio(row["time_ratio"]),
            TIME_TARGET.cell(row["time_ratio"]) if targeted else "",
            mib(row["uniloss_peak_bytes"]), mib(row["floor_peak_bytes"]), ratio(row["memory_ratio"]),
            MEMORY_TARGET.cell(row["memory_ratio"]) if targeted else "",
            "" if reference is None else f"{row['reference']} {ms(row['timings']['reference']['median_s'])} ms",
            "" if reference is None else ratio(reference),
            REFERENCE_TARGET.cell(reference) if reference is not None and targeted else "",
            ms(row["timings"]["compiled_floor"]["median_s"]), ratio(row["compiled_over_floor"])])
    table.notes += contention_note([row for row in table.rows if "error" not in row])
    table.notes.append("floor: tanh(d/2) of the differences, written in torch; compiled floor: the same relaxation "
                       "of the live differences the compiled metric's pairs module gives (compiled_floor)")
    table.notes.append(f"targets apply to rows with at least {TARGETED_BINARIES:,} binaries; "
                       "memory: peak tensor bytes above the inputs (CPU: torch.profiler's allocation "
                       "events; CUDA: max_memory_allocated)")
    if forms:
        table.notes.append("ranking rows: the floor relaxes every pair of items of a query; the reference is "
                           "ApproxNDCG (Qin, Liu & Li 2010; approximate MRR for MRR) at temperature 0.1, in "
                           "plain torch")
    return table


def _row(case: Case, rounds: int, block_seconds: float, clock: Clock) -> dict:
    scores, targets = case.make(clock.device)
    uniloss = make_uniloss(case.metric, clock.device)
    uniloss_step, floor_step = loss_step(uniloss, scores, targets), loss_step(floor_loss(case.metric), scores, targets)
    compiled_step = loss_step(compiled_floor(uniloss.metric, uniloss.relaxation), scores, targets)
    timings, busy = measure_quietly(f"floor, {case.label}", {"uniloss": uniloss_step, "floor": floor_step,
                                                            "compiled_floor": compiled_step},
                                    rounds, block_seconds, clock)
    uniloss_peak, floor_peak = peak_bytes(uniloss_step, clock), peak_bytes(floor_step, clock)
    return {"case": case.label, "metric": case.metric, "binaries": uniloss.last.binaries,
            "path": uniloss.last.path, "timings": timings, **busy,
            "time_ratio": timings["uniloss"]["median_s"] / timings["floor"]["median_s"],
            "compiled_over_floor": timings["compiled_floor"]["median_s"] / timings["floor"]["median_s"],
            "uniloss_peak_bytes": uniloss_peak, "floor_peak_bytes": floor_peak,
            "memory_ratio": uniloss_peak / floor_peak if floor_peak else None}


def _form_row(form, rounds: int, block_seconds: float, clock: Clock) -> dict:
    import metricloss as ml

    from .inputs import SEED

    scores, targets = form.make(clock.device)
    with warnings.catch_warnings():  # forms as users write them: argsort without stable=True
        warnings.simplefilter("ignore", ml.TieOrderWarning)  # the tie order changes no cost
        metric = ml.metric(register=False)(form.fn)
    uniloss = ml.UniLoss(metric, generator=torch.Generator(device=clock.device).manual_seed(SEED))
    name, reference = form.reference
    steps = {"uniloss": loss_step(uniloss, scores, targets), "floor": loss_step(floor_loss("ranking"), scores, targets),
             "compiled_floor": loss_step(compiled_floor(metric, uniloss.relaxation), scores, targets),
             "reference": loss_step(reference, scores, targets)}
    timings, busy = measure_quietly(f"floor, {form.label}", steps, rounds, block_seconds, clock)
    uniloss_peak, floor_peak = peak_bytes(steps["uniloss"], clock), peak_bytes(steps["floor"], clock)
    uni = timings["uniloss"]["median_s"]
    return {"case": form.label, "metric": form.fn.__name__, "binaries": uniloss.last.binaries,
            "path": uniloss.last.path, "timings": timings, **busy,
            "time_ratio": uni / timings["floor"]["median_s"], "reference": name,
            "compiled_over_floor": timings["compiled_floor"]["median_s"] / timings["floor"]["median_s"],
            "reference_ratio": uni / timings["reference"]["median_s"],
            "uniloss_peak_bytes": uniloss_peak, "floor_peak_bytes": floor_peak,
            "memory_ratio": uniloss_peak / floor_peak if floor_peak else None}
