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
