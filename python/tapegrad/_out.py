"""PyTorch's ``out=`` keyword: the one registry of the functions that take it.

Each entry says what an output's dtype may be, as PyTorch's kernel for the function decides:

- ``cast``: the result's dtype must cast to out's (no float → integer, nothing but bool →
  bool): ``RuntimeError: result type Float can't be cast to the desired output type Long``;
- ``same``: as ``cast``, and then out's dtype must be the result's (``abs``, ``floor``):
  ``RuntimeError: Found dtype Double but expected Float``;
- ``exact``: out's dtype must be the result's (``matmul``, the values of ``sort``):
  ``RuntimeError: Expected out tensor to have dtype float, but got double instead``;
- ``long``: int64 (indices);
- ``cat``: as ``cast``, but a ``TypeError`` (``cat``/``stack``);
- ``dtype``: out's dtype is the ``dtype=`` of the call (creation functions, and ``sum``,
  ``prod``, ``cumsum``, ``cumprod``, which compute in it); a different ``dtype=`` is PyTorch's
  ``RuntimeError: dtype Double does not match dtype of out parameter (Float)``;
- ``any``: any out dtype, the result converted (``randint``, ``randperm``).

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
from typing import Any, Callable, NamedTuple

from . import _core

class Spec(NamedTuple):
    tensor: str | None  # the rule for a call whose result is one tensor (None: no such form)
    tuple: tuple[str, ...] = ()  # the rules for a call whose result is a (values, indices) tuple
    dim_position: int = -1  # >= 0: out= only when a dim is given there (sum(x, dim, out=))
    differentiable: bool = True  # False: out= is fine with inputs that require grad (argmax)


_CAST = Spec("cast")
_SAME = Spec("same")
_EXACT = Spec("exact")
_DTYPE = Spec("dtype")
_VALUES_INDICES = Spec(None, ("exact", "long"))

OUT_FUNCTIONS: dict[str, Spec] = {
    # elementwise, unary (PyTorch's kernels for these ask out's dtype to be the result's)
    **dict.fromkeys([
        "exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "rsqrt", "reciprocal",
        "square", "sin", "cos", "tanh", "sinh", "cosh", "asin", "acos", "atan", "asinh",
        "acosh", "atanh", "sigmoid", "erf", "logical_not",
    ], _CAST),
    **dict.fromkeys([
        "abs", "neg", "sign", "floor", "ceil", "trunc", "frac", "round", "bitwise_not", "clamp",
    ], _SAME),
    # elementwise, binary and ternary
    **dict.fromkeys([
        "add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2", "logical_and",
        "logical_or", "logical_xor", "bitwise_and", "bitwise_or", "bitwise_xor",
    ], _CAST),
    "eq": Spec("cast", differentiable=False),
    "where": _EXACT,
    # products
    **dict.fromkeys(["matmul", "mm", "bmm", "dot", "mv"], _EXACT),
    "outer": _CAST,
    # reductions: sum and prod take out= only along a dim, and compute in out's dtype (as
    # dtype=), like cumsum and cumprod
    "sum": Spec("dtype", dim_position=1),
    "prod": Spec("dtype", dim_position=1),
    "cumsum": _DTYPE,
    "cumprod": _DTYPE,
    "mean": _CAST,
    "amax": _EXACT,
    "amin": _EXACT,
    "max": Spec("cast", ("exact", "long")),  # max(x), max(x, other); max(x, dim) → a tuple
    "min": Spec("cast", ("exact", "long")),
    "argmax": Spec("long", differentiable=False),
    "argmin": Spec("long", differentiable=False),
    "logsumexp": _CAST,
    "all": Spec("exact", differentiable=False),  # bool
    "any": Spec("exact", differentiable=False),
    "std": _CAST,
    "var": _CAST,
    "norm": _EXACT,
    # PyTorch's softmax(out=) accepts inputs that require grad (the result has no history)
    "softmax": Spec("exact", differentiable=False),
    "log_softmax": Spec("exact", differentiable=False),
    # gathering and scattering
    "gather": _EXACT,
    "index_select": _EXACT,
    "scatter": _EXACT,
    "scatter_add": _EXACT,
    "nonzero": Spec("long", differentiable=False),
    # joining
    "cat": Spec("cat"),
    "stack": Spec("cat"),
    # sorting and selection
    "sort": _VALUES_INDICES,
    "topk": _VALUES_INDICES,
    "kthvalue": _VALUES_INDICES,
    "msort": _EXACT,
    # creation: out's dtype is the dtype
    **dict.fromkeys([
        "zeros", "ones", "full", "empty", "arange", "linspace", "eye", "rand", "randn",
    ], _DTYPE),
    # draws: the integers (randint, randperm) and Bernoulli's 0/1 are written in out's dtype
    "bernoulli": Spec("any"),
    "normal": _CAST,
    "multinomial": Spec("long", differentiable=False),
    "randint": Spec("any", differentiable=False),
    "randperm": Spec("any", differentiable=False),
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
    for name, spec in OUT_FUNCTIONS.items():
        fn = namespace[name]
        target = getattr(fn, "__wrapped__", fn)  # the C++ function behind a keyword wrapper
        if not _core._enable_out(name, target, spec.tensor, list(spec.tuple), spec.dim_position,
                                 spec.differentiable):
            namespace[name] = _python_with_out(fn, name)
