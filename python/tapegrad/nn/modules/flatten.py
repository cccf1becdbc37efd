"""``Flatten``: merge a range of dims into one; ``Unflatten``: split one dim into several."""

from __future__ import annotations

from typing import Sequence

from ... import _core
from .module import Module

Tensor = _core.Tensor

__all__ = ["Flatten", "Unflatten"]


class Flatten(Module):
    """Flatten dims ``start_dim..end_dim`` into one (default: all but the batch dim).

    >>> import tapegrad as tg
    >>> tg.nn.Flatten()(tg.zeros(2, 8, 8)).shape
    tapegrad.Size([2, 64])
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = start_dim
        self.end_dim = end_dim

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return input.flatten(self.start_dim, self.end_dim)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Unflatten(Module):
    """Expand dim ``dim`` into the shape ``unflattened_size`` (one entry may be -1), the inverse
    of :class:`Flatten`, as ``torch.nn.Unflatten``.

    >>> import tapegrad as tg
    >>> tg.nn.Unflatten(1, (2, 3))
    Unflatten(dim=1, unflattened_size=(2, 3))
    >>> tg.nn.Unflatten(1, (1, 28, 28))(tg.zeros(4, 784)).shape
    tapegrad.Size([4, 1, 28, 28])
    """

    def __init__(self, dim: int, unflattened_size: Sequence[int]) -> None:
        super().__init__()
        if not isinstance(unflattened_size, (tuple, list)) or not all(
                isinstance(s, int) and not isinstance(s, bool) for s in unflattened_size):
            raise TypeError("Unflatten: unflattened_size must be a tuple or list of ints, got "
                            f"{unflattened_size!r}")
        self.dim = dim
        self.unflattened_size = unflattened_size

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        shape = tuple(input.shape)
        nd = len(shape)
        if not -nd <= self.dim < nd:
            raise IndexError(f"Unflatten: dim {self.dim} is out of range for an input of shape "
                             f"{list(shape)}")
        d = self.dim % nd
        sizes = tuple(self.unflattened_size)
        known = 1
        for s in sizes:
            known *= s if s != -1 else 1
        if (-1 not in sizes and known != shape[d]) or (
                -1 in sizes and (known == 0 or shape[d] % known != 0)):
            raise RuntimeError(f"Unflatten: unflattened_size {sizes} does not fit dim {self.dim} "
                               f"of size {shape[d]} (input shape {list(shape)})")
        return input.reshape(shape[:d] + sizes + shape[d + 1:])

    def extra_repr(self) -> str:
        return f"dim={self.dim}, unflattened_size={self.unflattened_size}"
