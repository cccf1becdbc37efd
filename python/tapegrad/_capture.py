"""``tapegrad.compile``: a step captured once and replayed in C++ (Note [capture and replay] in
cpp/src/capture/capture.cpp).

The first call with a given signature runs the function eagerly while every engine call it
makes is recorded; later calls whose guards hold replay those engine calls in C++, in the same
order, with no Python between them — so a replay gives eager's results to the bit. What the
function decided in Python is baked in and guarded: the arguments' shapes, dtypes and
``requires_grad``, non-tensor arguments by value, the function's globals and closure variables,
each module's ``training`` flag, the optimizers' hyperparameters. Reading tensor data into Python
(``item()``, ``bool(t)``, ``tolist()``), making a tensor from Python data, custom autograd
Functions and anything not yet recorded send that signature to eager execution instead
(``fullgraph=True`` raises, naming the reason). As with ``jax.jit``, Python side effects of the
function (printing, appending to a list) happen while capturing only.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any, TypeVar

from . import _core

__all__ = ["compile"]

# Captures in progress (any thread): the library's Python asks _core for guards only then.
ACTIVE = 0
# Bumped whenever a module attribute starts or stops naming a parameter, buffer or submodule
# (nn.Module.__setattr__, __delattr__ and the register_* methods call structure_changed).
STRUCTURE = 0


def structure_changed() -> None:
    global STRUCTURE
    STRUCTURE += 1

_F = TypeVar("_F", bound=Callable[..., Any])

# Values guarded by identity or value; modules (tapegrad, math) are not guarded.
_SKIP = (types.ModuleType,)


def fn_guards(fn: Callable[..., Any]) -> list[tuple[str, Any, Any]]:
    """The globals and closure cells ``fn`` reads: ``("item", globals, name)`` and
    ``("cell", cell, None)`` (bound methods: their function's, and the instance is guarded by
    identity through the call's own checks)."""
    f = getattr(fn, "__func__", fn)
    code = getattr(f, "__code__", None)
    if code is None:
        return []
    out: list[tuple[str, Any, Any]] = []
    g = getattr(f, "__globals__", {})
    for name in code.co_names:
        if name in g and not isinstance(g[name], _SKIP):
            out.append(("item", g, name))
    for cell in getattr(f, "__closure__", None) or ():
        try:
            v = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if not isinstance(v, _SKIP):
            out.append(("cell", cell, None))
    return out


def guard_module(module: Any) -> None:
    """While capturing: the module's ``training`` flag, its hooks and the parameter structure
    of every module (``STRUCTURE``, bumped when a parameter, buffer or submodule is set)."""
    if module.__dict__.get("_hooks") is not None:
        _core._capture_refuse(f"{type(module).__name__} has forward hooks (Python callbacks a "
                              "replay would not run)")
    _core._capture_guard_item(module.__dict__, "training")
    _core._capture_guard_item(module.__dict__, "_hooks")
    _core._capture_guard_item(globals(), "STRUCTURE")


def guard_optimizer(opt: Any) -> None:
    """While capturing: every hyperparameter of every group (an LR scheduler's change captures
    again) and the number of groups."""
    _core._capture_guard_len(opt.param_groups)
    for g in opt.param_groups:
        for k in g:
            _core._capture_guard_item(g, k)


def _optimized_module(mod: Any, compiled: Any) -> Any:
    """``torch.compile(module)``'s result: a module holding the original as ``_orig_mod`` (so
    ``parameters()``, ``state_dict()`` (keys prefixed ``_orig_mod.``), ``train()``/``eval()``
    work as on PyTorch's ``OptimizedModule``) whose call goes through the compiled callable;
    other attributes are the original module's."""
    from .nn.modules.module import Module

    class OptimizedModule(Module):
        def __init__(self) -> None:
            super().__init__()
            self._orig_mod = mod
            object.__setattr__(self, "_compiled", compiled)

        def forward(self, *args: Any, **kwargs: Any) -> Any:
            return self._compiled(*args, **kwargs)

        def __getattr__(self, name: str) -> Any:
            try:
                return super().__getattr__(name)
            except AttributeError:
                return getattr(self.__dict__["_modules"]["_orig_mod"], name)

        @property
        def fallback_reasons(self) -> list[str]:
            return self._compiled.fallback_reasons

        @property
        def _stats(self) -> dict[str, int]:
            return self._compiled._stats

    OptimizedModule.__qualname__ = OptimizedModule.__name__
    return OptimizedModule()


def compile(model: _F | None = None, *, fullgraph: bool = False, dynamic: bool | None = None,
            backend: str | Callable[..., Any] = "inductor", mode: str | None = None,
            options: dict[str, Any] | None = None, disable: bool = False,
            cache_size_limit: int = 8) -> Any:
    """Capture ``model`` (a function or a module) on its first call and replay it in C++ on
    later calls with the same signature (PyTorch's ``torch.compile`` name; usable as a
    decorator, with or without arguments).

    A replayed call runs the same engine calls as the eager one — forward, ``backward()``,
    optimizer ``step()``, ``zero_grad()`` — with the new inputs' data, and gives the same bits.
    A call whose shapes, dtypes, ``requires_grad``, non-tensor arguments or guarded Python
    state differ captures again (at most ``cache_size_limit`` programs; then it runs eagerly).
    A function that reads tensor data into Python (``loss.item()``), makes tensors from Python
    data or uses something capture does not record runs eagerly for that signature;
    ``fullgraph=True`` raises ``RuntimeError`` with the reason instead.
    ``.fallback_reasons`` lists why calls fell back. ``dynamic``, ``backend``, ``mode`` and
    ``options`` are accepted for PyTorch compatibility and ignored; ``disable=True`` returns
    ``model`` unchanged.

    >>> import tapegrad as tg
    >>> w = tg.tensor([1.0, 2.0], requires_grad=True)
    >>> @tg.compile
    ... def step(x):
    ...     loss = ((w * x).sum() - 1) ** 2
    ...     loss.backward()
    ...     with tg.no_grad():
    ...         w.sub_(0.1 * w.grad)
    ...         w.grad.zero_()
    ...     return loss
    >>> [round(step(tg.tensor([1.0, 1.0])).item(), 4) for _ in range(3)]
    [4.0, 1.44, 0.5184]
    """
    del dynamic, backend, mode, options
    if not isinstance(fullgraph, bool):
        raise TypeError(f"compile(): fullgraph must be a bool, got {type(fullgraph).__name__}")
    if not isinstance(cache_size_limit, int) or cache_size_limit < 1:
        raise ValueError(f"compile(): cache_size_limit must be a positive int, got {cache_size_limit!r}")

    def wrap(fn: _F) -> Any:
        if disable:
            return fn
        if not callable(fn):
            raise TypeError(f"compile(): expected a callable, got {type(fn).__name__}")
        from .nn.modules.module import Module
        c = _core._Compiled(fn, fullgraph, cache_size_limit, globals(), fn_guards)
        if isinstance(fn, Module):
            return _optimized_module(fn, c)
        if isinstance(fn, (types.FunctionType, types.MethodType)):
            functools.update_wrapper(c, fn)
        return c

    if model is None:
        return wrap
    return wrap(model)
