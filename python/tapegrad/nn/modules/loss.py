"""Loss layers, as ``torch.nn``'s: each calls its ``tapegrad.nn.functional`` twin with the
options it was built with (class weights are buffers, so they travel with ``state_dict``)."""

from __future__ import annotations

from ... import _core
from .. import functional
from .module import Module

Tensor = _core.Tensor

__all__ = ["MSELoss", "CrossEntropyLoss", "BCEWithLogitsLoss",
           "L1Loss", "SmoothL1Loss", "HuberLoss", "NLLLoss", "BCELoss", "KLDivLoss"]


class _Loss(Module):
    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__()
        reduction = functional._legacy_reduction(size_average, reduce, reduction)
        if reduction != "batchmean":  # KLDivLoss's own
            functional._check_reduction(type(self).__name__, reduction)
        self.reduction = reduction

    def extra_repr(self) -> str:
        return "" if self.reduction == "mean" else f"reduction={self.reduction!r}"


class _WeightedLoss(_Loss):
    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean") -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.weight: Tensor | None


class MSELoss(_Loss):
    """Mean squared error (``reduction`` 'mean' | 'sum' | 'none').

    >>> import tapegrad as tg
    >>> tg.nn.MSELoss()(tg.tensor([1.0, 2.0]), tg.tensor([0.0, 0.0])).item()
    2.5
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional.mse_loss(input, target, reduction=self.reduction)


class L1Loss(_Loss):
    """Mean absolute error (``reduction`` 'mean' | 'sum' | 'none').

    >>> import tapegrad as tg
    >>> tg.nn.L1Loss()(tg.tensor([1.0, -2.0]), tg.tensor([0.0, 0.0])).item()
    1.5
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional.l1_loss(input, target, reduction=self.reduction)


class SmoothL1Loss(_Loss):
    """``0.5·d²/β`` where ``|d| < β``, ``|d| − 0.5·β`` elsewhere.

    >>> import tapegrad as tg
    >>> tg.nn.SmoothL1Loss(beta=2.0)(tg.tensor([1.0]), tg.tensor([0.0])).item()
    0.25
    """

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", beta: float = 1.0) -> None:
        super().__init__(size_average, reduce, reduction)
        self.beta = beta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional.smooth_l1_loss(input, target, reduction=self.reduction, beta=self.beta)


class HuberLoss(_Loss):
    """``0.5·d²`` where ``|d| < δ``, ``δ·(|d| − 0.5·δ)`` elsewhere.

    >>> import tapegrad as tg
    >>> tg.nn.HuberLoss(delta=0.5)(tg.tensor([2.0]), tg.tensor([0.0])).item()
    0.875
    """

    def __init__(self, reduction: str = "mean", delta: float = 1.0) -> None:
        super().__init__(reduction=reduction)
        self.delta = delta

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional.huber_loss(input, target, reduction=self.reduction, delta=self.delta)


class NLLLoss(_WeightedLoss):
    """Negative log-likelihood of log-probabilities against int64 class indices.

    >>> import tapegrad as tg
    >>> tg.nn.NLLLoss()(tg.tensor([[-1.0, -2.0]]), tg.tensor([1])).item()
    2.0
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None,
                 reduction: str = "mean") -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional.nll_loss(input, target, weight=self.weight,
                                   ignore_index=self.ignore_index, reduction=self.reduction)


class CrossEntropyLoss(_WeightedLoss):
    """Softmax cross-entropy of logits (N, C) or (N, C, d1, ...) against int64 class indices or
    class probabilities, with PyTorch's ``weight``, ``ignore_index`` and ``label_smoothing``.

    >>> import tapegrad as tg
    >>> round(tg.nn.CrossEntropyLoss()(tg.zeros(1, 4), tg.tensor([2])).item(), 4)
    1.3863
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 ignore_index: int = -100, reduce: bool | None = None, reduction: str = "mean",
                 label_smoothing: float = 0.0) -> None:
        super().__init__(weight, size_average, reduce, reduction)
        self.ignore_index = ignore_index
        self.label_smoothing = label_smoothing

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional.cross_entropy(input, target, weight=self.weight,
                                        ignore_index=self.ignore_index, reduction=self.reduction,
                                        label_smoothing=self.label_smoothing)


class BCELoss(_WeightedLoss):
    """Binary cross-entropy on probabilities in [0, 1] (logs clamped at −100).

    >>> import tapegrad as tg
    >>> round(tg.nn.BCELoss()(tg.tensor([0.5]), tg.tensor([1.0])).item(), 4)
    0.6931
    """

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional.binary_cross_entropy(input, target, weight=self.weight,
                                               reduction=self.reduction)


class BCEWithLogitsLoss(_Loss):
    """Binary cross-entropy on logits (stable), with per-element ``weight`` and per-class
    ``pos_weight``.

    >>> import tapegrad as tg
    >>> round(tg.nn.BCEWithLogitsLoss()(tg.zeros(2), tg.ones(2)).item(), 4)
    0.6931
    """

    def __init__(self, weight: Tensor | None = None, size_average: bool | None = None,
                 reduce: bool | None = None, reduction: str = "mean",
                 pos_weight: Tensor | None = None) -> None:
        super().__init__(size_average, reduce, reduction)
        self.register_buffer("weight", weight)
        self.register_buffer("pos_weight", pos_weight)
        self.weight: Tensor | None
        self.pos_weight: Tensor | None

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional.binary_cross_entropy_with_logits(
            input, target, self.weight, reduction=self.reduction, pos_weight=self.pos_weight)


class KLDivLoss(_Loss):
    """Kullback-Leibler divergence of log-probability inputs; ``reduction='batchmean'`` is the
    divergence's definition.

    >>> import tapegrad as tg
    >>> round(tg.nn.KLDivLoss(reduction="batchmean")(tg.tensor([[-1.0, -1.0]]),
    ...                                              tg.tensor([[0.5, 0.5]])).item(), 4)
    0.3069
    """

    def __init__(self, size_average: bool | None = None, reduce: bool | None = None,
                 reduction: str = "mean", log_target: bool = False) -> None:
        super().__init__(size_average, reduce, reduction)
        self.log_target = log_target

    def forward(self, input: Tensor, target: Tensor) -> Tensor:  # noqa: A002
        return functional.kl_div(input, target, reduction=self.reduction,
                                 log_target=self.log_target)
