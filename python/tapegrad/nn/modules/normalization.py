"""``LayerNorm`` (as ``torch.nn.modules.normalization``)."""

from __future__ import annotations

from typing import Any

from ... import _core
from .. import functional as F
from .. import init
from ..parameter import Parameter
from .batchnorm import _check_device
from .module import Module

Tensor = _core.Tensor

__all__ = ["LayerNorm"]


class LayerNorm(Module):
    """Layer normalization over the trailing ``normalized_shape`` dims, with an elementwise
    affine transform (weight 1, bias 0 at the start) when ``elementwise_affine``.

    >>> import tapegrad as tg
    >>> ln = tg.nn.LayerNorm(4)
    >>> ln
    LayerNorm((4,), eps=1e-05, elementwise_affine=True, bias=True)
    >>> ln(tg.randn(2, 3, 4)).shape
    tapegrad.Size([2, 3, 4])
    """

    def __init__(self, normalized_shape: int | tuple[int, ...] | list[int], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True, device: Any = None,
                 dtype: Any = None) -> None:
        super().__init__()
        _check_device(device)
        if isinstance(normalized_shape, int):
            normalized_shape = (normalized_shape,)
        if not isinstance(normalized_shape, (tuple, list)):
            raise TypeError("LayerNorm: normalized_shape must be an int or a sequence of ints, "
                            f"got {type(normalized_shape).__name__}")
        self.normalized_shape = tuple(int(d) for d in normalized_shape)
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dtype = dtype or _core.dtype.float32
        if elementwise_affine:
            self.weight = Parameter(_core.empty(self.normalized_shape, dtype=dtype))
            if bias:
                self.bias = Parameter(_core.empty(self.normalized_shape, dtype=dtype))
            else:
                self.register_parameter("bias", None)
        else:
            self.register_parameter("weight", None)
            self.register_parameter("bias", None)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Weight 1 and bias 0."""
        if self.elementwise_affine:
            init.ones_(self.weight)
            if self.bias is not None:
                init.zeros_(self.bias)

    def forward(self, input: Tensor) -> Tensor:  # noqa: A002
        return F.layer_norm(input, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (f"{self.normalized_shape}, eps={self.eps}, "
                f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}")
