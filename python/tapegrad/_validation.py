"""Argument checks shared by the Python layer, with PyTorch's messages.

One place for each check, so an optimizer, a fill or a constructor never words it differently
(and never lets NaN through: ``nan < 0`` is False, so every bound is written as
``not (low <= x)``, which NaN fails).

>>> check_hyperparameters("SGD", lr=0.1, momentum=0.9)
>>> check_hyperparameters("SGD", lr=float("nan"))
Traceback (most recent call last):
...
ValueError: Invalid learning rate: nan
"""

from __future__ import annotations

import functools
import inspect
import numbers
import operator
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

# (PyTorch's wording, the lowest legal value) for each nonnegative hyperparameter.
_NONNEGATIVE = {
    "lr": "Invalid learning rate",
    "eps": "Invalid epsilon value",
    "momentum": "Invalid momentum value",
    "weight_decay": "Invalid weight_decay value",
}


def _number(owner: str, name: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        try:
            return float(value)  # one-element tensors and NumPy scalars
        except (TypeError, ValueError):
            raise TypeError(f"{owner}: {name} must be a number, got "
                            f"{type(value).__name__}") from None
    return float(value)


def check_hyperparameters(owner: str, **values: Any) -> None:
    """Raise PyTorch's ValueError for a negative or NaN lr, eps, momentum, weight_decay or
    dampening, and for betas outside [0, 1); TypeError (naming ``owner``) for a non-number."""
    for name, value in values.items():
        if name == "betas":
            if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
                raise TypeError(f"{owner}: betas must be a pair of numbers, got {value!r}")
            for i, b in enumerate(value):
                v = _number(owner, f"betas[{i}]", b)
                if not 0.0 <= v < 1.0:
                    raise ValueError(f"Invalid beta parameter at index {i}: {b}")
            continue
        v = _number(owner, name, value)
        if not 0.0 <= v:
            raise ValueError(f"{_NONNEGATIVE[name]}: {value}")


# ----- argument types of the functions composed in Python ---------------------------------------
# Note [Python-level argument types]: the op-table functions get PyTorch's TypeError from the
# bindings' guard around pybind11's dispatcher; a function composed in Python never reaches that
# guard with its own name, and a wrong type would surface as an AttributeError or a TypeError
# about some inner op. `typed` gives those functions the same message, before any work:
#   cosh(): argument 'input' (position 1) must be Tensor, not NoneType
# Integer arguments are converted with operator.index (NumPy integers, 0-d int tensors pass; a
# float or a bool-like string does not), so the body only ever sees Python ints.
def _tensor(v: Any) -> Any:
    from . import _core

    if isinstance(v, _core.Tensor):
        return v
    raise TypeError


def _int(v: Any) -> int:
    if isinstance(v, (str, bytes, float)):
        raise TypeError
    return operator.index(v)


def _ints(v: Any) -> int | list[int]:
    if isinstance(v, Sequence) and not isinstance(v, (str, bytes)):
        return [_int(e) for e in v]
    return _int(v)


def _float(v: Any) -> Any:
    if isinstance(v, numbers.Real):
        return v
    raise TypeError


def _optional(conv: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda v: None if v is None else conv(v)


# kind → (PyTorch's word for the type, converter raising TypeError when the value is not one)
_KINDS: dict[str, tuple[str, Callable[[Any], Any]]] = {
    "Tensor": ("Tensor", _tensor),
    "int": ("int", _int),
    "int?": ("int", _optional(_int)),
    "ints": ("tuple of ints", _ints),
    "ints?": ("tuple of ints", _optional(_ints)),
    "float": ("float", _float),
    "float?": ("float", _optional(_float)),
    "p": ("float", lambda v: v if isinstance(v, str) and v == "fro" else _float(v)),  # norm's p: a number or "fro"
}

_F = TypeVar("_F", bound=Callable[..., Any])


def typed(**kinds: str) -> Callable[[_F], _F]:
    """Check (and convert, for ints) the named arguments of a Python-level function before it
    runs; see Note [Python-level argument types].

    >>> @typed(input="Tensor", dim="int")
    ... def f(input, dim=0): return dim
    >>> f(None)
    Traceback (most recent call last):
    ...
    TypeError: f(): argument 'input' (position 1) must be Tensor, not NoneType
    """
    def wrap(fn: _F) -> _F:
        names = list(inspect.signature(fn).parameters)
        spec = [(names.index(n), n, *_KINDS[k]) for n, k in kinds.items()]
        op = fn.__name__

        def check(name: str, pos: int | None, value: Any, word: str, conv: Callable) -> Any:
            try:
                return conv(value)
            except TypeError:
                from . import _core

                got = "Tensor" if isinstance(value, _core.Tensor) else type(value).__name__
                where = "" if pos is None else f" (position {pos})"
                raise TypeError(f"{op}(): argument '{name}'{where} must be {word}, "
                                f"not {got}") from None

        @functools.wraps(fn)
        def checked(*args: Any, **kwargs: Any) -> Any:
            a = list(args)
            for i, name, word, conv in spec:
                if i < len(a):
                    a[i] = check(name, i + 1, a[i], word, conv)
                elif name in kwargs:
                    kwargs[name] = check(name, None, kwargs[name], word, conv)
            return fn(*a, **kwargs)

        return checked  # type: ignore[return-value]

    return wrap


__all__ = ["check_hyperparameters", "typed"]
