"""``Parameter``: the tensor a :class:`~tapegrad.nn.Module` registers as trainable."""

from __future__ import annotations

from typing import Any

from .. import _core

Tensor = _core.Tensor

__all__ = ["Parameter"]


# Note [Parameter is a marked Tensor]
# Tensor is a pybind11 class without a Python-callable constructor, so a Python subclass cannot
# be given the C++ tensor it should wrap. A Parameter is therefore a plain leaf ``Tensor`` whose
# C++ TensorImpl carries a flag, ``is_parameter`` (``_is_parameter`` in Python), set by
# ``Parameter(...)``; ``isinstance(t, Parameter)`` reads that flag through the metaclass.
# Everything that works on a Tensor works on a Parameter, and ``isinstance(p, tg.Tensor)`` holds.
# The flag lives and dies with the tensor itself, so there is no registry to keep in step: a
# tensor that reuses a dead Parameter's ``id()`` is not a Parameter, and a Parameter is one
# whatever else the garbage collector has taken. As in PyTorch only the Parameter object itself
# is one: ``detach()``, ``clone()``, views and op results are fresh TensorImpls without the flag
# (so ``state_dict()``, which detaches, holds plain tensors).


def _is_parameter(obj: Any) -> bool:
    return isinstance(obj, Tensor) and obj._is_parameter


class _ParameterMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return _is_parameter(obj)


class Parameter(metaclass=_ParameterMeta):
    """A leaf tensor that a :class:`Module` registers as trainable (``torch.nn.Parameter``).

    ``Parameter(data)`` returns a ``tapegrad.Tensor`` that shares ``data``'s storage, is a leaf
    and requires grad (unless ``requires_grad=False``).

    >>> import tapegrad as tg
    >>> p = tg.nn.Parameter(tg.zeros(2))
    >>> isinstance(p, tg.Tensor), isinstance(p, tg.nn.Parameter), p.is_leaf, p.requires_grad
    (True, True, True, True)
    """

    def __new__(cls, data: Tensor | None = None, requires_grad: bool = True) -> Tensor:  # type: ignore[misc]
        if data is None:
            data = _core.empty(0)
        elif not isinstance(data, Tensor):
            data = _core.tensor(data)
        t = data.detach()
        if requires_grad:
            if not t.is_floating_point():
                raise RuntimeError(
                    f"Parameter: only floating point tensors can require gradients (got {t.dtype})")
            t.requires_grad_(True)
        t._is_parameter = True
        return t


# ----- lazy modules' parameters -----------------------------------------------------------------
# An uninitialised parameter is a Parameter of shape (0,) that a lazy module materialises at its
# first forward with `_set_data` (TensorImpl::set_data), so it keeps its identity: an optimizer
# built before the first forward holds the very tensors that then get their shapes, as in
# PyTorch. Which tensors are still uninitialised is kept by id with a weak reference (a set
# would compare tensors with ==, which is elementwise), in tapegrad._tensor (whose repr shows
# them as PyTorch does).
from .._tensor import _UNINITIALIZED  # noqa: E402


def is_lazy(param: Any) -> bool:
    """Whether ``param`` is an uninitialised parameter of a lazy module (``torch.nn.parameter.is_lazy``).

    >>> import tapegrad as tg
    >>> tg.nn.parameter.is_lazy(tg.nn.LazyLinear(2).weight), tg.nn.parameter.is_lazy(tg.ones(1))
    (True, False)
    """
    ref = _UNINITIALIZED.get(id(param))
    return ref is not None and ref() is param


class _UninitializedMeta(type):
    def __instancecheck__(cls, obj: Any) -> bool:
        return is_lazy(obj)


class UninitializedParameter(metaclass=_UninitializedMeta):
    """A parameter whose shape is not known yet (``torch.nn.UninitializedParameter``): a
    Parameter of shape (0,) until its lazy module's first forward gives it one.

    >>> import tapegrad as tg
    >>> p = tg.nn.UninitializedParameter()
    >>> isinstance(p, tg.nn.UninitializedParameter), isinstance(p, tg.nn.Parameter), p.shape
    (True, True, tapegrad.Size([0]))
    """

    def __new__(cls, requires_grad: bool = True, device: Any = None,  # type: ignore[misc]
                dtype: Any = None) -> Tensor:
        import weakref

        from .._device import _check_device

        _check_device(device, "UninitializedParameter")
        t = Parameter(_core.empty((0,), dtype=dtype or _core.dtype.float32), requires_grad)
        key = id(t)
        _UNINITIALIZED[key] = weakref.ref(t, lambda _r: _UNINITIALIZED.pop(key, None))
        return t


class UninitializedBuffer(metaclass=_UninitializedMeta):
    """A buffer whose shape is not known yet (``torch.nn.UninitializedBuffer``): a tensor of
    shape (0,), without gradient, until its lazy module's first forward gives it one (the
    running statistics of ``LazyBatchNorm2d``).

    >>> import tapegrad as tg
    >>> b = tg.nn.UninitializedBuffer()
    >>> isinstance(b, tg.nn.UninitializedBuffer), b.requires_grad, b.shape
    (True, False, tapegrad.Size([0]))
    """

    def __new__(cls, requires_grad: bool = False, device: Any = None,  # type: ignore[misc]
                dtype: Any = None) -> Tensor:
        import weakref

        from .._device import _check_device

        _check_device(device, "UninitializedBuffer")
        t = _core.empty((0,), dtype=dtype or _core.dtype.float32)
        if requires_grad:
            t.requires_grad_(True)
        key = id(t)
        _UNINITIALIZED[key] = weakref.ref(t, lambda _r: _UNINITIALIZED.pop(key, None))
        return t


def _materialize(param: Tensor, shape: tuple[int, ...]) -> None:
    """Give an uninitialised parameter its shape (uninitialised values; dtype kept)."""
    from ..autograd import no_grad

    with no_grad():
        param._set_data(_core.empty(tuple(shape), dtype=param.dtype))
    _UNINITIALIZED.pop(id(param), None)
