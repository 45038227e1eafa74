"""CIFAR-10 and CIFAR-100 from their python pickles, as uint8 images ``[N, 3, 32, 32]`` and labels.

CIFAR-10: ``cifar-10-batches-py/data_batch_1`` .. ``data_batch_5`` and ``test_batch``, each a dict
with ``data`` (uint8 ``[N, 3072]``, the red, green and blue planes in turn) and ``labels``.
CIFAR-100: ``cifar-100-python/train`` and ``test`` with ``data`` and ``fine_labels`` (100 classes).
The data directory may be the extracted folder itself or the folder that holds it.

The pickles are read with an unpickler that builds only dicts, lists, strings, numbers and numpy
arrays, so a file that is not what it claims cannot run code.
"""

from __future__ import annotations

import codecs
import importlib
import io
import pickle
from pathlib import Path

import numpy as np
import torch

from ..task import Data, Split
from . import DataError
from .files import find, read_bytes, require_rows, require_validation
from .splits import carve_split
from metricloss.errors import InputError

_ARCHIVES = {
    10: ("cifar-10-batches-py", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"),
    100: ("cifar-100-python", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz"),
}
_PARTS = {
    10: {"train": [f"data_batch_{i}" for i in range(1, 6)], "test": ["test_batch"]},
    100: {"train": ["train"], "test": ["test"]},
}
_LABELS = {10: "labels", 100: "fine_labels"}


def _where(classes: int) -> str:
    folder, url = _ARCHIVES[classes]
    return f"Download {url} and extract it into the data directory (it makes {folder}/)."


class _ArraysOnly(pickle.Unpickler):
    """Builds numpy arrays and plain containers, and refuses every other class.

    The official batches are Python 2 pickles of numpy arrays; a batch pickled again by Python 3
    (protocol 2) spells its bytes with ``_codecs.encode``, and one of protocol 5 builds its arrays
    with ``numpy's _frombuffer``.
    """

    _NUMPY = {"ndarray": np, "dtype": np, "_reconstruct": "multiarray", "_frombuffer": "numeric"}

    def find_class(self, module, name):
        if (module, name) == ("_codecs", "encode"):
            return codecs.encode
        where = self._NUMPY.get(name)
        if where is np and module == "numpy":
            return getattr(np, name)
        if isinstance(where, str) and module in (f"numpy.core.{where}", f"numpy._core.{where}"):
            core = "numpy._core" if hasattr(np, "_core") else "numpy.core"  # numpy 2 renamed it
            return getattr(importlib.import_module(f"{core}.{where}"), name)
        raise pickle.UnpicklingError(f"the pickle asks for {module}.{name}, which a CIFAR batch never holds")


def read_batch(path: Path, classes: int) -> Split:
    """One pickled batch: images ``[N, 3, 32, 32]`` uint8, targets ``(label,)``."""
    where = _where(classes)
    try:
        batch = _ArraysOnly(io.BytesIO(read_bytes(path, f"CIFAR-{classes}", where)), encoding="bytes").load()
    except DataError:
        raise
    except Exception as error:  # unpickling a damaged file raises many types
        raise DataError(f"CIFAR-{classes}: {path} is not a CIFAR python batch ({type(error).__name__}: "
                        f"{error}). {where}") from error
    if not isinstance(batch, dict):
        raise DataError(f"CIFAR-{classes}: {path} holds a {type(batch).__name__}, not a batch dict. {where}")
    batch = {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}
    label_key = _LABELS[classes]
    if "data" not in batch or label_key not in batch:
        raise DataError(f"CIFAR-{classes}: {path} has keys {sorted(batch)}, not 'data' and '{label_key}'. "
                        f"{where}")
    data, labels = np.asarray(batch["data"]), np.asarray(batch[label_key])
    if (data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3 * 32 * 32
            or labels.shape != (data.shape[0],)):
        raise DataError(f"CIFAR-{classes}: {path} holds data {data.dtype}{list(data.shape)} and "
                        f"{list(labels.shape)} labels; expected uint8 [N, 3072] and [N]. {where}")
    require_rows(data.shape[0], path, f"CIFAR-{classes}", where)
    if labels.size and not 0 <= labels.min() <= labels.max() < classes:
        raise DataError(f"CIFAR-{classes}: {path} holds labels outside 0-{classes - 1}. {where}")
    images = torch.from_numpy(data.reshape(-1, 3, 32, 32).copy())
    return Split(images, (torch.from_numpy(labels.astype(np.int64)),))


def read_split(directory: str | Path, classes: int, part: str) -> Split:
    """The ``train`` or ``test`` part of CIFAR-``classes``, its batches concatenated in order."""
    folder, _ = _ARCHIVES[classes]
    directory = Path(directory)
    paths = [find(directory, [f"{folder}/{name}", name], f"CIFAR-{classes}", _where(classes))
             for name in _PARTS[classes][part]]
    batches = [read_batch(path, classes) for path in paths]
    return Split(torch.cat([b.inputs for b in batches]), (torch.cat([b.targets[0] for b in batches]),))


def load_cifar(directory: str | Path, classes: int, seed: int, validation: float = 0.1) -> Data:
    """CIFAR-10 or -100: the training split less a validation split (5,000 of 50,000), and the test split."""
    if classes not in _ARCHIVES:
        raise InputError(f"CIFAR has 10 or 100 classes, not {classes}")
    everything = read_split(directory, classes, "train")
    train, held_out = carve_split(everything, validation, seed)
    require_validation(len(everything), len(held_out), validation, Path(directory), f"CIFAR-{classes}",
                       _where(classes))
    return Data(train=train, validation=held_out, test=read_split(directory, classes, "test"),
                source=f"CIFAR-{classes} python batches in {directory}")
