"""Helpers shared by the distributions (``torch.distributions.utils``): broadcasting of
parameters, probabilities ⇄ logits, cached properties, and the special functions the
families need that tapegrad has no op for (``lgamma``, ``erfinv``), written with its
differentiable ops.

>>> import tapegrad as tg
>>> from tapegrad.distributions.utils import broadcast_all
>>> loc, scale = broadcast_all(tg.zeros(2, 1), 1.0)
>>> loc.shape, scale.shape, scale.dtype
(tapegrad.Size([2, 1]), tapegrad.Size([2, 1]), tapegrad.float32)
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import numpy as np

from .. import _core
from ..autograd import Function

Tensor = _core.Tensor
Number = (int, float, bool)  # torch.types._Number

__all__ = ["broadcast_all", "clamp_probs", "lazy_property", "logits_to_probs",
           "probs_to_logits"]

euler_constant = 0.57721566490153286060  # Euler–Mascheroni constant, as PyTorch exports it


def _finfo(dtype: Any) -> np.finfo:
    """NumPy's ``finfo`` of a tapegrad floating dtype (``torch.finfo``'s eps, tiny, min)."""
    return np.finfo(_core.zeros((), dtype=dtype).numpy().dtype)


def _broadcast_shape(*shapes: Sequence[int]) -> tuple[int, ...]:
    """NumPy's broadcast of ``shapes`` (``torch.broadcast_shapes``), or PyTorch's error."""
    ndim = max((len(s) for s in shapes), default=0)
    out = [1] * ndim
    for s in shapes:
        for i, n in enumerate(s, ndim - len(s)):
            if n != 1 and out[i] not in (1, n):
                raise RuntimeError(
                    f"shape mismatch: objects cannot be broadcast to a single shape. "
                    f"Mismatch is between {list(out)} and {list(s)}")
            if n != 1:
                out[i] = n
    return tuple(out)


def _broadcast_tensors(*tensors: Tensor) -> tuple[Tensor, ...]:
    """``torch.broadcast_tensors``: each tensor expanded (differentiably) to the common shape."""
    shape = _broadcast_shape(*(t.shape for t in tensors))
    return tuple(t if tuple(t.shape) == shape else t.expand(shape) for t in tensors)


def broadcast_all(*values: Tensor | float) -> tuple[Tensor, ...]:
    """Tensors and numbers broadcast to one shape (``torch.distributions.utils.broadcast_all``).

    Numbers become tensors of the first tensor's dtype (the default dtype when all are
    numbers); tensors keep their dtypes and are expanded, so gradients flow to the originals.

    >>> import tapegrad as tg
    >>> a, b = broadcast_all(tg.tensor([1., 2.], dtype=tg.float64), 3)
    >>> b
    tensor([3., 3.], dtype=tapegrad.float64)
    """
    if not all(isinstance(v, (Tensor, *Number)) for v in values):
        raise ValueError("Input arguments must all be instances of Number, "
                         "tapegrad.Tensor or objects implementing __torch_function__.")
    if not all(isinstance(v, Tensor) for v in values):
        from .. import get_default_dtype
        dtype = next((v.dtype for v in values if isinstance(v, Tensor)), None)
        dtype = dtype if dtype is not None else get_default_dtype()
        values = tuple(v if isinstance(v, Tensor) else _core.tensor(v, dtype=dtype)
                       for v in values)
    return _broadcast_tensors(*values)  # type: ignore[arg-type]


def _promote(*tensors: Tensor) -> tuple[Tensor, ...]:
    """The tensors in their common floating dtype (float64 if any is), as the fused PyTorch
    kernels (``xlogy``, ``binary_cross_entropy_with_logits``) compute mixed inputs."""
    dtypes = {t.dtype for t in tensors}
    if len(dtypes) < 2:
        return tensors
    common = _core.dtype.float64 if _core.dtype.float64 in dtypes else next(
        t.dtype for t in tensors if t.is_floating_point())
    return tuple(t if t.dtype == common else t.to(common) for t in tensors)


def _sum_rightmost(value: Tensor, dim: int) -> Tensor:
    """``value`` summed over its ``dim`` rightmost dims."""
    if dim == 0:
        return value
    cut = value.dim() - dim
    return value.reshape(tuple(value.shape[:cut]) + (math.prod(value.shape[cut:]),)).sum(-1)


def logits_to_probs(logits: Tensor, is_binary: bool = False) -> Tensor:
    """Probabilities from logits: ``sigmoid`` (binary: log-odds) or ``softmax`` over the last
    dim (unnormalised log-probabilities).

    >>> import tapegrad as tg
    >>> logits_to_probs(tg.tensor([0.0]), is_binary=True)
    tensor([0.5000])
    >>> logits_to_probs(tg.tensor([0.0, 0.0]))
    tensor([0.5000, 0.5000])
    """
    if is_binary:
        return logits.sigmoid()
    return logits.softmax(-1)


def clamp_probs(probs: Tensor) -> Tensor:
    """Probabilities clamped to ``[eps, 1 - eps]`` (``eps`` of their dtype), so that their
    logarithms and log-odds are finite.

    >>> import tapegrad as tg
    >>> clamp_probs(tg.tensor([0.0, 0.5, 1.0], dtype=tg.float64))
    tensor([2.2204e-16, 5.0000e-01, 1.0000e+00], dtype=tapegrad.float64)
    """
    eps = float(_finfo(probs.dtype).eps)
    return probs.clamp(min=eps, max=1 - eps)


def probs_to_logits(probs: Tensor, is_binary: bool = False) -> Tensor:
    """Logits from probabilities (clamped first): ``log p - log(1 - p)`` (binary) or
    ``log p``.

    >>> import tapegrad as tg
    >>> probs_to_logits(tg.tensor([0.5]), is_binary=True)
    tensor([0.])
    """
    ps = clamp_probs(probs)
    if is_binary:
        return ps.log() - (-ps).log1p()
    return ps.log()


T = TypeVar("T")
R = TypeVar("R")


class lazy_property(Generic[T, R]):
    """A property computed on first access (with grad mode on) and then stored on the
    instance, so later reads are plain attribute lookups (``probs`` of a distribution made
    from ``logits``).

    >>> class Box:
    ...     @lazy_property
    ...     def big(self):
    ...         print("computing")
    ...         return 42
    >>> b = Box()
    >>> b.big
    computing
    42
    >>> b.big
    42
    """

    def __init__(self, wrapped: Callable[[T], R]) -> None:
        self.wrapped = wrapped
        functools.update_wrapper(self, wrapped)  # type: ignore[arg-type]

    def __get__(self, instance: T | None, obj_type: Any = None) -> Any:
        if instance is None:
            return _lazy_property_and_property(self.wrapped)
        from ..autograd import enable_grad
        with enable_grad():
            value = self.wrapped(instance)
        setattr(instance, self.wrapped.__name__, value)
        return value


class _lazy_property_and_property(lazy_property, property):  # type: ignore[type-arg]
    """Seen on the class: a ``property`` (for documentation tools) that is also a
    ``lazy_property`` (for the argument validation, which skips parameters not yet made)."""

    def __init__(self, wrapped: Callable[[Any], Any]) -> None:
        property.__init__(self, wrapped)


# ----- special functions tapegrad has no op for ---------------------------------------------

# Lanczos approximation, g = 7, 9 terms: Γ(z+1) = √(2π) (z+g+½)^(z+½) e^-(z+g+½) A(z), with
# A(z) = c₀ + Σₖ cₖ/(z+k); relative error below 1e-15 for z ≥ -½.
_LANCZOS_G = 7.0
_LANCZOS_C = (0.99999999999980993, 676.5203681218851, -1259.1392167224028,
              771.32342877765313, -176.61502916214059, 12.507343278686905,
              -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7)
_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


def _lgamma(x: Tensor) -> Tensor:
    """log|Γ(x)| elementwise (``torch.lgamma``), differentiable (its derivative, the digamma
    function, comes from the composition). Computed in float64 and returned in ``x``'s dtype.

    For x < ½ the reflection Γ(x)Γ(1-x) = π / sin(πx) brings the argument to x ≥ ½; the
    branches are evaluated on safe arguments so the unused one cannot put NaN into a gradient.
    """
    dtype = x.dtype
    x64 = x.to(_core.dtype.float64) if dtype != _core.dtype.float64 else x
    left = x64 < 0.5
    y = _core.where(left, 1.0 - x64, x64)  # ≥ ½ on both branches
    z = y - 1.0
    a = _core.full_like(z, _LANCZOS_C[0])
    for k in range(1, len(_LANCZOS_C)):
        a = a + _LANCZOS_C[k] / (z + float(k))
    t = z + (_LANCZOS_G + 0.5)
    lg = _HALF_LOG_2PI + (z + 0.5) * t.log() - t + a.log()
    xr = _core.where(left, x64, _core.full_like(x64, 0.5))  # sin(π·½) = 1 off the branch
    reflected = math.log(math.pi) - (xr * math.pi).sin().abs().log() - lg
    out = _core.where(left, reflected, lg)
    return out.to(dtype) if dtype != _core.dtype.float64 else out


class _Erfinv(Function):
    """erf⁻¹ as one recorded entry: the forward refines an initial guess with Halley steps on
    erf; the backward is d erf⁻¹(y)/dy = (√π/2)·exp(x²) with x the (saved) output, written
    with differentiable ops so gradients of gradients work."""

    @staticmethod
    def forward(ctx: Any, y: Tensor) -> Tensor:  # type: ignore[override]
        dtype = y.dtype
        y64 = y.to(_core.dtype.float64) if dtype != _core.dtype.float64 else y
        # Winitzki's closed form (relative error < 2e-3) as the starting point.
        a = 0.147
        w = (1.0 - y64 * y64).log()
        s = 2.0 / (math.pi * a) + 0.5 * w
        x = y64.sign() * ((s * s - w / a).sqrt() - s).sqrt()
        # Halley on f(x) = erf(x) - y, f' = 2/√π e^{-x²}, f''/f' = -2x: cubic convergence,
        # three steps reach float64 round-off from the 2e-3 start.
        finite = x.isfinite()
        for _ in range(3):
            r = (x.erf() - y64) / ((2.0 / math.sqrt(math.pi)) * (-x * x).exp())
            x = _core.where(finite, x - r / (1.0 + x * r), x)
        x = _core.where(y64 == 1.0, math.inf, _core.where(y64 == -1.0, -math.inf, x))
        out = x.to(dtype) if dtype != _core.dtype.float64 else x
        ctx.save_for_backward(out)
        return out

    @staticmethod
    def backward(ctx: Any, grad: Tensor) -> Tensor:  # type: ignore[override]
        (x,) = ctx.saved_tensors
        return grad * (0.5 * math.sqrt(math.pi)) * (x * x).exp()


def _erfinv(y: Tensor) -> Tensor:
    """The inverse error function elementwise (``torch.erfinv``): ±inf at ±1, NaN outside
    [-1, 1]. Accurate to float64 round-off in x while erf'(x) is not tiny (|y| < 1 - 1e-8);
    closer to ±1 the error grows as 1e-16 / erf'(x)."""
    return _Erfinv.apply(y)


def _standard_normal(shape: Sequence[int], dtype: Any) -> Tensor:
    return _core.randn(tuple(shape), dtype=dtype)


def _uniform(shape: Sequence[int], dtype: Any) -> Tensor:
    return _core.rand(tuple(shape), dtype=dtype)
