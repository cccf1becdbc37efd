"""Dropout layers: ``Dropout``, ``Dropout1d``, ``Dropout2d`` (as ``torch.nn.modules.dropout``).
Active in training mode (``module.train()``), the identity in eval mode."""

from __future__ import annotations

from ... import _core
from .. import functional as F
from .module import Module

Tensor = _core.Tensor

__all__ = ["Dropout", "Dropout1d", "Dropout2d"]


class _DropoutNd(Module):
    def __init__(self, p: float = 0.5, inplace: bool = False) -> None:
        super().__init__()
        # The engine checks p (the same ValueError as PyTorch's) on an empty input.
        F.dropout(_core.empty((0,)), p, training=False)
        self.p = p
        self.inplace = inplace

    def extra_repr(self) -> str:
        return f"p={self.p}, inplace={self.inplace}"


class Dropout(_DropoutNd):
    """Zero each element with probability ``p`` in training mode and scale the others by
    1/(1 − p); the identity in eval mode.

    >>> import tapegrad as tg
    >>> drop = tg.nn.Dropout(0.5)
    >>> drop
    Dropout(p=0.5, inplace=False)
    >>> _ = tg.manual_seed(0)
    >>> sorted(set(drop(tg.ones(100)).tolist()))
    [0.0, 2.0]
    >>> drop.eval()(tg.ones(2)).tolist()
    [1.0, 1.0]
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.dropout(input, self.p, self.training, self.inplace)


class Dropout1d(_DropoutNd):
    """Channel-wise dropout of (N, C, L) or (C, L) input (whole channels zeroed).

    >>> import tapegrad as tg
    >>> tg.nn.Dropout1d(0.2)(tg.ones(2, 3, 4)).shape
    tapegrad.Size([2, 3, 4])
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.dropout1d(input, self.p, self.training, self.inplace)


class Dropout2d(_DropoutNd):
    """Channel-wise dropout of (N, C, H, W) input (whole channels zeroed).

    >>> import tapegrad as tg
    >>> tg.nn.Dropout2d(0.2)(tg.ones(2, 3, 4, 4)).shape
    tapegrad.Size([2, 3, 4, 4])
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.dropout2d(input, self.p, self.training, self.inplace)
