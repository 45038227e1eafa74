"""Run by ``tests/test_evaluator.py`` under ``torchrun --nproc-per-node 2``: each process gives its own
batches to ``ml.evaluator`` and saves what ``compute()`` returns, which TorchMetrics computes over
every process's batches. Not a test module itself (pytest collects ``test_*.py`` only)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

import metricloss as ml
from evaluator_cases import DISTRIBUTED, batches_of  # the script's own folder is on sys.path


def main(out: Path) -> None:
    torch.distributed.init_process_group("gloo")
    rank = torch.distributed.get_rank()
    results = {}
    for name, (metric, params) in DISTRIBUTED.items():
        evaluator = ml.evaluator(metric, **params)
        for batch in batches_of(name, rank):
            evaluator.update(*batch)
        results[name] = evaluator.compute()
        evaluator.reset()
        for batch in batches_of(name, rank)[:1]:  # reset, then one batch: the value of those alone
            evaluator.update(*batch)
        results[f"{name}, after reset"] = evaluator.compute()
    torch.save(results, out / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
