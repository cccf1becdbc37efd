"""tapegrad's dtypes beyond float32, float64, int64 and bool: int32, int16, int8, uint8 and
float16 are real storage dtypes (Note [storage dtypes] in cpp/src/tensor.cpp); bfloat16 is a
PyTorch name tapegrad cannot store, refused with a TypeError naming the op by every entry point
that takes a ``dtype`` (the legacy constructors, ``Tensor.to``, ``Module.to``).

>>> import tapegrad as tg
>>> tg.tensor([1, 300]).to(tg.uint8), tg.tensor([0.1]).half().dtype
(tensor([ 1, 44], dtype=tapegrad.uint8), tapegrad.float16)
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from . import _core

int32 = _core.dtype.int32
int16 = _core.dtype.int16
int8 = _core.dtype.int8
uint8 = _core.dtype.uint8
float16 = _core.dtype.float16


class UnsupportedDtype:
    """A PyTorch dtype tapegrad names but cannot store (bfloat16). Using one raises a TypeError
    naming the op and the dtype; values are never reinterpreted in another type."""

    def __init__(self, name: str, is_floating_point: bool, itemsize: int) -> None:
        self.name = name
        self.is_floating_point = is_floating_point
        self.is_complex = False
        self.itemsize = itemsize

    def __repr__(self) -> str:
        return f"tapegrad.{self.name}"

    def __reduce__(self) -> str:
        return self.name


bfloat16 = UnsupportedDtype("bfloat16", True, 2)


def unsupported(op: str, dtype: Any) -> TypeError:
    return TypeError(f"{op}: dtype {dtype!r} is not supported; tapegrad tensors store float16, "
                     f"float32, float64, uint8, int8, int16, int32, int64 or bool")


def check_dtype(op: str, dtype: Any) -> None:
    if isinstance(dtype, UnsupportedDtype):
        raise unsupported(op, dtype)


def _halves(args: Any, kwargs: dict) -> tuple[bool, bool]:
    """(some tensor argument is float16, every floating tensor argument is float16)."""
    some, only = False, True
    for a in (*args, *kwargs.values()):
        for t in (a if isinstance(a, (list, tuple)) else (a,)):
            if isinstance(t, _core.Tensor) and t.dtype.is_floating_point:
                some = some or t.dtype == float16
                only = only and t.dtype == float16
    return some, only


def _map(x: Any, f: Callable[[Any], Any]) -> Any:
    if isinstance(x, _core.Tensor):
        return f(x)
    if isinstance(x, list):
        return [_map(v, f) for v in x]
    if isinstance(x, tuple):
        vals = [_map(v, f) for v in x]
        return type(x)(*vals) if hasattr(x, "_fields") else tuple(vals)
    return x


def half_via_float32(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` (a composite of several tapegrad ops) computing float16 arguments in float32 and
    rounding its float32 results to float16 once, as PyTorch's float16 kernels do; rounding
    after each op of the composite would give different values (Note [storage dtypes])."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        some, only = _halves(args, kwargs)
        if not (some and only):
            return fn(*args, **kwargs)
        def up(t: Any) -> Any:
            return t.float() if t.dtype == float16 else t

        out = fn(*_map(list(args), up), **{k: _map(v, up) for k, v in kwargs.items()})
        return _map(out, lambda t: t.half() if t.dtype == _core.dtype.float32 else t)

    return wrapper
