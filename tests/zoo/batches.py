"""Batches for the zoo's metrics, one generator per kind of input, and perfect scores for each.

| kind | scores | targets |
|---|---|---|
| ``binary`` | ``[N]`` logits | labels ``[N]`` in {0, 1}, both present |
| ``graded`` | ``[N]`` | relevance grades ``[N]`` in {0, 1, 2, 3}, a positive and a zero present |
| ``classes`` | ``[N, C]`` logits | labels ``[N]`` in [0, C) |
| ``queries`` | ``[Q, D]`` | relevance ``[Q, D]``: two or three relevant items per query, graded 1 or 2 |
| ``multilabel`` | ``[N, L]`` logits | ``[N, L]`` in {0, 1}; every label has a positive and a negative |
| ``segmentation`` | ``[N, C, H, W]`` | labels ``[N, H, W]`` in [0, C) |
| ``segmentation_ignore`` | ``[N, C, H, W]`` | labels ``[N, H, W]`` in [0, C), about a quarter 255 (ignored) |
| ``classes_ignore`` | ``[N, C]`` logits | labels ``[N]`` in [0, C), a few -100 (ignored, cross-entropy's convention) |
| ``masks`` | ``[N, H, W]`` logits | masks ``[N, H, W]`` in {0, 1}, both present |
| ``heatmaps`` | ``[N, J, H, W]`` | joints ``[N, J, 2]`` as (x, y) pixel coordinates inside the map |
| ``regression`` | ``[N]`` | float targets ``[N]`` |

``ties=True`` draws integer scores from a small range (and integer targets where targets are
real), so that scores tie constantly; ``constant`` makes a collapsed model: ``"zeros"`` every score
the same, ``"rows"`` every item (sample, query, image) scored like the first one.
"""

from __future__ import annotations

import torch

KINDS = ("binary", "graded", "classes", "queries", "multilabel", "segmentation", "masks", "heatmaps",
         "regression", "segmentation_ignore", "classes_ignore")
SEG_IGNORE, CLASS_IGNORE = 255, -100  # the ignore labels of segmentation masks and of cross-entropy

N = 12            # items of a 1-d batch, samples of a classification batch
CLASSES = 5
QUERIES, DOCUMENTS = 4, 12
LABELS = 4        # multi-label: labels per sample
IMAGES, HEIGHT, WIDTH = 2, 4, 5
SEG_CLASSES = 3
JOINTS, MAP_H, MAP_W = 3, 5, 6
# A smaller (ragged last) batch: fewer items, queries or images, the other dimensions the same.
SMALL = {N: 7, QUERIES: 3, IMAGES: 1}


def score_shape(kind: str, classes: int = CLASSES, small: bool = False) -> tuple[int, ...]:
    n, queries, images = (SMALL[N], SMALL[QUERIES], SMALL[IMAGES]) if small else (N, QUERIES, IMAGES)
    return {
        "binary": (n,), "graded": (n,), "regression": (n,),
        "classes": (n, classes), "classes_ignore": (n, classes),
        "queries": (queries, DOCUMENTS),
        "multilabel": (n, LABELS),
        "segmentation": (images, SEG_CLASSES, HEIGHT, WIDTH),
        "segmentation_ignore": (images, SEG_CLASSES, HEIGHT, WIDTH),
        "masks": (images, HEIGHT, WIDTH),
        "heatmaps": (images, JOINTS, MAP_H, MAP_W),
    }[kind]


def random_scores(shape, generator: torch.Generator, ties: bool = False) -> torch.Tensor:
    if ties:
        return torch.randint(-2, 3, shape, generator=generator).float()
    return torch.randn(shape, generator=generator)


def collapse(scores: torch.Tensor, constant: str | None) -> torch.Tensor:
    """A collapsed model's scores: all the same (``"zeros"``) or every item like the first (``"rows"``)."""
    if constant is None:
        return scores
    if constant == "zeros" or scores.dim() == 1:
        return torch.zeros_like(scores)
    return scores[:1].expand_as(scores).clone()


def targets(kind: str, generator: torch.Generator, ties: bool = False, classes: int = CLASSES,
            complete: bool = False, small: bool = False) -> tuple:
    """The targets of one batch of ``kind`` (a tuple: the metric's arguments after the scores).

    With ``complete``, every class is present and every multi-label sample has a label, so that
    metrics averaged over all classes or samples (zero when a class or a sample has nothing to
    find) can reach their best: the batches the tests train on."""
    shape = score_shape(kind, classes, small)
    n = queries = images = shape[0]
    if kind == "binary":
        labels = torch.randint(0, 2, (n,), generator=generator)
        labels[:2] = torch.tensor([0, 1])
        return (labels,)
    if kind == "graded":
        grades = torch.randint(0, 4, (n,), generator=generator)
        grades[:2] = torch.tensor([0, 2])
        return (grades,)
    if kind == "regression":
        if ties:
            return (torch.randint(0, 4, (n,), generator=generator).float(),)
        return (torch.randn(n, generator=generator),)
    if kind == "classes":
        labels = torch.randint(0, classes, (n,), generator=generator)
        if complete:
            labels[torch.randperm(n, generator=generator)[:classes]] = torch.arange(classes)
        return (labels,)
    if kind == "classes_ignore":
        (labels,) = targets("classes", generator, ties, classes, complete, small)
        ignored = torch.rand(n, generator=generator) < 0.25
        ignored[:2] = torch.tensor([False, True])  # one ignored, one kept, in every batch
        if complete:  # every class kept somewhere
            ignored[torch.randperm(n, generator=generator)[:classes]] = False
            labels[ignored.logical_not().nonzero()[:classes, 0]] = torch.arange(classes)
        return (labels.masked_fill(ignored, CLASS_IGNORE),)
    if kind == "queries":
        # Two or three relevant items per query, graded 1 or 2, at random places.
        places = torch.rand(queries, DOCUMENTS, generator=generator).argsort(1)[:, :3]
        grades = torch.randint(1, 3, places.shape, generator=generator)
        grades[:, 2] *= torch.randint(0, 2, (queries,), generator=generator)
        return (torch.zeros(queries, DOCUMENTS, dtype=torch.long).scatter(1, places, grades),)
    if kind == "multilabel":
        labels = torch.randint(0, 2, (n, LABELS), generator=generator)
        labels[0] = torch.arange(LABELS) % 2
        labels[1] = 1 - labels[0]
        if complete:
            labels[torch.arange(n), torch.randint(0, LABELS, (n,), generator=generator)] = 1
        return (labels,)
    if kind == "segmentation":
        labels = torch.randint(0, SEG_CLASSES, (images, HEIGHT, WIDTH), generator=generator)
        if complete:
            labels[0, 0, :SEG_CLASSES] = torch.arange(SEG_CLASSES)
        return (labels,)
    if kind == "segmentation_ignore":
        (labels,) = targets("segmentation", generator, ties, classes, complete, small)
        ignored = torch.rand(labels.shape, generator=generator) < 0.25
        ignored[0, -1, -1], ignored[0, -1, -2] = True, False
        if complete:
            ignored[0, 0, :SEG_CLASSES] = False
        return (labels.masked_fill(ignored, SEG_IGNORE),)
    if kind == "masks":
        masks = torch.randint(0, 2, (images, HEIGHT, WIDTH), generator=generator)
        masks[:, 0, :2] = torch.tensor([0, 1])
        return (masks,)
    if kind == "heatmaps":
        scale = torch.tensor([MAP_W - 1.0, MAP_H - 1.0])
        return (torch.rand(images, JOINTS, 2, generator=generator) * scale,)
    raise ValueError(kind)


def batch(kind: str, generator: torch.Generator, ties: bool = False, constant: str | None = None,
          classes: int = CLASSES, complete: bool = False, small: bool = False) -> tuple[torch.Tensor, tuple]:
    """(scores, targets) for one kind of metric; ``small``: a batch with fewer items."""
    scores = random_scores(score_shape(kind, classes, small), generator, ties)
    return collapse(scores, constant), targets(kind, generator, ties, classes, complete, small)


def perfect(kind: str, scores: torch.Tensor, targets: tuple, generator: torch.Generator) -> torch.Tensor:
    """Perfect scores with ordinary separation: the right class (label, level) at +20 or ordered
    20 apart, the rest anywhere below; heatmaps peak at the pixel nearest each joint."""
    (target,) = targets
    noise = torch.rand(scores.shape, generator=generator)
    if kind == "classes":
        out = torch.randn(scores.shape, generator=generator)
        out[torch.arange(scores.shape[0]), target] = 20.0
        return out
    if kind == "classes_ignore":  # an ignored sample may score anything
        out = torch.randn(scores.shape, generator=generator)
        kept = target != CLASS_IGNORE
        out[kept.nonzero()[:, 0], target[kept]] = 20.0
        return out
    if kind in ("segmentation", "segmentation_ignore"):
        kept = (target >= 0) & (target < scores.shape[1])
        top = torch.nn.functional.one_hot(torch.where(kept, target, 0), scores.shape[1]) * kept[..., None]
        return noise + 20.0 * top.permute(0, 3, 1, 2)
    if kind in ("binary", "multilabel", "masks"):
        return torch.where(target == 1, 20.0, -20.0) + noise
    if kind == "regression":
        return target.clone()
    if kind == "heatmaps":
        height, width = scores.shape[2], scores.shape[3]
        ys = torch.arange(height, dtype=torch.float32)[:, None]
        xs = torch.arange(width, dtype=torch.float32)[None, :]
        dx = xs - target[..., 0, None, None]
        dy = ys - target[..., 1, None, None]
        return -(dx * dx + dy * dy)
    # graded, queries: relevance levels 20 apart
    levels = torch.unique(target, return_inverse=True)[1].float()
    return levels * 20.0 + noise
