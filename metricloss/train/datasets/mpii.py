"""MPII Human Pose (Andriluka et al., CVPR 2014): person crops, joints on 64x64 heatmaps, head sizes.

Read from the official release: ``mpii_human_pose_v1_u12_1.mat`` (in the data directory or in
``mpii_human_pose_v1_u12_2/`` as the annotation archive extracts) and the JPEGs in ``images/``. The
MATLAB struct ``RELEASE`` holds, per image, ``annolist(i).image.name`` and ``annolist(i).annorect``,
one entry per person with

- ``x1, y1, x2, y2``: the head box; the head size is 0.6 x its diagonal (the PCKh normaliser);
- ``annopoints.point``: the annotated joints, each ``x, y`` (1-based pixels), ``id`` (0-15:
  r/l ankle, knee, hip, pelvis, thorax, upper neck, head top, r/l wrist, elbow, shoulder) and
  ``is_visible`` (occlusion);
- ``scale`` (person height / 200 px) and ``objpos`` (a rough centre).

Every person of a training image (``img_train == 1``) with joints, a scale and a centre becomes one
sample. The crop follows Newell et al.'s code: the centre moved down by 15 x scale, a square of
side 200 x scale x 1.25, resized to ``input_size`` (256); joints map onto ``heatmap_size`` (64).
``visible`` is "annotated": the official evaluation scores occluded joints too, and a joint that is
absent from ``annopoints`` (mostly outside the image) is not scored. MPII's test annotations are not
public, so validation and test splits are carved from the training images by the seed, whole
images at a time (people of one image never straddle two splits).

Images are decoded batch by batch (``PersonCrops``), not held in memory: 28,000 crops at 256x256
would take 5.5 GB.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from ..task import Data, Split
from . import DataError
from .files import find
from .heatmaps import to_heatmap
from metricloss.errors import InputError

ANNOTATIONS = "mpii_human_pose_v1_u12_1.mat"
JOINTS = 16
WHERE = ("Get the annotations (https://datasets.d2.mpi-inf.mpg.de/andriluka14cvpr/mpii_human_pose_v1_u12_2.zip) "
         "and the images (https://datasets.d2.mpi-inf.mpg.de/andriluka14cvpr/mpii_human_pose_v1.tar.gz) "
         "from http://human-pose.mpi-inf.mpg.de/ and extract both into the data directory.")


@dataclass(frozen=True)
class People:
    """The usable people of the annotation file: one row per person, image names alongside."""

    image: list[str]
    image_index: torch.Tensor  # [P] which annolist entry (for splitting by image)
    joints: torch.Tensor  # [P, 16, 2] 0-based image pixels (0 where not annotated)
    annotated: torch.Tensor  # [P, 16] bool
    head_size: torch.Tensor  # [P] image pixels
    centre: torch.Tensor  # [P, 2] the crop's centre, image pixels
    side: torch.Tensor  # [P] the crop's side, image pixels


def read_annotations(path: str | Path) -> People:
    """The training people of ``mpii_human_pose_v1_u12_1.mat`` (needs scipy)."""
    from scipy.io import loadmat

    path = Path(path)
    try:
        release = loadmat(path, struct_as_record=False, squeeze_me=True)["RELEASE"]
        annolist = np.atleast_1d(release.annolist)
        train = np.atleast_1d(release.img_train)
    except KeyError as error:
        raise DataError(f"MPII: {path} has no RELEASE struct; it is not the MPII annotation file. "
                        f"{WHERE}") from error
    except AttributeError as error:
        raise DataError(f"MPII: RELEASE in {path} lacks a field ({error}); it is not the MPII "
                        f"annotation file. {WHERE}") from error
    except Exception as error:  # scipy raises ValueError, TypeError, OSError... on a damaged file
        raise DataError(f"MPII: cannot read {path} ({type(error).__name__}: {error}); the file is damaged. "
                        f"{WHERE}") from error
    if len(train) != len(annolist):
        raise DataError(f"MPII: {path} has {len(annolist)} images but {len(train)} img_train flags. {WHERE}")
    rows = []
    for index, (entry, is_train) in enumerate(zip(annolist, train)):
        if int(is_train) != 1:
            continue
        name = getattr(getattr(entry, "image", None), "name", None)
        if not isinstance(name, str):
            raise DataError(f"MPII: annolist({index + 1}) in {path} has no image.name; it is not the MPII "
                            f"annotation file. {WHERE}")
        rows += [(name, index, *person) for person in map(_person, _structs(getattr(entry, "annorect", None)))
                 if person]
    if not rows:
        raise DataError(f"MPII: {path} holds no training person with joints, scale and centre. {WHERE}")
    names, indices, joints, annotated, head, centre, side = zip(*rows)
    return People(list(names), torch.tensor(indices), torch.tensor(np.stack(joints), dtype=torch.float32),
                  torch.tensor(np.stack(annotated)), torch.tensor(head, dtype=torch.float32),
                  torch.tensor(centre, dtype=torch.float32), torch.tensor(side, dtype=torch.float32))


def _structs(value) -> list:
    """A MATLAB struct array as a list: squeeze_me gives one struct bare, several as an array."""
    if value is None:
        return []
    if isinstance(value, np.ndarray):
        return [v for v in value.ravel() if not isinstance(v, np.ndarray)]
    return [value]


def _number(struct, field: str) -> float | None:
    """A struct's numeric field, None where the release leaves it empty (``[]``) or absent."""
    value = getattr(struct, field, None)
    if value is None or (isinstance(value, np.ndarray) and value.size != 1):
        return None
    try:
        return float(value)
    except (TypeError, ValueError):
        return None


def _person(rect) -> tuple | None:
    """(joints, annotated, head size, crop centre, crop side) of one annorect, None if unusable."""
    box = [_number(rect, f) for f in ("x1", "y1", "x2", "y2")]
    scale = _number(rect, "scale")
    objpos = getattr(rect, "objpos", None)
    points = getattr(getattr(rect, "annopoints", None), "point", None)
    if None in box or scale is None or scale <= 0 or objpos is None or points is None:
        return None
    cx, cy = _number(objpos, "x"), _number(objpos, "y")
    if cx is None or cy is None:
        return None
    joints = np.zeros((JOINTS, 2), dtype=np.float32)
    annotated = np.zeros(JOINTS, dtype=bool)
    for point in _structs(points):
        joint, x, y = _number(point, "id"), _number(point, "x"), _number(point, "y")
        if joint is None or x is None or y is None or not 0 <= joint < JOINTS:
            continue
        joints[int(joint)] = (x - 1, y - 1)  # MATLAB's 1-based pixels
        annotated[int(joint)] = True
    if not annotated.any():
        return None
    head = 0.6 * math.hypot(box[2] - box[0], box[3] - box[1])
    # Newell et al.'s crop: the centre lowered by 15 x scale, a box of 200 x 1.25 x scale pixels.
    return joints, annotated, head, (cx - 1, cy - 1 + 15 * scale), 200 * 1.25 * scale


class PersonCrops:
    """Person crops ``[N, 3, R, R]`` uint8, decoded from the JPEGs when indexed (indexed like a tensor).

    Each crop is the square ``[left, left + side)`` around the person, padded with black where it
    leaves the image, resized with Pillow's bilinear filter (antialiased when shrinking).
    """

    def __init__(self, paths: list[Path], boxes: torch.Tensor, size: int):
        self.paths, self.boxes, self.size = paths, boxes, size  # boxes: [N, 3] int (left, top, side)
        self.dtype = torch.uint8

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.paths), 3, self.size, self.size))

    def __len__(self) -> int:
        return len(self.paths)

    def subset(self, index: torch.Tensor) -> PersonCrops:
        """The crops at ``index``, still undecoded."""
        return PersonCrops([self.paths[i] for i in index.tolist()], self.boxes[index], self.size)

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, int):
            return self._decode(index)
        positions = range(len(self))[index] if isinstance(index, slice) else torch.as_tensor(index).tolist()
        if not len(positions):
            return torch.empty((0, 3, self.size, self.size), dtype=torch.uint8)
        return torch.stack([self._decode(i) for i in positions])  # one JPEG decode per image

    def _decode(self, i: int) -> torch.Tensor:
        from PIL import Image

        left, top, side = self.boxes[i].tolist()
        try:
            with Image.open(self.paths[i]) as image:
                crop = image.convert("RGB").crop((left, top, left + side, top + side))
        except OSError as error:
            raise DataError(f"MPII: cannot decode {self.paths[i]} ({error}); the image is damaged. "
                            f"{WHERE}") from error
        crop = crop.resize((self.size, self.size), Image.Resampling.BILINEAR)
        return torch.from_numpy(np.asarray(crop).copy()).permute(2, 0, 1)

    def __repr__(self) -> str:
        return f"PersonCrops({len(self)} crops of {self.size}x{self.size})"


def load_mpii(directory: str | Path, seed: int, validation: float = 0.1, test: float = 0.1,
              input_size: int = 256, heatmap_size: int = 64) -> Data:
    """MPII's annotated training people, split by image into train / validation / test by the seed."""
    if not (validation >= 0 and test >= 0 and validation + test < 1):
        raise InputError(f"validation and test are fractions of the images summing below 1, "
                         f"got {validation} and {test}")
    directory = Path(directory)
    annotations = find(directory, [ANNOTATIONS, f"mpii_human_pose_v1_u12_2/{ANNOTATIONS}"], "MPII", WHERE)
    people = read_annotations(annotations)
    paths = [directory / "images" / name for name in people.image]
    missing = sorted({str(p) for p in paths if not p.is_file()})
    if missing:
        shown = ", ".join(missing[:3]) + (f" and {len(missing) - 3} more" if len(missing) > 3 else "")
        raise DataError(f"MPII: {len(missing)} images named in {annotations} are missing: {shown}. {WHERE}")

    left_top = (people.centre - people.side[:, None] / 2).round()
    side = people.side.round().clamp_min(1)
    boxes = torch.cat([left_top, side[:, None]], dim=1).long()
    joints = to_heatmap(people.joints - left_top[:, None], side[:, None, None], heatmap_size)
    head_size = people.head_size * heatmap_size / side
    crops = PersonCrops(paths, boxes, input_size)

    images = people.image_index.unique()
    order = images[torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))]
    cut_validation = round(validation * len(images))
    cut_test = cut_validation + round(test * len(images))
    splits = []
    for chosen in (order[cut_test:], order[:cut_validation], order[cut_validation:cut_test]):
        rows = torch.isin(people.image_index, chosen).nonzero().squeeze(1)
        splits.append(Split(crops.subset(rows), (joints[rows], head_size[rows], people.annotated[rows])))
    return Data(train=splits[0], validation=splits[1], test=splits[2],
                source=f"MPII Human Pose in {directory} ({len(people.image)} people of {len(images)} "
                       f"training images; validation and test carved from them)")
