"""The Lovász hinge: a convex surrogate of the Jaccard loss (1 − IoU) for binary segmentation.

Berman, Rannen Triki & Blaschko, *The Lovász-Softmax loss: A tractable surrogate for the
optimization of the intersection-over-union measure in neural networks*, CVPR 2018. Written here
from the paper's definitions:

- The Jaccard loss is a set function of the mispredicted pixels ``M``: with ``P`` the true
  foreground, ``Δ_J(M) = |M| / |P ∪ M|``, which is ``1 − IoU`` of the prediction that gets
  exactly ``M`` wrong (the paper's eq. 2-3). ``Δ_J`` is submodular.
- Its Lovász extension at a vector of non-negative errors ``m`` (eq. 8): sort the errors in
  decreasing order, ``m_π1 ≥ … ≥ m_πp``, and take ``Δ̄_J(m) = Σ_i m_πi g_i(m)`` with
  ``g_i(m) = Δ_J({π1, …, πi}) − Δ_J({π1, …, π(i−1)})``, the gradient of ``Δ̄_J`` with respect to
  the sorted errors. ``Δ̄_J`` is convex, piecewise linear, and equals ``Δ_J(M)`` at the indicator
  vector of ``M``.
- The Lovász hinge (eq. 9-10) takes the hinge errors of the logits ``F`` against the signs
  ``s = 2y − 1``: ``m_i = max(1 − F_i s_i, 0)``. At logits of ±1 those errors are 0 (right) or 2
  (wrong), so there the loss is ``2 (1 − IoU)``, by the extension's positive homogeneity.

The prefix sets of the sorted order give ``Δ_J`` in closed form: after the ``i`` largest errors,
``fn_i`` of them are foreground pixels (false negatives) and ``fp_i`` background ones (false
positives), the intersection is ``|P| − fn_i`` and the union ``|P| + fp_i``.
"""

from __future__ import annotations

import torch


def jaccard_prefix_losses(sorted_labels: torch.Tensor) -> torch.Tensor:
    """``Δ_J`` of the first ``i`` pixels, for ``i = 1 … p``, of pixels in the errors' sorted order.

    ``sorted_labels`` is the 0/1 foreground indicator of the pixels in that order. ``Δ_J`` of the
    empty set is 0; with no foreground at all, any non-empty set has ``Δ_J = 1``.
    """
    labels = sorted_labels.to(torch.float64)
    foreground = labels.sum()
    false_negatives = labels.cumsum(0)
    false_positives = (1 - labels).cumsum(0)
    intersection = foreground - false_negatives
    union = foreground + false_positives  # >= 1 for every non-empty prefix
    return 1 - intersection / union


def lovasz_extension(errors: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """``Δ̄_J(errors)``: the Lovász extension of the Jaccard loss at non-negative ``errors``.

    ``errors`` and ``labels`` (0/1 foreground) are flattened together. Differentiable in the errors
    (the sort's order is piecewise constant); an empty input gives 0.
    """
    errors, labels = errors.reshape(-1), labels.reshape(-1)
    if errors.numel() == 0:
        return errors.sum()
    sorted_errors, order = torch.sort(errors, descending=True, stable=True)
    losses = jaccard_prefix_losses(labels[order])
    gradient = torch.diff(losses, prepend=losses.new_zeros(1))  # g_i = Δ(π1..πi) − Δ(π1..π(i−1))
    return (sorted_errors * gradient.to(sorted_errors.dtype)).sum()


def lovasz_hinge(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """The Lovász hinge of per-pixel ``logits`` against 0/1 ``labels``, over all pixels together.

    The batch's pixels are pooled into one set (the IoU the benchmark reports is pooled the same
    way over a split), rather than averaged per image.
    """
    logits, labels = logits.reshape(-1), labels.reshape(-1)
    signs = 2 * labels.to(logits.dtype) - 1
    errors = torch.relu(1 - logits * signs)
    return lovasz_extension(errors, labels)
