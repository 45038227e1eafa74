"""The learning-to-rank task: an MLP scores every item of every query, NDCG@10 (or MRR, MAP@10).

Not one of the paper's experiments: ranking is where a loss built from the metric itself might gain
most, since NDCG@10 reads only the order of each query's top ten. A batch is a
number of queries, each a list of items padded to the batch's longest list (relevance -1, zero
features; ``metricloss.train.datasets.ranking``); the scorer gives each item a score from its
own features, ``[Q, D]`` scores for the ranking metrics.

The data: LETOR files with ``--data-dir`` (MSLR-WEB10K/30K, Yahoo! LTR, Istella, MQ2007/2008;
``datasets.letor``), else a generated set (``datasets.synthetic_ranking``) of 1,000 / 200 / 300
queries of 20-100 items.

The baseline is ListNet (Cao et al., ICML 2007) with its top-one probabilities: per query, the
cross-entropy between the softmax of the relevance grades and the softmax of the scores over the
query's items (padding excluded), averaged over the queries. UniLoss is of ``ndcg_at_k`` (k = 10,
exponential gain) by default, ``--metric mrr`` or ``map_at_k`` otherwise. Every epoch reports test
NDCG@1, NDCG@5, NDCG@10 and MRR besides the trained metric.

Score scale: raw scores, item against item; the sigmoid relaxation's tau sets their scale (2 on
the generated set, chosen on validation; the library's 1 on LETOR files, untuned there).
Adam for both losses, each at its own learning rate (chosen on the synthetic set's validation
NDCG@10; docs/results.md has what was tried). UniLoss of MRR on the generated set has its own
settings (``Settings.per_metric``): a sharper interpolator and lr, chosen on validation MRR.
"""

from __future__ import annotations

from pathlib import Path

import torch

import metricloss
from metricloss.train.datasets.letor import load_letor
from metricloss.train.datasets.synthetic_ranking import SyntheticRanking, load_synthetic_ranking
from metricloss.train.models.ranker import item_scorer
from metricloss.train.task import Data, Report, Settings, Task

# LETOR files: not tuned (no figures on real data here); Adam at 1e-3 on batches of 64 queries is a
# common starting point on MSLR.
FILES = Settings(epochs=30, batch_size=64, lr=1e-3, model={"hidden": (128, 64)})
# The generated set (1,000 / 200 / 300 queries) and its settings: see docs/results.md.
GENERATED = SyntheticRanking()
# UniLoss's sigmoid at tau 2: each family's scale chosen on validation NDCG@10 (docs/results.md,
# "Each method's scale chosen on validation"; 0.7224 against 0.7201 at tau 1, five seeds).
# UniLoss of MRR: inverse-distance weights at power 4 (the default 1 lets the random anchors, far
# and near zero, pull the estimate below the hard value; docs/results.md, "MRR and the
# interpolator's power"), tau 1, lr 3e-3, each chosen on validation MRR over five seeds.
SYNTHETIC = Settings(epochs=8, batch_size=16, lr=3e-3, uniloss_lr=1e-3, model={"hidden": (64, 32)},
                     uniloss={"relaxation": metricloss.sigmoid(tau=2.0)},
                     per_metric={"mrr": {"uniloss": {"interpolator": metricloss.inverse_distance(power=4.0)},
                                         "uniloss_lr": 3e-3}})
REPORTS = (
    Report("NDCG@1", "ndcg_at_k", {"k": 1}),
    Report("NDCG@5", "ndcg_at_k", {"k": 5}),
    Report("NDCG@10", "ndcg_at_k", {"k": 10}),
    Report("MRR", "mrr"),
)


def listnet(scores: torch.Tensor, relevance: torch.Tensor) -> torch.Tensor:
    """ListNet's loss with top-one probabilities (Cao et al. 2007, eq. 3 with phi = exp).

    Per query, ``-sum_j P_y(j) log P_s(j)`` with ``P_y = softmax(relevance)`` and ``P_s =
    softmax(scores)`` over its listed items (relevance >= 0; padding is neither in the sums nor
    in the normalisers); the mean over the queries that list an item. A query whose items are all
    equally relevant asks for equal scores, as in the paper.
    """
    listed = relevance >= 0
    kept = listed.any(dim=1)
    scores, relevance, listed = scores[kept], relevance[kept], listed[kept]
    if not len(scores):
        return scores.sum() * 0.0  # nothing listed: a zero that still has a gradient
    minus_inf = torch.finfo(scores.dtype).min  # not -inf: 0 * -inf would be nan at padded positions
    log_p_scores = scores.masked_fill(~listed, minus_inf).log_softmax(dim=1)
    p_relevance = relevance.to(scores.dtype).masked_fill(~listed, minus_inf).softmax(dim=1)
    cross_entropy = -(p_relevance * log_p_scores).masked_fill(~listed, 0.0).sum(dim=1)
    return cross_entropy.mean()


@metricloss.task
def ltr() -> Task:
    """An MLP item scorer trained for NDCG@10 (LETOR files, or the generated set without a data directory)."""

    def load(data_dir: Path | None, seed: int) -> Data:
        if data_dir is not None:
            return load_letor(data_dir, seed)
        data = load_synthetic_ranking(seed, GENERATED)
        return Data(train=data.train, validation=data.validation, test=data.test, source=data.source,
                    synthetic=True, settings=SYNTHETIC)

    def model(data: Data) -> torch.nn.Module:
        features = data.train.inputs.shape[-1]
        return item_scorer(features, **(data.settings or FILES).model)

    return Task(
        name="ltr",
        description="learning to rank: an MLP scores each item of a query, NDCG@10 of the scores",
        metrics=("ndcg_at_k", "mrr", "map_at_k"),
        settings=FILES,
        load=load,
        model=model,
        scores=lambda output: output,
        baseline=listnet,
        optimizer=lambda parameters, lr: torch.optim.Adam(parameters, lr=lr),
        score_scale="raw item scores compared item against item within a query; the sigmoid relaxation's "
                    "tau sets their scale (2 on the generated set, 1 on LETOR files)",
        reports=REPORTS,
    )

