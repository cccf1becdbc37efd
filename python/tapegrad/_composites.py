"""Tensor operations course code uses, written as compositions of differentiable op-table ops
(so their gradients are those ops' gradients; none needs a backward of its own).

>>> import tapegrad as tg
>>> x = tg.tensor([[1., 2.], [3., 4.]])
>>> tg.square(x).tolist(), tg.flip(x, [0]).tolist(), [c.tolist() for c in x.chunk(2)]
([[1.0, 4.0], [9.0, 16.0]], [[3.0, 4.0], [1.0, 2.0]], [[[1.0, 2.0]], [[3.0, 4.0]]])
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _core
from ._validation import typed

Tensor = _core.Tensor


def _dim(x: Tensor, dim: int, op: str) -> int:
    n = max(x.dim(), 1)
    if not -n <= dim < n:
        raise IndexError(f"{op}: Dimension out of range (expected to be in range of "
                         f"[{-n}, {n - 1}], but got {dim}) for a tensor of shape {list(x.shape)}")
    return dim % n


def _slice(x: Tensor, dim: int, start: int, stop: int) -> Tensor:
    return x[(slice(None),) * dim + (slice(start, stop),)]


@typed(input="Tensor")
def square(input: Tensor) -> Tensor:  # noqa: A002
    """x², as ``x * x``.

    >>> import tapegrad as tg
    >>> tg.square(tg.tensor([-2., 3.])).tolist()
    [4.0, 9.0]
    """
    return input * input


@typed(input="Tensor")
def reciprocal(input: Tensor) -> Tensor:  # noqa: A002
    """1 / x (integer inputs give floats, as in PyTorch).

    >>> import tapegrad as tg
    >>> tg.reciprocal(tg.tensor([2., 4.])).tolist()
    [0.5, 0.25]
    """
    x = input if input.is_floating_point() else input.float()
    return 1.0 / x


@typed(input="Tensor")
def rsqrt(input: Tensor) -> Tensor:  # noqa: A002
    """1 / √x.

    >>> import tapegrad as tg
    >>> tg.rsqrt(tg.tensor([4.])).tolist()
    [0.5]
    """
    return 1.0 / input.sqrt()


@typed(input="Tensor")
def log2(input: Tensor) -> Tensor:  # noqa: A002
    """log₂ x = ln x / ln 2.

    >>> import tapegrad as tg
    >>> round(tg.log2(tg.tensor([8.], dtype=tg.float64)).item(), 12)
    3.0
    """
    return input.log() * (1.0 / math.log(2.0))


@typed(input="Tensor")
def log10(input: Tensor) -> Tensor:  # noqa: A002
    """log₁₀ x = ln x / ln 10.

    >>> import tapegrad as tg
    >>> round(tg.log10(tg.tensor([1000.], dtype=tg.float64)).item(), 12)
    3.0
    """
    return input.log() * (1.0 / math.log(10.0))


@typed(input="Tensor", vec2="Tensor")
def outer(input: Tensor, vec2: Tensor) -> Tensor:  # noqa: A002
    """The outer product of two 1-D tensors: (n,) × (m,) → (n, m).

    >>> import tapegrad as tg
    >>> tg.outer(tg.tensor([1., 2.]), tg.tensor([3., 4.])).tolist()
    [[3.0, 4.0], [6.0, 8.0]]
    """
    if input.dim() != 1 or vec2.dim() != 1:
        raise RuntimeError(f"outer: expected 1-D tensors, got shapes {list(input.shape)} and "
                           f"{list(vec2.shape)}")
    return input.reshape(-1, 1) * vec2.reshape(1, -1)


def narrow(input: Tensor, dim: int, start: int, length: int) -> Tensor:  # noqa: A002
    """``length`` entries of ``dim`` from ``start``.

    >>> import tapegrad as tg
    >>> tg.narrow(tg.arange(5), 0, 1, 3).tolist()
    [1, 2, 3]
    """
    d = _dim(input, dim, "narrow")
    size = input.shape[d]
    if start < 0:
        start += size
    if not (0 <= start and start + length <= size and length >= 0):
        raise IndexError(f"narrow: start ({start}) + length ({length}) exceeds dimension size "
                         f"({size}) of a tensor of shape {list(input.shape)}")
    return _slice(input, d, start, start + length)


@typed(tensor="Tensor", split_size_or_sections="ints", dim="int")
def split(tensor: Tensor, split_size_or_sections: int | Sequence[int],
          dim: int = 0) -> tuple[Tensor, ...]:
    """Pieces of ``split_size`` along ``dim`` (the last may be smaller), or of the given sizes.

    >>> import tapegrad as tg
    >>> [t.tolist() for t in tg.split(tg.arange(5), 2)]
    [[0, 1], [2, 3], [4]]
    """
    d = _dim(tensor, dim, "split")
    size = tensor.shape[d]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise RuntimeError(f"split: split_size must be positive, got {step}")
        sizes = [min(step, size - s) for s in range(0, size, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if sum(sizes) != size:
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to {size} "
                               f"(input tensor's size at dimension {d}), but got "
                               f"split_sizes={sizes}")
    out, start = [], 0
    for s in sizes:
        out.append(_slice(tensor, d, start, start + s))
        start += s
    return tuple(out)


@typed(input="Tensor", chunks="int", dim="int")
def chunk(input: Tensor, chunks: int, dim: int = 0) -> tuple[Tensor, ...]:  # noqa: A002
    """At most ``chunks`` pieces of ⌈size/chunks⌉ along ``dim``.

    >>> import tapegrad as tg
    >>> [t.tolist() for t in tg.chunk(tg.arange(5), 3)]
    [[0, 1], [2, 3], [4]]
    """
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    size = input.shape[_dim(input, dim, "chunk")]
    return split(input, max(1, math.ceil(size / chunks)), dim)


@typed(input="Tensor", dim="int")
def unbind(input: Tensor, dim: int = 0) -> tuple[Tensor, ...]:  # noqa: A002
    """The slices along ``dim``, that dimension removed.

    >>> import tapegrad as tg
    >>> [t.tolist() for t in tg.unbind(tg.tensor([[1, 2], [3, 4]]), 1)]
    [[1, 3], [2, 4]]
    """
    d = _dim(input, dim, "unbind")
    return tuple(input[(slice(None),) * d + (i,)] for i in range(input.shape[d]))


def index_select(input: Tensor, dim: int, index: Tensor) -> Tensor:  # noqa: A002
    """The entries of ``dim`` at the positions in the 1-D int64 ``index``.

    >>> import tapegrad as tg
    >>> tg.index_select(tg.tensor([[1, 2], [3, 4]]), 1, tg.tensor([1])).tolist()
    [[2], [4]]
    """
    d = _dim(input, dim, "index_select")
    if not isinstance(index, Tensor) or index.dim() > 1 or index.is_floating_point():
        raise TypeError("index_select: index must be a 0-D or 1-D integer tensor")
    return input[(slice(None),) * d + (index.reshape(-1),)]


@typed(input="Tensor", dims="ints")
def flip(input: Tensor, dims: int | Sequence[int]) -> Tensor:  # noqa: A002
    """Reverse the order of the entries along each of ``dims``.

    >>> import tapegrad as tg
    >>> tg.flip(tg.arange(3), [0]).tolist()
    [2, 1, 0]
    """
    dims = [dims] if isinstance(dims, int) else list(dims)
    out = input
    for dim in dims:
        d = _dim(input, dim, "flip")
        n = input.shape[d]
        out = index_select(out, d, _core.arange(n - 1, -1, -1)) if n > 1 else out
    return out


@typed(input="Tensor", shifts="ints", dims="ints?")
def roll(input: Tensor, shifts: int | Sequence[int],  # noqa: A002
         dims: int | Sequence[int] | None = None) -> Tensor:
    """Shift entries cyclically by ``shifts`` along ``dims`` (the flattened tensor without).

    >>> import tapegrad as tg
    >>> tg.roll(tg.arange(4), 1).tolist()
    [3, 0, 1, 2]
    """
    if dims is None:
        return roll(input.reshape(-1), shifts, 0).reshape(tuple(input.shape))
    shifts = [shifts] if isinstance(shifts, int) else list(shifts)
    dims = [dims] if isinstance(dims, int) else list(dims)
    if len(shifts) != len(dims):
        raise RuntimeError(f"roll: shifts and dimensions must align. shifts: {len(shifts)}, "
                           f"dims:{len(dims)}")
    out = input
    for s, dim in zip(shifts, dims):
        d = _dim(input, dim, "roll")
        n = input.shape[d]
        if n == 0 or s % n == 0:
            continue
        k = s % n
        out = _core.cat([_slice(out, d, n - k, n), _slice(out, d, 0, n - k)], d)
    return out


def movedim(input: Tensor, source: int | Sequence[int],  # noqa: A002
            destination: int | Sequence[int]) -> Tensor:
    """Move dimensions ``source`` to positions ``destination``; the others keep their order.

    >>> import tapegrad as tg
    >>> tg.movedim(tg.zeros(2, 3, 4), 0, -1).shape
    tapegrad.Size([3, 4, 2])
    """
    src = [source] if isinstance(source, int) else list(source)
    dst = [destination] if isinstance(destination, int) else list(destination)
    n = input.dim()
    src = [_dim(input, s, "movedim") for s in src]
    dst = [_dim(input, s, "movedim") for s in dst]
    if len(src) != len(dst) or len(set(src)) != len(src) or len(set(dst)) != len(dst):
        raise RuntimeError("movedim: Invalid source or destination dims")
    order: list[int | None] = [None] * n
    for s, t in zip(src, dst):
        order[t] = s
    rest = iter(i for i in range(n) if i not in src)
    perm = [o if o is not None else next(rest) for o in order]
    return input.permute(*perm)


def masked_fill(input: Tensor, mask: Tensor, value: Any) -> Tensor:  # noqa: A002
    """``value`` where the bool ``mask`` (broadcast to ``input``) is True, ``input`` elsewhere.

    >>> import tapegrad as tg
    >>> tg.masked_fill(tg.ones(3), tg.tensor([True, False, True]), 0.0).tolist()
    [0.0, 1.0, 0.0]
    """
    if not isinstance(mask, Tensor):
        raise TypeError(f"masked_fill(): argument 'mask' must be Tensor, not "
                        f"{type(mask).__name__}")
    if mask.dtype != _core.dtype.bool:
        raise TypeError(f"masked_fill only supports boolean masks, but got mask with dtype "
                        f"{mask.dtype!r}")
    if isinstance(value, Tensor) and value.dim() != 0:
        raise RuntimeError(f"masked_fill only supports a 0-dimensional value tensor, but got "
                           f"tensor with {value.dim()} dimension(s).")
    fill = value if isinstance(value, Tensor) else _core.full((), value, dtype=input.dtype)
    return _core.where(mask, fill.to(input.dtype), input)


@typed(input="Tensor", dim="ints?", correction="float")
def var(input: Tensor, dim: Any = None, *, correction: float = 1,  # noqa: A002
        keepdim: bool = False, unbiased: bool | None = None) -> Tensor:
    """The variance Σ(x − x̄)² / (N − correction) over ``dim`` (all elements when None).

    >>> import tapegrad as tg
    >>> tg.var(tg.tensor([1., 2., 3., 4.])).item(), tg.var(tg.tensor([1., 3.]), correction=0).item()
    (1.6666666269302368, 1.0)
    """
    if unbiased is not None:
        correction = 1 if unbiased else 0
    kw: dict[str, Any] = {} if dim is None else {"dim": dim, "keepdim": True}
    mean = input.mean(**kw) if dim is not None else input.mean()
    dev = input - mean
    n = input.numel() if dim is None else math.prod(
        input.shape[_dim(input, d, "var")] for d in ([dim] if isinstance(dim, int) else dim))
    total = (dev * dev).sum(dim=dim, keepdim=keepdim) if dim is not None else (dev * dev).sum()
    return total / max(n - correction, 0)


@typed(input="Tensor", dim="ints?", correction="float")
def std(input: Tensor, dim: Any = None, *, correction: float = 1,  # noqa: A002
        keepdim: bool = False, unbiased: bool | None = None) -> Tensor:
    """√var (same arguments as :func:`var`).

    >>> import tapegrad as tg
    >>> tg.std(tg.tensor([2., 4.]), correction=0).item()
    1.0
    """
    return var(input, dim, correction=correction, keepdim=keepdim, unbiased=unbiased).sqrt()


@typed(input="Tensor")
def isfinite(input: Tensor) -> Tensor:  # noqa: A002
    """True where the entry is neither infinite nor NaN.

    >>> import tapegrad as tg
    >>> tg.isfinite(tg.tensor([1., float('inf'), float('nan')])).tolist()
    [True, False, False]
    """
    return _core.logical_not(_core.logical_or(input.isinf(), input.isnan()))


@typed(input="Tensor", other="Tensor", rtol="float", atol="float")
def isclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,  # noqa: A002
            equal_nan: bool = False) -> Tensor:
    """``|a − b| ≤ atol + rtol·|b|`` elementwise (infinities equal only to themselves).

    >>> import tapegrad as tg
    >>> tg.isclose(tg.tensor([1., 2.]), tg.tensor([1., 2.1])).tolist()
    [True, False]
    """
    a, b = input.detach().double(), other.detach().double()
    close = _core.logical_or((a - b).abs() <= atol + rtol * b.abs(), a == b)
    if equal_nan:
        close = _core.logical_or(close, _core.logical_and(a.isnan(), b.isnan()))
    return close


@typed(input="Tensor", other="Tensor", rtol="float", atol="float")
def allclose(input: Tensor, other: Tensor, rtol: float = 1e-05, atol: float = 1e-08,  # noqa: A002
             equal_nan: bool = False) -> bool:
    """Whether :func:`isclose` holds everywhere.

    >>> import tapegrad as tg
    >>> tg.allclose(tg.tensor([1.]), tg.tensor([1.000001]))
    True
    """
    return bool(isclose(input, other, rtol, atol, equal_nan).all().item())


@typed(tensor="Tensor", num_classes="int")
def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """int64 class indices → int64 one-hot rows with ``num_classes`` columns (max + 1 if −1).

    >>> import tapegrad as tg
    >>> tg.nn.functional.one_hot(tg.tensor([0, 2]), 3).tolist()
    [[1, 0, 0], [0, 0, 1]]
    """
    if tensor.is_floating_point():
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes < 0:
        num_classes = int(tensor.max().item()) + 1 if tensor.numel() else 0
    if tensor.numel() and (int(tensor.min().item()) < 0
                           or int(tensor.max().item()) >= num_classes):
        raise RuntimeError("one_hot: Class values must be smaller than num_classes and "
                           "non-negative.")
    return (tensor.unsqueeze(-1) == _core.arange(num_classes)).long()


@typed(input="Tensor", p="p", dim="ints", eps="float")
def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12) -> Tensor:  # noqa: A002
    """x / max(‖x‖ₚ along ``dim``, eps).

    >>> import tapegrad as tg
    >>> tg.nn.functional.normalize(tg.tensor([[3., 4.]])).tolist()
    [[0.6000000238418579, 0.800000011920929]]
    """
    from ._legacy import norm

    return input / norm(input, p, dim, keepdim=True).clamp(min=eps)


# ----- Rounding, expm1 and the inverse trigonometric and hyperbolic functions: the values come
# from NumPy (rounding ties to even, as PyTorch); each backward is written with tapegrad ops,
# so it is itself differentiable. Rounding is piecewise constant: its gradient is zero (not an
# error), as in PyTorch.

def _check_tensor(op: str, x: Any, name: str = "input") -> Tensor:
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}(): argument '{name}' must be Tensor, not {type(x).__name__}")
    return x


def _check_int(op: str, v: Any, name: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{op}(): argument '{name}' must be int, not {type(v).__name__}")
    return v


def _float_input(op: str, x: Any) -> Tensor:
    x = _check_tensor(op, x)
    return x if x.is_floating_point() else x.float()


def _np_unary(name: str, values: Any, grad: Any, doc: str) -> Any:
    """A unary op whose forward is ``values`` (a NumPy function) and whose backward is
    ``grad(x, y, g)`` in tapegrad ops (None: a zero gradient)."""
    from .autograd import Function

    class _Op(Function):
        @staticmethod
        def forward(ctx: Any, x: Tensor) -> Tensor:
            ctx.save_for_backward(x)
            a = x.detach().numpy()
            return _core.tensor(np.asarray(values(a), dtype=a.dtype), dtype=x.dtype)

        @staticmethod
        def backward(ctx: Any, g: Tensor) -> Tensor:
            (x,) = ctx.saved_tensors
            if grad is None:
                return _core.zeros_like(g)
            return grad(x, g)

    _Op.__name__ = _Op.__qualname__ = name.capitalize() + "Backward0"

    def op(input: Tensor) -> Tensor:  # noqa: A002
        if grad is None and not _check_tensor(name, input).is_floating_point():
            return input.clone()  # integers are already whole (PyTorch keeps their dtype)
        return _Op.apply(_float_input(name, input))

    op.__name__ = op.__qualname__ = name
    op.__doc__ = doc
    return typed(input="Tensor")(op)


floor = _np_unary("floor", np.floor, None, """The largest integer ≤ x (gradient zero).

    >>> import tapegrad as tg
    >>> tg.floor(tg.tensor([-1.5, 1.5])).tolist()
    [-2.0, 1.0]
    """)
ceil = _np_unary("ceil", np.ceil, None, """The smallest integer ≥ x (gradient zero).

    >>> import tapegrad as tg
    >>> tg.ceil(tg.tensor([-1.5, 1.5])).tolist()
    [-1.0, 2.0]
    """)
trunc = _np_unary("trunc", np.trunc, None, """x rounded toward zero (gradient zero).

    >>> import tapegrad as tg
    >>> tg.trunc(tg.tensor([-1.5, 1.5])).tolist()
    [-1.0, 1.0]
    """)
expm1 = _np_unary("expm1", np.expm1, lambda x, g: g * x.exp(), """eˣ − 1, accurate for small x.

    >>> import tapegrad as tg
    >>> tg.expm1(tg.tensor([0.], dtype=tg.float64)).tolist()
    [0.0]
    """)
asin = _np_unary("asin", np.arcsin, lambda x, g: g / (1.0 - x * x).sqrt(), """arcsin x.

    >>> import tapegrad as tg
    >>> tg.asin(tg.tensor([0.])).tolist()
    [0.0]
    """)
acos = _np_unary("acos", np.arccos, lambda x, g: -g / (1.0 - x * x).sqrt(), """arccos x.

    >>> import tapegrad as tg
    >>> tg.acos(tg.tensor([1.])).tolist()
    [0.0]
    """)
atan = _np_unary("atan", np.arctan, lambda x, g: g / (1.0 + x * x), """arctan x.

    >>> import tapegrad as tg
    >>> tg.atan(tg.tensor([0.])).tolist()
    [0.0]
    """)
asinh = _np_unary("asinh", np.arcsinh, lambda x, g: g / (x * x + 1.0).sqrt(), """arsinh x.

    >>> import tapegrad as tg
    >>> tg.asinh(tg.tensor([0.])).tolist()
    [0.0]
    """)
acosh = _np_unary("acosh", np.arccosh, lambda x, g: g / (x * x - 1.0).sqrt(), """arcosh x.

    >>> import tapegrad as tg
    >>> tg.acosh(tg.tensor([1.])).tolist()
    [0.0]
    """)
atanh = _np_unary("atanh", np.arctanh, lambda x, g: g / (1.0 - x * x), """artanh x.

    >>> import tapegrad as tg
    >>> tg.atanh(tg.tensor([0.])).tolist()
    [0.0]
    """)


def _round(input: Tensor, decimals: int = 0) -> Tensor:  # noqa: A002
    """x rounded to ``decimals`` decimal places, ties to even (gradient zero).

    >>> import tapegrad as tg
    >>> tg.round(tg.tensor([0.5, 1.5, 2.5])).tolist(), tg.round(tg.tensor([1.25]), decimals=1).tolist()
    ([0.0, 2.0, 2.0], [1.2000000476837158])
    """
    _check_int("round", decimals, "decimals")
    if decimals == 0:
        return _round0(input)
    return _np_unary("round", lambda a: np.round(a, decimals), None, "")(input)


# exported as tapegrad.round; named round_ here because the module's doctests use the builtin
_round.__name__ = _round.__qualname__ = "round"
round_ = typed(input="Tensor", decimals="int")(_round)
_round0 = _np_unary("round", np.round, None, "")


@typed(input="Tensor")
def frac(input: Tensor) -> Tensor:  # noqa: A002
    """x − trunc(x), with x's gradient.

    >>> import tapegrad as tg
    >>> tg.frac(tg.tensor([-1.5, 2.25])).tolist()
    [-0.5, 0.25]
    """
    x = _float_input("frac", input)
    return x - trunc(x).detach()


@typed(input="Tensor", other="Tensor")
def atan2(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """The angle of the point (other, input): arctan(input / other) in the right quadrant;
    ∂/∂input = other / r², ∂/∂other = −input / r² (r² = input² + other²).

    >>> import tapegrad as tg
    >>> tg.atan2(tg.tensor([0.]), tg.tensor([-1.])).tolist()
    [3.1415927410125732]
    """
    from .autograd import Function

    y, x = _float_input("atan2", input), _float_input("atan2", other)

    class Atan2Backward0(Function):
        @staticmethod
        def forward(ctx: Any, a: Tensor, b: Tensor) -> Tensor:
            ctx.save_for_backward(a, b)
            va, vb = np.broadcast_arrays(a.detach().numpy(), b.detach().numpy())
            dt = np.result_type(va, vb)
            return _core.tensor(np.arctan2(va, vb).astype(dt), dtype=a.dtype if
                                a.dtype == b.dtype else _core.dtype.float64)

        @staticmethod
        def backward(ctx: Any, g: Tensor) -> tuple[Tensor, Tensor]:
            a, b = ctx.saved_tensors
            r2 = a * a + b * b
            return _unbroadcast(g * b / r2, a.shape), _unbroadcast(-g * a / r2, b.shape)

    return Atan2Backward0.apply(y, x)


def _unbroadcast(g: Tensor, shape: Any) -> Tensor:
    """Sum ``g`` down to ``shape`` (the reverse of broadcasting)."""
    shape = tuple(shape)
    while g.dim() > len(shape):
        g = g.sum(0)
    for i, n in enumerate(shape):
        if n == 1 and g.shape[i] != 1:
            g = g.sum(i, keepdim=True)
    return g


# ----- repeat and tile: each dimension becomes (repeats, size) through a broadcast (expand),
# then one reshape; the gradient is expand's, a sum over the copies.

def _repeat(input: Tensor, sizes: Sequence[int], op: str) -> Tensor:  # noqa: A002
    reps = [int(r) for r in sizes]
    if len(reps) < input.dim():
        raise RuntimeError(f"{op}: Number of dimensions of repeat dims ({len(reps)}) can not be "
                           f"smaller than number of dimensions of tensor ({input.dim()})")
    if any(r < 0 for r in reps):
        raise RuntimeError(f"{op}: Trying to create tensor with negative dimension: repeats "
                           f"{reps} for a tensor of shape {list(input.shape)}")
    shape = [1] * (len(reps) - input.dim()) + list(input.shape)
    inter = [d for n in shape for d in (1, n)]
    big = [d for r, n in zip(reps, shape) for d in (r, n)]
    return input.reshape(*inter).expand(*big).reshape(*[r * n for r, n in zip(reps, shape)])


@typed(input="Tensor", dims="ints")
def tile(input: Tensor, dims: Sequence[int]) -> Tensor:  # noqa: A002
    """``input`` repeated ``dims[i]`` times along each dimension; a shorter ``dims`` is padded
    with leading ones (a longer one adds leading dimensions, as :meth:`Tensor.repeat`).

    >>> import tapegrad as tg
    >>> tg.tile(tg.tensor([1, 2]), (2,)).tolist()
    [1, 2, 1, 2]
    """
    dims = [dims] if isinstance(dims, int) else list(dims)
    return _repeat(input, [1] * (input.dim() - len(dims)) + dims, "tile")


def _sizes_arg(op: str, name: str, sizes: tuple) -> list[int]:
    """``f(2, 3)``, ``f((2, 3))``, ``f([2, 3])`` or ``f(Size)`` → [2, 3] (PyTorch's forms)."""
    if not sizes:
        raise TypeError(f"{op}() missing 1 required positional arguments: \"{name}\"")
    reps = sizes[0] if len(sizes) == 1 and isinstance(sizes[0], Sequence) else sizes
    if isinstance(reps, Tensor) or not all(isinstance(r, int) and not isinstance(r, bool)
                                           for r in reps):
        raise TypeError(f"{op}(): argument '{name}' must be tuple of ints, got {sizes!r}")
    return list(reps)


def _repeat_method(self: Tensor, *sizes: Any) -> Tensor:
    """``x.repeat(*sizes)``: ``x`` repeated ``sizes[i]`` times along each dimension (more sizes
    than dimensions add leading dimensions).

    >>> import tapegrad as tg
    >>> tg.tensor([1, 2]).repeat(2, 2).tolist()
    [[1, 2, 1, 2], [1, 2, 1, 2]]
    """
    return _repeat(self, _sizes_arg("repeat", "repeats", sizes), "repeat")


def _tile_method(self: Tensor, *dims: Any) -> Tensor:
    return tile(self, _sizes_arg("tile", "dims", dims))


# ----- repeat_interleave: with an int, each entry becomes a broadcast row of copies (expand
# and one reshape, as repeat); with a tensor of counts, an index_select whose index repeats
# each position — its gradient is the indexing gather's, a sum over the copies.

def _repeat_counts(repeats: Tensor, op: str) -> np.ndarray:
    if repeats.dim() > 1:
        raise RuntimeError(f"{op}: repeats must be 0-dim or 1-dim tensor, got shape "
                           f"{list(repeats.shape)}")
    if repeats.is_floating_point() or repeats.dtype == _core.dtype.bool:
        raise RuntimeError(f"{op}: repeats must be an integer tensor, got {repeats.dtype}")
    # The result's shape comes from the counts' values: a compiled function cannot replay it.
    _core._capture_refuse(f"{op} with a tensor of counts gives a shape that depends on the data")
    counts = repeats.detach().numpy().reshape(-1).astype(np.int64)
    if (counts < 0).any():
        raise RuntimeError(f"{op}: repeats can not be negative")
    return counts


def repeat_interleave(input: Tensor, repeats: Any = None, dim: int | None = None, *,  # noqa: A002
                      output_size: int | None = None) -> Tensor:
    """Each entry of ``input`` along ``dim`` repeated ``repeats`` times (an int, or a tensor of
    one count per entry); the flattened input when ``dim`` is None. With only a tensor of
    counts, ``repeat_interleave(counts)`` repeats each position ``i`` ``counts[i]`` times.

    >>> import tapegrad as tg
    >>> tg.repeat_interleave(tg.tensor([[1, 2], [3, 4]]), 2, dim=0).tolist()
    [[1, 2], [1, 2], [3, 4], [3, 4]]
    >>> tg.tensor([5., 6.]).repeat_interleave(tg.tensor([1, 2])).tolist()
    [5.0, 6.0, 6.0]
    """
    op = "repeat_interleave"
    input = _check_tensor(op, input)  # noqa: A001
    if repeats is None:  # repeat_interleave(counts): positions 0..n-1, each counts[i] times
        counts = _repeat_counts(input, op)
        return _core.from_numpy(np.repeat(np.arange(counts.size, dtype=np.int64), counts))
    if dim is None:
        x, d = input.reshape(-1), 0
    else:
        x, d = input, _dim(input, _check_int(op, dim, "dim"), op)
        if input.dim() == 0:
            x = input.reshape(1)
    n = x.shape[d]
    if isinstance(repeats, Tensor):
        counts = _repeat_counts(repeats, op)
        if counts.size not in (1, n):
            raise RuntimeError(f"{op}: repeats must have the same size as input along dim, but "
                               f"got repeats.size(0) = {counts.size} and input.size({d}) = {n}")
        if counts.size != 1:
            total = int(counts.sum())
            if output_size is not None and output_size != total:
                raise RuntimeError(f"{op}: output_size ({output_size}) does not match the sum "
                                   f"of repeats ({total})")
            idx = _core.from_numpy(np.repeat(np.arange(n, dtype=np.int64), counts))
            return x[(slice(None),) * d + (idx,)]
        r = int(counts[0])
    else:
        r = _check_int(op, repeats, "repeats")
        if r < 0:
            raise RuntimeError(f"{op}: Repeats must be non-negative, got {r}")
    if output_size is not None and output_size != r * n:
        raise RuntimeError(f"{op}: output_size ({output_size}) does not match the sum of "
                           f"repeats ({r * n})")
    shape = list(x.shape)
    wide = shape[:d + 1] + [r] + shape[d + 1:]
    out = shape[:d] + [n * r] + shape[d + 1:]
    return x.unsqueeze(d + 1).expand(*wide).reshape(*out)


# ----- swapaxes and swapdims: PyTorch's aliases of transpose (NumPy's and its own names).

@typed(input="Tensor", axis0="int", axis1="int")
def swapaxes(input: Tensor, axis0: int, axis1: int) -> Tensor:  # noqa: A002
    """``transpose(input, axis0, axis1)`` (NumPy's name).

    >>> import tapegrad as tg
    >>> tg.swapaxes(tg.zeros(2, 3, 4), 0, 2).shape
    tapegrad.Size([4, 3, 2])
    """
    return input.transpose(axis0, axis1)


@typed(input="Tensor", dim0="int", dim1="int")
def swapdims(input: Tensor, dim0: int, dim1: int) -> Tensor:  # noqa: A002
    """``transpose(input, dim0, dim1)``.

    >>> import tapegrad as tg
    >>> tg.swapdims(tg.zeros(2, 3), 0, 1).shape
    tapegrad.Size([3, 2])
    """
    return input.transpose(dim0, dim1)


# ----- prod and cumprod: products written with mul only, so every gradient is the product
# rule — exact when the input holds zeros (∂/∂x_i of Π x is the product of the others: with one
# zero only the zero's entry is non-zero, with two or more every entry is 0), which PyTorch's
# formulas reach by special cases, and differentiable again (second derivatives).
#   prod: a pairwise tree, ⌈log₂ n⌉ levels of (first half) · (second half), an odd leftover
#         carried to the next level;
#   cumprod: a Hillis–Steele scan, ⌈log₂ n⌉ levels of y[i] ← y[i] · y[i − s], s = 1, 2, 4, …
# Each level is a few recorded ops over the whole tensor (O(n log n) work for cumprod), not one
# op per element.

def _product_input(op: str, input: Any, dtype: Any) -> Tensor:  # noqa: A002
    from ._dtypes import check_dtype

    x = _check_tensor(op, input)
    check_dtype(op, dtype)
    if dtype is not None:
        return x.to(dtype)
    return x if x.is_floating_point() else x.long()  # integers and bools multiply as int64


def _prod_along(x: Tensor, d: int) -> Tensor:
    """Π over dim ``d`` of ``x`` (keeping it as size 1)."""
    n = x.shape[d]
    if n == 0:  # the empty product: 1, still connected to x (its gradient is empty)
        return x.sum(d, keepdim=True) * 0 + 1
    while n > 1:
        h = n // 2
        y = _slice(x, d, 0, h) * _slice(x, d, h, 2 * h)
        x = _core.cat([y, _slice(x, d, 2 * h, n)], d) if n % 2 else y
        n = x.shape[d]
    return x


def prod(input: Tensor, dim: int | None = None, keepdim: bool = False, *,  # noqa: A002
         dtype: Any = None) -> Tensor:
    """The product of all elements, or along ``dim`` (kept as size 1 with ``keepdim``);
    integer and bool inputs give int64. The gradient is exact with zeros in the input.

    >>> import tapegrad as tg
    >>> tg.prod(tg.tensor([[1., 2.], [3., 4.]])).item()
    24.0
    >>> tg.tensor([[1., 2.], [3., 0.]]).prod(1).tolist()
    [2.0, 0.0]
    """
    x = _product_input("prod", input, dtype)
    if dim is None:
        return _prod_along(x.reshape(-1), 0).reshape(())
    d = _dim(x, _check_int("prod", dim, "dim"), "prod")
    if x.dim() == 0:
        return x.clone()
    out = _prod_along(x, d)
    return out if keepdim else out.squeeze(d)


def cumprod(input: Tensor, dim: int, *, dtype: Any = None) -> Tensor:  # noqa: A002
    """Running products along ``dim``: ``out[i] = x[0]·x[1]·…·x[i]``; integer and bool inputs
    give int64. The gradient is exact with zeros in the input.

    >>> import tapegrad as tg
    >>> tg.cumprod(tg.tensor([1., 2., 3., 0., 5.]), 0).tolist()
    [1.0, 2.0, 6.0, 0.0, 0.0]
    """
    x = _product_input("cumprod", input, dtype)
    d = _dim(x, _check_int("cumprod", dim, "dim"), "cumprod")
    if x.dim() == 0:
        return x.clone()
    n, s, y = x.shape[d], 1, x
    while s < n:
        y = _core.cat([_slice(y, d, 0, s), _slice(y, d, s, n) * _slice(y, d, 0, n - s)], d)
        s *= 2
    return y if n > 1 else y.clone()


FUNCTIONS = ["square", "reciprocal", "rsqrt", "log2", "log10", "outer", "narrow", "split",
             "chunk", "unbind", "index_select", "flip", "roll", "movedim", "masked_fill", "var",
             "std", "isfinite", "isclose", "allclose",
             # rounding, expm1, inverse trigonometric and hyperbolic functions
             "floor", "ceil", "round", "trunc", "frac", "expm1", "asin", "acos", "atan", "asinh",
             "acosh", "atanh", "atan2",
             # repeat, tile, repeat_interleave, swapaxes/swapdims, prod, cumprod
             "tile", "repeat_interleave", "swapaxes", "swapdims", "prod", "cumprod"]

# Functions above whose argument checks refuse vmap's batched tensors: under vmap they raise
# "vmap: no batch rule for '<name>'" (tapegrad/func_vmap.py) rather than a TypeError.
NO_BATCH_RULE = ["tile", "repeat_interleave", "swapaxes", "swapdims", "prod", "cumprod"]


def install() -> None:
    T = Tensor
    T.square = lambda self: square(self)
    T.reciprocal = lambda self: reciprocal(self)
    T.rsqrt = lambda self: rsqrt(self)
    T.log2 = lambda self: log2(self)
    T.log10 = lambda self: log10(self)
    T.outer = lambda self, vec2: outer(self, vec2)
    T.narrow = lambda self, dim, start, length: narrow(self, dim, start, length)
    T.split = lambda self, split_size, dim=0: split(self, split_size, dim)
    T.chunk = lambda self, chunks, dim=0: chunk(self, chunks, dim)
    T.unbind = lambda self, dim=0: unbind(self, dim)
    T.index_select = lambda self, dim, index: index_select(self, dim, index)
    T.flip = lambda self, *dims: flip(self, dims[0] if len(dims) == 1 else list(dims))
    T.roll = lambda self, shifts, dims=None: roll(self, shifts, dims)
    T.movedim = lambda self, source, destination: movedim(self, source, destination)
    T.masked_fill = lambda self, mask, value: masked_fill(self, mask, value)
    T.var = lambda self, dim=None, *, correction=1, keepdim=False, unbiased=None: var(
        self, dim, correction=correction, keepdim=keepdim, unbiased=unbiased)
    T.std = lambda self, dim=None, *, correction=1, keepdim=False, unbiased=None: std(
        self, dim, correction=correction, keepdim=keepdim, unbiased=unbiased)
    T.isfinite = lambda self: isfinite(self)
    T.isclose = lambda self, other, rtol=1e-05, atol=1e-08, equal_nan=False: isclose(
        self, other, rtol, atol, equal_nan)
    T.allclose = lambda self, other, rtol=1e-05, atol=1e-08, equal_nan=False: allclose(
        self, other, rtol, atol, equal_nan)
    # rounding, expm1, inverse trigonometric and hyperbolic functions
    for name in ("floor", "ceil", "trunc", "frac", "expm1", "asin", "acos", "atan", "asinh",
                 "acosh", "atanh"):
        setattr(T, name, (lambda f: lambda self: f(self))(globals()[name]))
    T.round = lambda self, decimals=0: round_(self, decimals=decimals)
    T.atan2 = lambda self, other: atan2(self, other)
    T.arctan2 = T.atan2
    # repeat, tile, repeat_interleave, swapaxes/swapdims, prod, cumprod
    T.tile = _tile_method
    T.repeat = _repeat_method
    T.repeat_interleave = lambda self, repeats=None, dim=None, *, output_size=None: \
        repeat_interleave(self, repeats, dim, output_size=output_size)
    T.swapaxes = lambda self, axis0, axis1: swapaxes(self, axis0, axis1)
    T.swapdims = lambda self, dim0, dim1: swapdims(self, dim0, dim1)
    T.prod = lambda self, dim=None, keepdim=False, *, dtype=None: prod(self, dim, keepdim,
                                                                       dtype=dtype)
    T.cumprod = lambda self, dim, *, dtype=None: cumprod(self, dim, dtype=dtype)
    for name in FUNCTIONS:  # arity errors name the method, as PyTorch's do (not "<lambda>")
        getattr(T, name).__name__ = getattr(T, name).__qualname__ = name



# Composites of several ops compute float16 in float32 and round once (Note [storage dtypes]).
def _widen_half_composites() -> None:
    from ._dtypes import half_via_float32

    for name in ("rsqrt", "log2", "log10", "var", "std", "normalize", "atan2", "prod",
                 "cumprod", "outer"):
        globals()[name] = half_via_float32(globals()[name])


_widen_half_composites()
