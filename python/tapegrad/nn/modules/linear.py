"""Affine layers: ``Linear`` and the pass-through ``Identity``."""

from __future__ import annotations

import math
from typing import Any

from ... import _core
from .. import init
from ..parameter import Parameter
from .module import Module

Tensor = _core.Tensor

__all__ = ["Linear", "Identity"]


class Linear(Module):
    """y = x·Wᵀ + b with weight (out_features, in_features), PyTorch's default init:
    W, b ~ U(−1/√in, 1/√in) (kaiming-uniform with a = √5).

    >>> import tapegrad as tg
    >>> layer = tg.nn.Linear(3, 2)
    >>> layer
    Linear(in_features=3, out_features=2, bias=True)
    >>> layer(tg.ones(5, 3)).shape
    tapegrad.Size([5, 2])
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 dtype: Any = None) -> None:
        super().__init__()
        if in_features < 0 or out_features < 0:
            raise ValueError(f"Linear: in_features and out_features must be non-negative, got "
                             f"({in_features}, {out_features})")
        self.in_features = in_features
        self.out_features = out_features
        dtype = dtype or _core.dtype.float32
        self.weight = Parameter(_core.empty((out_features, in_features), dtype=dtype))
        if bias:
            self.bias = Parameter(_core.empty((out_features,), dtype=dtype))
        else:
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Re-draw weight and bias with PyTorch's default initialisation."""
        init.kaiming_uniform_(self.weight, a=math.sqrt(5))
        if self.bias is not None:
            fan_in = self.in_features
            bound = 1.0 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            init.uniform_(self.bias, -bound, bound)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        # The parameter dict is read directly: `self.weight` would first fail the instance lookup
        # (CPython formats an AttributeError message) before Module.__getattr__ finds it,
        # which cost more than the whole GEMM of a small layer. A weight replaced by a plain
        # attribute (not a registered Parameter) is still found through getattr.
        p = self._parameters
        weight = p["weight"] if "weight" in p else self.weight
        bias = p["bias"] if "bias" in p else self.bias
        try:
            return _core.linear(input, weight, bias)
        except ValueError as e:  # name the layer, not the GEMM inside it
            if isinstance(input, Tensor) and (input.ndim == 0
                                              or input.shape[-1] != self.in_features):
                raise ValueError(
                    f"Linear(in_features={self.in_features}, out_features="
                    f"{self.out_features}): expected input whose last dimension is "
                    f"{self.in_features}, got shape {list(input.shape)}") from e
            raise

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")


class Identity(Module):
    """Returns its input unchanged (a placeholder layer).

    >>> import tapegrad as tg
    >>> tg.nn.Identity()(tg.ones(2))
    tensor([1., 1.])
    """

    def forward(self, input: Any) -> Any:  # noqa: A002
        return input


# ----- lazy layers -----
from ..parameter import UninitializedParameter, _materialize  # noqa: E402
from .lazy import LazyModuleMixin  # noqa: E402


class LazyLinear(LazyModuleMixin, Linear):
    """A :class:`Linear` whose ``in_features`` comes from the first input's last dim
    (``torch.nn.LazyLinear``): its weight and bias are ``UninitializedParameter`` until then;
    the first call materialises and initialises them as ``Linear`` does, and the module
    becomes a ``Linear``.

    >>> import tapegrad as tg
    >>> layer = tg.nn.LazyLinear(2)
    >>> layer
    LazyLinear(in_features=0, out_features=2, bias=True)
    >>> layer(tg.ones(5, 3)).shape, layer
    (tapegrad.Size([5, 2]), Linear(in_features=3, out_features=2, bias=True))
    """

    cls_to_become = Linear

    def __init__(self, out_features: int, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        Module.__init__(self)
        if isinstance(out_features, bool) or not isinstance(out_features, int):
            raise TypeError(f"LazyLinear: out_features must be an int, got "
                            f"{type(out_features).__name__}")
        if out_features < 0:
            raise ValueError(f"LazyLinear: out_features must be non-negative, got {out_features}")
        self.in_features = 0
        self.out_features = out_features
        self.weight = UninitializedParameter(device=device, dtype=dtype)
        if bias:
            self.bias = UninitializedParameter(device=device, dtype=dtype)
        else:
            self.register_parameter("bias", None)

    def reset_parameters(self) -> None:
        if not self.has_uninitialized_params() and self.in_features != 0:
            super().reset_parameters()

    def initialize_parameters(self, input: Tensor, *args: Any, **kwargs: Any) -> None:  # noqa: A002
        """Materialise weight (out_features, input.shape[-1]) and bias, then initialise them."""
        if self.has_uninitialized_params():
            if not isinstance(input, Tensor) or input.dim() == 0:
                raise ValueError("LazyLinear: the first input must be a tensor of at least one "
                                 "dimension (its last dim is in_features)")
            self.in_features = input.shape[-1]
            _materialize(self.weight, (self.out_features, self.in_features))
            if self.bias is not None:
                _materialize(self.bias, (self.out_features,))
            self.reset_parameters()
        elif self.in_features == 0:  # parameters loaded from a state dict
            self.in_features = self.weight.shape[1]


__all__ += ["LazyLinear"]
