"""Data for the examples: d2l's synthetic regression data, tensor datasets, a batch loader,
the embedded UCI digits and Fashion-MNIST's IDX files.

>>> import tapegrad as tg
>>> from tapegrad.data import DataLoader, TensorDataset, synthetic_data
>>> X, y = synthetic_data(tg.tensor([2, -3.4]), 4.2, 1000, seed=0)
>>> xb, yb = next(iter(DataLoader(TensorDataset(X, y), batch_size=10, shuffle=True, seed=0)))
>>> xb.shape, yb.shape
(tapegrad.Size([10, 2]), tapegrad.Size([10, 1]))
"""

from .datasets import (
    FASHION_MNIST_CLASSES,
    FASHION_MNIST_DIRS,
    FASHION_MNIST_FILES,
    FASHION_MNIST_MIRRORS,
    default_fashion_mnist_dir,
    load_digits,
    load_fashion_mnist,
    read_idx,
)
from .loader import DataLoader, TensorDataset, synthetic_data, train_test_split

__all__ = ["synthetic_data", "TensorDataset", "DataLoader", "train_test_split", "load_digits",
           "load_fashion_mnist", "read_idx", "FASHION_MNIST_CLASSES", "FASHION_MNIST_FILES",
           "FASHION_MNIST_MIRRORS", "FASHION_MNIST_DIRS", "default_fashion_mnist_dir"]
