"""Your own DDP training loop with a pairwise metric as its loss: AUC over every process's batch.

    torchrun --nproc-per-node 2 examples/distributed_auc.py          # two processes on the CPU
    torchrun --nproc-per-node 8 examples/distributed_auc.py --cuda   # one per GPU

Digit 8 against the rest on scikit-learn's bundled digits (no download), a small MLP. Each process
holds a shard of every batch (DistributedSampler); ``UniLoss(..., gather=True)`` computes the AUC of
the whole batch on every process, and the loss is multiplied by the number of processes because DDP
averages the gradients it all-reduces (see ``UniLoss``'s docstring).
"""

from __future__ import annotations

import argparse
import os

import torch
import torch.distributed as dist
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

import metricloss as ml


def digits() -> TensorDataset:
    from sklearn.datasets import load_digits

    data = load_digits()
    inputs = torch.tensor(data.data, dtype=torch.float32) / 16.0
    return TensorDataset(inputs, (torch.tensor(data.target) == 8).long())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cuda", action="store_true")
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=64, help="per process")
    args = parser.parse_args()

    dist.init_process_group("nccl" if args.cuda else "gloo")
    rank, world = dist.get_rank(), dist.get_world_size()
    device = torch.device("cuda", int(os.environ["LOCAL_RANK"])) if args.cuda else torch.device("cpu")
    if args.cuda:
        torch.cuda.set_device(device)

    torch.manual_seed(0)  # the same initial weights everywhere (DDP would broadcast process 0's anyway)
    model = torch.nn.Sequential(torch.nn.Linear(64, 64), torch.nn.ReLU(), torch.nn.Linear(64, 1)).to(device)
    model = DistributedDataParallel(model, device_ids=[device.index] if args.cuda else None)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-2)
    # The same seed on every process: they must draw the same anchors (UniLoss checks it).
    loss_fn = ml.UniLoss("auc", gather=True, generator=torch.Generator(device=device).manual_seed(0))

    dataset = digits()
    sampler = DistributedSampler(dataset, shuffle=True, seed=0, drop_last=True)
    loader = DataLoader(dataset, batch_size=args.batch_size, sampler=sampler)
    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)
        for inputs, labels in loader:
            scores = model(inputs.to(device)).squeeze(1)
            loss = loss_fn(scores, labels.to(device))  # the whole batch's loss, the same on every process
            optimizer.zero_grad()
            (loss * world).backward()  # DDP averages over the processes: this makes it a sum
            optimizer.step()
        with torch.no_grad():  # every process scores the whole set here; it is small
            inputs, labels = dataset.tensors
            auc = ml.get_metric("auc")(model.module(inputs.to(device)).squeeze(1), labels.to(device))
        if rank == 0:
            print(f"epoch {epoch + 1}: loss {float(loss.detach()):.4f}  AUC {float(auc):.4f}  "
                  f"({world} processes, batches of {args.batch_size * world})")
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
