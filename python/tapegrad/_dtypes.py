"""The PyTorch dtypes tapegrad names but cannot store, and the check every entry point that
takes a ``dtype`` runs on them (shared by the legacy constructors and ``Tensor.to``)."""
from __future__ import annotations

from typing import Any


class UnsupportedDtype:
    """A PyTorch dtype tapegrad names but cannot store (tensors hold float32, float64, int64 or
    bool). Using one raises a TypeError naming the op and the dtype; values are never
    reinterpreted in another type."""

    def __init__(self, name: str, is_floating_point: bool, itemsize: int) -> None:
        self.name = name
        self.is_floating_point = is_floating_point
        self.is_complex = False
        self.itemsize = itemsize

    def __repr__(self) -> str:
        return f"tapegrad.{self.name}"

    def __reduce__(self) -> str:
        return self.name


int32 = UnsupportedDtype("int32", False, 4)
int16 = UnsupportedDtype("int16", False, 2)
int8 = UnsupportedDtype("int8", False, 1)
uint8 = UnsupportedDtype("uint8", False, 1)
float16 = UnsupportedDtype("float16", True, 2)
bfloat16 = UnsupportedDtype("bfloat16", True, 2)


def unsupported(op: str, dtype: Any) -> TypeError:
    return TypeError(f"{op}: dtype {dtype!r} is not supported; tapegrad tensors store float32, "
                     f"float64, int64 or bool")


def check_dtype(op: str, dtype: Any) -> None:
    if isinstance(dtype, UnsupportedDtype):
        raise unsupported(op, dtype)
