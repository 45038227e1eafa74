"""Run by ``tests/test_distributed.py`` under ``torchrun --nproc-per-node 2``: each process computes
UniLoss(gather=True) on its shard and saves what it got, for the test to compare with one process
on the whole batch. Not a test module itself (pytest collects ``test_*.py`` only)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

import metricloss as ml
from distributed_cases import CASES, SEED, shard  # the script's own folder is on sys.path


def main(out: Path) -> None:
    torch.distributed.init_process_group("gloo")
    rank = torch.distributed.get_rank()
    results = {}
    for name, case in CASES.items():
        scores, targets = shard(case, rank)
        scores = scores.clone().requires_grad_(True)
        generator = None if case.get("own_generator") else torch.Generator().manual_seed(SEED)
        loss_fn = ml.UniLoss(case["metric"], gather=True, generator=generator)
        loss = loss_fn(scores, *targets)
        loss.backward()
        results[name] = {"loss": loss.detach(), "grad": scores.grad, "value": loss_fn.last.value}
    # A generator seeded differently on each process is refused, on every process.
    try:
        ml.UniLoss("auc", gather=True, generator=torch.Generator().manual_seed(rank))(
            *[t for t in (torch.randn(4), torch.tensor([0, 1, 0, 1]))])
    except ml.InputError as error:
        results["mismatched generator"] = str(error)
    # Targets whose dtype differs between processes are refused with both descriptions.
    try:
        labels = torch.tensor([0, 1, 0, 1], dtype=torch.int64 if rank == 0 else torch.int32)
        ml.UniLoss("auc", gather=True, generator=torch.Generator().manual_seed(SEED))(torch.randn(4), labels)
    except ml.InputError as error:
        results["mismatched dtype"] = str(error)
    torch.save(results, out / f"rank{rank}.pt")
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
