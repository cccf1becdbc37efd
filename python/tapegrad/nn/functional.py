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

from typing import Any, Literal, Optional, Union, overload

from .. import _core

Tensor = _core.Tensor

# The ops PyTorch has only in torch.nn.functional (the activations) are functions of the
# submodule _core._nn (their op-table rows are exposed N), as torch._C._nn.
_nn: Any = getattr(_core, "_nn")

__all__ = ["linear", "relu", "sigmoid", "tanh", "gelu", "silu", "leaky_relu", "elu", "softplus",
           "logsigmoid", "hardtanh", "softmax", "log_softmax", "mse_loss", "cross_entropy",
           "binary_cross_entropy_with_logits"]
# pooling
__all__ += ["max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d", "adaptive_avg_pool1d",
            "adaptive_avg_pool2d", "adaptive_max_pool1d", "adaptive_max_pool2d"]

# convolution and padding
__all__ += ["conv1d", "conv2d", "pad"]


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


def silu(input: Tensor) -> Tensor:  # noqa: A002
    """x·σ(x) elementwise (swish).

    >>> import tapegrad as tg
    >>> [round(v, 4) for v in silu(tg.tensor([-1.0, 0.0, 1.0])).tolist()]
    [-0.2689, 0.0, 0.7311]
    """
    out: Tensor = _nn.silu(input)
    return out


def leaky_relu(input: Tensor, negative_slope: float = 0.01) -> Tensor:  # noqa: A002
    """x where x > 0, else negative_slope·x.

    >>> import tapegrad as tg
    >>> [round(v, 4) for v in leaky_relu(tg.tensor([-2.0, 3.0]), 0.1).tolist()]
    [-0.2, 3.0]
    """
    out: Tensor = _nn.leaky_relu(input, negative_slope)
    return out


def elu(input: Tensor, alpha: float = 1.0) -> Tensor:  # noqa: A002
    """x where x > 0, else alpha·(eˣ − 1).

    >>> import tapegrad as tg
    >>> [round(v, 4) for v in elu(tg.tensor([-1.0, 2.0])).tolist()]
    [-0.6321, 2.0]
    """
    out: Tensor = _nn.elu(input, alpha)
    return out


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


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:  # noqa: A002
    """x clamped to [min_val, max_val]; the gradient is zero outside the open interval.

    >>> import tapegrad as tg
    >>> hardtanh(tg.tensor([-2.0, 0.5, 3.0])).tolist()
    [-1.0, 0.5, 1.0]
    """
    out: Tensor = _nn.hardtanh(input, min_val, max_val)
    return out


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
