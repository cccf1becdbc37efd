"""PyTorch-style import paths: ``tapegrad.utils.data`` is ``torch.utils.data``'s place.

>>> from tapegrad.utils.data import DataLoader, TensorDataset
"""

from . import data, hooks

__all__ = ["data", "hooks"]
