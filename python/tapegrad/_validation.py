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

from collections.abc import Sequence
from typing import Any

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


__all__ = ["check_hyperparameters"]
