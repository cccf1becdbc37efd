"""Loss layers: each calls its ``tapegrad.nn.functional`` twin with the stored reduction."""

from __future__ import annotations

from ... import _core
from .. import functional
from .module import Module

Tensor = _core.Tensor

__all__ = ["MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss"]


class _Loss(Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        functional._check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class MSELoss(_Loss):
    """Mean squared error (``reduction`` 'mean' | 'sum' | 'none').

    >>> import tapegrad as tg
    >>> tg.nn.MSELoss()(tg.tensor([1.0, 2.0]), tg.tensor([0.0, 0.0])).item()
    2.5
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional.mse_loss(input, target, self.reduction)


class CrossEntropyLoss(_Loss):
    """Softmax cross-entropy of logits (N, C) against int64 class indices (N,).

    >>> import tapegrad as tg
    >>> round(tg.nn.CrossEntropyLoss()(tg.zeros(1, 4), tg.tensor([2])).item(), 4)
    1.3863
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional.cross_entropy(input, target, self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits (stable).

    >>> import tapegrad as tg
    >>> round(tg.nn.BCEWithLogitsLoss()(tg.zeros(2), tg.ones(2)).item(), 4)
    0.6931
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional.binary_cross_entropy_with_logits(input, target, self.reduction)
