"""Learning-to-rank files in the LETOR text format: MSLR-WEB10K/30K, Yahoo! LTR, Istella, LETOR 4.0.

Each line is one item of one query::

    2 qid:10 1:0.03 2:0 3:1 ... 136:0.5 # docid = GX000-00-0000000

the graded relevance, the query's id, then ``index:value`` features with indices from 1, in any
subset (a feature left out is 0, as Yahoo!'s and Istella's sparse files leave them), then an
optional comment. The lines of a query are grouped by qid, queries in the order of their first
line and items in file order. Read by scikit-learn's SVMlight reader (``load_svmlight_file``,
compiled, a few seconds for MSLR-WEB10K's 720,000 training lines).

The data directory is either a data set's root holding the standard folds (``Fold1/train.txt``,
``vali.txt``, ``test.txt``, as MSLR and LETOR 4.0 ship; Fold1 is read, point ``--data-dir`` at
``Fold2`` ... for another), or a folder holding the three files directly (Istella-S's ``sample``,
a fold folder). Yahoo!'s ``set1.train.txt``, ``set1.valid.txt``, ``set1.test.txt`` are found too.
Without a validation file (Istella's ``full``), a tenth of the training queries is carved out by
the seed.

Features are standardised with the training items' mean and standard deviation (a constant
feature becomes 0), the same for every split. Items are held as float32, dense: MSLR-WEB10K's
Fold1 (1.2 million items, 136 features) takes 0.65 GB, Yahoo! set 1 (700 features) 2 GB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from ..task import Data
from . import DataError
from .files import find
from .ranking import RankingSplit, group_by_query, ranking_split
from .splits import carve

DATASET = "LETOR"
WHERE = ("Give --data-dir a folder with train.txt, vali.txt and test.txt in the LETOR format (label qid:Q "
         "1:v 2:v ... # comment), or a data set's root with Fold1/: MSLR-WEB10K and -30K "
         "(https://www.microsoft.com/en-us/research/project/mslr/), LETOR 4.0's MQ2007 and MQ2008, Istella "
         "(https://istella.ai/datasets/), Yahoo! LTR (https://webscope.sandbox.yahoo.com/).")
TRAIN = ("train.txt", "set1.train.txt")
VALIDATION = ("vali.txt", "valid.txt", "validation.txt", "set1.valid.txt")
TEST = ("test.txt", "set1.test.txt")
CARVED = 0.1  # of the training queries, when there is no validation file


def letor_folder(data_dir: Path) -> Path:
    """The folder that holds the files: ``data_dir`` itself, or its ``Fold1``."""
    data_dir = Path(data_dir)
    if not any((data_dir / name).is_file() for name in TRAIN) and (data_dir / "Fold1").is_dir():
        return data_dir / "Fold1"
    return data_dir


def load_letor(data_dir: Path, seed: int) -> Data:
    """Train, validation and test splits of LETOR files; validation carved by ``seed`` when absent."""
    folder = letor_folder(data_dir)
    paths = {"train": find(folder, TRAIN, DATASET, WHERE), "test": find(folder, TEST, DATASET, WHERE)}
    validation_file = next((folder / name for name in VALIDATION if (folder / name).is_file()), None)
    if validation_file is not None:
        paths["validation"] = validation_file
    read = {part: _read(path) for part, path in paths.items()}
    width = max(features.shape[1] for features, _, _ in read.values())
    read = {part: (_widen(features, width), labels, qids) for part, (features, labels, qids) in read.items()}
    mean, std = _moments(read["train"][0])
    splits = {part: _split((features - mean) / std, labels, qids)
              for part, (features, labels, qids) in read.items()}
    train = splits["train"]
    carved_note = ""
    if "validation" not in splits:
        kept, carved = carve(len(train), CARVED, seed)
        if len(carved) == 0:
            raise DataError(f"{DATASET}: {paths['train']} holds only {len(train)} queries and {folder} no "
                            f"validation file ({', '.join(VALIDATION)}): too few to carve a validation split "
                            f"from. {WHERE}")
        splits["validation"], train = train.subset(carved), train.subset(kept)
        carved_note = f"; validation: {len(carved)} training queries carved out by seed {seed}"
    top = max(int(split.targets[0].max()) for split in (train, splits["validation"], splits["test"]))
    source = (f"LETOR files in {folder} ({len(train)}/{len(splits['validation'])}/{len(splits['test'])} queries, "
              f"{width} features standardised on train, relevance 0-{top}{carved_note})")
    return Data(train=train, validation=splits["validation"], test=splits["test"], source=source)


def _read(path: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A file's features ``[N, F]`` (float32, dense), whole-number labels ``[N]`` and qids ``[N]``."""
    from sklearn.datasets import load_svmlight_file

    try:
        features, labels, qids = load_svmlight_file(str(path), query_id=True, zero_based=False,
                                                     dtype=np.float32)
    except (ValueError, UnicodeDecodeError) as error:
        message = str(error)
        if "Invalid index 0" in message:
            message = "a feature index 0: LETOR's feature indices start at 1"
        raise DataError(f"{DATASET}: cannot read {path} ({message}); each line must be `label qid:Q 1:v 2:v ... "
                        f"# comment`. {WHERE}") from error
    except OSError as error:
        raise DataError(f"{DATASET}: cannot read {path} ({type(error).__name__}: {error}). {WHERE}") from error
    if len(labels) == 0:
        raise DataError(f"{DATASET}: {path} holds no items (no line `label qid:Q 1:v ...`); the file is empty or "
                        f"truncated. {WHERE}")
    if len(qids) != len(labels):
        raise DataError(f"{DATASET}: {len(labels) - len(qids)} of the {len(labels)} lines of {path} have no "
                        f"`qid:Q`; every line of a LETOR file names its query. {WHERE}")
    if not np.all((labels >= 0) & (labels == np.round(labels))):
        bad = labels[~((labels >= 0) & (labels == np.round(labels)))][0]
        raise DataError(f"{DATASET}: {path} has a relevance label {bad:g}; labels are whole numbers from 0 "
                        f"(irrelevant) up. {WHERE}")
    dense = features.toarray()
    if not np.isfinite(dense).all():
        raise DataError(f"{DATASET}: {path} has a feature value that is not a finite number (nan or inf). {WHERE}")
    return dense, labels.astype(np.int64), qids


def _widen(features: np.ndarray, width: int) -> np.ndarray:
    """Zero columns for features a file never mentions (its highest index below another file's)."""
    if features.shape[1] == width:
        return features
    return np.pad(features, ((0, 0), (0, width - features.shape[1])))


def _moments(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each feature's mean and standard deviation over the training items (summed in float64);
    1 for a constant feature, which standardises to 0."""
    mean = features.mean(0, dtype=np.float64)
    std = features.std(0, dtype=np.float64)
    return mean.astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32)


def _split(features: np.ndarray, labels: np.ndarray, qids: np.ndarray) -> RankingSplit:
    permutation, lengths = group_by_query(torch.from_numpy(qids))
    return ranking_split(torch.from_numpy(features)[permutation], torch.from_numpy(labels)[permutation], lengths)
