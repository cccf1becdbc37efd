"""``from tapegrad.utils.data import DataLoader, TensorDataset`` (as in ``torch.utils.data``);
the implementations live in :mod:`tapegrad.data`.

>>> from tapegrad.utils.data import DataLoader, TensorDataset
>>> import tapegrad as tg
>>> len(DataLoader(TensorDataset(tg.zeros(5)), batch_size=2))
3
"""

from ..data.loader import DataLoader, TensorDataset

__all__ = ["DataLoader", "TensorDataset"]
