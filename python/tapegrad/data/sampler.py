"""Samplers: the order in which a :class:`~tapegrad.data.DataLoader` visits a dataset
(``torch.utils.data.Sampler`` and ``DistributedSampler``).

>>> from tapegrad.utils.data import DistributedSampler
>>> s = DistributedSampler(range(10), num_replicas=3, rank=1, shuffle=False)
>>> list(s), len(s)
([1, 4, 7, 0], 4)
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np

__all__ = ["DistributedSampler", "Sampler"]


class Sampler:
    """Base class: an iterable of dataset indices with a length."""

    def __init__(self, data_source: Any = None) -> None:
        pass

    def __iter__(self) -> Iterator[int]:
        raise NotImplementedError

    def __len__(self) -> int:
        raise NotImplementedError


class DistributedSampler(Sampler):
    """Each of ``num_replicas`` processes visits its own share of the dataset.

    Every epoch all ranks draw the same permutation (from ``seed + epoch``, so call
    :meth:`set_epoch` at the start of each epoch for a new order), pad it by repeating its
    first indices until its length divides by ``num_replicas`` (or, with ``drop_last=True``,
    cut the tail), and rank r takes positions r, r + N, r + 2N, … — so the ranks together see
    every sample once per epoch, and batch k of all ranks together is batch k of one process
    reading the same permutation with an N times larger batch.

    ``num_replicas`` and ``rank`` default to :func:`tapegrad.distributed.get_world_size` and
    :func:`~tapegrad.distributed.get_rank`.

    >>> s = DistributedSampler(range(5), num_replicas=2, rank=0, seed=1)
    >>> s.set_epoch(3); len(s)
    3
    """

    def __init__(self, dataset: Any, num_replicas: int | None = None, rank: int | None = None,
                 shuffle: bool = True, seed: int = 0, drop_last: bool = False) -> None:
        if num_replicas is None or rank is None:
            from .. import distributed as dist

            if num_replicas is None:
                num_replicas = dist.get_world_size()
            if rank is None:
                rank = dist.get_rank()
        if isinstance(num_replicas, bool) or int(num_replicas) != num_replicas \
                or num_replicas < 1:
            raise ValueError(f"DistributedSampler: num_replicas must be a positive integer, got "
                             f"{num_replicas!r}")
        if rank >= num_replicas or rank < 0:
            raise ValueError(f"Invalid rank {rank}, rank should be in the interval "
                             f"[0, {num_replicas - 1}]")
        self.dataset = dataset
        self.num_replicas = int(num_replicas)
        self.rank = int(rank)
        self.epoch = 0
        self.drop_last = bool(drop_last)
        n = len(dataset)
        if self.drop_last and n % self.num_replicas != 0:
            # the largest multiple of num_replicas not above n
            self.num_samples = math.ceil((n - self.num_replicas) / self.num_replicas)
        else:
            self.num_samples = math.ceil(n / self.num_replicas)
        self.total_size = self.num_samples * self.num_replicas
        self.shuffle = bool(shuffle)
        self.seed = int(seed)

    def _indices(self) -> np.ndarray:
        n = len(self.dataset)
        if self.shuffle:
            order = np.random.default_rng(self.seed + self.epoch).permutation(n)
        else:
            order = np.arange(n)
        if self.total_size > n:  # pad by repeating the order (possibly more than once)
            order = np.resize(order, self.total_size)
        else:
            order = order[: self.total_size]
        return order[self.rank: self.total_size: self.num_replicas].astype(np.int64, copy=False)

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices().tolist())

    def __len__(self) -> int:
        return self.num_samples

    def set_epoch(self, epoch: int) -> None:
        """Use the permutation of ``epoch`` (all ranks must pass the same value)."""
        self.epoch = int(epoch)

    def __repr__(self) -> str:
        return (f"DistributedSampler(num_replicas={self.num_replicas}, rank={self.rank}, "
                f"shuffle={self.shuffle}, seed={self.seed}, drop_last={self.drop_last}, "
                f"epoch={self.epoch})")
