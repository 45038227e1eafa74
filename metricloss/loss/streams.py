"""The loss's random stream across devices and processes.

A ``UniLoss`` draws its anchors from one generator. Its stream follows the module to another
device (``moved_generator``) and survives a checkpoint loaded where the saving device is missing
(``seed_from_state``); under ``gather=True`` every process must draw the same anchors
(``check_same_everywhere``).
"""

from __future__ import annotations

import hashlib

import torch

from ..errors import InputError
from .gather import collective_device, world


def moved_generator(generator: torch.Generator, device: torch.device | str) -> torch.Generator:
    """A generator on ``device`` that continues ``generator``'s stream there: the same state where
    both are of one kind (another CUDA device), else seeded from a digest of the state, so the same
    state always gives the same stream. ``generator`` itself is not advanced."""
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    moved = torch.Generator(device=device)
    if generator.device.type == device.type:
        moved.set_state(generator.get_state())
    else:
        moved.manual_seed(seed_from_state(generator.get_state()))
    return moved


def seed_from_state(state: torch.Tensor) -> int:
    """A seed for ``manual_seed`` from a generator's state: a digest, so that one state always
    gives one seed and states that differ give unrelated ones."""
    digest = hashlib.sha256(state.cpu().numpy().tobytes()).digest()
    return int.from_bytes(digest[:8], "little") >> 1  # 0 to 2**63 - 1, what manual_seed takes


def check_same_everywhere(generator: torch.Generator) -> None:
    """Refuse a generator whose state differs between processes: their anchors would differ."""
    state = generator.get_state()
    mine = state.to(collective_device())
    everyone = [torch.empty_like(mine) for _ in range(world()[1])]
    torch.distributed.all_gather(everyone, mine)
    different = [rank for rank, theirs in enumerate(everyone) if not torch.equal(theirs.cpu(), state)]
    if different:
        raise InputError(
            f"UniLoss(gather=True): the generator's state on process {world()[0]} differs from that on "
            f"process(es) {different}, so they would draw different anchors and compute different losses. "
            "Seed it alike on every process (torch.Generator().manual_seed(seed), the same seed), or "
            "pass no generator and the loss seeds its own from process 0."
        )
