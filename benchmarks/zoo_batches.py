"""The metric zoo (``tests/zoo``) at training sizes: its metrics, batches of each kind at any size,
and the loss each kind is usually trained with.

The zoo lives in the source tree, not in the installed package: ``load_zoo`` finds it in the
repository checkout next to this folder (or under the working directory) and imports it under a
name of its own, so that nothing in ``tests/`` shadows an installed module. Without a checkout
(an installed wheel) it says so, and the table that needs it prints that instead of rows.

``zoo_batch`` draws the same kinds of batches as ``tests/zoo/batches.py`` (whose sizes are fixed
module constants, for the tests), with every size a parameter: the same label distributions,
and the same guarantees (both labels present, every multi-label column with a positive and a
negative, an ignored and a kept item in every ignore batch).
"""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Callable
from pathlib import Path

import torch
import torch.nn.functional as F

SEG_IGNORE, CLASS_IGNORE = 255, -100  # the zoo's ignore labels: segmentation masks, cross-entropy
ZOO_PACKAGE = "metricloss_benchmarks_zoo"


def zoo_folder() -> Path | None:
    """``tests/zoo`` of the checkout this package runs from, or of the working directory."""
    for root in (Path(__file__).resolve().parents[1], Path.cwd()):
        folder = root / "tests" / "zoo"
        if (folder / "catalog.py").is_file():
            return folder
    return None


def load_zoo() -> tuple[list | None, str]:
    """(the zoo's entries, where they came from), or (None, why there are none)."""
    folder = zoo_folder()
    if folder is None:
        return None, ("the metric zoo (tests/zoo) is not here: it lives in the repository's source tree, not in "
                      "the installed package; run `metricloss bench` from a checkout of the repository")
    try:
        if ZOO_PACKAGE not in sys.modules:
            spec = importlib.util.spec_from_file_location(ZOO_PACKAGE, folder / "__init__.py",
                                                          submodule_search_locations=[str(folder)])
            package = importlib.util.module_from_spec(spec)
            sys.modules[ZOO_PACKAGE] = package
            spec.loader.exec_module(package)
        catalog = importlib.import_module(f"{ZOO_PACKAGE}.catalog")
    except Exception as error:  # noqa: BLE001 - a broken or partial zoo is a note, not a crash
        sys.modules.pop(ZOO_PACKAGE, None)
        return None, f"the metric zoo at {folder} could not be imported: {type(error).__name__}: {error}"
    return list(catalog.ZOO), f"the metric zoo at {folder}"


def zoo_batch(kind: str, shape: tuple[int, ...], seed: int = 0) -> tuple[torch.Tensor, tuple]:
    """Scores of ``shape`` (normal, float32) and the targets of ``kind`` that go with them.

    Shapes: [N] for binary, graded and regression; [N, C] for classes (and classes_ignore);
    [Q, D] for queries; [N, L] for multilabel; [N, C, H, W] for segmentation (and
    segmentation_ignore); [N, H, W] for masks; [N, J, H, W] for heatmaps.
    """
    generator = torch.Generator().manual_seed(seed)
    scores = torch.randn(shape, generator=generator)
    return scores, _targets(kind, shape, generator)


def _targets(kind: str, shape: tuple[int, ...], generator: torch.Generator) -> tuple:
    n = shape[0]
    if kind == "binary":  # half positives, both present
        labels = torch.randint(0, 2, (n,), generator=generator)
        labels[:2] = torch.tensor([0, 1])
        return (labels,)
    if kind == "graded":  # grades 0 to 3, a zero and a positive present
        grades = torch.randint(0, 4, (n,), generator=generator)
        grades[:2] = torch.tensor([0, 2])
        return (grades,)
    if kind == "regression":
        return (torch.randn(n, generator=generator),)
    if kind in ("classes", "classes_ignore"):
        labels = torch.randint(0, shape[1], (n,), generator=generator)
        if kind == "classes":
            return (labels,)
        ignored = torch.rand(n, generator=generator) < 0.25  # cross-entropy's -100, about a quarter
        ignored[:2] = torch.tensor([False, True])
        return (labels.masked_fill(ignored, CLASS_IGNORE),)
    if kind == "queries":  # two or three relevant items per query, graded 1 or 2, at random places
        queries, documents = shape
        places = torch.rand(queries, documents, generator=generator).argsort(1)[:, :3]
        grades = torch.randint(1, 3, places.shape, generator=generator)
        grades[:, 2] *= torch.randint(0, 2, (queries,), generator=generator)
        return (torch.zeros(queries, documents, dtype=torch.long).scatter(1, places, grades),)
    if kind == "multilabel":  # every label has a positive (row 0 or 1) and a negative (the other)
        labels = torch.randint(0, 2, shape, generator=generator)
        labels[0] = torch.arange(shape[1]) % 2
        labels[1] = 1 - labels[0]
        return (labels,)
    if kind in ("segmentation", "segmentation_ignore"):
        images, classes, height, width = shape
        labels = torch.randint(0, classes, (images, height, width), generator=generator)
        if kind == "segmentation":
            return (labels,)
        ignored = torch.rand(labels.shape, generator=generator) < 0.25  # the 255 of VOC's borders
        ignored[0, -1, -1], ignored[0, -1, -2] = True, False
        return (labels.masked_fill(ignored, SEG_IGNORE),)
    if kind == "masks":  # both values in every image
        masks = torch.randint(0, 2, shape, generator=generator)
        masks[:, 0, :2] = torch.tensor([0, 1])
        return (masks,)
    if kind == "heatmaps":  # (x, y) anywhere inside the map
        _, joints, height, width = shape
        scale = torch.tensor([width - 1.0, height - 1.0])
        return (torch.rand(n, joints, 2, generator=generator) * scale,)
    raise ValueError(f"no batches of kind {kind!r}: the zoo's kinds are binary, graded, regression, classes, "
                     "classes_ignore, queries, multilabel, segmentation, segmentation_ignore, masks, heatmaps")


def listwise_cross_entropy(scores: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    """ListNet's top-one softmax cross-entropy (Cao et al., ICML 2007), per list, averaged."""
    return -(F.softmax(relevance.to(scores.dtype), -1) * F.log_softmax(scores, -1)).sum(-1).mean()


def _binary_cross_entropy(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(scores, labels.to(scores.dtype))


def _heatmap_mse(heatmaps: torch.Tensor, joints: torch.Tensor) -> torch.Tensor:
    from metricloss_builtins.task_pose import mse_to_gaussians

    every = heatmaps.new_ones(joints.shape[:2])
    return mse_to_gaussians(heatmaps, joints, every[:, 0], every)


BASELINES: dict[str, tuple[str, Callable[..., torch.Tensor]]] = {
    "binary": ("BCE", _binary_cross_entropy),
    "masks": ("BCE", _binary_cross_entropy),
    "multilabel": ("BCE", _binary_cross_entropy),
    "graded": ("listwise CE", listwise_cross_entropy),  # one list: the graded kind ranks its items
    "queries": ("listwise CE", listwise_cross_entropy),
    "regression": ("MSE", F.mse_loss),
    "classes": ("CE", F.cross_entropy),
    "classes_ignore": ("CE", F.cross_entropy),  # ignore_index=-100 is cross-entropy's default
    "segmentation": ("CE", F.cross_entropy),
    "segmentation_ignore": ("CE", lambda scores, labels: F.cross_entropy(scores, labels, ignore_index=SEG_IGNORE)),
    "heatmaps": ("MSE", _heatmap_mse),
}
