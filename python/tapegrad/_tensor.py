"""Python-side conveniences attached to the C++ Tensor: repr, formatting, NumPy protocol,
iteration and the named tuples returned by max/min. Nothing here is on a hot path."""

from __future__ import annotations

import math
from collections import namedtuple

import numpy as np

from . import _core

Tensor = _core.Tensor


_DTYPE_NAMES = {
    _core.dtype.float32: "float32",
    _core.dtype.float64: "float64",
    _core.dtype.int64: "int64",
    _core.dtype.bool: "bool",
}


def _dtype_repr(d) -> str:
    return "tapegrad." + _DTYPE_NAMES[d]


_core.dtype.__repr__ = _dtype_repr
_core.dtype.__str__ = _dtype_repr


class Size(tuple):
    """The shape of a tensor: a tuple that prints like PyTorch's ``torch.Size``."""

    def __repr__(self) -> str:
        return f"tapegrad.Size({list(self)})"

    def numel(self) -> int:
        return math.prod(self)


_core._register_size_type(Size)

return_types_max = namedtuple("max", ["values", "indices"])
return_types_min = namedtuple("min", ["values", "indices"])


def _max(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
    r = self._max(dim, keepdim, axis=axis, keepdims=keepdims)
    return return_types_max(*r) if isinstance(r, tuple) else r


def _min(self, dim=None, keepdim=False, *, axis=None, keepdims=None):
    r = self._min(dim, keepdim, axis=axis, keepdims=keepdims)
    return return_types_min(*r) if isinstance(r, tuple) else r


# ----- repr like PyTorch's ------------------------------------------------------------------
def _format_floats(values: np.ndarray):
    finite = values[np.isfinite(values)]
    if finite.size == 0:
        return lambda v: _special(v) or f"{v:.4f}", 0
    amax = float(np.abs(finite).max())
    amin = float(np.abs(finite).min())
    ints = np.all(finite == np.round(finite))
    if ints and amax < 1e8:
        width = max(len(f"{v:.0f}.") for v in finite)

        def fmt(v):
            return _special(v) or f"{v:.0f}."

        return fmt, width
    if amax >= 1e8 or (amin > 0 and amin < 1e-4) or (amin > 0 and amax / amin > 1000.0 and amax > 1e3):
        def fmt(v):
            return _special(v) or f"{v:.4e}"

        return fmt, max(len(fmt(v)) for v in finite)

    def fmt(v):
        return _special(v) or f"{v:.4f}"

    return fmt, max(len(fmt(v)) for v in finite)


def _special(v):
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return None


def _body(a: np.ndarray, indent: int) -> str:
    if a.dtype == np.bool_:
        fmt, width = (lambda v: "True" if v else "False"), 5
    elif a.dtype.kind == "i":
        width = max((len(str(int(v))) for v in a.flat), default=1)
        fmt = lambda v: str(int(v))  # noqa: E731
    else:
        fmt, width = _format_floats(a.astype(np.float64).ravel())

    def rec(x, ind):
        if x.ndim == 0:
            return fmt(x.item())
        if x.ndim == 1:
            items = [fmt(v).rjust(width) for v in x.tolist()]
            if len(items) > 1000:
                items = items[:3] + ["..."] + items[-3:]
            return "[" + ", ".join(items) + "]"
        rows = [rec(r, ind + 1) for r in x]
        sep = "," + "\n" * (x.ndim - 1) + " " * (ind + 1)
        return "[" + sep.join(rows) + "]"

    if a.size > 1000 and a.ndim >= 1:
        # Summarise big tensors as PyTorch does (first and last rows).
        return rec(a, indent) if a.ndim == 1 else _summary(a, indent, rec)
    return rec(a, indent)


def _summary(a, indent, rec):
    if a.shape[0] <= 6:
        rows = [rec(r, indent + 1) for r in a]
    else:
        rows = [rec(r, indent + 1) for r in a[:3]] + ["..."] + [rec(r, indent + 1) for r in a[-3:]]
    sep = "," + "\n" * (a.ndim - 1) + " " * (indent + 1)
    return "[" + sep.join(rows) + "]"


def _repr(self) -> str:
    a = self._numpy_view()
    body = _body(a, len("tensor("))
    extras = []
    if a.size == 0 and a.ndim != 1 or (a.size == 0 and a.ndim == 1 and False):
        extras.append(f"size={tuple(a.shape)}")
    if self.dtype not in (_core.dtype.float32, _core.dtype.int64, _core.dtype.bool):
        extras.append(f"dtype=tapegrad.{_DTYPE_NAMES[self.dtype]}")
    if self.grad_fn is not None:
        extras.append(f"grad_fn=<{self.grad_fn}>")
    elif self.requires_grad:
        extras.append("requires_grad=True")
    return "tensor(" + body + "".join(", " + e for e in extras) + ")"


def _format(self, spec: str) -> str:
    if self.numel() == 1 and self.ndim == 0:
        return format(self.item(), spec)
    return format(repr(self), spec)


def _array(self, dtype=None, copy=None):
    a = self._numpy_view()
    if dtype is not None:
        a = a.astype(dtype, copy=False)
    return np.array(a, copy=True) if copy else a


def _iter(self):
    if self.ndim == 0:
        raise TypeError("iteration over a 0-d tensor")
    for i in range(len(self)):
        yield self[i]


def _tolist(self):
    return self._numpy_view().tolist()


def _deepcopy(self, memo):
    t = self.detach().clone()
    if self.requires_grad and self.is_leaf:
        t.requires_grad_(True)
    if self.grad is not None:
        t.grad = self.grad.detach().clone()
    memo[id(self)] = t
    return t


def _reduce(self):
    return (_rebuild, (self.detach()._numpy_view().copy(), self.requires_grad))


def _rebuild(array, requires_grad):
    t = _core.tensor(array)
    if requires_grad:
        t.requires_grad_(True)
    return t


def _element_size(self) -> int:
    return self.dtype.itemsize


def _new_tensor(self, data, dtype=None, requires_grad=False):
    return _core.tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)


def _all(self, dim=None, keepdim=False):
    """True where every element (along ``dim``) is nonzero; a bool tensor."""
    return (~self.bool()).long().sum(dim, keepdim) == 0


def _any(self, dim=None, keepdim=False):
    """True where some element (along ``dim``) is nonzero; a bool tensor."""
    return self.bool().long().sum(dim, keepdim) > 0


def _clip(self, min=None, max=None):  # noqa: A002 - PyTorch's names
    return self.clamp(min, max)


Tensor.max = _max
Tensor.min = _min
Tensor.__repr__ = _repr
Tensor.__str__ = _repr
Tensor.__format__ = _format
Tensor.__array__ = _array
Tensor.__array_priority__ = 1000
Tensor.__iter__ = _iter
Tensor.__deepcopy__ = _deepcopy
Tensor.__reduce__ = _reduce
Tensor.tolist = _tolist
Tensor.element_size = _element_size
Tensor.new_tensor = _new_tensor
Tensor.clip = _clip
Tensor.all = _all
Tensor.any = _any
Tensor.__module__ = "tapegrad"
