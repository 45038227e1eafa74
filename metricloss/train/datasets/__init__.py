"""Readers of the reference trainings' data sets; each returns a ``metricloss.train.task.Data``.

- ``mnist``: MNIST's IDX files, gzipped or not;
- ``cifar``: CIFAR-10's and CIFAR-100's python pickles;
- ``mpii``: MPII Human Pose's MATLAB annotations and JPEG images, cropped around each person;
- ``digits``: scikit-learn's bundled 8x8 digits, for a machine without the files above;
- ``synthetic_pose``: a generated keypoint set, for pose without MPII;
- ``letor``: learning-to-rank files in the LETOR text format (MSLR-WEB10K, Yahoo! LTR, Istella, MQ2008);
- ``synthetic_ranking``: a generated set of queries and graded items, for ltr without those files;
- ``ranking``: queries' lists of items held ragged, padded to a batch's longest list when read.

Images stay as the files store them (uint8, ``[N, C, H, W]``): CIFAR's training split is 150 MB
instead of 600, the augmentation pads with black as the paper did, and the models standardise
their input themselves (``metricloss.train.models.standardize``). Ranking data is held as each
query's list of items, padded only when read (``ranking``), its features standardised on the
training split by the reader. A validation split is carved from the training split by the seed;
the test split is the data set's own where it has one.

A file that is missing or damaged raises ``DataError`` naming the file and where to get it.
"""

from metricloss.errors import MetricLossError


class DataError(MetricLossError, OSError):
    """A data set's file is missing, unreadable, or not in the format its reader expects."""


__all__ = ["DataError"]
