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


# ----- lazy convolutions -----
from ..parameter import UninitializedParameter, _materialize  # noqa: E402
from .lazy import LazyModuleMixin  # noqa: E402


class _LazyConvXdMixin(LazyModuleMixin):
    """``in_channels`` from the first input (dim 1 of a batched input, dim 0 of an unbatched
    one); the weight and bias are ``UninitializedParameter`` until then."""

    def _lazy_init(self, out_channels: int, kernel_size: Any, stride: Any, padding: Any,
                   dilation: Any, groups: int, bias: bool, padding_mode: str, device: Any,
                   dtype: Any) -> None:
        from ..._device import _check_device

        _check_device(device, type(self).__name__)
        name = type(self).__name__
        for arg, v in (("out_channels", out_channels), ("groups", groups)):
            if isinstance(v, bool) or not isinstance(v, int):
                raise TypeError(f"{name}: {arg} must be an int, got {type(v).__name__}")
        if out_channels < 0:
            raise ValueError(f"{name}: out_channels must be non-negative, got {out_channels}")
        _ConvNd.__init__(self, 0, out_channels, kernel_size, stride, padding,  # type: ignore[arg-type]
                         dilation, groups, bias, padding_mode, dtype)
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_channels != 0:  # type: ignore[attr-defined]
            _ConvNd.reset_parameters(self)  # type: ignore[arg-type]

    def initialize_parameters(self, input: Tensor, *args: Any, **kwargs: Any) -> None:  # noqa: A002
        """Materialise weight (out, in_channels/groups, *kernel_size) and bias from the input's
        channel dim, then initialise them as the layer does."""
        n = self._n  # type: ignore[attr-defined]
        name = type(self).__name__
        if self.has_uninitialized_params():
            if not isinstance(input, Tensor) or input.dim() not in (n + 1, n + 2):
                got = input.dim() if isinstance(input, Tensor) else type(input).__name__
                raise RuntimeError(f"{name}: expected a {n + 1}D (unbatched) or {n + 2}D "
                                   f"(batched) input, got {got}")
            c = input.shape[1] if input.dim() == n + 2 else input.shape[0]
            if c % self.groups != 0:  # type: ignore[attr-defined]
                raise ValueError(f"{name}: in_channels ({c}) must be divisible by groups "
                                 f"({self.groups})")  # type: ignore[attr-defined]
            self.in_channels = c
            _materialize(self.weight, (self.out_channels, c // self.groups,  # type: ignore[attr-defined]
                                       *self.kernel_size))  # type: ignore[attr-defined]
            if self.bias is not None:  # type: ignore[attr-defined]
                _materialize(self.bias, (self.out_channels,))  # type: ignore[attr-defined]
            self.reset_parameters()
        elif self.in_channels == 0:  # parameters loaded from a state dict
            self.in_channels = self.weight.shape[1] * self.groups  # type: ignore[attr-defined]


class LazyConv2d(_LazyConvXdMixin, Conv2d):
    """A :class:`Conv2d` whose ``in_channels`` comes from the first input
    (``torch.nn.LazyConv2d``); it becomes a ``Conv2d`` at the first call.

    >>> import tapegrad as tg
    >>> conv = tg.nn.LazyConv2d(6, kernel_size=5, padding=2)
    >>> conv
    LazyConv2d(0, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2))
    >>> conv(tg.ones(1, 3, 8, 8)).shape, conv
    (tapegrad.Size([1, 6, 8, 8]), Conv2d(3, 6, kernel_size=(5, 5), stride=(1, 1), padding=(2, 2)))
    """

    cls_to_become = Conv2d

    def __init__(self, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        self._lazy_init(out_channels, kernel_size, stride, padding, dilation, groups, bias,
                        padding_mode, device, dtype)


class LazyConv1d(_LazyConvXdMixin, Conv1d):
    """A :class:`Conv1d` whose ``in_channels`` comes from the first input
    (``torch.nn.LazyConv1d``); it becomes a ``Conv1d`` at the first call.

    >>> import tapegrad as tg
    >>> conv = tg.nn.LazyConv1d(4, 3)
    >>> conv(tg.ones(2, 5, 9)).shape, conv.weight.shape
    (tapegrad.Size([2, 4, 7]), tapegrad.Size([4, 5, 3]))
    """

    cls_to_become = Conv1d

    def __init__(self, out_channels: int, kernel_size: Any, stride: Any = 1, padding: Any = 0,
                 dilation: Any = 1, groups: int = 1, bias: bool = True,
                 padding_mode: str = "zeros", device: Any = None, dtype: Any = None) -> None:
        self._lazy_init(out_channels, kernel_size, stride, padding, dilation, groups, bias,
                        padding_mode, device, dtype)


__all__ += ["LazyConv1d", "LazyConv2d"]
