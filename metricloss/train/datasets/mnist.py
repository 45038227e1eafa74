"""MNIST from its IDX files (gzipped or not), as uint8 images ``[N, 1, 28, 28]`` and digit labels.

The four files (``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``, ``t10k-images-idx3-ubyte``,
``t10k-labels-idx1-ubyte``, each optionally ``.gz``) are looked for in the data directory and in
``DIR/MNIST/raw`` (where torchvision puts them). IDX is a big-endian header (two zero bytes, a type
code, the number of dimensions, one 32-bit size per dimension) followed by the raw array.
"""

from __future__ import annotations

import math
import struct
from pathlib import Path

import numpy as np
import torch

from ..task import Data, Split
from . import DataError
from .files import find, read_bytes, require_rows, require_validation
from .splits import carve_split

WHERE = ("Download the four MNIST files from https://ossci-datasets.s3.amazonaws.com/mnist/ "
         "(a mirror of http://yann.lecun.com/exdb/mnist/) into the data directory; gzipped is fine.")
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_TYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def read_idx(path: str | Path) -> torch.Tensor:
    """The array stored in an IDX file, with the shape its header gives."""
    path = Path(path)
    raw = read_bytes(path, "MNIST", WHERE)
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _TYPES:
        raise DataError(f"MNIST: {path} is not an IDX file (its first bytes are {raw[:4].hex()}, "
                        f"expected 0000 then a type code and a rank). {WHERE}")
    rank, header = raw[3], 4 + 4 * raw[3]
    if len(raw) < header:
        raise DataError(f"MNIST: {path} ends inside its header; the file is truncated. {WHERE}")
    shape = struct.unpack(f">{rank}I", raw[4:header])
    dtype = np.dtype(_TYPES[raw[2]])
    expected = math.prod(shape) * dtype.itemsize
    if len(raw) - header != expected:
        raise DataError(f"MNIST: {path} holds {len(raw) - header} bytes of data but its header "
                        f"promises {expected} (shape {tuple(shape)}); the file is truncated or damaged. "
                        f"{WHERE}")
    array = np.frombuffer(raw, dtype, offset=header).reshape(shape)
    return torch.from_numpy(array.astype(dtype.newbyteorder("="), copy=True))


def _find(directory: Path, name: str) -> Path:
    names = [f"{folder}{name}{suffix}" for folder in ("", "MNIST/raw/") for suffix in ("", ".gz")]
    return find(directory, names, "MNIST", WHERE)


def read_split(directory: str | Path, part: str) -> Split:
    """The ``train`` or ``test`` part: images ``[N, 1, 28, 28]`` uint8, targets ``(digit,)``."""
    image_file, label_file = (_find(Path(directory), name) for name in FILES[part])
    images, labels = read_idx(image_file), read_idx(label_file)
    if images.dim() != 3 or images.dtype != torch.uint8:
        raise DataError(f"MNIST: {image_file} holds a {images.dtype} array of shape {tuple(images.shape)}, "
                        f"not uint8 images [N, H, W]. {WHERE}")
    require_rows(images.shape[0], image_file, "MNIST", WHERE)
    if labels.dim() != 1 or labels.shape[0] != images.shape[0]:
        raise DataError(f"MNIST: {label_file} holds {tuple(labels.shape)} labels for the "
                        f"{images.shape[0]} images of {image_file}; the two must pair up. {WHERE}")
    if labels.numel() and not 0 <= int(labels.min()) <= int(labels.max()) <= 9:
        raise DataError(f"MNIST: {label_file} holds labels outside 0-9. {WHERE}")
    return Split(images.unsqueeze(1), (labels.long(),))


def load_mnist(directory: str | Path, seed: int, validation: float = 1 / 12) -> Data:
    """MNIST's training split less a validation split (5,000 of 60,000 by default), and its test split."""
    everything = read_split(directory, "train")
    train, held_out = carve_split(everything, validation, seed)
    require_validation(len(everything), len(held_out), validation, Path(directory), "MNIST", WHERE)
    return Data(train=train, validation=held_out, test=read_split(directory, "test"),
                source=f"MNIST IDX files in {directory}")
