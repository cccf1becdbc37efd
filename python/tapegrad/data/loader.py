"""Datasets of tensors and a loader that gathers each batch in C++ with one index tensor."""

from __future__ import annotations

import itertools
import math
import operator
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Generic, TypeVar, overload

import numpy as np

from .. import _core
from .dataset import Dataset, IterableDataset

Tensor = _core.Tensor
_Batch = TypeVar("_Batch")

__all__ = ["synthetic_data", "TensorDataset", "DataLoader", "train_test_split"]


def _as_tensor(x: Any, name: str) -> Tensor:
    if isinstance(x, Tensor):
        return x
    if isinstance(x, np.ndarray):
        return _core.tensor(np.ascontiguousarray(x))
    try:
        return _core.tensor(x)
    except Exception as exc:  # noqa: BLE001
        raise TypeError(f"{name}: expected a tapegrad.Tensor or array-like, got "
                        f"{type(x).__name__}") from exc


def synthetic_data(w: Any, b: float, num_examples: int, noise: float = 0.01,
                   seed: int | None = None) -> tuple[Tensor, Tensor]:
    """y = X·w + b + ε with X ~ N(0, 1) of shape (num_examples, len(w)) and ε ~ N(0, noise²);
    returns ``(X, y)`` with ``y`` of shape (num_examples, 1), as in d2l §3.2.

    With ``seed=None`` the draws come from tapegrad's generator (see ``tg.manual_seed``);
    with a seed, from a private NumPy generator (same data every call).

    >>> import tapegrad as tg
    >>> X, y = synthetic_data(tg.tensor([2, -3.4]), 4.2, 1000, seed=0)
    >>> X.shape, y.shape
    (tapegrad.Size([1000, 2]), tapegrad.Size([1000, 1]))
    """
    if int(num_examples) != num_examples or num_examples < 0:
        raise ValueError("synthetic_data: num_examples must be a non-negative int, got "
                         f"{num_examples!r}")
    if noise < 0:
        raise ValueError(f"synthetic_data: noise must be non-negative, got {noise}")
    w_np = np.asarray(w.detach().numpy() if isinstance(w, Tensor) else w, dtype=np.float32)
    if w_np.ndim != 1:
        raise ValueError(f"synthetic_data: w must be a vector, got shape {list(w_np.shape)}")
    n, d = int(num_examples), w_np.shape[0]
    if seed is None:
        X = _core.randn((n, d))
        eps = _core.randn((n,))
    else:
        rng = np.random.default_rng(seed)
        X = _core.from_numpy(rng.standard_normal((n, d), dtype=np.float32))
        eps = _core.from_numpy(rng.standard_normal((n,), dtype=np.float32))
    y = X @ _core.from_numpy(w_np) + float(b) + eps * float(noise)
    return X, y.reshape((-1, 1))


class TensorDataset(Dataset):
    """Examples are the rows of tensors that share their first dimension.

    ``dataset[i]`` is a tuple of rows; ``dataset[index_tensor]`` gathers many rows at once.

    >>> import tapegrad as tg
    >>> ds = TensorDataset(tg.arange(6).reshape(3, 2), tg.tensor([0, 1, 0]))
    >>> len(ds), ds[1][1].item()
    (3, 1)
    """

    def __init__(self, *tensors: Any) -> None:
        if not tensors:
            raise ValueError("TensorDataset needs at least one tensor")
        ts = [_as_tensor(t, "TensorDataset") for t in tensors]
        for t in ts:
            if t.ndim == 0:
                raise ValueError("TensorDataset: tensors must have at least one dimension")
        n = ts[0].shape[0]
        if any(t.shape[0] != n for t in ts):
            raise ValueError("Size mismatch between tensors: first dimensions are "
                             + str([t.shape[0] for t in ts]))
        self.tensors: tuple[Tensor, ...] = tuple(ts)

    def __getitem__(self, index: Any) -> tuple[Tensor, ...]:
        return tuple(t[index] for t in self.tensors)

    def __len__(self) -> int:
        return self.tensors[0].shape[0]

    def __repr__(self) -> str:
        shapes = ", ".join(str(list(t.shape)) for t in self.tensors)
        return f"TensorDataset({shapes})"


def _collate(samples: Sequence[Any]) -> Any:
    first = samples[0]
    if isinstance(first, Tensor):
        return _core.stack(list(samples))
    if isinstance(first, (int, float, np.number)):
        return _core.tensor(list(samples))
    if isinstance(first, np.ndarray):
        return _core.tensor(np.stack(samples))
    if isinstance(first, (tuple, list)):
        return tuple(_collate([s[i] for s in samples]) for i in range(len(first)))
    raise TypeError(f"DataLoader: cannot batch samples of type {type(first).__name__}")


# Note [dataset indices]: what a sampler or batch sampler yields reaches the dataset as it is,
# as in PyTorch: a float or another non-integer index is the dataset's error (a list's
# TypeError, a tensor's IndexError), never truncated to an int; an index past the end is the
# dataset's IndexError, also when the dataset shrank during the epoch. Only when every index is
# an integer (Python, NumPy or a 0-d int64 tensor) does a TensorDataset batch become one C++
# gather, whose bounds check raises PyTorch's IndexError.
def _int64_indices(ids: Iterable[Any]) -> np.ndarray | None:
    out = []
    for i in ids:
        if isinstance(i, Tensor) and i.ndim == 0 and i.dtype == _core.int64:
            i = i.item()
        if isinstance(i, (bool, np.bool_)) or not isinstance(i, (int, np.integer)):
            return None
        out.append(operator.index(i))
    return np.asarray(out, dtype=np.int64)


class DataLoader(Generic[_Batch]):
    """Iterate over a dataset in mini-batches (``torch.utils.data.DataLoader`` without workers).

    ``sampler`` (e.g. :class:`~tapegrad.utils.data.DistributedSampler`) gives the order of the
    indices instead of ``shuffle`` (the two are mutually exclusive, as in PyTorch);
    ``batch_sampler`` yields whole lists of indices; ``collate_fn`` turns a list of samples
    into a batch. Arguments after ``batch_sampler`` are keyword-only.

    For a :class:`TensorDataset` each batch is gathered in C++ with one int64 index tensor (no
    Python loop per example); ``next(iter(loader))`` costs O(batch_size) plus, when shuffling,
    one NumPy/C++ permutation of the indices. Any other dataset with ``__len__`` and
    ``__getitem__`` is batched example by example.

    ``shuffle=True`` draws a new order every epoch, from tapegrad's generator (``tg.manual_seed``)
    or, when ``seed`` is given, from a private generator seeded once.

    >>> import tapegrad as tg
    >>> ds = TensorDataset(tg.arange(10).float(), tg.arange(10))
    >>> [x.tolist() for x, _ in DataLoader(ds, batch_size=4)]
    [[0.0, 1.0, 2.0, 3.0], [4.0, 5.0, 6.0, 7.0], [8.0, 9.0]]
    >>> len(DataLoader(ds, batch_size=4, drop_last=True))
    2
    """

    # A TensorDataset's batches (without collate_fn) are tuples of tensors, so that
    # `for X, y in loader` types X and y as Tensor; other batches are whatever collation makes.
    @overload
    def __init__(self: DataLoader[tuple[Tensor, ...]], dataset: TensorDataset,
                 batch_size: int = 1, shuffle: bool | None = None, sampler: Any = None,
                 batch_sampler: Any = None, *, num_workers: int = 0, collate_fn: None = None,
                 pin_memory: bool = False, drop_last: bool = False,
                 seed: int | None = None, **workers: Any) -> None: ...
    @overload
    def __init__(self: DataLoader[Any], dataset: Any, batch_size: int = 1,
                 shuffle: bool | None = None, sampler: Any = None, batch_sampler: Any = None, *,
                 num_workers: int = 0, collate_fn: Any = None, pin_memory: bool = False,
                 drop_last: bool = False, seed: int | None = None, **workers: Any) -> None: ...
    def __init__(self, dataset: Any, batch_size: int = 1, shuffle: bool | None = None,
                 sampler: Any = None, batch_sampler: Any = None, *, num_workers: int = 0,
                 collate_fn: Any = None, pin_memory: bool = False, drop_last: bool = False,
                 seed: int | None = None, **workers: Any) -> None:
        if batch_sampler is not None:
            # batch_size=1 is the default: with a batch sampler it must be left alone
            if batch_size != 1 or shuffle or sampler is not None or drop_last:
                raise ValueError("batch_sampler option is mutually exclusive with batch_size, "
                                 "shuffle, sampler, and drop_last")
        elif isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) \
                or batch_size <= 0:
            raise ValueError(f"batch_size should be a positive integer value, but got "
                             f"batch_size={batch_size!r}")
        if sampler is not None and shuffle:
            raise ValueError("sampler option is mutually exclusive with shuffle")
        for name, s in (("sampler", sampler), ("batch_sampler", batch_sampler)):
            if s is not None and not hasattr(s, "__iter__"):
                raise TypeError(f"DataLoader: {name} must be an iterable of indices, got "
                                f"{type(s).__name__}")
        if isinstance(num_workers, bool) or not isinstance(num_workers, (int, np.integer)) \
                or num_workers < 0:
            raise ValueError("num_workers option should be non-negative; use num_workers=0 to "
                             "disable multiprocessing.")
        # The worker options (Note [single-process workers]).
        unknown = set(workers) - {"worker_init_fn", "persistent_workers", "timeout",
                                  "prefetch_factor", "generator", "multiprocessing_context",
                                  "pin_memory_device", "in_order"}
        if unknown:
            raise TypeError(f"DataLoader got an unexpected keyword argument {sorted(unknown)[0]!r}")
        self.worker_init_fn = workers.get("worker_init_fn")
        # generator= (a tapegrad.Generator): the shuffle order is drawn from it.
        self.generator = workers.get("generator")
        if self.generator is not None and not isinstance(self.generator, _core.Generator):
            raise TypeError("DataLoader: generator must be a tapegrad.Generator, got "
                            f"{type(self.generator).__name__}")
        self.persistent_workers = bool(workers.get("persistent_workers", False))
        if self.persistent_workers and num_workers == 0:
            raise ValueError("persistent_workers option needs num_workers > 0")
        self.timeout = workers.get("timeout", 0)
        self._workers_started = False
        self._iterable = isinstance(dataset, IterableDataset)
        if self._iterable and (shuffle or sampler is not None or batch_sampler is not None):
            raise ValueError("DataLoader with IterableDataset: expected unspecified shuffle, "
                             "sampler and batch_sampler options")
        if self._iterable:
            pass
        elif not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
            raise TypeError(f"DataLoader: dataset must have __len__ and __getitem__, got "
                            f"{type(dataset).__name__}")
        self.dataset = dataset
        self.batch_size = None if batch_sampler is not None else int(batch_size)
        self.shuffle = bool(shuffle)
        self.sampler = sampler
        self.batch_sampler = batch_sampler
        # Batches are gathered in this process (one C++ gather per batch is faster than
        # shipping tensors between worker processes), so num_workers and pin_memory are
        # accepted for scripts written for PyTorch and change nothing.
        self.num_workers = int(num_workers)
        self.pin_memory = bool(pin_memory)
        self.collate_fn = collate_fn
        self.drop_last = bool(drop_last)
        self.seed = seed
        self._rng = np.random.default_rng(seed) if seed is not None else None

    def __len__(self) -> int:
        if self._iterable:
            n = len(self.dataset)  # TypeError when the iterable dataset has no length
            return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)
        if self.batch_sampler is not None:
            return len(self.batch_sampler)
        n = len(self.sampler) if self.sampler is not None else len(self.dataset)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    def _order(self, n: int) -> np.ndarray | None:
        """The epoch's whole order when it is known up front (shuffle, DistributedSampler);
        None for the plain order 0..n-1 or a sampler, which is drawn lazily, a batch at a
        time, as PyTorch's BatchSampler draws it."""
        if self.sampler is not None:
            take = getattr(self.sampler, "_indices", None)  # DistributedSampler: NumPy order
            return take() if take is not None else None
        if not self.shuffle:
            return None
        if self._rng is not None:
            return self._rng.permutation(n).astype(np.int64, copy=False)
        return _core.randperm(n, generator=self.generator).numpy()

    def _batch(self, ids: Any) -> Any:
        """One batch from the dataset indices ``ids``: a range, an int64 array, or the list of
        what a sampler yielded (Note [dataset indices])."""
        if isinstance(ids, list):
            ints = _int64_indices(ids)
            if ints is None:  # indexed one by one: the dataset says what is wrong with them
                return (self.collate_fn or _collate)([self.dataset[i] for i in ids])
            ids = ints
        if self.collate_fn is None and isinstance(self.dataset, TensorDataset):
            if isinstance(ids, range):
                if all(ids.stop <= t.shape[0] for t in self.dataset.tensors):
                    return tuple(t[ids.start:ids.stop] for t in self.dataset.tensors)
                ids = np.arange(ids.start, ids.stop, dtype=np.int64)  # gather: IndexError
            return self.dataset[_core.from_numpy(np.ascontiguousarray(ids, dtype=np.int64))]
        samples = [self.dataset[i] for i in (ids if isinstance(ids, range) else ids.tolist())]
        return (self.collate_fn or _collate)(samples)

    def __iter__(self) -> Iterator[_Batch]:
        return self._batches()

    def _batches(self) -> Iterator[Any]:
        # Note [single-process workers]: batches are always made in this process (a C++
        # gather per batch is faster than pickling tensors between processes on the small
        # datasets course code uses), so num_workers changes no value and no order. What a
        # worker would run first still runs: worker_init_fn(worker_id) for each of the
        # num_workers ids when an epoch's iterator starts (once in all with
        # persistent_workers, whose workers live across epochs).
        if self.worker_init_fn is not None and self.num_workers > 0 \
                and not (self.persistent_workers and self._workers_started):
            for worker_id in range(self.num_workers):
                self.worker_init_fn(worker_id)
            self._workers_started = True
        if self._iterable:
            batch: list[Any] = []
            for sample in self.dataset:
                batch.append(sample)
                if len(batch) == self.batch_size:
                    yield (self.collate_fn or _collate)(batch)
                    batch = []
            if batch and not self.drop_last:
                yield (self.collate_fn or _collate)(batch)
            return
        if self.batch_sampler is not None:
            for ids in self.batch_sampler:
                yield self._batch(list(ids))
            return
        n = len(self.dataset)
        order = self._order(n)
        if order is None and self.sampler is not None:
            yield from self._sampled(iter(self.sampler))
            return
        m = n if order is None else len(order)
        stop = (m // self.batch_size) * self.batch_size if self.drop_last else m
        for start in range(0, stop, self.batch_size):
            end = min(start + self.batch_size, m)
            yield self._batch(range(start, end) if order is None else order[start:end])

    def _sampled(self, it: Iterator[Any]) -> Iterator[Any]:
        # A sampler is read a batch at a time, never to its end first: it may be endless (its
        # length a nominal one) or follow a dataset that changes while the epoch runs.
        assert self.batch_size is not None
        while True:
            ids = list(itertools.islice(it, self.batch_size))
            if not ids or (self.drop_last and len(ids) < self.batch_size):
                return
            yield self._batch(ids)

    def __repr__(self) -> str:
        extra = f", sampler={self.sampler!r}" if self.sampler is not None else ""
        return (f"DataLoader(batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"drop_last={self.drop_last}{extra}, len={len(self)})")


def train_test_split(*tensors: Any, test_size: float = 0.2,
                     seed: int = 0) -> list[Tensor]:
    """Split tensors along their first dimension into a shuffled train and test part; returns
    ``[a_train, a_test, b_train, b_test, ...]`` (scikit-learn's order).

    >>> import tapegrad as tg
    >>> X_tr, X_te, y_tr, y_te = train_test_split(tg.zeros(10, 2), tg.arange(10), test_size=0.3)
    >>> X_tr.shape[0], X_te.shape[0]
    (7, 3)
    """
    ts = [_as_tensor(t, "train_test_split") for t in tensors]
    if not ts:
        raise ValueError("train_test_split: at least one tensor is required")
    n = ts[0].shape[0]
    if any(t.shape[0] != n for t in ts):
        raise ValueError("train_test_split: tensors have different first dimensions "
                         + str([t.shape[0] for t in ts]))
    if not 0.0 < test_size < 1.0:
        raise ValueError(f"train_test_split: test_size must be in (0, 1), got {test_size}")
    n_test = int(math.ceil(n * test_size))
    perm = np.random.default_rng(seed).permutation(n).astype(np.int64)
    test_idx = _core.from_numpy(np.ascontiguousarray(perm[:n_test]))
    train_idx = _core.from_numpy(np.ascontiguousarray(perm[n_test:]))
    out: list[Tensor] = []
    for t in ts:
        out += [t[train_idx], t[test_idx]]
    return out
