"""The zoo: every metric with the batch it takes, its goal, where its style comes from, and what
the tests hold it to.

``eager_ties=False`` marks metrics whose eager value on tied scores is not defined by torch
(``topk``/``argsort``/``sort`` without ``stable=True``): compiling one warns so
(``TieOrderWarning``), and on ties they are held to ``reference`` (``references.py``) and to
their stable twin (``stable.py``, the same code with ``stable=True``) instead. ``trained``
metrics are also trained from raw scores in the tests.
``pending`` names a compiler limitation the metric currently meets (its tests are expected to
fail until the compiler handles it); the catalog page lists those apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from . import classification as cls
from . import keypoints as kp
from . import multilabel as ml_
from . import ranking as rk
from . import references as ref
from . import regression as rg
from . import segmentation as seg
from . import stable


@dataclass(frozen=True)
class Entry:
    fn: Callable
    kind: str                      # a batch kind of ``batches.py``
    domain: str
    style: str                     # where the way of writing it comes from
    idiom: str                     # the construct it exercises, for the catalog page
    higher_is_better: bool = True
    best: float | None = 1.0
    eager_ties: bool = True        # its eager value is well defined on tied scores
    reference: Callable | None = None  # what it is held to on ties when it is not
    trained: bool = False
    classes: tuple[int, ...] = (5,)  # class counts a ``classes`` batch is drawn with
    batch_loop: bool = False       # loops in Python over the samples (traced per batch size)
    pending: str | None = None     # a compiler limitation it meets today

    @property
    def name(self) -> str:
        return self.fn.__name__

    @property
    def stable(self) -> Callable | None:
        """The same code with stable sorts (``stable.py``), for a metric whose tie order is open."""
        return getattr(stable, self.name, None)


ZOO: list[Entry] = [
    # ---- classification, multiclass
    Entry(cls.cifar_tutorial_accuracy, "classes", "classification", "tutorial",
          "`_, predicted = torch.max(outputs.data, 1)`; `(predicted == labels).sum().item() / total`",
          trained=True),
    Entry(cls.max_indices_accuracy, "classes", "classification", "notebook",
          "`torch.max(scores, dim=1).indices.eq(labels)`"),
    Entry(cls.error_rate_ne, "classes", "classification", "notebook",
          "`pred.ne(labels).sum() / len(labels)`", higher_is_better=False, best=0.0),
    Entry(cls.accuracy_shape_unpacked, "classes", "classification", "notebook",
          "`N, C = scores.shape`; `.long().sum() / N`"),
    Entry(cls.keras_style_accuracy, "classes", "classification", "notebook",
          "`torch.argmax(y_pred, dim=-1) == y_true`"),
    Entry(cls.log_softmax_accuracy, "classes", "classification", "tutorial",
          "`F.log_softmax` then `argmax(dim=1, keepdim=True)`, `pred.eq(labels.view_as(pred))`"),
    Entry(cls.log_softmax_confident, "classes", "classification", "notebook",
          "`F.log_softmax(scores, dim=1).gather(1, labels.unsqueeze(1)) > math.log(0.5)`"),
    Entry(cls.percent_correct, "classes", "classification", "tutorial",
          "MNIST example: `scores.data.max(1, keepdim=True)[1]`, `100. * correct / N`", best=100.0),
    Entry(cls.confident_and_correct, "classes", "classification", "notebook",
          "`confidence, pred = torch.softmax(scores, 1).max(dim=1)`; `confidence > 0.5`"),
    Entry(cls.per_sample_loop_accuracy, "classes", "classification", "notebook",
          "`for i in range(len(labels))`: `correct += (scores[i].argmax() == labels[i]).item()`",
          batch_loop=True),
    Entry(cls.topk_imagenet, "classes", "classification", "pytorch-examples",
          "ImageNet example: `with torch.no_grad():`, `output.topk(k, 1, True, True)`, "
          "`pred.t().eq(target.view(1, -1))`, `mul_`",
          best=100.0, eager_ties=False, reference=ref.topk_imagenet, trained=True),
    Entry(cls.topk_any, "classes", "classification", "notebook",
          "`(labels.unsqueeze(1) == torch.topk(scores, k, dim=1).indices).any(dim=1)`",
          eager_ties=False, reference=ref.topk_any),
    Entry(cls.two_class_branch_accuracy, "classes", "classification", "notebook",
          "`if scores.shape[1] == 2:` a binary reading, else argmax", classes=(2, 5)),
    Entry(cls.torchmetrics_macro_f1, "classes", "classification", "torchmetrics",
          "one-hot stat scores, macro F1 weighted by `weights[tp + fp + fn == 0] = 0.0`"),
    Entry(cls.macro_f1_seen_classes, "classes", "classification", "notebook",
          "macro F1 over the classes seen: `f1[(tp + fp + fn) > 0].mean()`", trained=True),
    Entry(cls.torchmetrics_micro_f1, "classes", "classification", "torchmetrics",
          "one-hot stat scores summed over classes, micro F1"),
    Entry(cls.torchmetrics_weighted_f1, "classes", "classification", "torchmetrics",
          "per-class F1 weighted by support"),
    Entry(cls.torchmetrics_macro_specificity, "classes", "classification", "torchmetrics",
          "per-class `tn / (tn + fp)`"),
    Entry(cls.macro_precision_loop, "classes", "classification", "notebook",
          "`for c in range(scores.size(1))`: `pred == c`, `torch.where`, `torch.stack`",
          trained=True, classes=(3, 5)),
    Entry(cls.macro_recall_loop, "classes", "classification", "notebook",
          "`N, C = scores.shape`; `recall[c] = ...` in a loop over classes"),
    Entry(cls.sklearn_balanced_accuracy, "classes", "classification", "sklearn",
          "confusion matrix filled in a double loop over classes, `torch.diag(cm) / cm.sum(1)`"),
    Entry(cls.sklearn_multiclass_mcc, "classes", "classification", "sklearn",
          "confusion matrix `y_true.T @ y_pred` of one-hots, `torch.trace`, `torch.dot`",
          best=1.0, trained=True),
    Entry(cls.sklearn_cohen_kappa, "classes", "classification", "sklearn",
          "confusion matrix, `torch.outer`, `torch.ones(n, n) - torch.eye(n)`"),
    Entry(cls.ovr_macro_auc, "classes", "classification", "sklearn",
          "`for c in range(scores.shape[1])`: one-vs-rest AUC of `torch.softmax(scores, 1)[:, c]`",
          trained=True),
    # ---- classification, binary
    Entry(cls.sigmoid_threshold_accuracy, "binary", "classification", "notebook",
          "`(torch.sigmoid(logits) >= 0.5).int() == labels`"),
    Entry(cls.torchmetrics_binary_f1, "binary", "classification", "torchmetrics",
          "`preds.sigmoid() > threshold`, `(target == preds) & (target == 1)`", trained=True),
    Entry(cls.torchmetrics_binary_precision, "binary", "classification", "torchmetrics",
          "binary stat scores, `tp / (tp + fp)`"),
    Entry(cls.torchmetrics_binary_recall, "binary", "classification", "torchmetrics",
          "binary stat scores, `tp / (tp + fn)`"),
    Entry(cls.torchmetrics_binary_specificity, "binary", "classification", "torchmetrics",
          "binary stat scores, `tn / (tn + fp)`"),
    Entry(cls.torchmetrics_binary_mcc, "binary", "classification", "torchmetrics",
          "binary stat scores as float64, `torch.sqrt` of the count products"),
    Entry(cls.sklearn_binary_balanced_accuracy, "binary", "classification", "sklearn",
          "`(tpr + tnr) / 2` with `~y_pred & ~y_true`"),
    Entry(cls.count_nonzero_error, "binary", "classification", "notebook",
          "`torch.where(scores > 0, 1, 0)`, `torch.count_nonzero(preds != labels)`",
          higher_is_better=False, best=0.0),
    Entry(cls.probability_threshold_f1, "binary", "classification", "notebook",
          "`torch.sigmoid(scores).gt(threshold)` with `threshold=0.5` a parameter"),
    Entry(cls.auc_half_credit_for_ties, "binary", "classification", "notebook",
          "`(pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])`: `==` of scores",
          trained=True),
    Entry(cls.auc_where_eq, "binary", "classification", "notebook",
          "`torch.where(diff > 0, 1.0, torch.where(diff.eq(0), 0.5, 0.0))`"),
    Entry(cls.accuracy_ignore_index, "classes_ignore", "classification", "huggingface",
          "token classification: `mask = labels != -100`, `(logits.argmax(-1) == labels) & mask`",
          trained=True),
    Entry(cls.masked_select_accuracy_ignore, "classes_ignore", "classification", "notebook",
          "`pred.masked_select(valid) == labels.masked_select(valid)` after `softmax`"),
    Entry(cls.macro_f1_bincount_ignore, "classes_ignore", "classification", "notebook",
          "macro F1 from `torch.bincount(labels[keep] * C + preds[keep])`, `nan_to_num`", trained=True),
    Entry(cls.scatter_one_hot_recall, "classes", "classification", "notebook",
          "`torch.zeros_like(scores).scatter_(1, scores.argmax(1, keepdim=True), 1.0)`"),
    Entry(cls.per_class_recall_selection, "classes", "classification", "notebook",
          "`preds[labels == c] == c` in a class loop, `nanmean`"),
    Entry(cls.index_put_balanced_accuracy, "classes", "classification", "notebook",
          "`cm.index_put_((labels, preds), ones, accumulate=True)` confusion matrix", trained=True),
    Entry(cls.bincount_cohen_kappa, "classes", "classification", "sklearn",
          "Cohen's kappa from `torch.bincount(labels * n + preds, minlength=n * n)`"),
    # ---- ranking and retrieval
    Entry(rk.mann_whitney_auc, "binary", "ranking", "sklearn",
          "Mann-Whitney U from `scores.argsort().argsort() + 1`", eager_ties=False,
          reference=ref.mann_whitney_auc, trained=True),
    Entry(rk.sign_auc, "binary", "ranking", "notebook",
          "`(torch.sign(pos[:, None] - neg[None, :]) + 1) / 2`: a tie counts one half"),
    Entry(rk.sort_cumsum_average_precision, "binary", "ranking", "notebook",
          "`_, indices = torch.sort(scores, descending=True)`, `labels[indices].cumsum(0)`",
          eager_ties=False, reference=ref.average_precision),
    Entry(rk.topk_precision, "binary", "ranking", "notebook",
          "`labels[torch.topk(scores, k).indices].sum() / k`", best=None, eager_ties=False,
          reference=ref.topk_precision),
    Entry(rk.topk_recall, "binary", "ranking", "notebook",
          "`labels.gather(0, scores.topk(k).indices)`", best=None, eager_ties=False,
          reference=ref.topk_recall),
    Entry(rk.topk_hit, "binary", "ranking", "notebook",
          "`(labels[top] == 1).any()`", eager_ties=False, reference=ref.topk_hit),
    Entry(rk.sklearn_ndcg_at_k, "graded", "ranking", "sklearn",
          "`grades[torch.argsort(scores, descending=True)][:k]`, `1 / torch.log2(arange + 2)`",
          eager_ties=False, reference=ref.sklearn_ndcg_at_k),
    Entry(rk.graded_pairwise_accuracy, "graded", "ranking", "notebook",
          "pairs with different grades ordered by `scores[:, None] > scores[None, :]`"),
    Entry(rk.torchmetrics_ndcg, "queries", "ranking", "torchmetrics",
          "`target.gather(-1, torch.argsort(preds, dim=-1, descending=True))[:, :top_k]`",
          eager_ties=False, reference=ref.torchmetrics_ndcg, trained=True),
    Entry(rk.exponential_gain_ndcg, "queries", "ranking", "notebook",
          "`(2 ** rel - 1) / math.log2(i + 2)` in a loop over positions", eager_ties=False,
          reference=ref.exponential_gain_ndcg),
    Entry(rk.torchmetrics_mrr, "queries", "ranking", "torchmetrics",
          "per query: `target[q][torch.argsort(preds[q], descending=True)]`, `torch.nonzero(...)[0]`",
          eager_ties=False, reference=ref.reciprocal_rank, batch_loop=True),
    Entry(rk.first_hit_mrr, "queries", "ranking", "notebook",
          "`hits.float().argmax(dim=1)` of the ranked relevance: the first hit", eager_ties=False,
          reference=ref.reciprocal_rank, trained=True),
    Entry(rk.topk_gather_recall, "queries", "ranking", "notebook",
          "`relevance.gather(1, torch.topk(scores, k, dim=1).indices) > 0`", eager_ties=False,
          reference=ref.topk_gather_recall, trained=True),
    Entry(rk.topk_gather_precision, "queries", "ranking", "notebook",
          "`_, top = scores.topk(k, dim=1)`, precision of the top k", best=None, eager_ties=False,
          reference=ref.topk_gather_precision),
    Entry(rk.hit_rate_at_k, "queries", "ranking", "notebook",
          "`.any(dim=-1)` over the gathered top k", eager_ties=False, reference=ref.hit_rate_at_k),
    Entry(rk.mean_average_precision, "queries", "ranking", "notebook",
          "per-query AP by `cumsum(dim=1) / positions` after `torch.argsort`", eager_ties=False,
          reference=ref.mean_average_precision, trained=True),
    Entry(rk.r_precision_masked, "queries", "ranking", "notebook",
          "R-precision: `ranks < r` with `r = relevant.sum(1, keepdim=True)`", eager_ties=False,
          reference=ref.r_precision),
    Entry(rk.topk_hit_count, "queries", "ranking", "recsys",
          "`(scores.topk(k, dim=1).indices == target[:, None]).sum(1)`: a hit count", eager_ties=False,
          reference=ref.topk_hit_count),
    Entry(rk.order_and_ranks, "queries", "ranking", "recsys",
          "one `argsort` used as an order (`gather`) and, argsorted again, as ranks"),
    Entry(rk.masked_candidates_top1, "queries", "ranking", "recsys",
          "`torch.where(candidates, scores, torch.full_like(scores, -inf)).argmax(1)`, "
          "`relevance.gather(1, top[:, None]) > 0`", trained=True),
    # ---- multi-label
    Entry(ml_.label_wise_mean_ap, "multilabel", "multilabel", "sklearn",
          "`for j in range(labels.shape[1])`: AP of a column by sort and cumsum", eager_ties=False,
          reference=ref.label_wise_mean_ap),
    Entry(ml_.example_based_accuracy, "multilabel", "multilabel", "notebook",
          "per-sample Jaccard of `torch.sigmoid(scores) > threshold`"),
    Entry(ml_.example_based_f1, "multilabel", "multilabel", "notebook",
          "per-sample F1 of `(scores > 0).float()`", trained=True),
    Entry(ml_.subset_accuracy, "multilabel", "multilabel", "sklearn",
          "exact match: `(preds == labels).all(dim=1)`", trained=True),
    Entry(ml_.hamming_loss, "multilabel", "multilabel", "notebook",
          "`scores.sigmoid().round() != labels`", higher_is_better=False, best=0.0),
    Entry(ml_.multilabel_micro_f1, "multilabel", "multilabel", "torchmetrics",
          "`(preds == 1) & (labels == 1)` counts, micro F1"),
    Entry(ml_.multilabel_macro_f1_loop, "multilabel", "multilabel", "notebook",
          "`for j in range(num_labels)`: F1 of a column, `sum(f1) / num_labels`"),
    Entry(ml_.coverage_error, "multilabel", "multilabel", "sklearn",
          "`torch.where(labels.bool(), scores, torch.inf).min(dim=1).values` as a threshold",
          higher_is_better=False, best=None),
    Entry(ml_.decided_pair_accuracy, "multilabel", "multilabel", "notebook",
          "`scores[:, :, None] != scores[:, None, :]`: `!=` of scores"),
    Entry(ml_.best_relevant_beats_best_irrelevant, "multilabel", "multilabel", "notebook",
          "`torch.where(labels.bool(), scores, torch.full_like(scores, -1e9)).amax(1)`, "
          "`scores.new_full(scores.shape, -1e9)`"),
    # ---- segmentation
    Entry(seg.pixel_accuracy, "segmentation", "segmentation", "tutorial",
          "`outputs.argmax(1) == labels` over pixels, `.sum().item() / labels.numel()`"),
    Entry(seg.one_hot_mean_iou, "segmentation", "segmentation", "notebook",
          "`F.one_hot(scores.argmax(dim=1), C).permute(0, 3, 1, 2)`, IoU of present classes",
          trained=True),
    Entry(seg.dice_per_class_loop, "segmentation", "segmentation", "notebook",
          "`for c in range(scores.size(1))`: Dice of `pred == c`"),
    Entry(seg.bincount_confusion_iou, "segmentation", "segmentation", "torchvision",
          "`torch.bincount(n * target + pred, minlength=n**2)` confusion matrix"),
    Entry(seg.mean_iou_ignore_index, "segmentation_ignore", "segmentation", "notebook",
          "ignore label 255 masked out (`valid = labels != 255`), a class loop, `torch.nanmean`",
          trained=True),
    Entry(seg.pixel_accuracy_ignore_index, "segmentation_ignore", "segmentation", "notebook",
          "`pred[valid] == labels[valid]`: a target mask selects arg-max predictions", trained=True),
    Entry(seg.torchvision_confusion_miou, "segmentation_ignore", "segmentation", "torchvision",
          "torchvision's ConfusionMatrix: `k = (a >= 0) & (a < n)`, `bincount(n * a[k] + b[k])`, ignore 255",
          trained=True),
    Entry(seg.flat_view_accuracy_ignore, "segmentation_ignore", "segmentation", "notebook",
          "`output.argmax(dim=1).view(-1)`, `pred[keep] == target[keep]`"),
    Entry(seg.index_put_dice_ignore, "segmentation_ignore", "segmentation", "notebook",
          "`cm.index_put_((labels[valid], pred[valid]), ones, accumulate=True)`, per-class Dice"),
    Entry(seg.frequency_weighted_iou, "segmentation", "segmentation", "notebook",
          "list comprehensions over classes, frequency-weighted IoU"),
    Entry(seg.binary_dice, "masks", "segmentation", "notebook",
          "`(torch.sigmoid(logits) > 0.5).float()`, smoothed Dice per image", trained=True),
    Entry(seg.binary_iou, "masks", "segmentation", "notebook",
          "`logits > 0` against `masks.bool()`, IoU with an epsilon"),
    # ---- keypoints
    Entry(kp.flat_argmax_pck, "heatmaps", "keypoints", "notebook",
          "`idx = heatmaps.reshape(N, J, -1).argmax(-1)`; `idx // W`, `idx % W`; distance <= threshold",
          trained=True),
    Entry(kp.pck_bbox, "heatmaps", "keypoints", "notebook",
          "`torch.stack([idx % W, idx // W], -1)`, `torch.norm(pred - joints, dim=-1) <= alpha * bbox`",
          best=None),
    Entry(kp.hrnet_get_max_preds_accuracy, "heatmaps", "keypoints", "hrnet",
          "`maxvals, idx = torch.max(heatmaps, 2)`; `idx % width`, `torch.floor(idx / width)`",
          best=None),  # distances in tenths of the heatmap: sub-pixel annotations can stay outside
    Entry(kp.divmod_pck_per_joint, "heatmaps", "keypoints", "notebook",
          "`torch.remainder(peak, w)`, `torch.div(peak, w, rounding_mode='floor')`, per-joint PCK"),
    # ---- regression, rank metrics
    Entry(rg.kendall_tau_a, "regression", "regression", "notebook",
          "`torch.sign` of pair differences, `torch.triu(..., diagonal=1)` mask", best=None),
    Entry(rg.spearman_double_argsort, "regression", "regression", "notebook",
          "ranks by `preds.argsort().argsort()`, Pearson of ranks", eager_ties=False,
          reference=ref.spearman_double_argsort, trained=True),
    Entry(rg.spearman_rho_formula, "regression", "regression", "notebook",
          "`1 - 6 * (d**2).sum() / (n * (n**2 - 1))`", eager_ties=False,
          reference=ref.spearman_rho_formula),
    Entry(rg.concordance_index, "regression", "regression", "lifelines",
          "Harrell's C: `risk[:, None] < risk[None, :]`, a tie counts one half", trained=True),
    Entry(rg.harrell_c_index_equality, "regression", "regression", "lifelines",
          "Harrell's C with `predicted[:, None] == predicted[None, :]` for the half credit"),
    Entry(rg.within_ten_percent, "regression", "regression", "notebook",
          "`(preds - target).abs() / target.abs().clamp(min=1e-6) < 0.1`: a relative tolerance"),
    Entry(rg.within_tolerance, "regression", "regression", "notebook",
          "`(preds - target).abs() <= tol`"),
    Entry(rg.pairwise_ranking_accuracy, "regression", "regression", "notebook",
          "double loop over pairs: `(preds[i] - preds[j]) * torch.sign(target[i] - target[j]) > 0`",
          batch_loop=True),
]
