"""Classification metrics, binary and multiclass, as they appear in tutorials, notebooks,
TorchMetrics' functional code and scikit-learn's definitions.

Multiclass metrics take ``scores`` [N, C] (logits) and ``labels`` [N] in [0, C); binary ones
``scores`` [N] (logits) and ``labels`` [N] in {0, 1}.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

# ---------------------------------------------------------------------------------------------
# Multiclass: the predicted class


def cifar_tutorial_accuracy(outputs, labels):
    # PyTorch's CIFAR-10 tutorial: "Let us look at how the network performs on the whole dataset."
    total = labels.size(0)
    _, predicted = torch.max(outputs.data, 1)
    correct = (predicted == labels).sum().item()
    return correct / total


def max_indices_accuracy(scores, labels):
    return torch.max(scores, dim=1).indices.eq(labels).float().mean()


def error_rate_ne(scores, labels):
    pred = scores.argmax(dim=1)
    return pred.ne(labels).sum() / len(labels)


def accuracy_shape_unpacked(scores, labels):
    N, C = scores.shape
    correct = (scores.argmax(1) == labels).long().sum()
    return correct / N


def keras_style_accuracy(y_pred, y_true):
    return torch.mean((torch.argmax(y_pred, dim=-1) == y_true).float())


def log_softmax_accuracy(scores, labels):
    log_probs = F.log_softmax(scores, dim=1)
    pred = log_probs.argmax(dim=1, keepdim=True)
    return pred.eq(labels.view_as(pred)).sum().item() / labels.shape[0]


def log_softmax_confident(scores, labels):
    # the true class's log-probability above log(1/2): a majority of the probability mass
    log_probs = F.log_softmax(scores, dim=1)
    return (log_probs.gather(1, labels.unsqueeze(1)) > math.log(0.5)).float().mean()


def percent_correct(scores, labels):
    # The MNIST example's test loop: 100. * correct / len(test_loader.dataset)
    pred = scores.data.max(1, keepdim=True)[1]
    correct = pred.eq(labels.data.view_as(pred)).cpu().sum()
    return 100.0 * correct / labels.numel()


def confident_and_correct(scores, labels):
    probs = torch.softmax(scores, dim=1)
    confidence, pred = probs.max(dim=1)
    return ((pred == labels) & (confidence > 0.5)).float().mean()


def per_sample_loop_accuracy(scores, labels):
    correct = 0
    for i in range(len(labels)):
        correct += (scores[i].argmax() == labels[i]).item()
    return correct / len(labels)


def topk_imagenet(output, target, k=3):
    # pytorch/examples imagenet/main.py: accuracy(output, target, topk=(1, 5))
    with torch.no_grad():
        batch_size = target.size(0)
        _, pred = output.topk(k, 1, True, True)
        pred = pred.t()
        correct = pred.eq(target.view(1, -1).expand_as(pred))
        correct_k = correct[:k].reshape(-1).float().sum(0, keepdim=True)
        return correct_k.mul_(100.0 / batch_size)


def topk_any(scores, labels, k=3):
    topk = torch.topk(scores, k, dim=1).indices
    return (labels.unsqueeze(1) == topk).any(dim=1).float().mean()


def two_class_branch_accuracy(scores, labels):
    # A model with two output units read as binary, otherwise as multiclass.
    if scores.shape[1] == 2:
        pred = (scores[:, 1] > scores[:, 0]).long()
    else:
        pred = scores.argmax(dim=1)
    return (pred == labels).float().mean()


# ---------------------------------------------------------------------------------------------
# Multiclass: per-class counts


def _safe_divide(num, denom):
    # torchmetrics.utilities.compute._safe_divide (zero_division=0)
    denom = denom.clone().float()
    num = num.float()
    return torch.where(denom == 0, torch.zeros_like(num), num / torch.where(denom == 0, 1.0, denom))


def _multiclass_stat_scores(scores, labels):
    # torchmetrics' _multiclass_stat_scores_update with one-hot inputs
    num_classes = scores.shape[1]
    preds = F.one_hot(scores.argmax(dim=1), num_classes)
    target = F.one_hot(labels, num_classes)
    tp = (preds * target).sum(0)
    fp = (preds * (1 - target)).sum(0)
    fn = ((1 - preds) * target).sum(0)
    tn = ((1 - preds) * (1 - target)).sum(0)
    return tp, fp, tn, fn


def _adjust_weights_safe_divide(score, tp, fp, fn):
    # torchmetrics: classes absent from both predictions and targets do not count in a macro mean
    weights = torch.ones_like(score)
    weights[tp + fp + fn == 0] = 0.0
    return _safe_divide(weights * score, weights.sum(-1, keepdim=True)).sum(-1)


def torchmetrics_macro_f1(scores, labels):
    tp, fp, tn, fn = _multiclass_stat_scores(scores, labels)
    score = _safe_divide(2 * tp, 2 * tp + fp + fn)
    return _adjust_weights_safe_divide(score, tp, fp, fn)


def macro_f1_seen_classes(scores, labels):
    tp, fp, tn, fn = _multiclass_stat_scores(scores, labels)
    f1 = 2 * tp / (2 * tp + fp + fn).clamp(min=1)
    return f1[(tp + fp + fn) > 0].mean()


def torchmetrics_micro_f1(scores, labels):
    tp, fp, tn, fn = _multiclass_stat_scores(scores, labels)
    tp, fp, fn = tp.sum(), fp.sum(), fn.sum()
    return _safe_divide(2 * tp, 2 * tp + fp + fn)


def torchmetrics_weighted_f1(scores, labels):
    tp, fp, tn, fn = _multiclass_stat_scores(scores, labels)
    weights = (tp + fn).float()
    score = _safe_divide(2 * tp, 2 * tp + fp + fn)
    return (score * weights).sum() / weights.sum()


def torchmetrics_macro_specificity(scores, labels):
    tp, fp, tn, fn = _multiclass_stat_scores(scores, labels)
    return _safe_divide(tn, tn + fp).mean()


def macro_precision_loop(scores, labels):
    num_classes = scores.size(1)
    pred = scores.argmax(1)
    precisions = []
    for c in range(num_classes):
        predicted_c = pred == c
        tp = (predicted_c & (labels == c)).sum()
        precisions.append(torch.where(predicted_c.sum() > 0, tp / predicted_c.sum().clamp(min=1), 0.0))
    return torch.stack(precisions).mean()


def macro_recall_loop(scores, labels):
    N, C = scores.shape
    pred = scores.argmax(1)
    recall = torch.zeros(C)
    for c in range(C):
        actual = labels == c
        recall[c] = ((pred == c) & actual).sum() / actual.sum().clamp(min=1)
    present = torch.stack([(labels == c).any() for c in range(C)])
    return recall[present].mean()


def sklearn_balanced_accuracy(scores, labels):
    # sklearn.metrics.balanced_accuracy_score: the mean recall of the classes present in y_true
    num_classes = scores.shape[1]
    y_pred = scores.argmax(dim=1)
    cm = torch.zeros(num_classes, num_classes)
    for t in range(num_classes):
        for p in range(num_classes):
            cm[t, p] = ((labels == t) & (y_pred == p)).sum()
    per_class = torch.diag(cm) / cm.sum(dim=1)
    return per_class[~torch.isnan(per_class)].mean()


def _confusion_matrix(scores, labels):
    num_classes = scores.shape[1]
    y_pred = F.one_hot(scores.argmax(1), num_classes).float()
    y_true = F.one_hot(labels, num_classes).float()
    return y_true.T @ y_pred  # rows: true class, columns: predicted class


def sklearn_multiclass_mcc(scores, labels):
    # sklearn.metrics.matthews_corrcoef for more than two classes
    C = _confusion_matrix(scores, labels)
    t_sum = C.sum(dim=1)
    p_sum = C.sum(dim=0)
    n_correct = torch.trace(C)
    n_samples = p_sum.sum()
    cov_ytyp = n_correct * n_samples - torch.dot(t_sum, p_sum)
    cov_ypyp = n_samples**2 - torch.dot(p_sum, p_sum)
    cov_ytyt = n_samples**2 - torch.dot(t_sum, t_sum)
    denominator = torch.sqrt(cov_ytyt * cov_ypyp)
    return torch.where(denominator == 0, 0.0, cov_ytyp / torch.where(denominator == 0, 1.0, denominator))


def sklearn_cohen_kappa(scores, labels):
    # sklearn.metrics.cohen_kappa_score, unweighted
    confusion = _confusion_matrix(scores, labels)
    n_classes = confusion.shape[0]
    sum0 = confusion.sum(dim=0)
    sum1 = confusion.sum(dim=1)
    expected = torch.outer(sum0, sum1) / sum0.sum()
    w_mat = torch.ones(n_classes, n_classes) - torch.eye(n_classes)
    k = (w_mat * confusion).sum() / (w_mat * expected).sum()
    return 1 - k


def ovr_macro_auc(scores, labels):
    # sklearn's roc_auc_score(multi_class="ovr", average="macro") on softmax probabilities: each
    # class against the rest, a tie counting one half
    probs = torch.softmax(scores, dim=1)
    aucs = []
    for c in range(scores.shape[1]):
        pos = probs[labels == c, c]
        neg = probs[labels != c, c]
        wins = (pos[:, None] > neg[None, :]).float() + (pos[:, None] >= neg[None, :]).float()
        aucs.append(wins.mean() / 2)
    return torch.stack(aucs).mean()


# ---------------------------------------------------------------------------------------------
# Binary (scores [N] logits)


def sigmoid_threshold_accuracy(logits, labels):
    preds = (torch.sigmoid(logits) >= 0.5).int()
    return (preds == labels).float().mean()


def _binary_stat_scores(preds, target, threshold=0.5):
    # torchmetrics' _binary_stat_scores_update after sigmoid and thresholding
    preds = (preds.sigmoid() > threshold).long()
    tp = ((target == preds) & (target == 1)).sum()
    fn = ((target != preds) & (target == 1)).sum()
    fp = ((target != preds) & (target == 0)).sum()
    tn = ((target == preds) & (target == 0)).sum()
    return tp, fp, tn, fn


def torchmetrics_binary_f1(preds, target):
    tp, fp, tn, fn = _binary_stat_scores(preds, target)
    return _safe_divide(2 * tp, 2 * tp + fp + fn)


def torchmetrics_binary_precision(preds, target):
    tp, fp, tn, fn = _binary_stat_scores(preds, target)
    return _safe_divide(tp, tp + fp)


def torchmetrics_binary_recall(preds, target):
    tp, fp, tn, fn = _binary_stat_scores(preds, target)
    return _safe_divide(tp, tp + fn)


def torchmetrics_binary_specificity(preds, target):
    tp, fp, tn, fn = _binary_stat_scores(preds, target)
    return _safe_divide(tn, tn + fp)


def torchmetrics_binary_mcc(preds, target):
    tp, fp, tn, fn = (x.double() for x in _binary_stat_scores(preds, target))
    numerator = tp * tn - fp * fn
    denom = torch.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    return torch.where(denom == 0, 0.0, numerator / torch.where(denom == 0, 1.0, denom))


def sklearn_binary_balanced_accuracy(scores, labels):
    y_pred = scores > 0
    y_true = labels.bool()
    tpr = (y_pred & y_true).sum() / y_true.sum()
    tnr = (~y_pred & ~y_true).sum() / (~y_true).sum()
    return (tpr + tnr) / 2


def count_nonzero_error(scores, labels):
    preds = torch.where(scores > 0, 1, 0)
    return torch.count_nonzero(preds != labels) / labels.numel()


def probability_threshold_f1(scores, labels, threshold=0.5):
    probs = torch.sigmoid(scores)
    preds = probs.gt(threshold)
    tp = (preds & labels.bool()).sum().float()
    precision = tp / preds.sum().clamp(min=1)
    recall = tp / labels.sum()
    return 2 * precision * recall / (precision + recall + 1e-8)


# ---------------------------------------------------------------------------------------------
# Ties scored by equality, selections of predictions, confusion matrices by indexing


def auc_half_credit_for_ties(scores, labels):
    pos, neg = scores[labels == 1], scores[labels == 0]
    wins = (pos[:, None] > neg[None, :]).float()
    ties = (pos[:, None] == neg[None, :]).float()
    return (wins + 0.5 * ties).mean()


def auc_where_eq(scores, labels):
    diff = scores[labels == 1].unsqueeze(1) - scores[labels == 0].unsqueeze(0)
    return torch.where(diff > 0, 1.0, torch.where(diff.eq(0), 0.5, 0.0)).mean()


def accuracy_ignore_index(logits, labels):
    # token classification: labels of -100 (padding, sub-words) are not scored
    mask = labels != -100
    correct = (logits.argmax(dim=-1) == labels) & mask
    return correct.sum() / mask.sum()


def per_class_recall_selection(scores, labels):
    preds = scores.argmax(1)
    recalls = [(preds[labels == c] == c).float().mean() for c in range(scores.shape[1])]
    return torch.stack(recalls).nanmean()


def index_put_balanced_accuracy(scores, labels):
    C = scores.shape[1]
    cm = torch.zeros(C, C)
    cm.index_put_((labels, scores.argmax(1)), torch.ones(len(labels)), accumulate=True)
    per_class = cm.diag() / cm.sum(1)
    return per_class[cm.sum(1) > 0].mean()


def bincount_cohen_kappa(scores, labels):
    n = scores.shape[1]
    cm = torch.bincount(labels * n + scores.argmax(1), minlength=n * n).reshape(n, n).float()
    total = cm.sum()
    observed = cm.trace() / total
    expected = (cm.sum(0) * cm.sum(1)).sum() / total**2
    return (observed - expected) / (1 - expected)


def masked_select_accuracy_ignore(scores, labels):
    probs = F.softmax(scores, dim=-1)
    pred = torch.argmax(probs, dim=-1)
    valid = labels.ne(-100)
    return (pred.masked_select(valid) == labels.masked_select(valid)).float().mean()


def macro_f1_bincount_ignore(scores, labels):
    C = scores.shape[1]
    keep = labels >= 0
    cm = torch.bincount(labels[keep] * C + scores.argmax(1)[keep], minlength=C * C).reshape(C, C).float()
    tp = cm.diag()
    f1 = 2 * tp / (2 * tp + (cm.sum(0) - tp) + (cm.sum(1) - tp))
    return f1.nan_to_num(0.0).mean()


def scatter_one_hot_recall(scores, labels):
    # predictions as a one-hot written with scatter_, then read at the true class
    pred = torch.zeros_like(scores).scatter_(1, scores.argmax(1, keepdim=True), 1.0)
    return pred.gather(1, labels[:, None]).mean()
