"""``tapegrad.linalg``: the norms of ``torch.linalg``, written with differentiable ops (so their
gradients, and gradients of gradients, come from those ops).

>>> import tapegrad as tg
>>> tg.linalg.norm(tg.tensor([3., 4.])).item(), tg.linalg.vector_norm(tg.tensor([3., -4.]), ord=1).item()
(5.0, 7.0)
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Sequence
from typing import Any

from . import _core
from ._einsum import _tensor_like
from ._legacy import check_dtype
from ._legacy import norm as _typed_norm

# The p-norm composite behind tapegrad.norm, without its argument check (done here, where
# vmap's batched tensors are admitted too).
_norm = inspect.unwrap(_typed_norm)

Tensor = _core.Tensor

__all__ = ["matrix_norm", "norm", "vector_norm"]


def _float_input(op: str, x: Any, dtype: Any) -> Tensor:
    if not _tensor_like(x):
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(x).__name__}")
    check_dtype(op, dtype)
    if dtype is not None:
        x = x.to(dtype)
    if not x.is_floating_point():
        raise RuntimeError(f"{op}: Expected a floating point tensor as input. Got {x.dtype}")
    return x


def _dims(x: Tensor, dim: int | Sequence[int] | None) -> tuple[int, ...]:
    if dim is None:
        return tuple(range(x.dim()))
    dims = (dim,) if isinstance(dim, int) else tuple(dim)
    n = max(x.dim(), 1)
    for d in dims:
        if not -n <= d < n:
            raise IndexError(f"Dimension out of range (expected to be in range of [{-n}, "
                             f"{n - 1}], but got {d}) for a tensor of shape {list(x.shape)}")
    return tuple(sorted({d % n for d in dims})) if x.dim() else ()


def vector_norm(x: Tensor, ord: float = 2, dim: int | Sequence[int] | None = None,
                keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """‖x‖_ord over ``dim`` (all elements when None), the tensor seen as a vector: ``ord`` 2
    (√Σx²), 1 (Σ|x|), ``inf`` (max |x|), ``-inf`` (min |x|), 0 (the count of nonzeros, no
    gradient) or any other p ((Σ|x|ᵖ)^(1/p)).

    >>> import tapegrad as tg
    >>> tg.linalg.vector_norm(tg.tensor([[3., 4.], [0., 1.]]), dim=1).tolist()
    [5.0, 1.0]
    >>> tg.linalg.vector_norm(tg.tensor([3., -4.]), ord=float("inf")).item()
    4.0
    """
    x = _float_input("linalg.vector_norm", x, dtype)
    if isinstance(ord, str) or not isinstance(ord, (int, float)):
        raise TypeError(f"linalg.vector_norm(): argument 'ord' must be Number, not "
                        f"{type(ord).__name__}")
    dims = _dims(x, dim) or tuple(range(x.dim()))  # dim=() as None: every dim
    kw: dict[str, Any] = {"dim": dims, "keepdim": keepdim} if x.dim() else {}
    if ord == -math.inf:
        return x.abs().amin(**kw)
    if ord == 0:
        return (x != 0).to(x.dtype).sum(**kw)
    # 2, 1, inf and the other p-norms: the norm composite tapegrad.norm already has.
    return _norm(x, ord, list(dims) if x.dim() else None, keepdim)


def matrix_norm(A: Tensor, ord: Any = "fro", dim: tuple[int, int] = (-2, -1),
                keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """The matrix norm over the two dims ``dim``: ``'fro'`` (√Σa²), 1 / -1 (max / min column
    sum of |a|), ``inf`` / ``-inf`` (max / min row sum of |a|). The spectral and nuclear norms
    (2, -2, ``'nuc'``) need singular values, which tapegrad does not have.

    >>> import tapegrad as tg
    >>> A = tg.tensor([[1., -2.], [3., 4.]])
    >>> tg.linalg.matrix_norm(A, ord=1).item(), tg.linalg.matrix_norm(A, ord=float("inf")).item()
    (6.0, 7.0)
    """
    A = _float_input("linalg.matrix_norm", A, dtype)
    if A.dim() < 2:
        raise RuntimeError(f"linalg.matrix_norm: The input tensor A must have at least 2 "
                           f"dimensions (got shape {list(A.shape)})")
    if not isinstance(dim, (tuple, list)) or len(dim) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got {dim!r}")
    d0, d1 = _dims(A, dim[:1])[0], _dims(A, dim[1:])[0]
    if d0 == d1:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got {tuple(dim)}")
    if ord == "fro":
        return _norm(A, 2, [d0, d1], keepdim)
    if ord in (1, -1, math.inf, -math.inf):
        # 1: the columns' sums (over rows, d0), then their max over d1; inf: rows' sums.
        inner, outer = (d0, d1) if ord in (1, -1) else (d1, d0)
        sums = A.abs().sum(dim=inner, keepdim=True)
        r = sums.amax(dim=outer, keepdim=True) if ord > 0 else sums.amin(dim=outer, keepdim=True)
        return r if keepdim else r.squeeze(max(d0, d1)).squeeze(min(d0, d1))
    if ord in (2, -2, "nuc"):
        raise NotImplementedError(f"linalg.matrix_norm: ord={ord!r} needs singular values, "
                                  "which tapegrad does not compute")
    raise RuntimeError(f"linalg.matrix_norm: Order {ord!r} not supported.")


def norm(A: Tensor, ord: Any = None, dim: int | Sequence[int] | None = None,
         keepdim: bool = False, *, dtype: Any = None) -> Tensor:
    """A vector or matrix norm, as ``torch.linalg.norm``: an int ``dim`` (or a 1-D input with
    ``dim=None``) gives :func:`vector_norm`, a 2-tuple ``dim`` (or a 2-D input) gives
    :func:`matrix_norm`; with ``ord=None`` and ``dim=None`` the input is flattened and its
    2-norm taken.

    >>> import tapegrad as tg
    >>> A = tg.tensor([[3., 0.], [0., 4.]])
    >>> tg.linalg.norm(A).item(), tg.linalg.norm(A, ord=1).item(), tg.linalg.norm(A, dim=1).tolist()
    (5.0, 4.0, [3.0, 4.0])
    """
    if not _tensor_like(A):
        raise TypeError(f"linalg.norm(): argument 'input' must be Tensor, not {type(A).__name__}")
    if isinstance(dim, int):
        return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
    if dim is not None:
        dim = tuple(dim)
        if len(dim) == 1:
            return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype=dtype)
        if len(dim) == 2:
            return matrix_norm(A, "fro" if ord is None else ord, dim, keepdim, dtype=dtype)
        raise RuntimeError(f"linalg.norm: If dim is specified, it must be of length 1 or 2. "
                           f"Got {list(dim)}")
    if ord is None:
        return vector_norm(A, 2, None, keepdim, dtype=dtype)
    if A.dim() == 1:
        return vector_norm(A, ord, None, keepdim, dtype=dtype)
    if A.dim() == 2:
        return matrix_norm(A, ord, (-2, -1), keepdim, dtype=dtype)
    raise RuntimeError(f"linalg.norm: If dim is not specified but ord is, the input must be 1D "
                       f"or 2D. Got {A.dim()}D.")


# Composites of several ops compute float16 in float32 and round once (Note [storage dtypes]).
def _widen_half_composites() -> None:
    from ._dtypes import half_via_float32

    for name in ("vector_norm", "matrix_norm", "norm"):
        globals()[name] = half_via_float32(globals()[name])


_widen_half_composites()
