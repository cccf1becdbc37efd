"""``tapegrad.compile`` (PyTorch's ``torch.compile``): the callable that captures a step and
replays it (Note [capture and replay] in cpp/src/capture/capture.cpp; the guards are in
``_capture.py``, below ``nn``), and ``OptimizedModule`` for a compiled module."""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any, TypeVar

from . import _capture, _core
from .nn.modules.module import Module

__all__ = ["compile"]

_F = TypeVar("_F", bound=Callable[..., Any])


def _optimized_module(mod: Any, compiled: Any) -> Any:
    """``torch.compile(module)``'s result: a module holding the original as ``_orig_mod`` (so
    ``parameters()``, ``state_dict()`` (keys prefixed ``_orig_mod.``), ``train()``/``eval()``
    work as on PyTorch's ``OptimizedModule``) whose call goes through the compiled callable;
    other attributes are the original module's."""
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
        c = _core._Compiled(fn, fullgraph, cache_size_limit, vars(_capture), _capture.fn_guards)
        if isinstance(fn, Module):
            return _optimized_module(fn, c)
        if isinstance(fn, (types.FunctionType, types.MethodType)):
            functools.update_wrapper(c, fn)
        return c

    if model is None:
        return wrap
    return wrap(model)
