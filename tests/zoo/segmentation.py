"""Segmentation metrics. Semantic: ``scores`` [N, C, H, W] and ``labels`` [N, H, W] in [0, C).
Binary masks: ``scores`` [N, H, W] (logits) and ``masks`` [N, H, W] in {0, 1}."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def pixel_accuracy(outputs, labels):
    pred = outputs.argmax(1)
    correct = (pred == labels).sum().item()
    return correct / labels.numel()


def one_hot_mean_iou(scores, labels):
    num_classes = scores.shape[1]
    pred = F.one_hot(scores.argmax(dim=1), num_classes).permute(0, 3, 1, 2).bool()
    target = F.one_hot(labels, num_classes).permute(0, 3, 1, 2).bool()
    intersection = (pred & target).sum(dim=(0, 2, 3))
    union = (pred | target).sum(dim=(0, 2, 3))
    iou = intersection / union.clamp(min=1)
    return iou[union > 0].mean()


def dice_per_class_loop(scores, labels, eps=1e-6):
    num_classes = scores.size(1)
    pred = scores.argmax(dim=1)
    dice = []
    for c in range(num_classes):
        p = (pred == c).float()
        t = (labels == c).float()
        dice.append((2 * (p * t).sum() + eps) / (p.sum() + t.sum() + eps))
    return torch.stack(dice).mean()


def bincount_confusion_iou(scores, labels):
    # torchvision's references/segmentation ConfusionMatrix: bincount of n * target + pred
    n = scores.shape[1]
    pred = scores.argmax(1).flatten()
    target = labels.flatten()
    inds = n * target + pred
    h = torch.bincount(inds, minlength=n**2).reshape(n, n).float()
    iu = torch.diag(h) / (h.sum(1) + h.sum(0) - torch.diag(h))
    return iu[~torch.isnan(iu)].mean()


def frequency_weighted_iou(scores, labels):
    num_classes = scores.shape[1]
    pred = scores.argmax(1)
    freq = torch.stack([(labels == c).sum() for c in range(num_classes)]).float()
    iou = torch.stack([
        ((pred == c) & (labels == c)).sum() / ((pred == c) | (labels == c)).sum().clamp(min=1)
        for c in range(num_classes)
    ])
    return (freq * iou).sum() / freq.sum()


def binary_dice(logits, masks, smooth=1.0):
    probs = torch.sigmoid(logits)
    pred = (probs > 0.5).float()
    intersection = (pred * masks).sum(dim=(1, 2))
    dice = (2.0 * intersection + smooth) / (pred.sum(dim=(1, 2)) + masks.sum(dim=(1, 2)) + smooth)
    return dice.mean()


def binary_iou(logits, masks):
    pred = logits > 0
    target = masks.bool()
    inter = (pred & target).float().sum((1, 2))
    union = (pred | target).float().sum((1, 2))
    return ((inter + 1e-6) / (union + 1e-6)).mean()


# ---------------------------------------------------------------------------------------------
# Targets with an ignore label (255: unlabelled pixels), masked out before anything is counted

IGNORE_INDEX = 255


def mean_iou_ignore_index(scores, labels):
    # a class loop over valid pixels, classes absent from the batch skipped by nanmean
    pred = scores.argmax(1)
    valid = labels != IGNORE_INDEX
    ious = []
    for c in range(scores.shape[1]):
        p = (pred == c) & valid
        t = (labels == c) & valid
        ious.append((p & t).sum().float() / (p | t).sum().float())
    return torch.nanmean(torch.stack(ious))


def pixel_accuracy_ignore_index(outputs, labels):
    pred = outputs.argmax(1)
    valid = labels != IGNORE_INDEX
    return (pred[valid] == labels[valid]).float().mean()


def torchvision_confusion_miou(output, target):
    # torchvision's references/segmentation/utils.py ConfusionMatrix.update, then compute()
    n = output.shape[1]
    a, b = target.flatten(), output.argmax(1).flatten()
    k = (a >= 0) & (a < n)
    inds = n * a[k].to(torch.int64) + b[k]
    h = torch.bincount(inds, minlength=n**2).reshape(n, n).float()
    iu = torch.diag(h) / (h.sum(1) + h.sum(0) - torch.diag(h))
    return iu.nanmean()


def index_put_dice_ignore(scores, labels):
    n = scores.shape[1]
    valid = labels != IGNORE_INDEX
    cm = torch.zeros(n, n)
    cm.index_put_((labels[valid], scores.argmax(1)[valid]), torch.ones(()), accumulate=True)
    dice = 2 * cm.diag() / (cm.sum(0) + cm.sum(1))
    return dice.nanmean()


def flat_view_accuracy_ignore(output, target):
    pred, target = output.argmax(dim=1).view(-1), target.view(-1)
    keep = target != IGNORE_INDEX
    return (pred[keep] == target[keep]).sum() / keep.sum()
