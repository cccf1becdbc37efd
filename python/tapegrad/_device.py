"""Devices as PyTorch's CPU build has them, and the PyTorch keywords every creation function takes.

tapegrad computes on the CPU only, so there is exactly one device, ``device("cpu")``. Code written
for PyTorch asks which devices exist (``cuda.is_available()`` → False, ``cuda.device_count()`` →
0, ``backends.mps.is_available()`` → False), moves tensors and modules to ``"cpu"`` (a no-op) and
passes ``device=`` / ``pin_memory=`` / ``requires_grad=`` to creation functions; all of that is
accepted here. Asking for another device raises the error PyTorch's CPU build raises.

>>> import tapegrad as tg
>>> tg.device("cpu"), tg.ones(2).device, tg.cuda.is_available(), tg.cuda.device_count()
(device(type='cpu'), device(type='cpu'), False, 0)
>>> tg.eye(2, 3, requires_grad=True, device="cpu").requires_grad
True
"""

from __future__ import annotations

import functools
import types
from typing import Any, Callable

from . import _core
from ._dtypes import check_dtype

_NO_CUDA = "Torch not compiled with CUDA enabled"


_DEVICE_TYPES = ("cpu", "cuda", "mps", "meta", "xpu")


class device:  # noqa: N801 - PyTorch's name
    """A device: ``device("cpu")``, ``device("cpu", 0)``, ``device("cuda:0")`` (which can be
    named, as in PyTorch's CPU build, but not used).

    >>> import tapegrad as tg
    >>> tg.device("cpu", 0), str(tg.device("cuda:1")), tg.device("cpu") == "cpu"
    (device(type='cpu', index=0), 'cuda:1', True)
    """

    __slots__ = ("type", "index")

    def __init__(self, type: Any, index: int | None = None) -> None:  # noqa: A002
        if isinstance(type, device):
            type, index = type.type, type.index  # noqa: A001
        if isinstance(type, int) and not isinstance(type, bool):
            raise RuntimeError(_NO_CUDA)  # a bare ordinal means a CUDA device
        if not isinstance(type, str):
            raise TypeError(f"device(): expected a string or a device, got {type!r}")
        kind, _, idx = type.partition(":")
        if idx:
            if index is not None:
                raise RuntimeError(f"device(): type ({type!r}) must not include an index "
                                   f"because index was passed explicitly")
            if not idx.isdigit():
                raise RuntimeError(f"Invalid device string: {type!r}")
            index = int(idx)
        if kind not in _DEVICE_TYPES:
            raise RuntimeError(
                f"Expected one of cpu, cuda, mps, meta, xpu device type at start of device "
                f"string: {type}")
        object.__setattr__(self, "type", kind)
        object.__setattr__(self, "index", index)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("device is immutable")

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            other = device(other)
        return isinstance(other, device) and (self.type, self.index) == (other.type, other.index)

    def __hash__(self) -> int:
        return hash((self.type, self.index))

    def __repr__(self) -> str:
        if self.index is None:
            return f"device(type='{self.type}')"
        return f"device(type='{self.type}', index={self.index})"

    def __str__(self) -> str:
        return self.type if self.index is None else f"{self.type}:{self.index}"


CPU = device("cpu")
_default_device = CPU


def _check_device(dev: Any, op: str) -> None:
    """Accept None and any spelling of the CPU; raise as PyTorch's CPU build does otherwise."""
    if dev is None:
        return
    d = dev if isinstance(dev, device) else device(dev)
    if d.type == "cpu":
        return
    if d.type == "cuda":
        raise AssertionError(_NO_CUDA)
    raise RuntimeError(f"{op}: tapegrad runs on the CPU only; device {str(d)!r} is not available")


def set_default_device(dev: Any) -> None:
    """Set the device new tensors are created on; only the CPU exists (None resets it).

    >>> import tapegrad as tg
    >>> tg.set_default_device("cpu"); tg.get_default_device()
    device(type='cpu')
    """
    _check_device(dev, "set_default_device")


def get_default_device() -> device:
    """The device new tensors are created on: always the CPU.

    >>> import tapegrad as tg
    >>> tg.get_default_device()
    device(type='cpu')
    """
    return _default_device


# ----- torch.cuda / torch.backends as a CPU-only build answers --------------------------------
cuda = types.ModuleType("tapegrad.cuda", "CUDA as a CPU-only build has it: nothing available.")
cuda.is_available = lambda: False  # type: ignore[attr-defined]
cuda.device_count = lambda: 0  # type: ignore[attr-defined]
cuda.is_initialized = lambda: False  # type: ignore[attr-defined]
cuda.synchronize = lambda device=None: None  # type: ignore[attr-defined]
cuda.empty_cache = lambda: None  # type: ignore[attr-defined]
cuda.manual_seed = lambda seed: None  # type: ignore[attr-defined]
cuda.manual_seed_all = lambda seed: None  # type: ignore[attr-defined]


def _current_device() -> int:
    raise AssertionError(_NO_CUDA)


cuda.current_device = _current_device  # type: ignore[attr-defined]

backends = types.ModuleType("tapegrad.backends", "Accelerator back ends: none on this build.")
backends.mps = types.SimpleNamespace(is_available=lambda: False, is_built=lambda: False)  # type: ignore[attr-defined]
backends.cuda = types.SimpleNamespace(is_built=lambda: False)  # type: ignore[attr-defined]
backends.cudnn = types.SimpleNamespace(is_available=lambda: False, enabled=False,  # type: ignore[attr-defined]
                                       deterministic=False, benchmark=False)


# ----- creation functions with PyTorch's keywords ---------------------------------------------
def with_torch_keywords(fn: Callable[..., Any], name: str, native_requires_grad: bool) -> Callable[..., Any]:
    """``fn`` accepting ``device=`` and ``pin_memory=`` (the CPU; both change nothing) and
    ``requires_grad=`` where the C++ function lacks it (the result is a fresh leaf, so marking it
    afterwards is the same thing)."""

    @functools.wraps(fn)
    def creation(*args: Any, device: Any = None, pin_memory: bool = False, **kwargs: Any) -> Any:
        _check_device(device, name)
        if native_requires_grad:
            return fn(*args, **kwargs)
        rg = kwargs.pop("requires_grad", False)
        out = fn(*args, **kwargs)
        return out.requires_grad_() if rg else out

    return creation


def with_dtype(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    """``fn`` (int64 results) accepting ``dtype=`` as PyTorch's ``randint``: the int64 draws
    converted (the values lie in [low, high), which the caller chose to fit the dtype)."""

    @functools.wraps(fn)
    def creation(*args: Any, dtype: Any = None, **kwargs: Any) -> Any:
        check_dtype(name, dtype)
        rg = kwargs.pop("requires_grad", False)
        out = fn(*args, **kwargs)
        if dtype is not None and dtype != out.dtype:
            out = out.to(dtype)
        return out.requires_grad_() if rg else out

    return creation


# ----- Tensor.device / .cpu() / .cuda() / .to(device, dtype) ----------------------------------
_core_to = _core.Tensor.to


def _tensor_to(self: Any, *args: Any, **kwargs: Any) -> Any:
    """``to(dtype)``, ``to(device)``, ``to(device, dtype)``, ``to(other)`` and the keywords
    ``device=``, ``dtype=``, ``non_blocking=``, ``copy=`` as in PyTorch (the device is the CPU).

    >>> import tapegrad as tg
    >>> tg.tensor([1.7, -2.]).to("cpu", tg.int64)
    tensor([ 1, -2])
    """
    dev = kwargs.pop("device", None)
    dtype = kwargs.pop("dtype", None)
    kwargs.pop("non_blocking", None)
    copy = kwargs.pop("copy", False)
    kwargs.pop("memory_format", None)
    if kwargs:
        raise TypeError(f"to() got an unexpected keyword argument {next(iter(kwargs))!r}")
    for a in args:
        if isinstance(a, _core.Tensor):
            dtype = a.dtype
        elif isinstance(a, device) or (isinstance(a, str)
                                       and a.partition(":")[0] in _DEVICE_TYPES):
            dev = a
        elif isinstance(a, bool):
            pass  # non_blocking / copy given positionally
        else:
            dtype = a
    _check_device(dev, "to")
    check_dtype("to", dtype)
    out = self if dtype is None else _core_to(self, dtype)
    return out.clone() if copy and out is self else out


class _NoCuda(AssertionError, RuntimeError):
    """PyTorch's CPU build raises AssertionError for CUDA calls; it is also a RuntimeError, the
    type tapegrad raises for an operation this build cannot run (so code catching either works)."""


def _tensor_cuda(self: Any, *args: Any, **kwargs: Any) -> Any:
    raise _NoCuda(_NO_CUDA)


def install() -> None:
    T = _core.Tensor
    T.device = property(lambda self: CPU, doc="The tensor's device: always the CPU.")
    T.is_cuda = property(lambda self: False)
    T.to = _tensor_to
    T.cpu = lambda self, memory_format=None: self
    T.cuda = _tensor_cuda
    T.pin_memory = lambda self, device=None: self
    T.is_pinned = lambda self, device=None: False
    T.get_device = lambda self: -1
