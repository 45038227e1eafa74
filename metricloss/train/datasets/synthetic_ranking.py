"""A generated learning-to-rank set for the ``ltr`` task: no download, the shape of a LETOR data set.

Each query has a list of ``items`` (20 to 100 at the defaults, uniform) and each item a feature
vector of ``FEATURES`` = 48 values, in four groups as LETOR's query-document features are:

- 8 **query** features, the same for every item of a query (what the query asks for);
- 8 **topic** features of the item, which matter only through their match with the query's
  (their dot product, as a retrieval score measures the overlap of query and document);
- 24 **quality** features of the item, which matter through a fixed random two-layer network
  (saturating, interacting: a link count that helps up to a point, a length that helps with one
  topic and hurts with another);
- 8 features that carry nothing.

An item's utility is the match plus the quality plus a per-query offset (some queries have many
good items, some none) plus Gaussian noise, and its graded relevance 0-4 is the utility cut at
fixed thresholds, set so that most items are irrelevant and few perfect (``skew``, close to
MSLR-WEB10K's 52%, 32%, 13%, 2%, 1% with fewer 1s). The match is a product of features, and the
quality a nonlinear function of them, so a linear scorer cannot represent either: an MLP scores
these lists clearly better, and the noise keeps NDCG@10 well below 1 for any scorer.

The function from features to utility is drawn from ``world`` (fixed across seeds: every seed
poses the same problem); the seed draws the queries, their items and the noise, each split from a
stream of its own. Deterministic: the same seed and configuration give the same set, bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from ..task import Data
from .ranking import RankingSplit, ranking_split
from metricloss.errors import InputError

QUERY, TOPIC, QUALITY, NOISE = 8, 8, 24, 8
FEATURES = QUERY + TOPIC + QUALITY + NOISE
GRADES = 5  # relevance 0-4
HIDDEN = 16  # the quality network's width
SAMPLE = 20_000  # items drawn to fix the world's scale and thresholds


@dataclass(frozen=True)
class SyntheticRanking:
    """The generated set's sizes and difficulty."""

    train: int = 1000  # queries
    validation: int = 200
    test: int = 300
    min_items: int = 20
    max_items: int = 100
    match: float = 1.0  # weight of the query-topic match in the utility
    quality: float = 1.0  # weight of the quality network
    query_offset: float = 0.5  # standard deviation of the per-query offset
    noise: float = 1.0  # standard deviation of the utility's noise
    skew: tuple[float, ...] = (0.6, 0.22, 0.12, 0.04, 0.02)  # share of relevance 0, 1, 2, 3, 4
    world: int = 0  # seeds the utility function, the same for every seed of a run

    def __post_init__(self):
        if not 1 <= self.min_items <= self.max_items:
            raise InputError(f"need 1 <= min_items <= max_items, got {self.min_items} and {self.max_items}")
        if min(self.train, self.validation, self.test) < 1:
            raise InputError("every split needs at least one query")
        if len(self.skew) != GRADES or min(self.skew) <= 0 or not math.isclose(sum(self.skew), 1):
            raise InputError(f"skew gives the share of each relevance 0-4: {GRADES} positive numbers summing to 1")


@dataclass(frozen=True)
class _World:
    w1: torch.Tensor  # [QUALITY, HIDDEN]
    b1: torch.Tensor  # [HIDDEN]
    w2: torch.Tensor  # [HIDDEN], scaled so that the quality has unit variance
    thresholds: torch.Tensor  # [GRADES - 1]


def _world(config: SyntheticRanking) -> _World:
    generator = torch.Generator().manual_seed(config.world)
    w1 = torch.randn(QUALITY, HIDDEN, generator=generator) * (2.0 / math.sqrt(QUALITY))
    b1 = torch.randn(HIDDEN, generator=generator) * 0.5
    w2 = torch.randn(HIDDEN, generator=generator)
    # Samples of the world fix the quality's scale (unit variance, as the match has) and the
    # thresholds: the skew's quantiles of the utility.
    w2 = w2 / _quality(torch.randn(SAMPLE, QUALITY, generator=generator), _World(w1, b1, w2, w2)).std()
    world = _World(w1, b1, w2, torch.zeros(GRADES - 1))
    utility = _draw(SAMPLE, 1, config, world, generator)[2]
    cumulative = torch.tensor(config.skew, dtype=torch.float64).cumsum(0)[:-1].float()
    return _World(w1, b1, w2, torch.quantile(utility, cumulative))


def _quality(x: torch.Tensor, world: _World) -> torch.Tensor:
    return torch.tanh(x @ world.w1 + world.b1) @ world.w2


def _draw(queries: int, items: int | torch.Tensor, config: SyntheticRanking, world: _World,
          generator: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Features ``[N, F]``, each item's query ``[N]`` and utility ``[N]`` of ``queries`` lists."""
    lengths = torch.full((queries,), items) if isinstance(items, int) else items
    query_of = torch.repeat_interleave(torch.arange(queries), lengths)
    n = len(query_of)
    query = torch.randn(queries, QUERY, generator=generator)[query_of]
    topic = torch.randn(n, TOPIC, generator=generator)
    quality = torch.randn(n, QUALITY, generator=generator)
    noise_features = torch.randn(n, NOISE, generator=generator)
    offset = torch.randn(queries, generator=generator)[query_of] * config.query_offset
    noise = torch.randn(n, generator=generator) * config.noise
    match = (query * topic).sum(1) / math.sqrt(TOPIC)
    utility = config.match * match + config.quality * _quality(quality, world) + offset + noise
    features = torch.cat([query, topic, quality, noise_features], dim=1)
    return features, query_of, utility


def generate(queries: int, config: SyntheticRanking, generator: torch.Generator,
             world: _World | None = None) -> RankingSplit:
    """``queries`` lists of ``min_items`` to ``max_items`` items, relevance 0-4 by the world's thresholds."""
    world = world or _world(config)
    lengths = torch.randint(config.min_items, config.max_items + 1, (queries,), generator=generator)
    features, _, utility = _draw(queries, lengths, config, world, generator)
    relevance = torch.bucketize(utility, world.thresholds)
    return ranking_split(features, relevance, lengths)


def load_synthetic_ranking(seed: int, config: SyntheticRanking = SyntheticRanking()) -> Data:
    """Train, validation and test queries drawn from three streams of the seed."""
    world = _world(config)
    seeds = torch.randint(2**62, (3,), generator=torch.Generator().manual_seed(seed)).tolist()
    train, validation, test = (generate(count, config, torch.Generator().manual_seed(s), world)
                               for count, s in zip((config.train, config.validation, config.test), seeds))
    source = (f"synthetic ranking set (generated from seed {seed}: {config.train}/{config.validation}/"
              f"{config.test} queries of {config.min_items}-{config.max_items} items, {FEATURES} features, "
              "relevance 0-4)")
    return Data(train=train, validation=validation, test=test, source=source, synthetic=True)
