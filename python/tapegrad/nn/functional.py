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

import warnings
from typing import Any, Literal, Optional, Union, overload

from .. import _core, _inplace

Tensor = _core.Tensor

# The ops PyTorch has only in torch.nn.functional (the activations) are functions of the
# submodule _core._nn (their op-table rows are exposed N), as torch._C._nn.
_nn: Any = getattr(_core, "_nn")

__all__ = ["linear", "relu", "sigmoid", "tanh", "gelu", "silu", "leaky_relu", "elu", "softplus",
           "logsigmoid", "hardtanh", "softmax", "log_softmax", "mse_loss", "cross_entropy",
           "binary_cross_entropy_with_logits"]
# in place (also the inplace=True of relu, leaky_relu, elu, hardtanh and silu)
__all__ += ["relu_", "leaky_relu_", "elu_", "hardtanh_"]
# pooling
__all__ += ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
            "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d"]

# normalization, dropout, embeddings
__all__ += ["batch_norm", "layer_norm", "dropout", "dropout1d", "dropout2d", "embedding"]
# convolution and padding
__all__ += ["conv1d", "conv2d", "pad"]
# losses (torch.nn.functional's)
__all__ += ["nll_loss", "l1_loss", "smooth_l1_loss", "huber_loss", "binary_cross_entropy",
            "kl_div"]


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


def relu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """max(x, 0) elementwise; ``inplace=True`` writes it into ``input`` (:func:`relu_`).

    >>> import tapegrad as tg
    >>> relu(tg.tensor([-1.0, 2.0])).tolist()
    [0.0, 2.0]
    """
    if inplace:
        return relu_(input)
    return _core.relu(input)


def relu_(input: Tensor) -> Tensor:  # noqa: A002
    """In place: max(x, 0) written into ``input``, which is returned (``input.relu_()``).

    >>> import tapegrad as tg
    >>> x = tg.tensor([-1.0, 2.0])
    >>> relu_(x) is x, x.tolist()
    (True, [0.0, 2.0])
    """
    return _inplace.apply_(input, "relu_", _core.relu, output_only=True)


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


def gelu(input: Tensor, approximate: str = "none") -> Tensor:  # noqa: A002
    """x·Φ(x) (Φ the standard normal CDF, by erf); ``approximate='tanh'`` uses
    0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), as ``torch.nn.functional.gelu``.

    >>> import tapegrad as tg
    >>> [round(v, 4) for v in gelu(tg.tensor([-1.0, 0.0, 1.0])).tolist()]
    [-0.1587, 0.0, 0.8413]
    >>> [round(v, 4) for v in gelu(tg.tensor([1.0]), approximate="tanh").tolist()]
    [0.8412]
    """
    out: Tensor = _nn.gelu(input, approximate)
    return out


def silu(input: Tensor, inplace: bool = False) -> Tensor:  # noqa: A002
    """x·σ(x) elementwise (swish); ``inplace=True`` writes it into ``input``.

    >>> import tapegrad as tg
    >>> [round(v, 4) for v in silu(tg.tensor([-1.0, 0.0, 1.0])).tolist()]
    [-0.2689, 0.0, 0.7311]
    """
    if inplace:
        return _inplace.apply_(input, "silu_", _nn.silu)
    out: Tensor = _nn.silu(input)
    return out


def leaky_relu(input: Tensor, negative_slope: float = 0.01,  # noqa: A002
               inplace: bool = False) -> Tensor:
    """x where x > 0, else negative_slope·x; ``inplace=True`` writes it into ``input``
    (:func:`leaky_relu_`).

    >>> import tapegrad as tg
    >>> [round(v, 4) for v in leaky_relu(tg.tensor([-2.0, 3.0]), 0.1).tolist()]
    [-0.2, 3.0]
    """
    if inplace:
        return leaky_relu_(input, negative_slope)
    out: Tensor = _nn.leaky_relu(input, negative_slope)
    return out


def leaky_relu_(input: Tensor, negative_slope: float = 0.01) -> Tensor:  # noqa: A002
    """In place: :func:`leaky_relu` written into ``input``, which is returned.

    >>> import tapegrad as tg
    >>> x = tg.tensor([-2.0, 3.0])
    >>> leaky_relu_(x, 0.5).tolist(), x.tolist()
    ([-1.0, 3.0], [-1.0, 3.0])
    """
    return _inplace.apply_(input, "leaky_relu_", _nn.leaky_relu, negative_slope)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:  # noqa: A002
    """x where x > 0, else alpha·(eˣ − 1); ``inplace=True`` writes it into ``input``
    (:func:`elu_`).

    >>> import tapegrad as tg
    >>> [round(v, 4) for v in elu(tg.tensor([-1.0, 2.0])).tolist()]
    [-0.6321, 2.0]
    """
    if inplace:
        return elu_(input, alpha)
    out: Tensor = _nn.elu(input, alpha)
    return out


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """In place: :func:`elu` written into ``input``, which is returned.

    >>> import tapegrad as tg
    >>> x = tg.tensor([-1.0, 2.0])
    >>> elu_(x) is x, [round(v, 4) for v in x.tolist()]
    (True, [-0.6321, 2.0])
    """
    return _inplace.apply_(input, "elu_", _nn.elu, alpha)


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:  # noqa: A002
    """log(1 + e^(β·x))/β, and x itself where β·x > threshold (as PyTorch).

    >>> import tapegrad as tg
    >>> [round(v, 4) for v in softplus(tg.tensor([0.0, 30.0])).tolist()]
    [0.6931, 30.0]
    """
    out: Tensor = _nn.softplus(input, beta, threshold)
    return out


def logsigmoid(input: Tensor) -> Tensor:  # noqa: A002
    """``log σ(x) = min(x, 0) − log(1 + e^(−|x|))``, stable for large ``|x|``.

    >>> import tapegrad as tg
    >>> [round(v, 4) for v in logsigmoid(tg.tensor([-100.0, 0.0])).tolist()]
    [-100.0, -0.6931]
    """
    out: Tensor = _nn.log_sigmoid(input)
    return out


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,  # noqa: A002
             inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val]; the gradient is zero outside the open interval.
    ``inplace=True`` writes it into ``input`` (:func:`hardtanh_`).

    >>> import tapegrad as tg
    >>> hardtanh(tg.tensor([-2.0, 0.5, 3.0])).tolist()
    [-1.0, 0.5, 1.0]
    """
    if inplace:
        return hardtanh_(input, min_val, max_val)
    out: Tensor = _nn.hardtanh(input, min_val, max_val)
    return out


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:  # noqa: A002
    """In place: :func:`hardtanh` written into ``input``, which is returned.

    >>> import tapegrad as tg
    >>> x = tg.tensor([-2.0, 0.5, 3.0])
    >>> hardtanh_(x) is x, x.tolist()
    (True, [-1.0, 0.5, 1.0])
    """
    return _inplace.apply_(input, "hardtanh_", _nn.hardtanh, min_val, max_val)


def softmax(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    """exp(x) / Σ exp(x) along ``dim`` (max-shifted, stable).

    >>> import tapegrad as tg
    >>> softmax(tg.tensor([[0.0, 0.0]]), dim=1).tolist()
    [[0.5, 0.5]]
    """
    return _core.softmax(input, dim)


def log_softmax(input: Tensor, dim: int = -1) -> Tensor:  # noqa: A002
    """x − logsumexp(x) along ``dim`` (fused, stable).

    >>> import tapegrad as tg
    >>> round(log_softmax(tg.tensor([[0.0, 0.0]]), dim=1)[0, 0].item(), 4)
    -0.6931
    """
    return _core.log_softmax(input, dim)


# ----- losses ------------------------------------------------------------------------------------
# PyTorch's signatures, argument orders and defaults; the engine does the work (one fused entry
# for the plain cross-entropy, mse and BCE-with-logits; compositions of differentiable ops for
# the options, Note [loss options] in cpp/src/ops/loss.cpp).


def _legacy_reduction(size_average: bool | None, reduce: bool | None, reduction: str) -> str:
    """PyTorch's deprecated ``size_average``/``reduce`` pair, mapped (with its warning) onto
    ``reduction``: reduce=False → 'none', else size_average=False → 'sum', else 'mean'."""
    if size_average is None and reduce is None:
        return reduction
    size_average = True if size_average is None else size_average
    reduce = True if reduce is None else reduce
    reduction = "none" if not reduce else ("mean" if size_average else "sum")
    warnings.warn("size_average and reduce args will be deprecated, please use "
                  f"reduction='{reduction}' instead.", UserWarning, stacklevel=3)
    return reduction


def _weighted(op: str, loss: Tensor, input: Tensor, weight: Tensor,  # noqa: A002
              reduction: str, mean_by_weight: bool) -> Tensor:
    """Per-element ``weight`` of the input's shape (PyTorch's mse/l1/huber ``weight``): mean is
    Σ w·ℓ / Σ w for mse and l1, the plain mean of w·ℓ for huber (as PyTorch)."""
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"{op}: weights of shape {list(weight.shape)} and input of shape "
                         f"{list(input.shape)} must have the same size")
    _check_reduction(op, reduction)
    w = loss * weight
    if reduction == "none":
        return w
    if reduction == "sum":
        return w.sum()
    return w.sum() / weight.sum() if mean_by_weight else w.mean()


def mse_loss(input: Tensor, target: Tensor, size_average: bool | None = None,  # noqa: A002
             reduce: bool | None = None, reduction: str = "mean",
             weight: Tensor | None = None) -> Tensor:
    """Mean (or sum, or none) of (input − target)²; with ``weight``, Σ w·(x − y)² / Σ w.

    >>> import tapegrad as tg
    >>> mse_loss(tg.tensor([1.0, 2.0]), tg.tensor([0.0, 0.0])).item()
    2.5
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if weight is not None:
        # PyTorch's weighted form subtracts, x − y, refusing a bool operand as l1_loss does
        # (Note [loss dtypes] in cpp/src/ops/loss.cpp); the unweighted kernel accepts it.
        if isinstance(input, Tensor) and isinstance(target, Tensor) \
                and _core.dtype.bool in (input.dtype, target.dtype):
            raise RuntimeError("mse_loss: Subtraction, the `-` operator, with a bool tensor is "
                               "not supported (the weighted loss subtracts input − target); "
                               "convert it with .float()")
        return _weighted("mse_loss", _core.mse_loss(input, target, "none"), input, weight,
                         reduction, True)
    return _core.mse_loss(input, target, reduction)


def l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None,  # noqa: A002
            reduce: bool | None = None, reduction: str = "mean",
            weight: Tensor | None = None) -> Tensor:
    """Mean (or sum, or none) of ``|input − target|``; with ``weight``,
    ``Σ w·|x − y| / Σ w``.

    >>> import tapegrad as tg
    >>> l1_loss(tg.tensor([1.0, -2.0]), tg.tensor([0.0, 0.0])).item()
    1.5
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    if weight is not None:
        return _weighted("l1_loss", _nn.l1_loss(input, target, "none"), input, weight,
                         reduction, True)
    out: Tensor = _nn.l1_loss(input, target, reduction)
    return out


def smooth_l1_loss(input: Tensor, target: Tensor, size_average: bool | None = None,  # noqa: A002
                   reduce: bool | None = None, reduction: str = "mean",
                   beta: float = 1.0) -> Tensor:
    """``0.5·d²/β`` where ``|d| < β``, ``|d| − 0.5·β`` elsewhere
    (``d = input − target``); β = 0 is l1_loss.

    >>> import tapegrad as tg
    >>> smooth_l1_loss(tg.tensor([0.5, 3.0]), tg.tensor([0.0, 0.0]), reduction="none").tolist()
    [0.125, 2.5]
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    out: Tensor = _nn.smooth_l1_loss(input, target, reduction, beta)
    return out


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean",  # noqa: A002
               delta: float = 1.0, weight: Tensor | None = None) -> Tensor:
    """``0.5·d²`` where ``|d| < δ``, ``δ·(|d| − 0.5·δ)`` elsewhere
    (``d = input − target``).

    >>> import tapegrad as tg
    >>> huber_loss(tg.tensor([0.5, 3.0]), tg.tensor([0.0, 0.0]), reduction="none").tolist()
    [0.125, 2.5]
    """
    if weight is not None:
        return _weighted("huber_loss", _nn.huber_loss(input, target, "none", delta), input,
                         weight, reduction, False)
    out: Tensor = _nn.huber_loss(input, target, reduction, delta)
    return out


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
             size_average: bool | None = None, ignore_index: int = -100,
             reduce: bool | None = None, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood −weight[t]·input[n, t] of log-probabilities ``input`` (N, C),
    (C,) or (N, C, d1, ...) against int64 class ``target`` (N,), () or (N, d1, ...); targets equal
    to ``ignore_index`` count for nothing, and the mean divides by the summed weights of the
    others.

    >>> import tapegrad as tg
    >>> nll_loss(tg.tensor([[-1.0, -2.0], [-3.0, -4.0]]), tg.tensor([0, 1])).item()
    2.5
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    out: Tensor = _nn.nll_loss(input, target, weight, ignore_index, reduction)
    return out


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                  size_average: bool | None = None, ignore_index: int = -100,
                  reduce: bool | None = None, reduction: str = "mean",
                  label_smoothing: float = 0.0) -> Tensor:
    """Softmax cross-entropy of logits ``input`` (N, C), (C,) or (N, C, d1, ...) against int64
    class ``target`` (N,), () or (N, d1, ...), or against class probabilities of the input's
    shape; ``weight`` per class, ``ignore_index``, ``label_smoothing`` as PyTorch. The plain
    case is one fused entry (log-softmax + negative log-likelihood).

    >>> import tapegrad as tg
    >>> p = tg.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    >>> [round(v, 4) for v in cross_entropy(p.log(), tg.tensor([0, 2]), reduction="none").tolist()]
    [2.3026, 0.6931]
    >>> round(cross_entropy(p.log(), tg.tensor([0, 2]), label_smoothing=0.1).item(), 4)
    1.4735
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _core.cross_entropy(input, target, weight, ignore_index, reduction, label_smoothing)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,  # noqa: A002
                         size_average: bool | None = None, reduce: bool | None = None,
                         reduction: str = "mean") -> Tensor:
    """−w·[y·log x + (1 − y)·log(1 − x)] on probabilities ``input`` in [0, 1] (each log clamped
    at −100, as PyTorch); ``target`` of the input's shape and dtype.

    >>> import tapegrad as tg
    >>> round(binary_cross_entropy(tg.tensor([0.5]), tg.tensor([1.0])).item(), 4)
    0.6931
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    out: Tensor = _nn.binary_cross_entropy(input, target, weight, reduction)
    return out


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,  # noqa: A002
                                     weight: Tensor | None = None,
                                     size_average: bool | None = None,
                                     reduce: bool | None = None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """−w·[p·y·log σ(x) + (1−y)·log(1−σ(x))], computed stably from logits; ``weight`` per
    element (broadcast to the input), ``pos_weight`` per class (broadcast to the target). The
    result has the target's floating dtype, as PyTorch's (Note [loss dtypes]).

    >>> import tapegrad as tg
    >>> round(binary_cross_entropy_with_logits(tg.tensor([0.0]), tg.tensor([1.0])).item(), 4)
    0.6931
    """
    reduction = _legacy_reduction(size_average, reduce, reduction)
    return _core.binary_cross_entropy_with_logits(input, target, weight, reduction, pos_weight)


def kl_div(input: Tensor, target: Tensor, size_average: bool | None = None,  # noqa: A002
           reduce: bool | None = None, reduction: str = "mean",
           log_target: bool = False) -> Tensor:
    """Kullback-Leibler divergence target·(log target − input) for log-probabilities ``input``
    (``log_target``: ``target`` holds log-probabilities too); ``reduction='batchmean'`` is the
    divergence's definition (sum / batch size), 'mean' averages over every element (with
    PyTorch's warning).

    >>> import tapegrad as tg
    >>> round(kl_div(tg.tensor([-1.0, -1.0]), tg.tensor([0.5, 0.5]), reduction="sum").item(), 4)
    0.3069
    """
    if size_average is not None or reduce is not None:
        reduction = _legacy_reduction(size_average, reduce, reduction)
    elif reduction == "mean":
        warnings.warn("reduction: 'mean' divides the total loss by both the batch size and the "
                      "support size.'batchmean' divides only by the batch size, and aligns with "
                      "the KL div math definition.'mean' will be changed to behave the same as "
                      "'batchmean' in the next major release.", UserWarning, stacklevel=2)
    out: Tensor = _nn.kl_div(input, target, reduction, log_target)
    return out


# ----- pooling (engine rows of cpp/src/ops/pool.cpp, bound in _core._nn) -----------------------
_Size = Union[int, tuple[int, ...]]
_OptSize = Union[int, None, tuple[Optional[int], ...]]


@overload
def max_pool2d(input: Tensor, kernel_size: _Size, stride: _Size | None = None,  # noqa: A002
               padding: _Size = 0, dilation: _Size = 1, ceil_mode: bool = False,
               return_indices: Literal[False] = False) -> Tensor: ...
@overload
def max_pool2d(input: Tensor, kernel_size: _Size, stride: _Size | None = None,  # noqa: A002
               padding: _Size = 0, dilation: _Size = 1, ceil_mode: bool = False, *,
               return_indices: Literal[True]) -> tuple[Tensor, Tensor]: ...
def max_pool2d(input: Tensor, kernel_size: _Size, stride: _Size | None = None,  # noqa: A002
               padding: _Size = 0, dilation: _Size = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """Max over ``kernel_size`` windows of the last two dims of (N, C, H, W) or (C, H, W), as
    ``torch.nn.functional.max_pool2d`` (stride defaults to kernel_size; ``return_indices`` also
    gives each maximum's flat index h·W + w in its plane).

    >>> import tapegrad as tg
    >>> max_pool2d(tg.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
    [[[[5.0, 7.0], [13.0, 15.0]]]]
    """
    return _nn.max_pool2d(input, kernel_size, stride, padding, dilation, ceil_mode,
                          return_indices)


@overload
def max_pool1d(input: Tensor, kernel_size: _Size, stride: _Size | None = None,  # noqa: A002
               padding: _Size = 0, dilation: _Size = 1, ceil_mode: bool = False,
               return_indices: Literal[False] = False) -> Tensor: ...
@overload
def max_pool1d(input: Tensor, kernel_size: _Size, stride: _Size | None = None,  # noqa: A002
               padding: _Size = 0, dilation: _Size = 1, ceil_mode: bool = False, *,
               return_indices: Literal[True]) -> tuple[Tensor, Tensor]: ...
def max_pool1d(input: Tensor, kernel_size: _Size, stride: _Size | None = None,  # noqa: A002
               padding: _Size = 0, dilation: _Size = 1, ceil_mode: bool = False,
               return_indices: bool = False) -> Any:
    """``max_pool2d`` over the last dim of (N, C, L) or (C, L).

    >>> import tapegrad as tg
    >>> max_pool1d(tg.tensor([[1.0, 3.0, 2.0, 5.0, 4.0]]), 2).tolist()
    [[3.0, 5.0]]
    """
    return _nn.max_pool1d(input, kernel_size, stride, padding, dilation, ceil_mode,
                          return_indices)


def avg_pool2d(input: Tensor, kernel_size: _Size, stride: _Size | None = None,  # noqa: A002
               padding: _Size = 0, ceil_mode: bool = False, count_include_pad: bool = True,
               divisor_override: int | None = None) -> Tensor:
    """Mean over ``kernel_size`` windows of the last two dims of (N, C, H, W) or (C, H, W), as
    ``torch.nn.functional.avg_pool2d``.

    >>> import tapegrad as tg
    >>> avg_pool2d(tg.arange(16.0).reshape(1, 1, 4, 4), 2).tolist()
    [[[[2.5, 4.5], [10.5, 12.5]]]]
    """
    out: Tensor = _nn.avg_pool2d(input, kernel_size, stride, padding, ceil_mode,
                                 count_include_pad, divisor_override)
    return out


def avg_pool1d(input: Tensor, kernel_size: _Size, stride: _Size | None = None,  # noqa: A002
               padding: _Size = 0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """``avg_pool2d`` over the last dim of (N, C, L) or (C, L).

    >>> import tapegrad as tg
    >>> avg_pool1d(tg.tensor([[1.0, 3.0, 2.0, 5.0, 4.0]]), 2).tolist()
    [[2.0, 3.5]]
    """
    out: Tensor = _nn.avg_pool1d(input, kernel_size, stride, padding, ceil_mode,
                                 count_include_pad)
    return out


def adaptive_avg_pool2d(input: Tensor, output_size: _OptSize) -> Tensor:  # noqa: A002
    """Average pooling to a fixed output size (None entries keep the input's size); output row
    i averages rows ⌊i·H/oh⌋ .. ⌈(i+1)·H/oh⌉ − 1, as PyTorch.

    >>> import tapegrad as tg
    >>> adaptive_avg_pool2d(tg.arange(16.0).reshape(1, 4, 4), (1, None)).tolist()
    [[[6.0, 7.0, 8.0, 9.0]]]
    """
    out: Tensor = _nn.adaptive_avg_pool2d(input, output_size)
    return out


def adaptive_avg_pool1d(input: Tensor, output_size: _Size) -> Tensor:  # noqa: A002
    """``adaptive_avg_pool2d`` over the last dim of (N, C, L) or (C, L).

    >>> import tapegrad as tg
    >>> adaptive_avg_pool1d(tg.tensor([[1.0, 3.0, 2.0, 6.0]]), 2).tolist()
    [[2.0, 4.0]]
    """
    out: Tensor = _nn.adaptive_avg_pool1d(input, output_size)
    return out


@overload
def adaptive_max_pool2d(input: Tensor, output_size: _OptSize,  # noqa: A002
                        return_indices: Literal[False] = False) -> Tensor: ...
@overload
def adaptive_max_pool2d(input: Tensor, output_size: _OptSize,  # noqa: A002
                        return_indices: Literal[True]) -> tuple[Tensor, Tensor]: ...
def adaptive_max_pool2d(input: Tensor, output_size: _OptSize,  # noqa: A002
                        return_indices: bool = False) -> Any:
    """Max pooling over ``adaptive_avg_pool2d``'s windows.

    >>> import tapegrad as tg
    >>> adaptive_max_pool2d(tg.arange(16.0).reshape(1, 4, 4), 1).tolist()
    [[[15.0]]]
    """
    return _nn.adaptive_max_pool2d(input, output_size, return_indices)


@overload
def adaptive_max_pool1d(input: Tensor, output_size: _Size,  # noqa: A002
                        return_indices: Literal[False] = False) -> Tensor: ...
@overload
def adaptive_max_pool1d(input: Tensor, output_size: _Size,  # noqa: A002
                        return_indices: Literal[True]) -> tuple[Tensor, Tensor]: ...
def adaptive_max_pool1d(input: Tensor, output_size: _Size,  # noqa: A002
                        return_indices: bool = False) -> Any:
    """``adaptive_max_pool2d`` over the last dim of (N, C, L) or (C, L).

    >>> import tapegrad as tg
    >>> adaptive_max_pool1d(tg.tensor([[1.0, 3.0, 2.0, 6.0]]), 2).tolist()
    [[3.0, 6.0]]
    """
    return _nn.adaptive_max_pool1d(input, output_size, return_indices)
# ----- normalization, dropout, embeddings (engine ops in cpp/src/ops/norm.cpp) ---------------
def batch_norm(input: Tensor, running_mean: Tensor | None,  # noqa: A002
               running_var: Tensor | None, weight: Tensor | None = None,
               bias: Tensor | None = None, training: bool = False, momentum: float = 0.1,
               eps: float = 1e-5) -> Tensor:
    """Normalise each channel (dim 1) of ``input`` ``(N, C, *)``: by the batch's mean and biased
    variance when ``training`` (then ``running_mean``/``running_var``, when given, are updated in
    place: running = (1 − momentum)·running + momentum·batch, with the unbiased variance), else
    by the running statistics; then ``weight``·x̂ + ``bias`` per channel.

    >>> import tapegrad as tg
    >>> x = tg.tensor([[1.0, 2.0], [3.0, 6.0]])
    >>> rm, rv = tg.zeros(2), tg.ones(2)
    >>> [[round(v, 3) for v in r] for r in batch_norm(x, rm, rv, training=True).tolist()]
    [[-1.0, -1.0], [1.0, 1.0]]
    >>> [round(v, 3) for v in rm.tolist()], [round(v, 3) for v in rv.tolist()]
    ([0.2, 0.4], [1.1, 1.7])
    """
    out: Tensor = _nn.batch_norm(input, running_mean, running_var, weight, bias, training,
                                 momentum, eps)
    return out


def layer_norm(input: Tensor, normalized_shape: int | tuple[int, ...] | list[int],  # noqa: A002
               weight: Tensor | None = None, bias: Tensor | None = None,
               eps: float = 1e-5) -> Tensor:
    """Normalise over the trailing ``normalized_shape`` dims (mean 0, biased variance 1), then
    ``weight``·x̂ + ``bias`` elementwise (both of ``normalized_shape``).

    >>> import tapegrad as tg
    >>> [round(v, 3) for v in layer_norm(tg.tensor([[1.0, 3.0]]), [2])[0].tolist()]
    [-1.0, 1.0]
    """
    out: Tensor = _nn.layer_norm(input, normalized_shape, weight, bias, eps)
    return out


def dropout(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
            inplace: bool = False) -> Tensor:
    """Zero each element with probability ``p`` and scale the others by 1/(1 − p) when
    ``training``; the input itself otherwise. The mask comes from tapegrad's generator
    (``tg.manual_seed``), and the backward multiplies by the same mask.

    >>> import tapegrad as tg
    >>> _ = tg.manual_seed(0)
    >>> sorted(set(dropout(tg.ones(100), 0.5).tolist()))
    [0.0, 2.0]
    >>> dropout(tg.ones(3), 0.5, training=False).tolist()
    [1.0, 1.0, 1.0]
    """
    out: Tensor = _nn.dropout(input, p, training, inplace)
    return out


def _channel_dropout(input: Tensor, p: float, training: bool,  # noqa: A002
                     inplace: bool, batched: bool) -> Tensor:
    out: Tensor = _nn.dropout(input, p, training, inplace, channel_dims=2 if batched else 1)
    return out


def dropout1d(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """Channel-wise dropout for (N, C, L) or unbatched (C, L) input: each channel is zeroed
    as a whole with probability ``p``, the others scaled by 1/(1 − p).

    >>> import tapegrad as tg
    >>> _ = tg.manual_seed(0)
    >>> y = dropout1d(tg.ones(2, 8, 5), 0.5)
    >>> all(len(set(row)) == 1 for b in y.tolist() for row in b)
    True
    """
    if not hasattr(input, "ndim"):  # a Tensor or vmap's BatchedTensor
        raise TypeError(f"dropout1d(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.ndim not in (2, 3):
        raise ValueError(
            f"dropout1d: Expected 2D or 3D input, but received a {input.ndim}D input. Note that "
            "dropout1d exists to provide channel-wise dropout on inputs with 1 spatial "
            "dimension, a channel dimension, and an optional batch dimension (i.e. 2D or 3D "
            "inputs).")
    return _channel_dropout(input, p, training, inplace, input.ndim == 3)


def dropout2d(input: Tensor, p: float = 0.5, training: bool = True,  # noqa: A002
              inplace: bool = False) -> Tensor:
    """Channel-wise dropout for (N, C, H, W) input: each (n, c) channel is zeroed as a whole
    with probability ``p``, the others scaled by 1/(1 − p). As in PyTorch, a 3-D input is read
    as (N, C, L), with PyTorch's warning.

    >>> import tapegrad as tg
    >>> _ = tg.manual_seed(0)
    >>> y = dropout2d(tg.ones(2, 8, 3, 3), 0.5)
    >>> all(len(set(sum(ch, []))) == 1 for b in y.tolist() for ch in b)
    True
    """
    import warnings

    if not hasattr(input, "ndim"):  # a Tensor or vmap's BatchedTensor
        raise TypeError(f"dropout2d(): argument 'input' must be Tensor, not {type(input).__name__}")
    if input.ndim not in (3, 4):
        warnings.warn(
            f"dropout2d: Received a {input.ndim}-D input to dropout2d, which is deprecated and "
            "will result in an error in a future release. To retain the behavior and silence "
            "this warning, please use dropout instead. Note that dropout2d exists to provide "
            "channel-wise dropout on inputs with 2 spatial dimensions, a channel dimension, "
            "and an optional batch dimension (i.e. 3D or 4D inputs).", stacklevel=2)
    if input.ndim == 3:
        warnings.warn(
            "dropout2d: Received a 3D input to dropout2d and assuming that channel-wise 1D "
            "dropout behavior is desired - input is interpreted as shape (N, C, L), where C is "
            "the channel dim. This behavior will change in a future release to interpret the "
            "input as one without a batch dimension, i.e. shape (C, H, W). To maintain the 1D "
            "channel-wise dropout behavior, please switch to using dropout1d instead.",
            stacklevel=2)
    return _channel_dropout(input, p, training, inplace, True)


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,  # noqa: A002
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """The rows of ``weight`` (num_embeddings, embedding_dim) at the int64 indices ``input``
    (any shape): output shape ``input.shape + (embedding_dim,)``. Gradients of repeated indices
    add; the ``padding_idx`` row gets none. (``max_norm``, ``scale_grad_by_freq`` and
    ``sparse`` are not supported.)

    >>> import tapegrad as tg
    >>> w = tg.tensor([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    >>> embedding(tg.tensor([2, 0, 2]), w).tolist()
    [[4.0, 5.0], [0.0, 1.0], [4.0, 5.0]]
    """
    if max_norm is not None or scale_grad_by_freq or sparse:
        raise NotImplementedError("embedding: max_norm, scale_grad_by_freq and sparse=True are "
                                  "not supported by tapegrad")
    out: Tensor = _nn.embedding(input, weight, padding_idx)
    return out


# ----- convolution and padding ------------------------------------------------------------------
_IntOrPair = int | tuple[int, ...]


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None,  # noqa: A002
           stride: _IntOrPair = 1, padding: _IntOrPair | str = 0, dilation: _IntOrPair = 1,
           groups: int = 1) -> Tensor:
    """2-D cross-correlation, as ``torch.nn.functional.conv2d``: input (N, C_in, H, W) or
    unbatched (C_in, H, W), weight (C_out, C_in/groups, kH, kW), optional bias (C_out,);
    ``padding`` an int, a pair, ``'valid'`` or ``'same'`` (stride 1). One tape entry (im2col
    + GEMM); its gradients are differentiable again (create_graph works).

    >>> import tapegrad as tg
    >>> conv2d(tg.ones(2, 3, 8, 8), tg.ones(4, 3, 3, 3), padding="same").shape
    tapegrad.Size([2, 4, 8, 8])
    """
    out: Tensor = _nn.conv2d(input, weight, bias, stride, padding, dilation, groups)
    return out


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None,  # noqa: A002
           stride: _IntOrPair = 1, padding: _IntOrPair | str = 0, dilation: _IntOrPair = 1,
           groups: int = 1) -> Tensor:
    """1-D cross-correlation, as ``torch.nn.functional.conv1d``: input (N, C_in, L) or
    unbatched (C_in, L), weight (C_out, C_in/groups, K); runs as conv2d with height 1.

    >>> import tapegrad as tg
    >>> conv1d(tg.ones(2, 3, 10), tg.ones(4, 3, 3), stride=2).shape
    tapegrad.Size([2, 4, 4])
    """
    out: Tensor = _nn.conv1d(input, weight, bias, stride, padding, dilation, groups)
    return out


def pad(input: Tensor, pad: tuple[int, ...], mode: str = "constant",  # noqa: A002
        value: float | None = None) -> Tensor:
    """Pad (or, with negative sizes, crop) ``input`` as ``torch.nn.functional.pad``: ``pad``
    lists (before, after) pairs starting from the last dim. ``mode`` is ``'constant'``
    (filled with ``value``, default 0; any number of dims) or ``'reflect'``, ``'replicate'``,
    ``'circular'`` (the last 1 or 2 dims of a batched or unbatched input).

    >>> import tapegrad as tg
    >>> pad(tg.tensor([[1.0, 2.0]]), (1, 1)).tolist()
    [[0.0, 1.0, 2.0, 0.0]]
    >>> pad(tg.tensor([[[1.0, 2.0, 3.0]]]), (1, 1), mode="replicate").tolist()
    [[[1.0, 1.0, 2.0, 3.0, 3.0]]]
    """
    out: Tensor = _nn.pad(input, pad, mode, value)
    return out


# ----- PyTorch surface: one_hot and normalize (compositions, tapegrad._composites) ---------------
from .._composites import normalize, one_hot  # noqa: E402
__all__ += ["one_hot", "normalize"]

# ----- softmin (the softmax family's third member; nn.Softmin wraps it) -----


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    """PyTorch's legacy default when no dim is given (with its deprecation warning)."""
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", UserWarning, stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


from .._validation import typed as _typed  # noqa: E402


@_typed(input="Tensor", dim="int?")
def softmin(input: Tensor, dim: Optional[int] = None, _stacklevel: int = 3,  # noqa: A002
            dtype: Any = None) -> Tensor:
    """softmax(−x) along ``dim``: exp(−x) / Σ exp(−x).

    >>> import tapegrad as tg
    >>> softmin(tg.tensor([[0.0, 0.0]]), dim=1).tolist()
    [[0.5, 0.5]]
    """
    if dim is None:
        dim = _softmax_dim("softmin", input.dim(), _stacklevel)
    x = input if dtype is None else input.to(dtype)
    return _core.softmax(-x, dim)


__all__ += ["softmin"]
