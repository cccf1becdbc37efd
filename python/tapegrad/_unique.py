"""``unique``: the distinct values of a tensor (or distinct slices along ``dim``), sorted, with
the inverse indices and counts on request. Its result's size depends on the data, so it is
computed by NumPy on the tensor's values (no gradient, as in PyTorch) and ``tapegrad.compile``
cannot capture it (reading the values refuses the capture).

>>> import tapegrad as tg
>>> tg.unique(tg.tensor([3, 1, 3, 2]))
tensor([1, 2, 3])
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core

Tensor = _core.Tensor


def unique(input: Tensor, sorted: bool = True, return_inverse: bool = False,
           return_counts: bool = False, dim: int | None = None) -> Any:
    """unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None): the
    sorted distinct elements of ``input`` (flattened), or with ``dim`` its distinct slices
    along ``dim``; with ``return_inverse`` also where each element (slice) of ``input`` went
    (``input``'s shape; along ``dim``: one index per slice), with ``return_counts`` how often
    each distinct value occurs. A tensor alone, else a tuple, as in PyTorch. Each NaN is
    distinct (as PyTorch); the result is sorted whatever ``sorted`` says (PyTorch's CPU
    result is too).

    >>> import tapegrad as tg
    >>> tg.unique(tg.tensor([[2, 1], [2, 5]]), return_inverse=True, return_counts=True)
    (tensor([1, 2, 5]), tensor([[1, 0],
            [1, 2]]), tensor([1, 2, 1]))
    >>> tg.unique(tg.tensor([[1, 2], [0, 1], [1, 2]]), dim=0)
    tensor([[0, 1],
            [1, 2]])
    """
    if not isinstance(input, Tensor):
        raise TypeError(f"unique(): argument 'input' must be Tensor, not {type(input).__name__}")
    a = input.detach().numpy()
    if dim is None:
        values, inverse, counts = np.unique(a.reshape(-1), return_inverse=True,
                                            return_counts=True, equal_nan=False)
        inverse = inverse.reshape(a.shape)
    else:
        if isinstance(dim, bool) or not isinstance(dim, int):
            raise TypeError(f"unique(): argument 'dim' must be int, not {type(dim).__name__}")
        n = max(a.ndim, 1)
        if not -n <= dim < n:
            raise IndexError(f"unique: Dimension out of range (expected to be in range of "
                             f"[{-n}, {n - 1}], but got {dim}) for a tensor of shape "
                             f"{list(input.shape)}")
        if a.ndim == 0:
            a = a.reshape(1)
        values, inverse, counts = np.unique(a, return_inverse=True, return_counts=True,
                                            axis=dim % n, equal_nan=False)
        inverse = inverse.reshape(-1)
    out = _core.from_numpy(np.array(values, dtype=a.dtype, order="C"))
    if not return_inverse and not return_counts:
        return out
    extra = []
    if return_inverse:
        extra.append(_core.from_numpy(np.array(inverse, dtype=np.int64, order="C")))
    if return_counts:
        extra.append(_core.from_numpy(np.array(counts, dtype=np.int64, order="C")))
    return (out, *extra)


def install() -> None:
    def method(self: Tensor, sorted: bool = True, return_inverse: bool = False,
               return_counts: bool = False, dim: int | None = None) -> Any:
        return unique(self, sorted, return_inverse, return_counts, dim)

    method.__name__ = method.__qualname__ = "unique"
    method.__doc__ = unique.__doc__
    Tensor.unique = method
