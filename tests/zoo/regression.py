"""Rank metrics of a regression: ``scores`` [N] (predictions) and ``targets`` [N] (real values)."""

from __future__ import annotations

import torch


def kendall_tau_a(preds, target):
    # scipy.stats.kendalltau(variant="c")-free form: concordant minus discordant over all pairs
    n = len(preds)
    sign_p = torch.sign(preds[:, None] - preds[None, :])
    sign_t = torch.sign(target[:, None] - target[None, :])
    upper = torch.triu(torch.ones(n, n, dtype=torch.bool), diagonal=1)
    return (sign_p * sign_t)[upper].sum() / (n * (n - 1) / 2)


def spearman_double_argsort(preds, target):
    # Spearman's rho as the Pearson correlation of ranks (double argsort)
    rank_p = preds.argsort().argsort().float()
    rank_t = target.argsort().argsort().float()
    rank_p = rank_p - rank_p.mean()
    rank_t = rank_t - rank_t.mean()
    return (rank_p * rank_t).sum() / torch.sqrt((rank_p**2).sum() * (rank_t**2).sum())


def spearman_rho_formula(preds, target):
    # rho = 1 - 6 sum d^2 / (n (n^2 - 1))
    n = preds.shape[0]
    d = (preds.argsort().argsort() - target.argsort().argsort()).float()
    return 1 - 6 * (d**2).sum() / (n * (n**2 - 1))


def concordance_index(risk, time):
    # Harrell's C without censoring (lifelines' convention: higher prediction, longer time);
    # a tie in predictions counts one half
    comparable = time[:, None] < time[None, :]
    concordant = (risk[:, None] < risk[None, :]) & comparable
    tied = (risk[:, None] <= risk[None, :]) & comparable
    return (concordant.sum() + 0.5 * (tied.sum() - concordant.sum())) / comparable.sum()


def within_tolerance(preds, target, tol=0.25):
    return ((preds - target).abs() <= tol).float().mean()


def pairwise_ranking_accuracy(preds, target):
    n = preds.size(0)
    correct = 0
    pairs = 0
    for i in range(n):
        for j in range(i + 1, n):
            ordered = torch.sign(target[i] - target[j])
            correct = correct + ((preds[i] - preds[j]) * ordered > 0).float()
            pairs = pairs + (ordered != 0).float()
    return correct / pairs


def harrell_c_index_equality(predicted, times):
    # lifelines' convention (the prediction is a survival time): tied predictions earn one half,
    # pairs with equal times are not comparable
    comparable = times[:, None] < times[None, :]
    right = (predicted[:, None] < predicted[None, :]).float() + 0.5 * (predicted[:, None] == predicted[None, :]).float()
    return (right * comparable).sum() / comparable.sum()


def within_ten_percent(preds, target):
    # a relative tolerance: |error| / |target| below 10%
    return ((preds - target).abs() / target.abs().clamp(min=1e-6) < 0.1).float().mean()
