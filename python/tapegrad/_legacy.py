"""PyTorch's everyday surface beyond the op table: dtype names tapegrad cannot store, the legacy
typed constructors, ``.data``, ``new_*`` and a few composite functions (``meshgrid``, ``sinh``,
``cosh``) written with differentiable ops.

>>> import tapegrad as tg
>>> tg.FloatTensor([1, 2]), tg.LongTensor(2).shape
(tensor([1., 2.]), tapegrad.Size([2]))
>>> x = tg.ones(2, requires_grad=True)
>>> x.data.requires_grad, x.new_zeros(3)
(False, tensor([0., 0., 0.]))
"""

from __future__ import annotations

import builtins
from typing import Any

from . import _core
from ._dtypes import (  # noqa: F401 - re-exported as tapegrad.int32, ...
    UnsupportedDtype,
    bfloat16,
    check_dtype,
    float16,
    int8,
    int16,
    int32,
    uint8,
    unsupported,
)
from ._validation import typed

Tensor = _core.Tensor
_STORED = (_core.dtype.float32, _core.dtype.float64, _core.dtype.int64, _core.dtype.bool,
           _core.dtype.int32, _core.dtype.int16, _core.dtype.int8, _core.dtype.uint8,
           _core.dtype.float16)


def get_default_dtype() -> Any:
    """The dtype of floating-point tensors made from Python floats: float32.

    >>> import tapegrad as tg
    >>> tg.get_default_dtype()
    tapegrad.float32
    """
    return _core.dtype.float32


def set_default_dtype(d: Any) -> None:
    """Only float32 (the default) is accepted: creation functions make float32 tensors from
    Python floats and have no switch for that.

    >>> import tapegrad as tg
    >>> tg.set_default_dtype(tg.float32); tg.tensor([1.0]).dtype
    tapegrad.float32
    """
    if d is not _core.dtype.float32:
        raise NotImplementedError(
            f"set_default_dtype({d!r}): tapegrad's default floating dtype is fixed at float32; "
            f"pass dtype= to the creation function instead")


# ----- legacy typed constructors: FloatTensor([1, 2]), LongTensor(2, 3) -----------------------
class _LegacyType(type):
    _dtype: Any

    def __call__(cls, *args: Any) -> Tensor:
        if len(args) == 1 and not isinstance(args[0], (builtins.int, builtins.float)) \
                and not isinstance(args[0], tuple):
            data = args[0]
            if isinstance(data, Tensor):
                return data.to(cls._dtype)
            return _core.tensor(data, dtype=cls._dtype)
        sizes = args[0] if len(args) == 1 and isinstance(args[0], tuple) else args
        return _core.empty(tuple(sizes), dtype=cls._dtype)

    def __instancecheck__(cls, obj: object) -> bool:
        return isinstance(obj, Tensor) and obj.dtype == cls._dtype


def tensor_new(*args: Any, **kwargs: Any) -> Tensor:
    """``Tensor(data)`` / ``Tensor(*sizes)`` / ``Tensor()``: PyTorch's legacy constructor,
    float32 (called by ``Tensor.__init__``; ``device=`` may name the CPU)."""
    from ._device import _check_device

    _check_device(kwargs.pop("device", None), "Tensor")
    if kwargs:
        raise TypeError(f"Tensor(): unexpected keyword argument {next(iter(kwargs))!r}")
    return FloatTensor(*args) if args else _core.empty((0,))


class FloatTensor(metaclass=_LegacyType):
    """``FloatTensor(data)`` → a float32 tensor of ``data``; ``FloatTensor(*sizes)`` → an
    uninitialised one of that shape. ``isinstance(t, FloatTensor)`` checks the dtype.

    >>> import tapegrad as tg
    >>> tg.FloatTensor([1, 2]), tg.FloatTensor(2, 3).shape, isinstance(tg.ones(1), tg.FloatTensor)
    (tensor([1., 2.]), tapegrad.Size([2, 3]), True)
    """

    _dtype = _core.dtype.float32


class DoubleTensor(metaclass=_LegacyType):
    """As :class:`FloatTensor`, float64.

    >>> import tapegrad as tg
    >>> tg.DoubleTensor([1]).dtype
    tapegrad.float64
    """

    _dtype = _core.dtype.float64


class LongTensor(metaclass=_LegacyType):
    """As :class:`FloatTensor`, int64.

    >>> import tapegrad as tg
    >>> tg.LongTensor([1.7]).tolist()
    [1]
    """

    _dtype = _core.dtype.int64


class BoolTensor(metaclass=_LegacyType):
    """As :class:`FloatTensor`, bool.

    >>> import tapegrad as tg
    >>> tg.BoolTensor([0, 2]).tolist()
    [False, True]
    """

    _dtype = _core.dtype.bool


# The storage dtypes' legacy constructors (Note [storage dtypes] in cpp/src/tensor.cpp).
class IntTensor(metaclass=_LegacyType):
    """As :class:`FloatTensor`, int32.

    >>> import tapegrad as tg
    >>> tg.IntTensor([1.7, -2]).tolist()
    [1, -2]
    """

    _dtype = _core.dtype.int32


class ShortTensor(metaclass=_LegacyType):
    """As :class:`FloatTensor`, int16.

    >>> import tapegrad as tg
    >>> tg.ShortTensor([3]).dtype
    tapegrad.int16
    """

    _dtype = _core.dtype.int16


class CharTensor(metaclass=_LegacyType):
    """As :class:`FloatTensor`, int8.

    >>> import tapegrad as tg
    >>> tg.CharTensor([-3]).dtype
    tapegrad.int8
    """

    _dtype = _core.dtype.int8


class ByteTensor(metaclass=_LegacyType):
    """As :class:`FloatTensor`, uint8.

    >>> import tapegrad as tg
    >>> tg.ByteTensor([255]).tolist()
    [255]
    """

    _dtype = _core.dtype.uint8


class HalfTensor(metaclass=_LegacyType):
    """As :class:`FloatTensor`, float16.

    >>> import tapegrad as tg
    >>> tg.HalfTensor([0.1]).item()
    0.0999755859375
    """

    _dtype = _core.dtype.float16


# ----- composites built from differentiable ops -----------------------------------------------
def meshgrid(*tensors: Any, indexing: str = "ij") -> tuple[Tensor, ...]:
    """Coordinate grids from 1-D tensors (``indexing="ij"``, PyTorch's default, or ``"xy"``);
    differentiable (each grid is a reshape then broadcast of its input).

    >>> import tapegrad as tg
    >>> X, Y = tg.meshgrid(tg.arange(2), tg.arange(3), indexing="ij")
    >>> X.tolist(), Y.tolist()
    ([[0, 0, 0], [1, 1, 1]], [[0, 1, 2], [0, 1, 2]])
    """
    if len(tensors) == 1 and isinstance(tensors[0], (list, tuple)):
        tensors = tuple(tensors[0])
    if indexing not in ("ij", "xy"):
        raise ValueError(f"meshgrid: indexing must be 'ij' or 'xy', got {indexing!r}")
    for t in tensors:
        if not isinstance(t, Tensor) or t.dim() > 1:
            raise ValueError("meshgrid: expects 0-D or 1-D tensors")
    ts = [t.reshape(-1) for t in tensors]
    swap = indexing == "xy" and len(ts) >= 2
    if swap:
        ts[0], ts[1] = ts[1], ts[0]
    shape = tuple(t.shape[0] for t in ts)
    n = len(ts)
    grids = [t.reshape(tuple(-1 if j == i else 1 for j in range(n))).expand(*shape)
             for i, t in enumerate(ts)]
    if swap:  # "xy" is "ij" on (y, x, ...) with the first two grids handed back swapped
        grids[0], grids[1] = grids[1], grids[0]
    return tuple(grids)


@typed(input="Tensor")
def sinh(input: Tensor) -> Tensor:  # noqa: A002
    """sinh(x) = (eˣ − e⁻ˣ)/2, differentiable through exp.

    >>> import tapegrad as tg
    >>> round(tg.sinh(tg.tensor([1.0], dtype=tg.float64)).item(), 6)
    1.175201
    """
    x = input if input.is_floating_point() else input.float()  # −x of uint8 would wrap
    return (x.exp() - (-x).exp()) * 0.5


@typed(input="Tensor")
def cosh(input: Tensor) -> Tensor:  # noqa: A002
    """cosh(x) = (eˣ + e⁻ˣ)/2, differentiable through exp.

    >>> import tapegrad as tg
    >>> round(tg.cosh(tg.tensor([1.0], dtype=tg.float64)).item(), 6)
    1.543081
    """
    x = input if input.is_floating_point() else input.float()
    return (x.exp() + (-x).exp()) * 0.5


# ----- Tensor methods -------------------------------------------------------------------------
def _new_kw(self: Tensor, dtype: Any) -> Any:
    check_dtype("new_*", dtype)
    return self.dtype if dtype is None else dtype


def _sizes(size: Any) -> tuple:
    if len(size) == 1 and isinstance(size[0], (tuple, list)):
        return tuple(size[0])
    return tuple(size)


def install() -> None:
    from ._device import _check_device

    T = Tensor
    core_to = T.to

    # .data (getter and setter) is bound in C++: Note [.data] in cpp/src/bindings/tensor.cpp.
    def new_tensor(self, data, dtype=None, device=None, requires_grad=False):
        _check_device(device, "new_tensor")
        return _core.tensor(data, dtype=_new_kw(self, dtype), requires_grad=requires_grad)

    def make(fill):
        def new(self, *size, dtype=None, device=None, requires_grad=False, pin_memory=False):
            _check_device(device, "new_*")
            out = fill(_sizes(size), _new_kw(self, dtype))
            return out.requires_grad_() if requires_grad else out
        return new

    T.new_zeros = make(lambda s, d: _core.zeros(s, dtype=d))
    T.new_ones = make(lambda s, d: _core.ones(s, dtype=d))
    T.new_empty = make(lambda s, d: _core.empty(s, dtype=d))

    def new_full(self, size, fill_value, dtype=None, device=None, requires_grad=False,
                 pin_memory=False):
        _check_device(device, "new_full")
        return _core.full(tuple(size), fill_value, dtype=_new_kw(self, dtype),
                          requires_grad=requires_grad)

    T.new_full = new_full

    T.sinh = lambda self: sinh(self)
    T.cosh = lambda self: cosh(self)
    del core_to
    _install_composites()


# ----- reductions and products the preliminaries chapters use (composites) ---------------------
@typed(input="Tensor", dim="int?", axis="int?")
def cumsum(input: Tensor, dim: int | None = None, *, dtype: Any = None,  # noqa: A002
           axis: int | None = None) -> Tensor:
    """Running sums along ``dim``: a product with an upper-triangular matrix of ones, so it is
    differentiable for floating tensors (integer and bool tensors are summed in NumPy, as they
    carry no gradient).

    >>> import tapegrad as tg
    >>> tg.cumsum(tg.tensor([[1., 2.], [3., 4.]]), dim=0).tolist()
    [[1.0, 2.0], [4.0, 6.0]]
    """
    check_dtype("cumsum", dtype)
    if dim is None:
        if axis is None:
            raise TypeError("cumsum() missing required argument 'dim'")
        dim = axis
    x = input if dtype is None else input.to(dtype)
    nd = max(x.dim(), 1)
    if not isinstance(dim, int) or isinstance(dim, bool) or not -nd <= dim < nd:
        if not isinstance(dim, int) or isinstance(dim, bool):
            raise TypeError(f"cumsum(): argument 'dim' must be int, not {type(dim).__name__}")
        raise IndexError(f"cumsum: Dimension out of range (expected to be in range of "
                         f"[{-nd}, {nd - 1}], but got {dim})")
    if x.dim() == 0:
        return x.clone()
    d = dim % x.dim()
    if not x.is_floating_point():
        import numpy as np

        return _core.from_numpy(np.ascontiguousarray(np.cumsum(x.numpy(), axis=d)))
    n = x.shape[d]
    tri = _core.ones((n, n), dtype=x.dtype).triu() if hasattr(Tensor, "triu") else None
    if tri is None:
        import numpy as np

        tri = _core.from_numpy(np.triu(np.ones((n, n)))).to(x.dtype)
    return (x.transpose(d, -1) @ tri).transpose(d, -1)


@typed(input="Tensor", other="Tensor")
def dot(input: Tensor, other: Tensor) -> Tensor:  # noqa: A002
    """Inner product of two 1-D tensors of the same length.

    >>> import tapegrad as tg
    >>> tg.dot(tg.tensor([1., 2.]), tg.tensor([3., 4.])).item()
    11.0
    """
    if input.dim() != 1 or other.dim() != 1:
        raise RuntimeError(f"1D tensors expected, but got {input.dim()}D and {other.dim()}D tensors")
    if input.shape[0] != other.shape[0]:
        raise RuntimeError(f"inconsistent tensor size, expected tensor [{input.shape[0]}] and src "
                           f"[{other.shape[0]}] to have the same number of elements, but got "
                           f"{input.shape[0]} and {other.shape[0]} elements respectively")
    return (input * other).sum()


@typed(input="Tensor", vec="Tensor")
def mv(input: Tensor, vec: Tensor) -> Tensor:  # noqa: A002
    """Matrix × vector: ``input`` (n, m), ``vec`` (m,) → (n,).

    >>> import tapegrad as tg
    >>> tg.mv(tg.eye(2), tg.tensor([3., 4.])).tolist()
    [3.0, 4.0]
    """
    if input.dim() != 2 or vec.dim() != 1:
        raise RuntimeError(f"vector + matrix @ vector expected, got {input.dim()}, {vec.dim()}")
    return input @ vec


@typed(input="Tensor", p="p", dim="ints?")
def norm(input: Tensor, p: Any = "fro", dim: Any = None, keepdim: bool = False,  # noqa: A002
         dtype: Any = None) -> Tensor:
    """The p-norm (``p=2``/``"fro"`` by default) of all elements, or along ``dim``.

    >>> import tapegrad as tg
    >>> tg.norm(tg.tensor([3., -4.])).item(), tg.tensor([3., -4.]).norm(p=1).item()
    (5.0, 7.0)
    """
    check_dtype("norm", dtype)
    x = input if dtype is None else input.to(dtype)
    kw: dict[str, Any] = {} if dim is None else {"dim": dim, "keepdim": keepdim}
    if p in ("fro", 2, 2.0):
        return (x * x).sum(**kw).sqrt()
    if p == float("inf"):
        return x.abs().amax(**kw) if dim is not None else x.abs().max()
    if p == 1:
        return x.abs().sum(**kw)
    return (x.abs() ** p).sum(**kw) ** (1.0 / p)


def _install_composites() -> None:
    Tensor.cumsum = lambda self, dim=None, *, dtype=None, axis=None: cumsum(self, dim, dtype=dtype, axis=axis)
    Tensor.dot = lambda self, other: dot(self, other)
    Tensor.mv = lambda self, vec: mv(self, vec)
    Tensor.norm = lambda self, p="fro", dim=None, keepdim=False, dtype=None: norm(
        self, p, dim, keepdim, dtype)
    for name in ("cumsum", "dot", "mv", "norm", "sinh", "cosh"):
        getattr(Tensor, name).__name__ = getattr(Tensor, name).__qualname__ = name


# Composites of several ops compute float16 in float32 and round once (Note [storage dtypes]).
def _widen_half_composites() -> None:
    from ._dtypes import half_via_float32

    for name in ("sinh", "cosh", "cumsum", "dot", "mv", "norm"):
        globals()[name] = half_via_float32(globals()[name])


_widen_half_composites()
