"""PyTorch's ``out=`` keyword: the one registry of the functions that take it.

Each entry says what an output's dtype may be, as PyTorch's kernel for the function decides:

- ``cast``: the result's dtype must cast to out's (no float → integer, nothing but bool →
  bool): ``RuntimeError: result type Float can't be cast to the desired output type Long``;
- ``any``: any out dtype (the result is converted: ``sum``/``prod`` along a dim, ``cumsum``);
- ``exact``: out's dtype must be the result's (``matmul``, the values of ``sort``);
- ``long``: int64 (indices);
- ``cat``: as ``cast``, but a ``TypeError`` (``cat``/``stack``);
- ``creation``: out's dtype is the dtype (``zeros``, ``arange``, ``rand``, ...).

A function whose result is a ``(values, indices)`` tuple takes a tuple (or list) ``out=`` and
gets a rule per element. ``install`` hands every entry to the C++ side
(``_core._enable_out``): a function bound in C++ then accepts ``out=`` through the argument
guard every binding already has, and a Python composite is wrapped once here. Both write the
same way (Note [out= arguments] in ``cpp/src/bindings/out.cpp``): the result into ``out``
through ``copy_``, ``out`` returned, an ``out`` of another shape resized (with PyTorch's
warning when it had elements) when nothing else shares its memory, and PyTorch's
RuntimeError when an argument requires grad while grad mode is on.

>>> import tapegrad as tg
>>> x = tg.tensor([1.0, 2.0]); buf = tg.empty(2)
>>> tg.add(x, 1, out=buf) is buf
True
>>> buf
tensor([2., 3.])
"""

from __future__ import annotations

import functools
from typing import Any, Callable

from . import _core

# name: (rule for a tensor result or None, rules for a tuple result, position of a dim that
# must be given for out= to be accepted, or -1)
Spec = tuple["str | None", tuple[str, ...], int]

_CAST: Spec = ("cast", (), -1)
_EXACT: Spec = ("exact", (), -1)
_CREATION: Spec = ("creation", (), -1)
_VALUES_INDICES: Spec = (None, ("exact", "long"), -1)

OUT_FUNCTIONS: dict[str, Spec] = {
    # elementwise, unary
    **dict.fromkeys([
        "abs", "neg", "exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "rsqrt",
        "reciprocal", "square", "sin", "cos", "tanh", "sinh", "cosh", "asin", "acos", "atan",
        "asinh", "acosh", "atanh", "sigmoid", "erf", "sign", "floor", "ceil", "trunc", "frac",
        "round", "logical_not", "bitwise_not",
    ], _CAST),
    # elementwise, binary and ternary
    **dict.fromkeys([
        "add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2", "eq",
        "logical_and", "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor",
        "clamp",
    ], _CAST),
    "where": _EXACT,
    # products
    **dict.fromkeys(["matmul", "mm", "bmm", "dot", "mv", "outer"], _EXACT),
    # reductions (sum and prod take out= only along a dim, as PyTorch's)
    "sum": ("any", (), 1),
    "prod": ("any", (), 1),
    "mean": ("cast", (), -1),
    "amax": _EXACT,
    "amin": _EXACT,
    "max": ("cast", ("exact", "long"), -1),  # max(x), max(x, other); max(x, dim) → tuple
    "min": ("cast", ("exact", "long"), -1),
    "argmax": ("long", (), -1),
    "argmin": ("long", (), -1),
    "logsumexp": _EXACT,
    "cumsum": ("any", (), -1),
    "cumprod": ("any", (), -1),
    # joining
    "cat": ("cat", (), -1),
    "stack": ("cat", (), -1),
    # sorting and selection
    "sort": _VALUES_INDICES,
    "topk": _VALUES_INDICES,
    "kthvalue": _VALUES_INDICES,
    "msort": _EXACT,
    # creation
    **dict.fromkeys([
        "zeros", "ones", "full", "empty", "arange", "linspace", "eye", "rand", "randn",
        "randint", "randperm",
    ], _CREATION),
}


def _python_with_out(fn: Callable[..., Any], name: str) -> Callable[..., Any]:
    @functools.wraps(fn)
    def with_out(*args: Any, out: Any = None, **kwargs: Any) -> Any:
        if out is None:
            return fn(*args, **kwargs)
        return _core._call_with_out(name, fn, args, kwargs, out)

    return with_out


def install(namespace: dict[str, Any]) -> None:
    """Give every registered function of ``namespace`` (``tapegrad``'s) its ``out=``."""
    for name, (tensor_rule, tuple_rules, dim_position) in OUT_FUNCTIONS.items():
        fn = namespace[name]
        target = getattr(fn, "__wrapped__", fn)  # the C++ function behind a keyword wrapper
        if not _core._enable_out(name, target, tensor_rule, list(tuple_rules), dim_position):
            namespace[name] = _python_with_out(fn, name)
