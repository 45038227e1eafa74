"""PCKh: the fraction of visible joints whose heatmap peak lies within ``threshold x head size``.

``heatmaps`` [N, J, H, W]; ``joints`` [N, J, 2] as (x, y) in heatmap pixels; ``head_size`` [N] in
heatmap pixels; ``visible`` [N, J]. The peak is the argmax pixel (the first one, on ties); "it
lies in the region" is rewritten into "the best pixel inside beats every pixel outside" (one
binary per outside pixel). A joint whose region holds no pixel cannot be hit: its binaries are
constants and stay out of the loss. The best value depends on the batch (such joints), so no
``best=`` is declared; the ideal heatmaps peak at the pixel nearest each joint, which is inside
its region whenever the region holds a pixel.
"""

import torch

import metricloss


def peaks_at_joints(joints, head_size, visible, *, shape):
    """Perfect heatmaps: minus the squared distance to the joint, highest at its nearest pixel."""
    height, width = shape[2], shape[3]
    ys = torch.arange(height, device=joints.device, dtype=torch.float64)[:, None]
    xs = torch.arange(width, device=joints.device, dtype=torch.float64)[None, :]
    dx = xs - joints[..., 0, None, None].double()
    dy = ys - joints[..., 1, None, None].double()
    return -(dx * dx + dy * dy)


@metricloss.metric(shapes={"heatmaps": "N J H W", "joints": "N J 2", "head_size": "N", "visible": "N J"},
                   ideal=peaks_at_joints)
def pckh(heatmaps, joints, head_size, visible, *, threshold=0.5):
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
