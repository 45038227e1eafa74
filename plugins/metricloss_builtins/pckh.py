"""PCKh: the fraction of visible joints whose heatmap peak lies within ``threshold x head size``.

``heatmaps`` [N, J, H, W]; ``joints`` [N, J, 2] as (x, y) in heatmap pixels; ``head_size`` [N] in
heatmap pixels; ``visible`` [N, J]. The peak is the argmax pixel; "it lies in the region" is
rewritten into "the best pixel inside beats every pixel outside" (one binary per outside pixel).
A joint whose region holds no pixel cannot be hit: its binaries are constants and stay out of
the loss. The best value depends on the batch (such joints), so no ``best=`` is declared.
"""

import torch

import metricloss


@metricloss.metric(shapes={"heatmaps": "N J H W", "joints": "N J 2", "head_size": "N", "visible": "N J"})
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
