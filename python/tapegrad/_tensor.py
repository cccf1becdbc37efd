"""Python-side conveniences attached to the C++ Tensor: repr, formatting, NumPy protocol,
iteration, and the named tuples that max/min return (registered with the engine). Nothing here is on a hot path."""

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
    _core.dtype.int32: "int32",
    _core.dtype.int16: "int16",
    _core.dtype.int8: "int8",
    _core.dtype.uint8: "uint8",
    _core.dtype.float16: "float16",
}


def _lib_name() -> str:
    """How reprs name the library: ``torch`` when the user's code calls tapegrad so —
    ``import tapegrad as torch`` in the script or notebook being run, or ``tapegrad`` installed
    as ``sys.modules['torch']`` — so course code prints PyTorch's ``torch.Size([2, 3])`` and
    ``torch.float64``; else ``tapegrad``."""
    import sys

    me = sys.modules.get("tapegrad")
    if sys.modules.get("torch") is me:
        return "torch"
    main = sys.modules.get("__main__")
    if main is not None and getattr(main, "torch", None) is me:
        return "torch"
    return "tapegrad"


def _dtype_repr(d) -> str:
    return _lib_name() + "." + _DTYPE_NAMES[d]


_core.dtype.__repr__ = _dtype_repr
_core.dtype.__str__ = _dtype_repr


class Size(tuple):
    """The shape of a tensor: a tuple that prints like PyTorch's ``torch.Size``.

    >>> import tapegrad as tg
    >>> s = tg.zeros(2, 3).shape
    >>> s, s == (2, 3), s.numel()
    (tapegrad.Size([2, 3]), True, 6)
    """

    def __repr__(self) -> str:
        return f"{_lib_name()}.Size({list(self)})"

    def numel(self) -> int:
        return math.prod(self)


# What max(dim) / min(dim) return, as PyTorch's torch.return_types.max / min.
return_types_max = namedtuple("max", ["values", "indices"])
return_types_min = namedtuple("min", ["values", "indices"])

_core._register_types(size=Size, max=return_types_max, min=return_types_min)


# ----- repr like PyTorch's ------------------------------------------------------------------
# The rules learners see in every notebook: 4 decimals, "1." for integral floats, scientific
# notation for wide ranges, 80-column lines, summaries above 1000 elements (3 edge items),
# and suffixes (dtype=, grad_fn=, requires_grad=True) that wrap onto a new line when needed.
_LINEWIDTH = 80
_THRESHOLD = 1000
_EDGE = 3
_PRECISION = 4


class _Formatter:
    def __init__(self, values: np.ndarray):
        self.floating = values.dtype.kind == "f"
        self.int_mode = True
        self.sci_mode = False
        self.width = 1
        flat = values.reshape(-1)
        if not self.floating:
            for v in flat.tolist():
                self.width = max(self.width, len(str(v)))
            return
        nz = flat[np.isfinite(flat) & (flat != 0)].astype(np.float64)
        if nz.size == 0:
            return
        absv = np.abs(nz)
        lo, hi = float(absv.min()), float(absv.max())
        self.int_mode = bool(np.all(nz == np.ceil(nz)))
        self.sci_mode = hi / lo > 1000.0 or hi > 1.0e8 or lo < 1.0e-4
        for v in nz.tolist():
            if self.sci_mode:
                self.width = max(self.width, len(f"{v:.{_PRECISION}e}"))
            elif self.int_mode:
                self.width = max(self.width, len(f"{v:.0f}") + 1)
            else:
                self.width = max(self.width, len(f"{v:.{_PRECISION}f}"))

    def format(self, v) -> str:
        if self.floating:
            if self.sci_mode:
                r = f"{v:{self.width}.{_PRECISION}e}"
            elif self.int_mode:
                r = f"{v:.0f}"
                if not (math.isinf(v) or math.isnan(v)):
                    r += "."
            else:
                r = f"{v:.{_PRECISION}f}"
        else:
            r = str(v)
        return " " * (self.width - len(r)) + r


def _summarized(a: np.ndarray) -> np.ndarray:
    if a.ndim == 0:
        return a
    if a.shape[0] > 2 * _EDGE:
        a = np.concatenate([a[:_EDGE], a[-_EDGE:]])
    return np.stack([_summarized(r) for r in a]) if a.ndim > 1 else a


def _str_rec(a: np.ndarray, indent: int, summarize: bool, fmt: _Formatter) -> str:
    if a.ndim == 0:
        return fmt.format(a.item())
    if a.ndim == 1:
        per_line = max(1, (_LINEWIDTH - indent) // (fmt.width + 2))
        vals = a.tolist()
        if summarize and len(vals) > 2 * _EDGE:
            data = [fmt.format(v) for v in vals[:_EDGE]] + [" ..."]
            data += [fmt.format(v) for v in vals[-_EDGE:]]
        else:
            data = [fmt.format(v) for v in vals]
        lines = [", ".join(data[i:i + per_line]) for i in range(0, len(data), per_line)]
        return "[" + (",\n" + " " * (indent + 1)).join(lines) + "]"
    if summarize and a.shape[0] > 2 * _EDGE:
        rows = [_str_rec(a[i], indent + 1, summarize, fmt) for i in range(_EDGE)] + ["..."]
        rows += [_str_rec(a[i], indent + 1, summarize, fmt) for i in range(len(a) - _EDGE, len(a))]
    else:
        rows = [_str_rec(r, indent + 1, summarize, fmt) for r in a]
    return "[" + ("," + "\n" * (a.ndim - 1) + " " * (indent + 1)).join(rows) + "]"


# Lazy modules' uninitialised parameters and buffers, by id with a weak reference
# (tapegrad.nn.parameter fills it; a set would compare tensors with ==, which is elementwise).
_UNINITIALIZED: dict = {}


def _repr(self) -> str:
    ref = _UNINITIALIZED.get(id(self)) if _UNINITIALIZED else None
    if ref is not None and ref() is self:  # a lazy module's parameter before its first call
        return "<UninitializedParameter>" if self._is_parameter else "<UninitializedBuffer>"
    a = self._numpy_view()
    prefix = "tensor("
    indent = len(prefix)
    suffixes = []
    if a.size == 0:
        body = "[]"
        if a.ndim != 1:
            suffixes.append(f"size={tuple(a.shape)}")
        # PyTorch names every dtype but the default one here: an empty int64 or bool tensor
        # cannot be told from an empty float32 one by its (absent) values.
        if self.dtype != _core.dtype.float32:
            suffixes.append(f"dtype={_dtype_repr(self.dtype)}")
    else:
        summarize = a.size > _THRESHOLD
        fmt = _Formatter(_summarized(a) if summarize else a)
        body = _str_rec(a, indent, summarize, fmt)
        if self.dtype not in (_core.dtype.float32, _core.dtype.int64, _core.dtype.bool):
            suffixes.append(f"dtype={_dtype_repr(self.dtype)}")
    if self.grad_fn is not None:
        suffixes.append(f"grad_fn=<{self.grad_fn}>")
    elif self.requires_grad:
        suffixes.append("requires_grad=True")
    out = prefix + body
    last = len(out) - out.rfind("\n") + 1
    parts = [out]
    for sfx in suffixes:
        if last + len(sfx) + 2 > _LINEWIDTH:
            parts.append(",\n" + " " * indent + sfx)
            last = indent + len(sfx)
        else:
            parts.append(", " + sfx)
            last += len(sfx) + 2
    return "".join(parts) + ")"


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
    try:
        return _core.tensor(data, dtype=dtype or self.dtype, requires_grad=requires_grad)
    except TypeError as e:
        raise TypeError(f"new_tensor: {e}") from None


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
Tensor.__module__ = "tapegrad"


# ----- hooks (custom functions family) -----
def _register_hook(self, hook):
    """Run ``hook(grad)`` when this tensor's gradient is computed; a tensor it returns
    replaces the gradient. Returns a handle with ``remove()`` (``torch.Tensor.register_hook``).
    """
    from .utils.hooks import RemovableHandle

    h = self._register_hook(hook)
    return RemovableHandle(remove_fn=h.remove)


def _register_post_accumulate_grad_hook(self, hook):
    """Run ``hook(tensor)`` on a leaf after its ``.grad`` has accumulated in a backward."""
    from .utils.hooks import RemovableHandle

    h = self._register_post_accumulate_grad_hook(hook)
    return RemovableHandle(remove_fn=h.remove)


Tensor.register_hook = _register_hook
Tensor.register_post_accumulate_grad_hook = _register_post_accumulate_grad_hook
