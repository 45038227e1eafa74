"""scikit-learn's bundled 8x8 digits: the classification tasks' data on a machine without downloads.

1,797 images of the digits 0-9 (values 0-16), split 70/30 into train and test by the seed, and a
sixth of the training part carved out for validation: 1,048 / 210 / 539 images.
"""

from __future__ import annotations

import torch

from ..task import Data, Split
from .splits import carve, carve_split

SOURCE = "scikit-learn digits (bundled, 8x8)"


def load_digits(seed: int, test: float = 0.3, validation: float = 1 / 6) -> Data:
    """Images ``[N, 1, 8, 8]`` uint8 (0-16), targets ``(digit,)``."""
    from sklearn.datasets import load_digits as bundled

    digits = bundled()
    images = torch.tensor(digits.images, dtype=torch.uint8).unsqueeze(1)
    everything = Split(images, (torch.tensor(digits.target, dtype=torch.long),))
    kept, held_out = carve(len(everything), test, seed)
    train, validation_split = carve_split(everything.batch(kept), validation, seed)
    return Data(train=train, validation=validation_split, test=everything.batch(held_out), source=SOURCE)
