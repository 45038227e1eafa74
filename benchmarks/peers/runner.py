"""Train every method at every learning rate on every seed, and choose each method's learning rate
on validation.

One run is (problem, method, learning rate, seed). A seed fixes the data (split, subsampled
positives, generated images), the initial weights (torch's global generator, seeded before the
model is built, so every method and learning rate of a seed starts from the same weights), the
batches (every method with the same sampler sees the same batches) and UniLoss's anchors. After
the last epoch the exact metrics are computed once over the whole validation and test splits
(AUC and AP are not means of batch values), with ``metricloss.get_metric``, which matches
scikit-learn ties included.

The learning rate of a method is chosen, for each metric, as the one with the best mean
validation metric over the seeds (``select``); the test metric is reported at that learning rate.
A problem with ``select_on`` (ltr) chooses on that one metric and reports every metric there.

Each record keeps the time of every training epoch, so that methods can be compared by their
cost in the same run (a ratio), not by seconds from another machine or day.
"""

from __future__ import annotations

import math
import statistics
import sys
import time
import warnings
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import torch

import metricloss as ml
from metricloss.errors import InputError, UndefinedBatchWarning
from metricloss.train.datasets.ranking import RankingSplit
from metricloss.train.sampling import balanced_batches, parse_sampler, shuffled_batches
from metricloss.train.task import Data, Split

from .ltr_problem import ltr_problem
from .methods import METHODS, Method, Setup
from .problems import Problem, blobs_problem, digits_problem


@dataclass(frozen=True)
class ProblemSpec:
    """A problem as plain values, so that a worker process can rebuild it."""

    name: str  # "digits", "blobs" or "ltr"
    digit: int | None = None
    positive_fraction: float | None = None
    data_dir: str | None = None  # ltr: LETOR files instead of the generated set

    def build(self) -> Problem:
        if self.name == "digits":
            return digits_problem(self.digit, self.positive_fraction)
        if self.name == "blobs":
            return blobs_problem()
        if self.name == "ltr":
            return ltr_problem(self.data_dir)
        raise InputError(f"unknown problem {self.name!r}; choose digits, blobs or ltr")


@dataclass(frozen=True)
class Plan:
    """What to run: the grid and the schedule (``None``: the problem's own)."""

    problems: tuple[ProblemSpec, ...]
    methods: tuple[str, ...] | None  # None: each problem's default methods
    lrs: tuple[float, ...] | None  # None: each problem's own grid (its smoke_lr with smoke)
    seeds: tuple[int, ...]
    epochs: int | None = None
    batch_size: int | None = None
    device: str = "cpu"
    limit_train: int | None = None  # keep only the first N training samples (the smoke mode)
    smoke: bool = False
    select_on: str | None = None  # ltr: the validation metric that chooses the lr (None: the problem's)
    weight_decay: float = 0.0  # SGD's, on the digits and blobs problems

    def lrs_for(self, problem: Problem) -> tuple[float, ...]:
        if self.lrs is not None:
            return self.lrs
        return (problem.smoke_lr,) if self.smoke else problem.lrs


def batches(method: Method, train: Split, batch_size: int, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """The sample indices of one epoch's batches, from the method's sampler."""
    name, share = parse_sampler(method.sampler)
    if name == "shuffle":
        return shuffled_batches(len(train), batch_size, generator)
    return balanced_batches(train.targets[0], batch_size, share, generator)


def evaluate(problem: Problem, model: torch.nn.Module, split: Split, device: torch.device,
             chunk: int = 1024) -> dict[str, float | None]:
    """The exact metrics over the whole split; None where undefined or the scores are not finite."""
    model.eval()
    with torch.no_grad():
        outputs = [model(split.inputs[start:start + chunk].to(device)) for start in range(0, len(split), chunk)]
        scores = problem.scores(torch.cat(outputs))
        targets = problem.targets(split.targets[0].to(device))
    values: dict[str, float | None] = {}
    finite = bool(torch.isfinite(scores).all())
    for label in problem.metrics:
        name, params = problem.measure(label)
        value = float(ml.get_metric(name, **params)(scores, targets)) if finite else math.nan
        values[label] = None if math.isnan(value) else value
    return values


def train_one(problem: Problem, data: Data, method: Method, lr: float, seed: int, epochs: int,
              batch_size: int, device: torch.device, weight_decay: float = 0.0) -> dict[str, Any]:
    """One run: build, train for ``epochs``, evaluate; the record that results.json keeps."""
    started = time.perf_counter()
    torch.manual_seed(seed)
    model = problem.model(data).to(device)
    trainer = method.build(Setup(problem=problem, model=model, train=data.train, lr=lr, seed=seed, device=device,
                                 weight_decay=weight_decay, steps=epochs * -(-len(data.train) // batch_size)))
    generator = torch.Generator().manual_seed(seed)
    steps = skipped = 0
    losses: list[float] = []
    epoch_seconds: list[float] = []
    diverged = False
    with warnings.catch_warnings():
        # Undefined batches are counted in the record instead (UniLoss warns once per loss).
        warnings.simplefilter("ignore", UndefinedBatchWarning)
        warnings.filterwarnings("ignore", message="Input data has no positive sample")  # LibAUC's AUCM
        for epoch in range(epochs):
            model.train()
            epoch_started = time.perf_counter()
            epoch_losses = []
            for index in batches(method, data.train, batch_size, generator):
                batch = data.train.batch(index)
                output = model(batch.inputs.to(device))
                labels = batch.targets[0].to(device)
                warming = epoch < method.warm_start  # the usual loss first, on the same optimizer
                loss = problem.baseline(output, labels) if warming else trainer.loss(output, labels, index)
                if loss is None:
                    skipped += 1
                    continue
                trainer.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                trainer.optimizer.step()
                steps += 1
                epoch_losses.append(loss.detach())
            if device.type == "cuda":
                torch.cuda.synchronize(device)
            epoch_seconds.append(time.perf_counter() - epoch_started)
            if epoch_losses:
                losses.append(float(torch.stack(epoch_losses).mean()))
            if losses and not math.isfinite(losses[-1]):
                diverged = True
                break
    validation = evaluate(problem, model, data.validation, device)
    test = evaluate(problem, model, data.test, device)
    return {
        "problem": problem.key, "method": method.name, "lr": lr, "seed": seed,
        "validation": validation, "test": test,
        "steps": steps, "skipped_batches": skipped, "diverged": diverged,
        "last_epoch_loss": losses[-1] if losses else None,
        "optimizer": trainer.optimizer_label, "sampler": method.sampler, "warm_start": method.warm_start,
        "seconds": round(time.perf_counter() - started, 3),
        # each training epoch's time (batches, forward, loss, backward, step; no evaluation)
        "epoch_seconds": [round(s, 4) for s in epoch_seconds],
    }


@dataclass(frozen=True)
class Unit:
    """The runs one worker does together: every learning rate of (problem, method, seed)."""

    problem: ProblemSpec
    method: str
    seed: int
    lrs: tuple[float, ...]
    epochs: int | None
    batch_size: int | None
    device: str
    limit_train: int | None
    weight_decay: float = 0.0


def run_unit(unit: Unit) -> list[dict[str, Any]]:
    problem = unit.problem.build()
    data = problem.load(unit.seed)
    if unit.limit_train is not None:
        first = torch.arange(min(unit.limit_train, len(data.train)))
        # a split of queries stays ragged (each batch padded to its own longest list, as in a full run)
        train = data.train.subset(first) if isinstance(data.train, RankingSplit) else data.train.batch(first)
        data = replace(data, train=train)  # the data's own settings (ltr's schedule) kept
    schedule = problem.schedule_for(data)
    epochs = unit.epochs or schedule.epochs
    batch_size = unit.batch_size or schedule.batch_size
    device = torch.device(unit.device)
    return [train_one(problem, data, METHODS[unit.method], lr, unit.seed, epochs, batch_size, device, unit.weight_decay)
            for lr in unit.lrs]


def units(plan: Plan, methods_of: Callable[[Problem], list[Method]]) -> list[Unit]:
    out = []
    for spec in plan.problems:
        problem = spec.build()
        for method in methods_of(problem):
            for seed in plan.seeds:
                out.append(Unit(spec, method.name, seed, plan.lrs_for(problem), plan.epochs, plan.batch_size,
                                plan.device, plan.limit_train, plan.weight_decay))
    return out


def run_units(todo: list[Unit], jobs: int = 1, threads: int | None = None,
              on_result: Callable[[Unit, list[dict[str, Any]]], None] | None = None) -> list[dict[str, Any]]:
    """Every unit's records, in ``todo``'s order; ``jobs > 1`` runs units in worker processes."""
    records: list[list[dict[str, Any]]] = [[] for _ in todo]
    if jobs <= 1:
        for i, unit in enumerate(todo):
            records[i] = run_unit(unit)
            if on_result is not None:
                on_result(unit, records[i])
    else:
        import concurrent.futures
        import multiprocessing

        context = multiprocessing.get_context("spawn")
        with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=context, initializer=_worker_init,
                                                    initargs=(threads or 1,)) as pool:
            futures = {pool.submit(run_unit, unit): i for i, unit in enumerate(todo)}
            for future in concurrent.futures.as_completed(futures):
                i = futures[future]
                records[i] = future.result()
                if on_result is not None:
                    on_result(todo[i], records[i])
    return [record for unit_records in records for record in unit_records]


def _worker_init(threads: int) -> None:
    torch.set_num_threads(threads)


# --- choosing the learning rate ---------------------------------------------------------------


def select(records: Iterable[dict[str, Any]], metric: str,
           chosen_by: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """For each (problem, method): the learning rate with the best mean validation ``chosen_by``
    (``metric`` itself by default), and the test ``metric`` there.

    An lr counts only when every seed's validation value is defined (a diverged run leaves it
    undefined); among the rest the highest mean wins, the smaller lr on a tie. Returned per
    (problem, method): ``lr`` (None when no lr counts), its ``validation_mean`` (of ``chosen_by``),
    the seeds' ``test`` values of ``metric`` at that lr, their ``test_mean`` and ``test_std``
    (sample standard deviation; 0 for one seed), and ``grid``: every lr's validation mean of
    ``chosen_by`` (None if it does not count).
    """
    chosen_by = chosen_by or metric
    table: dict[tuple[str, str], dict[float, list[dict[str, Any]]]] = {}
    for record in records:
        table.setdefault((record["problem"], record["method"]), {}).setdefault(record["lr"], []).append(record)
    chosen: dict[tuple[str, str], dict[str, Any]] = {}
    for key, by_lr in table.items():
        grid: dict[float, float | None] = {}
        for lr in sorted(by_lr):
            values = [r["validation"].get(chosen_by) for r in by_lr[lr]]
            grid[lr] = None if any(v is None for v in values) else statistics.fmean(values)
        counted = [(mean, lr) for lr, mean in grid.items() if mean is not None]
        if not counted:
            chosen[key] = {"lr": None, "validation_mean": None, "test": [], "test_mean": None, "test_std": None,
                           "seeds": [], "grid": grid}
            continue
        best = max(mean for mean, _ in counted)
        lr = min(lr for mean, lr in counted if mean == best)
        runs = sorted(by_lr[lr], key=lambda r: r["seed"])
        tests = [r["test"].get(metric) for r in runs]
        defined = [t for t in tests if t is not None]
        chosen[key] = {
            "lr": lr, "validation_mean": best, "test": tests, "seeds": [r["seed"] for r in runs],
            "test_mean": statistics.fmean(defined) if defined else None,
            "test_std": (statistics.stdev(defined) if len(defined) > 1 else 0.0) if defined else None,
            "grid": grid,
        }
    return chosen


def say(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
