"""Queries and their lists of items, held ragged and padded only when a batch or a split is read.

A learning-to-rank split is Q queries, each with a list of items of its own length, each item a
feature vector and a graded relevance (0 = irrelevant, 4 = perfect on MSLR's scale). The ranking
metrics (``ndcg_at_k``, ``mrr``, ...) take a batch of queries padded to one length: an item of
negative relevance (-1) is padding, neither counted nor ranked, and its features are zeros.

Held padded to the longest list, MSLR-WEB30K's training split would be 19,000 lists of up to
1,251 items of 136 features: 13 GB for 2.3 million items (1.2 GB). ``QueryLists`` keeps the items
in one ``[N, F]`` table with each query's first row and pads when read:

- a training batch (``RankingSplit.batch``) is padded to its own longest list, so a step costs
  what its queries hold;
- reading the inputs by position (``split.inputs[a:b]``, as evaluation does) pads to the split's
  longest list, the width of the split's relevance ``[Q, W]``, so that the scores of every chunk
  line up with it.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from ..task import Split
from metricloss.errors import InputError

PADDING = -1  # the relevance of a padded position (TF-Ranking's and allRank's convention)


class QueryLists:
    """Item features of Q queries, ragged; indexed like a ``[Q, W, F]`` tensor padded with zeros.

    ``features`` is ``[N, F]``, the items of query ``q`` are rows ``starts[q]`` to
    ``starts[q] + lengths[q]``; ``W`` is the longest list.
    """

    def __init__(self, features: torch.Tensor, starts: torch.Tensor, lengths: torch.Tensor):
        if features.dim() != 2 or starts.shape != lengths.shape or starts.dim() != 1:
            raise InputError(f"QueryLists takes features [N, F] and starts, lengths [Q], got "
                             f"{list(features.shape)}, {list(starts.shape)}, {list(lengths.shape)}")
        self.features, self.starts, self.lengths = features, starts.long(), lengths.long()
        self.width = int(self.lengths.max()) if len(self.lengths) else 0
        self.dtype = features.dtype

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.lengths), self.width, self.features.shape[1]))

    def __len__(self) -> int:
        return len(self.lengths)

    def __getitem__(self, index) -> torch.Tensor:
        """``[n, W, F]``: the queries at ``index`` (a slice, an int or indices), padded to the split's ``W``."""
        if isinstance(index, int):
            return self.take(torch.tensor([index]), self.width)[0]
        positions = torch.arange(len(self))[index] if isinstance(index, slice) else torch.as_tensor(index).long()
        return self.take(positions, self.width)

    def take(self, index: torch.Tensor, width: int | None = None) -> torch.Tensor:
        """``[n, width, F]``: the queries at ``index``, padded to ``width`` (their longest list if None)."""
        index = torch.as_tensor(index).long().reshape(-1)
        lengths = self.lengths[index]
        if width is None:
            width = int(lengths.max()) if len(lengths) else 0
        positions = torch.arange(width)
        listed = positions[None, :] < lengths[:, None]  # [n, width]
        rows = (self.starts[index][:, None] + positions[None, :]).masked_fill(~listed, 0)
        if len(self.features) == 0:
            return torch.zeros((len(index), width, self.features.shape[1]), dtype=self.dtype)
        return torch.where(listed[..., None], self.features[rows], torch.zeros((), dtype=self.dtype))

    def subset(self, index: torch.Tensor) -> QueryLists:
        """The queries at ``index`` as lists of their own (their items copied into one table)."""
        index = torch.as_tensor(index).long().reshape(-1)
        lengths = self.lengths[index]
        rows = torch.cat([torch.arange(int(s), int(s) + int(n)) for s, n in zip(self.starts[index], lengths)]
                         or [torch.zeros(0, dtype=torch.long)])
        starts = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)[:-1]]) if len(lengths) else lengths
        return QueryLists(self.features[rows], starts, lengths)


@dataclass(frozen=True)
class RankingSplit(Split):
    """A split of queries: ``inputs`` a ``QueryLists``, ``targets`` the relevance ``[Q, W]`` (-1 padding).

    ``batch`` gives plain tensors padded to the batch's own longest list, or under several processes
    to the longest of the whole batch (``within``), so that every process's share has one width.
    """

    def batch(self, index: torch.Tensor, within: torch.Tensor | None = None) -> Split:
        index = torch.as_tensor(index).long().reshape(-1)
        whole = index if within is None else torch.as_tensor(within).long().reshape(-1)
        lengths = self.inputs.lengths[whole]
        width = int(lengths.max()) if len(lengths) else 0
        inputs = self.inputs.take(index, width)
        return Split(inputs, tuple(t[index][:, :width] for t in self.targets))

    def subset(self, index: torch.Tensor) -> RankingSplit:
        """The queries at ``index`` as a split of their own (its width their longest list)."""
        index = torch.as_tensor(index).long().reshape(-1)
        lists = self.inputs.subset(index)
        return RankingSplit(lists, tuple(t[index][:, :lists.width] for t in self.targets))

    @property
    def items(self) -> int:
        return int(self.inputs.lengths.sum())


def ranking_split(features: torch.Tensor, relevance: torch.Tensor, lengths: torch.Tensor) -> RankingSplit:
    """A split from items in query order: ``features [N, F]``, ``relevance [N]`` (0 or above) and
    each query's number of items ``lengths [Q]`` (at least one)."""
    lengths = lengths.long()
    if (lengths < 1).any() or int(lengths.sum()) != len(features) or len(relevance) != len(features):
        raise InputError(f"ranking_split: {len(features)} items' features, {len(relevance)} relevances and "
                         f"lists of {int(lengths.sum())} items in all (each at least 1) must agree")
    starts = torch.cat([torch.zeros(1, dtype=torch.long), lengths.cumsum(0)[:-1]]) if len(lengths) else lengths
    lists = QueryLists(features, starts, lengths)
    width = lists.width
    positions = torch.arange(width)
    listed = positions[None, :] < lengths[:, None]
    padded = torch.full((len(lengths), width), PADDING, dtype=torch.long)
    padded[listed] = relevance.long()
    return RankingSplit(lists, (padded,))


def group_by_query(qids, order: str = "file") -> tuple[torch.Tensor, torch.Tensor]:
    """``(permutation, lengths)`` that gather a file's rows into queries.

    Queries come in the order of their first row, and a query's items in file order, so rows of one
    qid that are not contiguous are still one query.
    """
    qids = torch.as_tensor(qids)
    if len(qids) == 0:
        return torch.zeros(0, dtype=torch.long), torch.zeros(0, dtype=torch.long)
    unique, inverse = torch.unique(qids, return_inverse=True)
    first = torch.full((len(unique),), len(qids), dtype=torch.long).scatter_reduce(
        0, inverse, torch.arange(len(qids)), reduce="amin")
    rank = torch.empty_like(first)
    rank[first.argsort()] = torch.arange(len(unique))  # each qid's place by its first row
    query = rank[inverse]
    permutation = torch.sort(query, stable=True).indices
    lengths = torch.bincount(query, minlength=len(unique))
    return permutation, lengths
