"""Stateless functions of ``tapegrad.nn`` (import as ``F``), as in ``torch.nn.functional``.

Every function is one engine op (fused and numerically stable where it matters), so the tape
gets one entry per call.

>>> import tapegrad as tg
>>> import tapegrad.nn.functional as F
>>> logits = tg.tensor([[2.0, 0.5, -1.0]])
>>> round(F.cross_entropy(logits, tg.tensor([0])).item(), 4)
0.2413
"""

from __future__ import annotations

from .. import _core

Tensor = _core.Tensor

__all__ = ["linear", "relu", "sigmoid", "tanh", "softmax", "log_softmax", "mse_loss",
           "cross_entropy", "binary_cross_entropy_with_logits"]


def _check_reduction(op: str, reduction: str) -> None:
    """Raise ValueError unless ``reduction`` is 'none', 'mean' or 'sum' (the engine's check)."""
    _core._check_reduction(reduction, op)

def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:  # noqa: A002
    """y = x·Wᵀ + b with ``weight`` of shape (out, in), as ``torch.nn.functional.linear``:
    one fused entry (a GEMM with the bias folded in; the backward needs no transposed copies).

    >>> import tapegrad as tg
    >>> linear(tg.ones(1, 2), tg.tensor([[1.0, 2.0]]), tg.tensor([0.5])).tolist()
    [[3.5]]
    """
    return _core.linear(input, weight, bias)


def relu(input: Tensor) -> Tensor:  # noqa: A002
    """max(x, 0) elementwise.

    >>> import tapegrad as tg
    >>> relu(tg.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    return _core.relu(input)


def sigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """1 / (1 + e⁻ˣ) elementwise.

    >>> import tapegrad as tg
    >>> sigmoid(tg.tensor([0.0])).tolist()
    [0.5]
    """
    return _core.sigmoid(input)


def tanh(input: Tensor) -> Tensor:  # noqa: A002
    """tanh(x) elementwise.

    >>> import tapegrad as tg
    >>> tanh(tg.tensor([0.0])).tolist()
    [0.0]
    """
    return _core.tanh(input)


def softmax(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    """exp(x) / Σ exp(x) along ``dim`` (max-shifted, stable).

    >>> import tapegrad as tg
    >>> softmax(tg.tensor([[0.0, 0.0]]), dim=1).tolist()
    [[0.5, 0.5]]
    """
    return input.softmax(dim)


def log_softmax(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    """x − logsumexp(x) along ``dim`` (fused, stable).

    >>> import tapegrad as tg
    >>> round(log_softmax(tg.tensor([[0.0, 0.0]]), dim=1)[0, 0].item(), 4)
    -0.6931
    """
    return input.log_softmax(dim)


def mse_loss(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Mean (or sum, or none) of (input − target)².

    >>> import tapegrad as tg
    >>> mse_loss(tg.tensor([1.0, 2.0]), tg.tensor([0.0, 0.0])).item()
    2.5
    """
    return _core.mse_loss(input, target, reduction)


def cross_entropy(input: Tensor, target: Tensor, reduction: str = "mean") -> Tensor:  # noqa: A002
    """Softmax cross-entropy of logits ``input`` (N, C) against int64 class ``target`` (N,);
    fused log-softmax + negative log-likelihood.

    >>> import tapegrad as tg
    >>> p = tg.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    >>> [round(v, 4) for v in cross_entropy(p.log(), tg.tensor([0, 2]), "none").tolist()]
    [2.3026, 0.6931]
    """
    return _core.cross_entropy(input, target, reduction)


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,  # noqa: A002
                                     reduction: str = "mean") -> Tensor:
    """−[y·log σ(x) + (1−y)·log(1−σ(x))], computed stably from logits.

    >>> import tapegrad as tg
    >>> round(binary_cross_entropy_with_logits(tg.tensor([0.0]), tg.tensor([1.0])).item(), 4)
    0.6931
    """
    return _core.binary_cross_entropy_with_logits(input, target, reduction)
