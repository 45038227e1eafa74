"""``ltr``: the ``ltr`` reference task as a ``metricloss peers`` problem.

Everything but the methods is the task's, read through its public value (``get_task("ltr")``), so
that the peers train what ``metricloss compare ltr`` trains: its data (the generated set, or
LETOR files from ``data_dir``), its scorer (an MLP over each item), its batches of queries padded
to the batch's longest list (relevance -1), its epochs and batch size for that data
(``Task.settings_for``), its optimizer (Adam) for every method, and its usual loss (ListNet) as
the baseline. The reported metrics are the task's reports (NDCG@1, @5, @10, MRR).

The learning rate of every method is chosen on one metric, validation NDCG@10 unless the run
names another of the task's reports (``--select-on MRR``), and every metric is reported at that
learning rate: a method is one trained model per seed, not one per metric.
The default grid brackets the task's own choices on the generated set (3e-3 for ListNet, 1e-3 for
UniLoss, docs/results.md) by a factor of about 3 on each side, at Adam's scale.
"""

from __future__ import annotations

from pathlib import Path

from metricloss.train.task import Data, get_task

from .problems import Problem, Schedule

LTR_LRS = (3e-4, 1e-3, 3e-3, 1e-2)
LTR_SMOKE_LR = 1e-3
SELECT_ON = "NDCG@10"


def ltr_reports() -> tuple[str, ...]:
    """The labels of the ltr task's reports: the metrics a run can choose learning rates on."""
    return tuple(report.label for report in get_task("ltr").reports)


def ltr_problem(data_dir: str | None = None) -> Problem:
    """The ``ltr`` task's problem: its generated set, or the LETOR files in ``data_dir``."""
    task = get_task("ltr")
    folder = None if data_dir is None else Path(data_dir)

    def load(seed: int) -> Data:
        return task.load(folder, seed)

    def schedule(data: Data) -> Schedule:
        settings = task.settings_for(data)
        return Schedule(epochs=settings.epochs, batch_size=settings.batch_size, momentum=None)

    labels = ltr_reports()
    if SELECT_ON not in labels:  # the task's reports changed: say so rather than select on nothing
        raise ValueError(f"the ltr task no longer reports {SELECT_ON}; it reports {', '.join(labels)}")
    where = "the ltr task's generated set" if folder is None else f"LETOR files in {folder}"
    return Problem(
        name="ltr", label=f"learning to rank, {where}", key="ltr", kind="queries",
        metrics=labels, schedule=schedule, load=load, model=task.model,
        scores=task.scores, targets=lambda relevance: relevance, baseline=task.baseline,
        details={"task": "ltr", "data_dir": data_dir, "model": "the ltr task's item scorer (MLP over each item)",
                 "score": "one raw score per item, [queries, items]", "lr chosen on": f"validation {SELECT_ON}"},
        measures={report.label: (report.metric, dict(report.params)) for report in task.reports},
        select_on=SELECT_ON, lrs=LTR_LRS, smoke_lr=LTR_SMOKE_LR,
        optimizer=task.optimizer, optimizer_label="the ltr task's optimizer (Adam at torch's defaults but the lr)",
        time_reference="lambda_loss",
    )
