"""In-place initialisers for parameters, as in ``torch.nn.init``.

Each runs under :func:`tapegrad.no_grad` (so it works on leaves that require grad) and returns
the tensor it filled.

>>> import tapegrad as tg
>>> w = tg.nn.Parameter(tg.empty(2, 3))
>>> tg.nn.init.normal_(w, std=0.01).shape
tapegrad.Size([2, 3])
"""

from __future__ import annotations

import math

from .. import _core
from ..autograd import no_grad

Tensor = _core.Tensor

__all__ = ["normal_", "uniform_", "zeros_", "ones_", "constant_", "kaiming_uniform_",
           "calculate_fan_in_and_fan_out"]


def normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0) -> Tensor:
    """Fill ``tensor`` with samples of N(mean, std²).

    >>> import tapegrad as tg
    >>> float(tg.nn.init.normal_(tg.empty(1000), mean=1.0, std=0.0).mean())
    1.0
    """
    if std < 0:
        raise ValueError(f"normal_: std must be non-negative, got {std}")
    with no_grad():
        return tensor.normal_(float(mean), float(std))


def uniform_(tensor: Tensor, a: float = 0.0, b: float = 1.0) -> Tensor:
    """Fill ``tensor`` with samples of U(a, b).

    >>> import tapegrad as tg
    >>> float(tg.nn.init.uniform_(tg.empty(100), -1, 1).abs().max()) <= 1
    True
    """
    if a > b:
        raise ValueError(f"uniform_: expected a <= b, got a={a}, b={b}")
    with no_grad():
        return tensor.uniform_(float(a), float(b))


def zeros_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with zeros.

    >>> import tapegrad as tg
    >>> tg.nn.init.zeros_(tg.ones(2)).tolist()
    [0.0, 0.0]
    """
    with no_grad():
        return tensor.zero_()


def ones_(tensor: Tensor) -> Tensor:
    """Fill ``tensor`` with ones.

    >>> import tapegrad as tg
    >>> tg.nn.init.ones_(tg.zeros(2)).tolist()
    [1.0, 1.0]
    """
    return constant_(tensor, 1.0)


def constant_(tensor: Tensor, val: float) -> Tensor:
    """Fill ``tensor`` with ``val``.

    >>> import tapegrad as tg
    >>> tg.nn.init.constant_(tg.zeros(2), 0.5).tolist()
    [0.5, 0.5]
    """
    with no_grad():
        return tensor.fill_(float(val))


def calculate_fan_in_and_fan_out(tensor: Tensor) -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight of shape ``(out, in, *receptive_field)``.

    >>> import tapegrad as tg
    >>> tg.nn.init.calculate_fan_in_and_fan_out(tg.empty(3, 5))
    (5, 3)
    """
    if tensor.ndim < 2:
        raise ValueError("fan in and fan out can not be computed for a tensor with fewer than "
                         f"2 dimensions (got shape {list(tensor.shape)})")
    receptive = math.prod(tensor.shape[2:]) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


def kaiming_uniform_(tensor: Tensor, a: float = 0.0) -> Tensor:
    """He-uniform init with leaky-ReLU slope ``a`` (fan-in mode), PyTorch's formula:
    bound = gain·√(3/fan_in), gain = √(2/(1+a²)). With a = √5 (``Linear``'s default) the bound
    is 1/√fan_in.

    >>> import tapegrad as tg
    >>> w = tg.nn.init.kaiming_uniform_(tg.empty(4, 16), a=5 ** 0.5)
    >>> float(w.abs().max()) <= 0.25
    True
    """
    fan_in, _ = calculate_fan_in_and_fan_out(tensor)
    gain = math.sqrt(2.0 / (1.0 + a * a))
    bound = gain * math.sqrt(3.0 / fan_in) if fan_in > 0 else 0.0
    return uniform_(tensor, -bound, bound)
