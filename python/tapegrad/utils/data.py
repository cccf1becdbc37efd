"""``from tapegrad.utils.data import DataLoader, TensorDataset, DistributedSampler`` (as in
``torch.utils.data``); the implementations live in :mod:`tapegrad.data`.

>>> from tapegrad.utils.data import DataLoader, TensorDataset
>>> import tapegrad as tg
>>> len(DataLoader(TensorDataset(tg.zeros(5)), batch_size=2))
3
"""

from ..data.dataset import (
    ConcatDataset,
    Dataset,
    IterableDataset,
    Subset,
    random_split,
)
from ..data.loader import DataLoader, TensorDataset
from ..data.sampler import DistributedSampler, Sampler

__all__ = ["DataLoader", "DistributedSampler", "Sampler", "TensorDataset", "Dataset",
           "IterableDataset", "Subset", "ConcatDataset", "random_split"]
