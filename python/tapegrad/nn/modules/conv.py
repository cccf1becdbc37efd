"""Convolution layers: ``Conv1d`` and ``Conv2d``, as ``torch.nn.Conv1d`` / ``torch.nn.Conv2d``."""

from __future__ import annotations

import math
from typing import Any

from ... import _core
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .module import Module

Tensor = _core.Tensor

__all__ = ["Conv1d", "Conv2d"]

_PADDING_MODES = ("zeros", "reflect", "replicate", "circular")


def _tuple(v: Any, n: int, name: str) -> tuple[int, ...]:
    if isinstance(v, int):
        return (v,) * n
    t = tuple(int(e) for e in v)
    if len(t) == 1 and n > 1:
        return t * n
    if len(t) != n:
        raise ValueError(f"{name} must be an int or a tuple of {n} ints, got {v!r}")
    return t


class _ConvNd(Module):
    """The shared part of Conv1d and Conv2d: arguments, parameters, init, repr."""

    _n = 0  # spatial dims

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Any, stride: Any = 1,
                 padding: Any = 0, dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", dtype: Any = None) -> None:
        super().__init__()
        n = self._n
        if groups <= 0:
            raise ValueError("groups must be a positive integer")
        if in_channels % groups != 0:
            raise ValueError("in_channels must be divisible by groups")
        if out_channels % groups != 0:
            raise ValueError("out_channels must be divisible by groups")
        if padding_mode not in _PADDING_MODES:
            raise ValueError(f"padding_mode must be one of {set(_PADDING_MODES)}, but got "
                             f"padding_mode='{padding_mode}'")
        self.in_channels = in_channels
        self.out_channels = out_channels
        self.kernel_size = _tuple(kernel_size, n, "kernel_size")
        self.stride = _tuple(stride, n, "stride")
        self.dilation = _tuple(dilation, n, "dilation")
        self.padding: tuple[int, ...] | str
        if isinstance(padding, str):
            if padding not in ("valid", "same"):
                raise ValueError(f"Invalid padding string '{padding}', should be one of "
                                 "{'valid', 'same'}")
            if padding == "same" and any(s != 1 for s in self.stride):
                raise ValueError("padding='same' is not supported for strided convolutions")
            self.padding = padding
        else:
            self.padding = _tuple(padding, n, "padding")
        self.groups = groups
        self.padding_mode = padding_mode
        # F.pad's (before, after) pairs, last dim first, for the non-'zeros' padding modes;
        # 'same' splits dilation·(k − 1) with the smaller half before (PyTorch's rule).
        self._reversed_padding: tuple[int, ...] = ()
        if padding_mode != "zeros" and self.padding != "valid":
            pairs: list[int] = []
            for d in reversed(range(n)):
                if self.padding == "same":
                    total = self.dilation[d] * (self.kernel_size[d] - 1)
                    pairs += [total // 2, total - total // 2]
                else:
                    p = self.padding[d]  # type: ignore[index]
                    pairs += [p, p]
            self._reversed_padding = tuple(pairs)
        dtype = dtype or _core.dtype.float32
        self.weight = Parameter(_core.empty(
            (out_channels, in_channels // groups, *self.kernel_size), dtype=dtype))
        if bias:
            self.bias = Parameter(_core.empty((out_channels,), dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw weight and bias with PyTorch's default initialisation: kaiming-uniform with
        a = √5 (a bound of 1/√fan_in) for the weight, U(±1/√fan_in) for the bias, where
        fan_in = in_channels/groups · ∏ kernel_size."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in, _ = init.calculate_fan_in_and_fan_out(self.weight)
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def _conv(self, input: Tensor, weight: Tensor, bias: Tensor | None,  # noqa: A002
              padding: Any) -> Tensor:
        raise NotImplementedError

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        p = self._parameters
        weight = p["weight"] if "weight" in p else self.weight
        bias = p["bias"] if "bias" in p else self.bias
        if self.padding_mode != "zeros":
            if self._reversed_padding:
                input = F.pad(input, self._reversed_padding, mode=self.padding_mode)
            return self._conv(input, weight, bias, 0)
        return self._conv(input, weight, bias, self.padding)

    def extra_repr(self) -> str:
        s = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
             f"stride={self.stride}")
        n = self._n
        if self.padding != (0,) * n:
            s += f", padding={self.padding}"
        if self.dilation != (1,) * n:
            s += f", dilation={self.dilation}"
        if self.groups != 1:
            s += f", groups={self.groups}"
        if self.bias is None:
            s += ", bias=False"
        if self.padding_mode != "zeros":
            s += f", padding_mode={self.padding_mode}"
        return s


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W) or unbatched (C_in, H, W) inputs, as
    ``torch.nn.Conv2d``: weight (out_channels, in_channels/groups, kH, kW), PyTorch's init.
    ``padding_mode`` 'zeros' (default), 'reflect', 'replicate' or 'circular' (through F.pad).

    >>> import tapegrad as tg
    >>> conv = tg.nn.Conv2d(3, 8, 3, padding=1)
    >>> conv
    Conv2d(3, 8, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1))
    >>> conv(tg.ones(2, 3, 16, 16)).shape
    tapegrad.Size([2, 8, 16, 16])
    """

    _n = 2

    def _conv(self, input: Tensor, weight: Tensor, bias: Tensor | None,  # noqa: A002
              padding: Any) -> Tensor:
        return F.conv2d(input, weight, bias, self.stride, padding, self.dilation, self.groups)


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, L) or unbatched (C_in, L) inputs, as ``torch.nn.Conv1d``:
    weight (out_channels, in_channels/groups, K), PyTorch's init.

    >>> import tapegrad as tg
    >>> conv = tg.nn.Conv1d(2, 4, 3, padding="same")
    >>> conv
    Conv1d(2, 4, kernel_size=(3,), stride=(1,), padding=same)
    >>> conv(tg.ones(5, 2, 9)).shape
    tapegrad.Size([5, 4, 9])
    """

    _n = 1

    def _conv(self, input: Tensor, weight: Tensor, bias: Tensor | None,  # noqa: A002
              padding: Any) -> Tensor:
        return F.conv1d(input, weight, bias, self.stride, padding, self.dilation, self.groups)
