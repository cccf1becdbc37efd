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
    if mask.dtype != _core.dtype.bool:
        raise TypeError(f"masked_fill only supports boolean masks, but got mask with dtype "
                        f"{mask.dtype!r}")
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
        raise RuntimeError(f"{op}: repeats must be non-negative, got {reps}")
    shape = [1] * (len(reps) - input.dim()) + list(input.shape)
    inter = [d for n in shape for d in (1, n)]
    big = [d for r, n in zip(reps, shape) for d in (r, n)]
    return input.reshape(*inter).expand(*big).reshape(*[r * n for r, n in zip(reps, shape)])


@typed(input="Tensor", dims="ints")
def tile(input: Tensor, dims: Sequence[int]) -> Tensor:  # noqa: A002
    """``input`` repeated ``dims[i]`` times along each dimension; a shorter ``dims`` is padded
    with leading ones.

    >>> import tapegrad as tg
    >>> tg.tile(tg.tensor([1, 2]), (2,)).tolist()
    [1, 2, 1, 2]
    """
    dims = list(dims)
    return _repeat(input, [1] * (input.dim() - len(dims)) + dims, "tile")


FUNCTIONS = ["square", "reciprocal", "rsqrt", "log2", "log10", "outer", "narrow", "split",
             "chunk", "unbind", "index_select", "flip", "roll", "movedim", "masked_fill", "var",
             "std", "isfinite", "isclose", "allclose",
             # rounding, expm1, inverse trigonometric and hyperbolic functions
             "floor", "ceil", "round", "trunc", "frac", "expm1", "asin", "acos", "atan", "asinh",
             "acosh", "atanh", "atan2",
             # repeat and tile
             "tile"]


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
    T.tile = lambda self, *dims: tile(self, dims[0] if len(dims) == 1 and not isinstance(
        dims[0], int) else list(dims))
    T.repeat = _repeat_method
    for name in FUNCTIONS:  # arity errors name the method, as PyTorch's do (not "<lambda>")
        getattr(T, name).__name__ = getattr(T, name).__qualname__ = name


def _repeat_method(self: Tensor, *sizes: Any) -> Tensor:
    """``x.repeat(*sizes)``: ``x`` repeated ``sizes[i]`` times along each dimension."""
    reps = sizes[0] if len(sizes) == 1 and not isinstance(sizes[0], int) else sizes
    if isinstance(reps, Tensor) or not all(isinstance(r, int) and not isinstance(r, bool)
                                           for r in reps):
        raise TypeError(f"repeat(): argument 'repeats' must be a tuple of ints, got {sizes!r}")
    return _repeat(self, list(reps), "repeat")
