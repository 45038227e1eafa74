"""Published learning-to-rank losses, written from their papers in plain torch.

Each loss reads a batch of queries padded to one length: ``scores`` and ``relevance`` are
``[Q, D]``, graded relevance is 0, 1, 2, ..., and an item with negative relevance (-1) is padding.
Padding takes no part in any loss: it is neither summed nor a competitor of the real items, and
its score is never read (it may be anything, ``inf`` and ``nan`` included, and gets a zero
gradient). Every loss returns a scalar, a mean over queries, and is batched tensor code (no Python
loop over items or pairs) that runs on CUDA unchanged; gradients are autograd's.

- ``listnet``: ListNet's top-1 cross-entropy (Cao et al., ICML 2007).
- ``approx_ndcg``: 1 - ApproxNDCG, positions from pairwise sigmoids (Qin, Liu & Li, Information
  Retrieval 2010).
- ``neural_ndcg``: -NeuralNDCG, DCG of a NeuralSort permutation matrix made doubly stochastic by
  Sinkhorn scaling (Pobrotyn & Białobrzeski, 2021).
- ``lambda_loss``: LambdaLoss with the NDCG-Loss2++ weights (Wang, Li, Golbandi, Bendersky &
  Najork, CIKM 2018).

The NDCG-based losses use the exponential gain ``2^rel - 1`` and the discount ``1 / log2(1 + r)``
at rank ``r``, normalised by the ideal DCG of the query's own items; a query whose ideal DCG is 0
(no relevant item) has no NDCG and is left out of their mean. A batch with no query left gives 0
(still a function of the scores, so ``backward`` works and every gradient is 0).
"""

from __future__ import annotations

import math

import torch

from metricloss.errors import InputError

__all__ = ["listnet", "approx_ndcg", "neural_ndcg", "lambda_loss"]


def _read(scores: torch.Tensor, relevance: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The scores with padding set to 0, the relevance as the scores' dtype with padding set to 0,
    and the mask of real items: all ``[Q, D]``."""
    if not isinstance(scores, torch.Tensor) or not isinstance(relevance, torch.Tensor):
        raise InputError("scores and relevance must be tensors")
    if scores.dim() != 2 or scores.shape != relevance.shape:
        raise InputError(f"scores and relevance must both be [queries, items], got {tuple(scores.shape)} "
                         f"and {tuple(relevance.shape)}")
    if not scores.is_floating_point():
        raise InputError(f"scores must be floating point, got {scores.dtype}")
    valid = relevance >= 0
    zero = scores.new_zeros(())
    # where() rather than a product: a padded score of inf or nan must not reach the sums.
    clean_scores = torch.where(valid, scores, zero)
    clean_relevance = torch.where(valid, relevance.to(scores.dtype), zero)
    return clean_scores, clean_relevance, valid


def _mean(values: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The mean of ``values`` over the queries in ``keep``; 0 when none is kept. The values of
    queries left out must be finite (their gradient is multiplied by 0)."""
    total = torch.where(keep, values, values.new_zeros(())).sum()
    return total / keep.sum().clamp(min=1).to(values.dtype)


def _discounts(length: int, like: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """``1 / log2(1 + r)`` for ranks ``r = 1 .. length``, 0 past rank ``k``."""
    ranks = torch.arange(1, length + 1, device=like.device, dtype=like.dtype)
    discounts = 1.0 / torch.log2(1.0 + ranks)
    if k is not None:
        discounts = torch.where(ranks <= k, discounts, discounts.new_zeros(()))
    return discounts


def _ideal_dcg(gains: torch.Tensor, k: int | None = None) -> torch.Tensor:
    """The DCG (at ``k``) of each query's gains in decreasing order, ``[Q]``. Padding's gain is 0,
    so it sorts after every relevant item and adds nothing."""
    ideal = gains.sort(dim=-1, descending=True).values
    return (ideal * _discounts(gains.shape[-1], gains, k)).sum(-1)


def _check_k(k: int | None) -> None:
    if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
        raise InputError(f"k must be a positive integer or None, got {k!r}")


def _check_number(name: str, value: float, *, zero: bool = False) -> None:
    """``value`` must be a finite number, > 0 (or >= 0 when ``zero``)."""
    if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
            and (value > 0 or (zero and value == 0))):
        raise InputError(f"{name} must be a {'non-negative' if zero else 'positive'} number, got {value!r}")


# --- ListNet -----------------------------------------------------------------------------------


def listnet(scores: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    """ListNet's loss with top-1 probabilities.

    Cao, Qin, Liu, Tsai & Li, *Learning to Rank: From Pairwise Approach to Listwise Approach*,
    ICML 2007. The top-1 probability of item ``j`` under scores ``s`` is
    ``φ(s_j) / Σ_k φ(s_k)`` with the paper's ``φ = exp``, a softmax, and the loss of a query
    is the cross-entropy ``-Σ_j P_y(j) log P_z(j)`` between the top-1 probabilities of the
    relevance labels ``y`` (as the paper does, the labels themselves are the target's scores:
    a softmax of the relevance) and of the model's scores ``z``. Both softmaxes run over the
    query's real items only.

    Choices the paper leaves open: a query made only of padding has no distribution and is left
    out of the mean; a query whose items share one label keeps its uniform target (the paper does
    not set such queries aside).
    """
    scores, relevance, valid = _read(scores, relevance)
    any_valid = valid.any(dim=-1)
    minus_inf = scores.new_tensor(float("-inf"))
    target = torch.softmax(torch.where(valid, relevance, minus_inf), dim=-1)
    # A row of padding only would be all -inf (nan softmax): give it zeros, it is left out anyway.
    logits = torch.where(valid, scores, minus_inf)
    logits = torch.where(any_valid[:, None], logits, scores.new_zeros(()))
    log_probabilities = torch.log_softmax(logits, dim=-1)
    # where() keeps padding's -inf out of the product (0 * -inf is nan) and out of the gradient.
    log_probabilities = torch.where(valid, log_probabilities, scores.new_zeros(()))
    target = torch.where(valid, target, scores.new_zeros(()))
    per_query = -(target * log_probabilities).sum(-1)
    return _mean(per_query, any_valid)


# --- ApproxNDCG --------------------------------------------------------------------------------


def approx_ndcg(scores: torch.Tensor, relevance: torch.Tensor, *, temperature: float = 1.0) -> torch.Tensor:
    """``1 - ApproxNDCG``, the mean over queries with a relevant item.

    Qin, Liu & Li, *A general approximation framework for direct optimization of information
    retrieval measures*, Information Retrieval 13(4), 2010. The position of item ``i`` is
    ``π(i) = 1 + Σ_{j≠i} 1{s_i < s_j}``; the paper replaces each indicator by a logistic
    function of the score difference with a scaling constant ``α > 0`` (its eq. for the
    approximated position), ``π̂(i) = 1 + Σ_{j≠i} σ(-α (s_i - s_j))``, written here with a
    temperature ``T = 1/α``: ``σ(-(s_i - s_j) / T)``. Then
    ``ApproxNDCG = Σ_i (2^{rel_i} - 1) / log2(1 + π̂(i)) / IDCG``, the whole list (no
    truncation), ``IDCG`` the DCG of the query's items in their ideal order. The sums run over
    the query's real items only.

    Choices the paper leaves open: ``α`` is a tuning constant there (a larger one approximates the
    positions more closely and the loss less smoothly); the default ``temperature=1.0`` is
    allRank's (``alpha=1``). TF-Ranking's ``ApproxNDCGLoss`` defaults to ``temperature=0.1``.
    A query without a relevant item (IDCG 0) is left out of the mean.
    """
    _check_number("temperature", temperature)
    scores, relevance, valid = _read(scores, relevance)
    # difference[q, i, j] = s_i - s_j; competitor j must be a real item other than i.
    difference = scores[:, :, None] - scores[:, None, :]
    eye = torch.eye(scores.shape[-1], dtype=torch.bool, device=scores.device)
    competitor = valid[:, None, :] & ~eye
    above = torch.where(competitor, torch.sigmoid(-difference / temperature), scores.new_zeros(()))
    positions = 1.0 + above.sum(-1)
    gains = torch.where(valid, torch.pow(2.0, relevance) - 1.0, scores.new_zeros(()))
    dcg = (gains / torch.log2(1.0 + positions)).sum(-1)
    ideal = _ideal_dcg(gains)
    keep = ideal > 0
    ndcg = dcg / torch.where(keep, ideal, torch.ones_like(ideal))
    return _mean(1.0 - ndcg, keep)


# --- NeuralNDCG --------------------------------------------------------------------------------


def neural_sort(scores: torch.Tensor, valid: torch.Tensor, temperature: float) -> torch.Tensor:
    """NeuralSort's relaxed permutation matrix of each query's real items, ``[Q, D, D]``.

    Grover, Wang, Zweig & Ermon, *Stochastic Optimization of Sorting Networks via Continuous
    Relaxations*, ICLR 2019: for ``n`` scores, row ``i`` (rank ``i``, 1-based) of the relaxed
    sort is ``softmax(((n + 1 - 2i) s - A_s 1) / τ)`` with ``A_s[j, k] = |s_j - s_k|``; row
    ``i`` is a distribution over the items that might be at rank ``i``.

    Here ``n`` is each query's own count of real items: rows ``1 .. n`` are those ranks, over the
    real items' columns, and every other entry (the rows past ``n``, padding's columns) is 0. This
    is the limit of giving padding the lowest possible score: padding then sorts to the ranks past
    ``n``, and the constant it adds to ``A_s 1`` cancels in the softmax; excluding it exactly
    avoids the rounding of a huge sentinel score.
    """
    items = scores.shape[-1]
    count = valid.sum(-1, keepdim=True).to(scores.dtype)  # [Q, 1]
    rank = torch.arange(1, items + 1, device=scores.device, dtype=scores.dtype)  # [D]
    scaling = count + 1.0 - 2.0 * rank  # [Q, D]: n + 1 - 2i, one per rank row
    spread = torch.where(valid[:, None, :], (scores[:, :, None] - scores[:, None, :]).abs(),
                         scores.new_zeros(())).sum(-1)  # [Q, D]: (A_s 1)_j over real k
    logits = (scaling[:, :, None] * scores[:, None, :] - spread[:, None, :]) / temperature  # [Q, rank, item]
    rows = rank[None, :] <= count  # [Q, D]: the ranks a real item can take
    live = rows[:, :, None] & valid[:, None, :]
    logits = torch.where(live, logits, logits.new_tensor(float("-inf")))
    logits = torch.where(rows[:, :, None], logits, logits.new_zeros(()))  # a dead row: finite, zeroed below
    return torch.where(live, torch.softmax(logits, dim=-1), logits.new_zeros(()))


def sinkhorn(matrix: torch.Tensor, iterations: int) -> torch.Tensor:
    """``iterations`` rounds of Sinkhorn scaling (Sinkhorn, 1964) of non-negative ``[..., n, n]``
    matrices: each round divides every column by its sum, then every row by its sum, so the
    result's rows sum to 1 and its columns approach 1. Rows and columns of zeros stay zero."""
    for _ in range(iterations):
        matrix = matrix / _nonzero(matrix.sum(-2, keepdim=True))
        matrix = matrix / _nonzero(matrix.sum(-1, keepdim=True))
    return matrix


def _nonzero(sums: torch.Tensor) -> torch.Tensor:
    """The sums, with 1 for a sum of 0 (a row or column of zeros, which then stays zero). Not a
    clamp to a tiny number: the gradient of ``x / tiny`` squares ``tiny`` to 0 and gives nan."""
    return torch.where(sums > 0, sums, torch.ones_like(sums))


def neural_ndcg(scores: torch.Tensor, relevance: torch.Tensor, *, temperature: float = 1.0,
                k: int | None = None, sinkhorn_iterations: int = 50) -> torch.Tensor:
    """``-NeuralNDCG@k``, the mean over queries with a relevant item.

    Pobrotyn & Białobrzeski, *NeuralNDCG: Direct Optimisation of a Ranking Metric via
    Differentiable Relaxation of Sorting*, arXiv:2102.07831, 2021. The sort inside NDCG is
    replaced by NeuralSort's relaxed permutation matrix ``P̂`` (Grover et al., ICLR 2019; see
    ``neural_sort``) at temperature ``τ``, made doubly stochastic by Sinkhorn scaling, so that
    every item's gain is spread over the ranks exactly once. Then
    ``NeuralDCG@k = Σ_{i≤k} (P̂ g)_i / log2(1 + i)`` with gains ``g = 2^rel - 1``, and
    ``NeuralNDCG@k = NeuralDCG@k / IDCG@k``; ``k=None`` is the whole list. This is the paper's
    main variant (the relaxed matrix sorts the gains); its transposed variant is not written here.

    Padding is excluded exactly, as the limit of giving it the lowest possible score: it takes
    the ranks past the query's real items, with gain 0, and does not enter ``A_s 1``.

    Choices the paper leaves open: Sinkhorn scaling runs a fixed ``sinkhorn_iterations`` rounds
    (default 50, the cap of the authors' allRank implementation, which may also stop early at a
    tolerance of 1e-6; a fixed count keeps the computation free of data-dependent control flow);
    ``temperature=1.0`` is allRank's default. A query without a relevant item (IDCG@k 0) is left
    out of the mean.
    """
    _check_number("temperature", temperature)
    _check_k(k)
    if isinstance(sinkhorn_iterations, bool) or not isinstance(sinkhorn_iterations, int) or sinkhorn_iterations < 0:
        raise InputError(f"sinkhorn_iterations must be a non-negative integer, got {sinkhorn_iterations!r}")
    scores, relevance, valid = _read(scores, relevance)
    permutation = sinkhorn(neural_sort(scores, valid, temperature), sinkhorn_iterations)
    gains = torch.where(valid, torch.pow(2.0, relevance) - 1.0, scores.new_zeros(()))
    gains_at_rank = (permutation @ gains[:, :, None]).squeeze(-1)  # [Q, D]: (P̂ g)_i
    dcg = (gains_at_rank * _discounts(scores.shape[-1], scores, k)).sum(-1)
    ideal = _ideal_dcg(gains, k)
    keep = ideal > 0
    ndcg = dcg / torch.where(keep, ideal, torch.ones_like(ideal))
    return _mean(-ndcg, keep)


# --- LambdaLoss, NDCG-Loss2++ ------------------------------------------------------------------


def lambda_loss(scores: torch.Tensor, relevance: torch.Tensor, *, mu: float = 5.0, sigma: float = 1.0) -> torch.Tensor:
    """LambdaLoss with the NDCG-Loss2++ weighting scheme, summed over pairs, divided by the
    number of queries.

    Wang, Li, Golbandi, Bendersky & Najork, *The LambdaLoss Framework for Ranking Metric
    Optimization*, CIKM 2018. With the ranks ``r`` of the query's items under the current scores
    (1 = highest), ``D(r) = log2(1 + r)``, and ``G_i = (2^{rel_i} - 1) / IDCG``, each pair with
    ``rel_i > rel_j`` adds ``-log2(σ(s_i - s_j)^{w_ij})``, ``σ(x) = 1 / (1 + exp(-sigma x))``,
    with NDCG-Loss2++'s weight ``w_ij = (ρ_ij + μ δ_ij) |G_i - G_j|``:
    ``ρ_ij = |1/D(r_i) - 1/D(r_j)|`` (LambdaRank's ΔNDCG factor) and
    ``δ_ij = |1/D(|r_i - r_j|) - 1/D(|r_i - r_j| + 1)|`` (NDCG-Loss2's). The weights come from
    the ranks, which are piecewise constant in the scores: they carry no gradient, as in the
    paper's EM-style reading where the ranking is fixed at each step.

    Choices the paper leaves open: ``μ`` weighs NDCG-Loss2's term against LambdaRank's (``mu=0``
    is LambdaRank's loss); the default ``mu=5.0`` is a choice made here (allRank's implementation
    defaults to 10). ``sigma=1.0``. Tied scores take ranks
    in item order (a stable sort). Padding has no rank: the ranks count the real items only. The
    sum is divided by every query of the batch, a query without a pair adding 0.
    """
    _check_number("mu", mu, zero=True)
    _check_number("sigma", sigma)
    scores, relevance, valid = _read(scores, relevance)
    items = scores.shape[-1]
    with torch.no_grad():
        # Ranks 1..n of the real items by decreasing score (padding pushed last, so it takes no
        # rank among them); ties in item order.
        order = torch.where(valid, scores, scores.new_tensor(float("-inf"))).argsort(dim=-1, descending=True, stable=True)
        positions = torch.arange(1, items + 1, device=scores.device, dtype=scores.dtype).expand_as(scores)
        ranks = torch.empty_like(scores).scatter_(-1, order, positions)
        gains = torch.where(valid, torch.pow(2.0, relevance) - 1.0, scores.new_zeros(()))
        ideal = _ideal_dcg(gains)
        g = gains / torch.where(ideal > 0, ideal, torch.ones_like(ideal))[:, None]
        inverse_discount = 1.0 / torch.log2(1.0 + ranks)  # 1/D(r)
        rho = (inverse_discount[:, :, None] - inverse_discount[:, None, :]).abs()
        gap = (ranks[:, :, None] - ranks[:, None, :]).abs().clamp(min=1)  # the diagonal is never a pair
        delta = (1.0 / torch.log2(1.0 + gap) - 1.0 / torch.log2(2.0 + gap)).abs()
        pairs = valid[:, :, None] & valid[:, None, :] & (relevance[:, :, None] > relevance[:, None, :])
        weights = torch.where(pairs, (rho + mu * delta) * (g[:, :, None] - g[:, None, :]).abs(),
                              scores.new_zeros(()))
    log2_sigmoid = torch.nn.functional.logsigmoid(sigma * (scores[:, :, None] - scores[:, None, :])) / math.log(2.0)
    per_query = -(weights * log2_sigmoid).sum((-2, -1))
    return per_query.mean() if per_query.numel() else scores.sum() * 0.0
