"""Which of a batch's binaries are dead: constants no finite score can flip.

A difference of +-inf (a max over an empty set) is a constant, and so is a comparison the pairs
module masks out (an item compared with itself, a comparison the targets decide). The loss pins
such binaries to their hard values in every anchor. Finding them costs one host sync per batch,
and none of the per-element work when every difference is finite and no mask is set.
"""

from __future__ import annotations

import torch

from ..bool_ops import any_true
from .layout import flat


def dead_binaries(differences, hard, dead, twins, empty: torch.Tensor) -> torch.Tensor | None:
    """The flat mask of dead binaries ([K] bool), or None when there are none.

    ``differences``, ``hard``: per block; ``dead``: per block, the pairs module's mask or None;
    ``twins``: per block, the earlier block it is a twin of (``codegen.twin_blocks``), or None;
    ``empty``: the mask of no blocks.
    """
    # A block's sum is finite when all its differences are (a sum that overflows only sends the
    # block to the full check), and a twin's differences are its source's.
    own = [d.detach().sum() for d, twin in zip(differences, twins) if twin is None]
    found = [any_true(m) for m in dead if m is not None]
    flags = torch.stack([~torch.isfinite(torch.stack(own)).all(), *found]).tolist() if own else [False]
    if not any(flags):  # one host sync: which binaries are dead
        return None
    infinite: list = []
    for difference, twin in zip(differences, twins):
        if not flags[0]:
            infinite.append(None)
        elif twin is not None:
            infinite.append(infinite[twin[0]])
        else:
            infinite.append(~torch.isfinite(difference.detach()))
    masks = [torch.zeros_like(h) if bad is None and mask is None else mask if bad is None
             else bad if mask is None else mask | bad for h, bad, mask in zip(hard, infinite, dead)]
    found_dead = flat(masks, empty)
    if not any(flags[1:]) and not bool(any_true(found_dead)):  # a sum overflowed: every difference is finite
        return None
    return found_dead
