"""One batch from the shards of every process, for metrics that are not means over samples.

Under ``torch.distributed`` each process holds a shard of the batch, and AUC over eight shards of
32 is not the mean of eight AUCs over 32: the pairs between shards are missing. ``gather_batch``
concatenates every process's scores and targets along the batch dimension, in rank order, so that
each process computes the metric (and the loss) of the whole batch.

Only the process's own scores stay in the autograd graph; the others arrive as constants. Every
process computes the same loss from the same whole batch, so the gradient that reaches a
process's own scores is exactly what one process holding the whole batch would give them, and
backward needs no collective. Shards may differ in size (the ragged last batch): sizes are
exchanged first and the shards padded to the largest for the transfer.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from ..errors import InputError

MAX_DIMENSIONS = 8  # of a gathered tensor: the description exchanged first has a fixed length


def world() -> tuple[int, int]:
    """(rank, world size) of this process; (0, 1) outside an initialised process group."""
    if not (torch.distributed.is_available() and torch.distributed.is_initialized()):
        return 0, 1
    return torch.distributed.get_rank(), torch.distributed.get_world_size()


def gather_batch(scores: torch.Tensor, targets: Sequence) -> tuple[torch.Tensor, tuple]:
    """(every process's scores, every process's targets), in rank order.

    Tensor targets with a batch dimension are gathered like the scores; anything else (a
    Python number, a 0-d tensor) is passed through and must be the same on every process.
    Outside a process group of two or more, the batch comes back as it is.
    """
    rank, size = world()
    if size == 1:
        return scores, tuple(targets)
    if scores.dim() == 0:
        raise InputError("gather=True concatenates the processes' batches along their first dimension, "
                         "but scores are a 0-d tensor: give each process a batch of scores")
    batched = [i for i, t in enumerate(targets) if isinstance(t, torch.Tensor) and t.dim() > 0]
    for i in batched:
        if targets[i].shape[0] != scores.shape[0]:
            raise InputError(
                f"gather=True concatenates the processes' batches along their first dimension, but target "
                f"{i} has {targets[i].shape[0]} rows against the scores' {scores.shape[0]}: give every "
                "target one row per sample"
            )
    tensors = [scores] + [targets[i] for i in batched]
    shapes = _exchange_shapes(tensors, rank, size)
    gathered = [_gather_one(t, [s[k] for s in shapes], rank) for k, t in enumerate(tensors)]
    everything = list(targets)
    for i, tensor in zip(batched, gathered[1:]):
        everything[i] = tensor
    return gathered[0], tuple(everything)


def _exchange_shapes(tensors: list[torch.Tensor], rank: int, size: int) -> list[list[tuple[int, ...]]]:
    """Every process's shapes of ``tensors`` (one small collective), checked to agree but for rows."""
    if any(t.dim() > MAX_DIMENSIONS for t in tensors):
        raise InputError(f"gather=True takes tensors of at most {MAX_DIMENSIONS} dimensions")
    width = 2 + MAX_DIMENSIONS
    description = torch.full((len(tensors), width), -1, dtype=torch.int64)
    for k, tensor in enumerate(tensors):
        description[k, 0] = tensor.dim()
        description[k, 1] = _DTYPES.index(tensor.dtype) if tensor.dtype in _DTYPES else -2
        description[k, 2:2 + tensor.dim()] = torch.tensor(tensor.shape, dtype=torch.int64)
    description = description.to(collective_device(tensors[0].device))
    received = [torch.empty_like(description) for _ in range(size)]
    torch.distributed.all_gather(received, description)
    received = [r.cpu() for r in received]
    mine = received[rank]
    for other, theirs in enumerate(received):
        same = (theirs[:, :2] == mine[:, :2]).all() and (theirs[:, 3:] == mine[:, 3:]).all()
        if not bool(same):
            raise InputError(
                f"gather=True needs every process to pass scores and targets of the same dtypes and the "
                f"same shapes but for the batch dimension; process {rank} has "
                f"{_describe(mine)} and process {other} has {_describe(theirs)}"
            )
    return [[tuple(int(n) for n in row[2:2 + int(row[0])]) for row in r] for r in received]


def _gather_one(tensor: torch.Tensor, shapes: list[tuple[int, ...]], rank: int) -> torch.Tensor:
    """Every process's ``tensor`` concatenated along dim 0; only this process's rows carry gradient."""
    rows = max(shape[0] for shape in shapes)
    wire = tensor.detach()
    if wire.dtype == torch.bool:  # not every backend moves bools
        wire = wire.to(torch.uint8)
    padded = wire.new_zeros((rows, *wire.shape[1:]), device=collective_device(tensor.device))
    padded[: wire.shape[0]] = wire
    received = [torch.empty_like(padded) for _ in shapes]
    torch.distributed.all_gather(received, padded)
    pieces = [r[: shape[0]].to(tensor.device, tensor.dtype) for r, shape in zip(received, shapes)]
    pieces[rank] = tensor  # the live tensor: its gradient is this process's
    return torch.cat(pieces)


def collective_device(device: torch.device | None = None) -> torch.device:
    """Where the process group's backend moves tensors of ``device``: NCCL CUDA ones only (this
    process's GPU when ``device`` is not one), gloo's all_gather CPU ones."""
    if torch.distributed.get_backend() == "nccl":
        return device if device is not None and device.type == "cuda" else torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _describe(row: torch.Tensor) -> str:
    parts = []
    for dims, dtype, *shape in row.tolist():
        name = str(_DTYPES[dtype]).removeprefix("torch.") if 0 <= dtype < len(_DTYPES) else "another dtype"
        parts.append(f"{name}[*, {', '.join(str(n) for n in shape[1:dims])}]" if dims > 1 else f"{name}[*]")
    return "(" + ", ".join(parts) + ")"


_DTYPES = [torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64, torch.int32,
           torch.int16, torch.int8, torch.uint8, torch.bool]
