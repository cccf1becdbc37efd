"""Elementwise activation layers."""

from __future__ import annotations

from ... import _core
from .. import functional
from .module import Module

Tensor = _core.Tensor

__all__ = ["ReLU", "Sigmoid", "Tanh"]


class ReLU(Module):
    """max(x, 0) elementwise.

    >>> import tapegrad as tg
    >>> tg.nn.ReLU()(tg.tensor([-1.0, 1.0])).tolist()
    [0.0, 1.0]
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        # The core op directly, not F.relu: one Python call less in every training step.
        return _core.relu(input)


class Sigmoid(Module):
    """1 / (1 + e⁻ˣ) elementwise.

    >>> import tapegrad as tg
    >>> tg.nn.Sigmoid()(tg.tensor([0.0])).tolist()
    [0.5]
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return functional.sigmoid(input)


class Tanh(Module):
    """tanh(x) elementwise.

    >>> import tapegrad as tg
    >>> tg.nn.Tanh()(tg.tensor([0.0])).tolist()
    [0.0]
    """

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return functional.tanh(input)
