"""Training on several processes: the group torchrun starts, each process's shard, one writer.

``torchrun --nproc-per-node N -m metricloss train TASK`` starts N copies of the command; each
finds its rank in the environment torchrun sets and joins the process group here (NCCL on CUDA,
gloo on the CPU). The run then keeps these rules:

- ``--batch-size`` is per process, as with torch's ``DistributedSampler``: every process draws the
  same batches of N x batch size from the same seeded stream and keeps its contiguous share, so
  the processes together see each sample once an epoch. A ragged last batch is split unevenly;
  one that would leave a process fewer than two samples is dropped.
- UniLoss runs with ``gather=True``: its metric sees the whole batch, and its loss is multiplied
  by N before ``backward()`` so that DDP's averaging gives the gradient of one process on the
  whole batch.
- Each process's own random streams (dropout, augmentation) come from (seed, rank); the
  streams that must agree (shuffling, anchors) come from the seed alone.
- Process 0 alone writes the logs, curves and checkpoints; the checkpoint holds every process's
  own streams, so ``--resume`` with the same number of processes continues exactly.
- Evaluation is split the same way and the scores gathered: the metric is computed once over
  the whole split, the same on every process.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from metricloss.errors import InputError
from metricloss.loss.gather import collective_device


@dataclass(frozen=True)
class Processes:
    """This process's place among the run's processes."""

    rank: int = 0
    size: int = 1
    local_rank: int = 0
    owns_group: bool = False  # the group was started here, and is ended here

    @property
    def leader(self) -> bool:
        """The process that writes the run's files and prints."""
        return self.rank == 0

    def shard(self, index: torch.Tensor) -> torch.Tensor:
        """This process's contiguous share of a batch (all of it for one process)."""
        return index if self.size == 1 else index.tensor_split(self.size)[self.rank]

    def keeps(self, index: torch.Tensor) -> bool:
        """Whether a batch of indices is trained on under several processes: every process must get
        two samples or more (one breaks batch norm and holds no pair)."""
        return len(index) >= 2 * self.size

    def own_seed(self, seed: int, stream: int) -> int:
        """A seed for this process's own ``stream``, independent of every other (seed, rank, stream)."""
        return int(np.random.SeedSequence([seed, self.rank, stream]).generate_state(1, np.uint64)[0] >> 1)

    def gather_objects(self, value: Any) -> list[Any]:
        """Every process's ``value``, in rank order (only between the run's own processes)."""
        if self.size == 1:
            return [value]
        everyone: list[Any] = [None] * self.size
        torch.distributed.all_gather_object(everyone, value)
        return everyone

    def from_leader(self, value: Any) -> Any:
        """Process 0's ``value`` on every process."""
        if self.size == 1:
            return value
        box = [value if self.leader else None]
        torch.distributed.broadcast_object_list(box, src=0)
        return box[0]

    def sum(self, values: list[float]) -> list[float]:
        """Element-wise sums over the processes."""
        if self.size == 1:
            return values
        total = torch.tensor(values, dtype=torch.float64, device=collective_device())
        torch.distributed.all_reduce(total)
        return total.tolist()

    def end(self) -> None:
        if self.owns_group and torch.distributed.is_initialized():
            # every process reaches the end before any tears the group down: a gloo peer torn down
            # while another still talks to it can abort at exit
            torch.distributed.barrier()
            torch.distributed.destroy_process_group()


def join(device: torch.device) -> Processes:
    """This process's place: in the group ``torchrun`` (or the caller) started, else alone.

    A group the caller started is used as it is; one that torchrun's environment describes
    (``WORLD_SIZE`` above 1) is started here, with NCCL for CUDA training and gloo otherwise.
    """
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        rank, size = torch.distributed.get_rank(), torch.distributed.get_world_size()
        local = int(os.environ.get("LOCAL_RANK", rank))
        _pin_cuda(device, local)
        return Processes(rank, size, local, owns_group=False)
    size = _environment_int("WORLD_SIZE", 1)
    if size <= 1:
        return Processes()
    if not torch.distributed.is_available():
        raise InputError("WORLD_SIZE is above 1 but this torch build has no torch.distributed; "
                         "run one process, or install a torch with distributed support")
    rank, local = _environment_int("RANK", 0), _environment_int("LOCAL_RANK", 0)
    _pin_cuda(device, local)
    torch.distributed.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return Processes(rank, size, local, owns_group=True)


def _pin_cuda(device: torch.device, local_rank: int) -> None:
    """One GPU per process on a node: process LOCAL_RANK trains on GPU LOCAL_RANK."""
    if device.type != "cuda":
        return
    if local_rank >= torch.cuda.device_count():
        raise InputError(
            f"process {local_rank} of this node has no GPU of its own (torch sees "
            f"{torch.cuda.device_count()}): start at most that many processes per node "
            "(torchrun --nproc-per-node)"
        )
    torch.cuda.set_device(local_rank)


def _environment_int(name: str, default: int) -> int:
    text = os.environ.get(name)
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise InputError(f"the environment variable {name} must be a whole number (torchrun sets it), "
                         f"got {text!r}") from None
