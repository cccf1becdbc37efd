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
import warnings

import numpy as np

from .. import _core
from ..autograd import no_grad

Tensor = _core.Tensor

__all__ = ["normal_", "uniform_", "zeros_", "ones_", "constant_", "eye_", "kaiming_uniform_",
           "kaiming_normal_", "xavier_uniform_", "xavier_normal_", "trunc_normal_",
           "orthogonal_", "calculate_gain", "calculate_fan_in_and_fan_out"]


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
    >>> tg.nn.init.calculate_fan_in_and_fan_out(tg.empty(8, 4, 3, 3))  # a conv weight
    (36, 72)
    """
    if tensor.ndim < 2:
        raise ValueError("Fan in and fan out can not be computed for tensor with fewer than 2 "
                         f"dimensions (got shape {list(tensor.shape)})")
    receptive = math.prod(tensor.shape[2:]) if tensor.ndim > 2 else 1
    return tensor.shape[1] * receptive, tensor.shape[0] * receptive


_calculate_fan_in_and_fan_out = calculate_fan_in_and_fan_out  # PyTorch's private spelling


def _correct_fan(tensor: Tensor, mode: str) -> int:
    mode = mode.lower()
    valid = ["fan_in", "fan_out"]
    if mode not in valid:
        raise ValueError(f"Mode {mode} not supported, please use one of {valid}")
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return fan_in if mode == "fan_in" else fan_out


_LINEAR = ("linear", "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d",
           "conv_transpose3d")


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The recommended gain for a nonlinearity (PyTorch's table): 1 for linear/conv/sigmoid,
    5/3 for tanh, √2 for relu, √(2/(1 + slope²)) for leaky_relu (slope ``param``, default
    0.01), 3/4 for selu.

    >>> import tapegrad as tg
    >>> tg.nn.init.calculate_gain("relu") == 2 ** 0.5, tg.nn.init.calculate_gain("tanh")
    (True, 1.6666666666666667)
    """
    if nonlinearity in _LINEAR or nonlinearity == "sigmoid":
        return 1
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        if param is None:
            slope = 0.01
        elif not isinstance(param, bool) and isinstance(param, (int, float)):
            slope = param
        else:
            raise ValueError(f"negative_slope {param} not a valid number")
        return math.sqrt(2.0 / (1 + slope ** 2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"Unsupported nonlinearity {nonlinearity}")


def _empty_noop(tensor: Tensor) -> bool:
    if 0 in tuple(tensor.shape):
        warnings.warn("Initializing zero-element tensors is a no-op", stacklevel=3)
        return True
    return False


def kaiming_uniform_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                     nonlinearity: str = "leaky_relu") -> Tensor:
    """He-uniform init, PyTorch's formula: U(−b, b) with b = √3·gain/√fan, gain =
    ``calculate_gain(nonlinearity, a)``, fan = fan_in or fan_out (``mode``). With a = √5
    (``Linear``'s default) the bound is 1/√fan_in.

    >>> import tapegrad as tg
    >>> w = tg.nn.init.kaiming_uniform_(tg.empty(4, 16), a=5 ** 0.5)
    >>> float(w.abs().max()) <= 0.25
    True
    """
    if _empty_noop(tensor):
        return tensor
    fan = _correct_fan(tensor, mode)
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def kaiming_normal_(tensor: Tensor, a: float = 0.0, mode: str = "fan_in",
                    nonlinearity: str = "leaky_relu") -> Tensor:
    """He-normal init: N(0, std²) with std = gain/√fan (see :func:`kaiming_uniform_`).

    >>> import tapegrad as tg
    >>> w = tg.nn.init.kaiming_normal_(tg.empty(200, 50), mode="fan_out", nonlinearity="relu")
    >>> abs(float(w.numpy().std()) - (2 / 200) ** 0.5) < 0.01
    True
    """
    if _empty_noop(tensor):
        return tensor
    fan = _correct_fan(tensor, mode)
    return normal_(tensor, 0.0, calculate_gain(nonlinearity, a) / math.sqrt(fan))


def xavier_uniform_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot-uniform init: U(−b, b) with b = gain·√(6/(fan_in + fan_out)).

    >>> import tapegrad as tg
    >>> float(tg.nn.init.xavier_uniform_(tg.empty(3, 5)).abs().max()) <= (6 / 8) ** 0.5
    True
    """
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    std = gain * math.sqrt(2.0 / float(fan_in + fan_out))
    bound = math.sqrt(3.0) * std
    return uniform_(tensor, -bound, bound)


def xavier_normal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Glorot-normal init: N(0, std²) with std = gain·√(2/(fan_in + fan_out)).

    >>> import tapegrad as tg
    >>> w = tg.nn.init.xavier_normal_(tg.empty(300, 100))
    >>> abs(float(w.numpy().std()) - (2 / 400) ** 0.5) < 0.005
    True
    """
    fan_in, fan_out = calculate_fan_in_and_fan_out(tensor)
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / float(fan_in + fan_out)))


def eye_(tensor: Tensor) -> Tensor:
    """Fill a 2-D ``tensor`` with the identity (ones on the diagonal of a rectangle too).

    >>> import tapegrad as tg
    >>> tg.nn.init.eye_(tg.empty(2, 3)).tolist()
    [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    """
    if tensor.ndim != 2:
        raise ValueError("Only tensors with 2 dimensions are supported "
                         f"(got shape {list(tensor.shape)})")
    with no_grad():
        return tensor.copy_(_core.eye(tensor.shape[0], tensor.shape[1], dtype=tensor.dtype))


def trunc_normal_(tensor: Tensor, mean: float = 0.0, std: float = 1.0, a: float = -2.0,
                  b: float = 2.0) -> Tensor:
    """Fill ``tensor`` with N(mean, std²) conditioned on [a, b] (the truncated normal).

    Draws from the generator seeded by ``tg.manual_seed`` and redraws the entries that fall
    outside [a, b] (rejection sampling: exactly the truncated distribution, whose samples differ
    from PyTorch's inverse-CDF draws).

    >>> import tapegrad as tg
    >>> w = tg.nn.init.trunc_normal_(tg.empty(1000), std=0.02, a=-0.04, b=0.04)
    >>> float(w.abs().max()) <= 0.04
    True
    """
    if std < 0:
        raise ValueError(f"trunc_normal_: std must be non-negative, got {std}")
    if a > b:
        raise ValueError(f"trunc_normal_: expected a <= b, got a={a}, b={b}")
    if mean < a - 2 * std or mean > b + 2 * std:
        warnings.warn("mean is more than 2 std from [a, b] in nn.init.trunc_normal_. The "
                      "distribution of values may be incorrect.", stacklevel=2)
    n = tensor.numel()
    out = np.empty(n, dtype=np.float64)
    todo = np.arange(n)
    # Acceptance probability is P(a ≤ X ≤ b); after many rounds the few stragglers are clamped
    # (only reachable when [a, b] lies far in a tail, the case PyTorch warns about).
    for _ in range(100):
        if todo.size == 0:
            break
        draw = _core.normal(float(mean), float(std), (int(todo.size),),
                            dtype=_core.dtype.float64).numpy()
        ok = (draw >= a) & (draw <= b)
        out[todo[ok]] = draw[ok]
        todo = todo[~ok]
    if todo.size:
        out[todo] = np.clip(np.full(todo.size, mean), a, b)
    with no_grad():
        return tensor.copy_(_core.tensor(out.reshape(tuple(tensor.shape)), dtype=tensor.dtype))


def orthogonal_(tensor: Tensor, gain: float = 1.0) -> Tensor:
    """Fill ``tensor`` (≥ 2-D, flattened to rows × rest) with a (semi-)orthogonal matrix times
    ``gain``: the Q of a QR factorisation of a Gaussian matrix, its signs fixed by R's diagonal
    (Saxe et al.), as PyTorch does.

    >>> import tapegrad as tg
    >>> q = tg.nn.init.orthogonal_(tg.empty(3, 5))
    >>> bool(((q @ q.T) - tg.eye(3)).abs().max() < 1e-5)
    True
    """
    if tensor.ndim < 2:
        raise ValueError("Only tensors with 2 or more dimensions are supported "
                         f"(got shape {list(tensor.shape)})")
    if tensor.numel() == 0:
        return tensor
    rows = tensor.shape[0]
    cols = tensor.numel() // rows
    flat = _core.normal(0.0, 1.0, (rows, cols), dtype=_core.dtype.float64).numpy()
    if rows < cols:
        flat = flat.T
    q, r = np.linalg.qr(flat)
    q = q * np.sign(np.diag(r))
    if rows < cols:
        q = q.T
    with no_grad():
        tensor.copy_(_core.tensor((gain * q).reshape(tuple(tensor.shape)), dtype=tensor.dtype))
    return tensor
