"""``Flatten``: merge a range of dims into one."""

from __future__ import annotations

from ... import _core
from .module import Module

Tensor = _core.Tensor

__all__ = ["Flatten"]


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
