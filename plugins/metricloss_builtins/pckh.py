"""PCKh: the fraction of visible joints whose heatmap peak lies within ``threshold x head size``.

``heatmaps`` [N, J, H, W]; ``joints`` [N, J, 2] as (x, y) in heatmap pixels; ``head_size`` [N] in
heatmap pixels; ``visible`` [N, J], bool or 0/1. The peak is the argmax pixel (the first one, on
ties); "it lies in the region" is rewritten into "the best pixel inside beats every pixel outside"
(one binary per outside pixel). A joint whose region holds no pixel cannot be hit: its binaries are
constants and stay out of the loss. The best value depends on the batch (such joints), so no
``best=`` is declared; the ideal heatmaps peak at the pixel nearest each joint, which is inside
its region whenever the region holds a pixel.

Checked on every call: a visible joint's coordinates are finite, a sample with a visible joint has
a finite head size above 0, and ``visible`` holds only 0 and 1. A joint that is not visible is not
scored, so its coordinates may be anything (NaN included); ``threshold`` is a finite number above 0.
"""

import torch

import metricloss
from metricloss_builtins import positive_number


def peaks_at_joints(joints, head_size, visible, *, shape):
    """Perfect heatmaps: minus the squared distance to the joint, highest at its nearest pixel."""
    height, width = shape[2], shape[3]
    ys = torch.arange(height, device=joints.device, dtype=torch.float64)[:, None]
    xs = torch.arange(width, device=joints.device, dtype=torch.float64)[None, :]
    dx = xs - joints[..., 0, None, None].double()
    dy = ys - joints[..., 1, None, None].double()
    return -(dx * dx + dy * dy)


def joints_and_head_sizes(heatmaps, joints, head_size, visible, *, threshold):
    """What the shapes cannot say about PCKh's targets, in one device sync (None when all is well)."""
    flags = visible if visible.dtype == torch.bool else (visible != 0) & (visible != 1)
    shown = visible.bool()
    problems = torch.stack([
        torch.zeros((), dtype=torch.bool, device=visible.device) if visible.dtype == torch.bool else flags.any(),
        (shown[..., None] & ~torch.isfinite(joints)).any(),
        (shown.any(1) & ~(torch.isfinite(head_size) & (head_size > 0))).any(),
    ])
    if not bool(problems.any()):
        return None
    if bool(problems[0]):
        index = tuple(int(i) for i in flags.nonzero()[0])
        return (f"visible must be bool or 0/1 (1: the joint is scored), found {visible[index].item()} at "
                f"index {index}; convert your flags, e.g. `visible > 0`")
    if bool(problems[1]):
        index = tuple(int(i) for i in (shown[..., None] & ~torch.isfinite(joints)).nonzero()[0][:2])
        return (f"joint {list(index)} is visible but its coordinates are {joints[index].tolist()}; a visible joint "
                "needs finite (x, y) in heatmap pixels: mark a joint without coordinates as not visible")
    bad = (shown.any(1) & ~(torch.isfinite(head_size) & (head_size > 0))).nonzero()[0]
    sample = int(bad[0])
    return (f"head_size[{sample}] is {head_size[sample].item()}, but sample {sample} has visible joints; "
            "a head size is the PCKh normaliser, a finite length above 0 in heatmap pixels "
            "(0.6 x the head box diagonal in MPII): correct it, or mark the sample's joints as not visible")


def example(seed, n=6, j=6, size=6):
    """A valid batch: joints inside the heatmaps, head sizes of a few pixels, most joints visible."""
    generator = torch.Generator().manual_seed(seed)
    heatmaps = torch.randn(n, j, size, size, generator=generator)
    joints = torch.rand(n, j, 2, generator=generator) * (size - 1)
    head_size = torch.rand(n, generator=generator) * 2 + 1
    visible = torch.rand(n, j, generator=generator) < 0.8
    return heatmaps, joints, head_size, visible


@metricloss.metric(shapes={"heatmaps": "N J H W", "joints": "N J 2", "head_size": "N", "visible": "N J"},
                   ideal=peaks_at_joints, check=joints_and_head_sizes, example=example)
def pckh(heatmaps, joints, head_size, visible, *, threshold=0.5):
    positive_number("threshold", threshold, "get_metric('pckh', threshold=0.5), PCKh@0.5")
    height, width = heatmaps.shape[2], heatmaps.shape[3]
    ys = torch.arange(height, device=joints.device, dtype=joints.dtype)[:, None]
    xs = torch.arange(width, device=joints.device, dtype=joints.dtype)[None, :]
    dx = xs - joints[..., 0, None, None]
    dy = ys - joints[..., 1, None, None]
    radius = threshold * head_size[:, None, None, None]
    within = (dx * dx + dy * dy <= radius * radius).flatten(2)  # [N, J, H*W]
    peak = heatmaps.flatten(2).argmax(2, keepdim=True)
    hit = within.gather(2, peak).squeeze(2)
    visible = visible.bool()
    return (hit & visible).sum() / visible.sum()
