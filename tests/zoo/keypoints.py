"""Keypoint metrics on heatmaps: ``heatmaps`` [N, J, H, W] and ``joints`` [N, J, 2] as (x, y)
in heatmap pixels. The predicted joint is the heatmap's argmax pixel, from a flat argmax."""

from __future__ import annotations

import torch


def flat_argmax_pck(heatmaps, joints, threshold=1.5):
    N, J, H, W = heatmaps.shape
    idx = heatmaps.reshape(N, J, -1).argmax(dim=-1)
    pred_y = idx // W
    pred_x = idx % W
    dist = torch.sqrt((pred_x - joints[..., 0]) ** 2 + (pred_y - joints[..., 1]) ** 2)
    return (dist <= threshold).float().mean()


def hrnet_get_max_preds_accuracy(batch_heatmaps, joints, thr=0.5):
    # HRNet's get_max_preds + accuracy(): distances normalised by a tenth of the heatmap size
    batch_size, num_joints, height, width = batch_heatmaps.shape
    heatmaps_reshaped = batch_heatmaps.reshape((batch_size, num_joints, -1))
    maxvals, idx = torch.max(heatmaps_reshaped, 2)
    preds = torch.stack([idx % width, torch.floor(idx / width)], dim=-1).float()
    norm = torch.tensor([height, width]).float() / 10
    dists = torch.linalg.norm((preds - joints) / norm, dim=-1)
    return (dists < thr).float().mean()


def divmod_pck_per_joint(heatmaps, joints, threshold=1.0):
    # PCK per joint type, then averaged; coordinates with divmod-style integer division
    n, j, h, w = heatmaps.shape
    flat = heatmaps.view(n, j, h * w)
    peak = torch.argmax(flat, dim=2)
    coords = torch.stack((torch.remainder(peak, w), torch.div(peak, w, rounding_mode="floor")), dim=2)
    within = (coords.float() - joints).norm(dim=2) <= threshold
    per_joint = within.float().mean(dim=0)
    return per_joint.mean()


def pck_bbox(heatmaps, joints, alpha=0.5):
    # PCK@alpha of the joints' bounding box: the prediction (x, y) stacked from a flat argmax
    N, J, H, W = heatmaps.shape
    idx = heatmaps.view(N, J, H * W).argmax(dim=2)
    pred = torch.stack([idx % W, idx // W], dim=-1).float()
    bbox = (joints.amax(dim=1) - joints.amin(dim=1)).norm(dim=-1)  # [N]
    dist = torch.norm(pred - joints, dim=-1)
    return (dist <= alpha * bbox[:, None]).float().mean()
