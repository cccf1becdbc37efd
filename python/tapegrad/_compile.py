"""``tapegrad.compile`` (PyTorch's ``torch.compile``): the callable that captures a step and
replays it (Note [capture and replay] in cpp/src/capture/capture.cpp; the guards are in
``_capture.py``, below ``nn``), and ``OptimizedModule`` for a compiled module."""

from __future__ import annotations

import functools
import os
import types
from collections.abc import Callable
from typing import Any, TypeVar

from . import _capture, _core
from .nn.modules.module import Module

__all__ = ["compile", "load_program", "SavedProgram"]

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
    state differ captures again (at most ``cache_size_limit`` programs; then it runs eagerly);
    a function that changes the Python state it reads (a counter, a scheduler stepped inside
    it) runs eagerly, since a replay would not make that change.
    A function that reads tensor data into Python (``loss.item()``), makes tensors from Python
    data or uses something capture does not record runs eagerly for that signature;
    ``fullgraph=True`` raises ``RuntimeError`` with the reason instead.
    ``.fallback_reasons`` lists why calls fell back. A program whose every call has a C++ form
    (Note [saved programs]) replays that form — the same engine calls without re-entering the
    bindings; ``options={"cpp_form": False}`` replays the binding calls instead (the results
    are the same bits either way). In the C++ form, an add, sub, mul or div that records
    nothing (``lr * w.grad`` under ``no_grad``) writes into the tensor it made on the previous
    call when nothing else holds that one (Note [reused temporaries]);
    ``options={"memory_planning": False}`` makes a new tensor each time, as eagerly (the same
    bits either way). A ``linear`` of a 2-D input whose output only the ``relu`` right after it
    reads runs as one GEMM with relu in its epilogue (Note [fused linear-relu]);
    ``options={"fusion": False}`` runs the two calls (the same bits either way). ``.save(path, names)`` writes the latest
    captured program with its state (parameters, optimizer state) for :func:`load_program`
    and C++ (``tapegrad::capture::SavedProgram``). ``dynamic``, ``backend`` and ``mode`` are
    accepted for PyTorch compatibility and ignored; ``disable=True`` returns
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
    del dynamic, backend, mode
    flags = {"cpp_form": True, "memory_planning": True, "fusion": True}
    for key, value in (options or {}).items():
        if key not in flags or not isinstance(value, bool):
            raise ValueError(f"compile(): unknown option {key}={value!r} (tapegrad knows "
                             "cpp_form, memory_planning and fusion, each True/False)")
        flags[key] = value
    if not isinstance(fullgraph, bool):
        raise TypeError(f"compile(): fullgraph must be a bool, got {type(fullgraph).__name__}")
    if not isinstance(cache_size_limit, int) or cache_size_limit < 1:
        raise ValueError(f"compile(): cache_size_limit must be a positive int, got {cache_size_limit!r}")

    def wrap(fn: _F) -> Any:
        if disable:
            return fn
        if not callable(fn):
            raise TypeError(f"compile(): expected a callable, got {type(fn).__name__}")
        c = _core._Compiled(fn, fullgraph, cache_size_limit, vars(_capture), _capture.fn_guards,
                            flags["cpp_form"], flags["memory_planning"], flags["fusion"])
        if isinstance(fn, Module):
            return _optimized_module(fn, c)
        if isinstance(fn, (types.FunctionType, types.MethodType)):
            functools.update_wrapper(c, fn)
        return c

    if model is None:
        return wrap
    return wrap(model)


class SavedProgram:
    """A training step saved by a compiled function's ``save(path, names)`` and loaded by
    :func:`load_program`: each call runs the captured engine calls in C++ — forward,
    ``backward()``, optimizer step — on new inputs, updating the program's own copy of the
    state (parameters, gradients, optimizer buffers) in place, exactly as the captured step
    would; no Python runs per op. The same file runs from C++ with
    ``tapegrad::capture::SavedProgram::load`` (docs/saved-programs.md).

    >>> import tapegrad as tg, tempfile, os
    >>> b = tg.zeros(1, requires_grad=True)
    >>> @tg.compile
    ... def step():
    ...     loss = ((b - 3.0) ** 2).sum()
    ...     loss.backward()
    ...     with tg.no_grad():
    ...         b.sub_(0.25 * b.grad)
    ...         b.grad.zero_()
    ...     return loss
    >>> _ = step()
    >>> path = os.path.join(tempfile.mkdtemp(), "b.tgp")
    >>> step.save(path, {"b": b})
    >>> saved = tg.load_program(path)
    >>> saved().item(), saved.state["b"].item()
    (2.25, 2.25)
    """

    def __init__(self, impl: Any) -> None:
        self._impl = impl

    def __call__(self, *inputs: Any) -> Any:
        """One step on ``inputs`` (tensors of the captured shapes and dtypes); returns what the
        captured function returned (its tensors: a tensor, or a list of them; None when it
        returned no tensor)."""
        return self._impl.run(list(inputs))

    @property
    def state(self) -> dict[str, Any]:
        """The named tensors (``names`` given to ``save``) as the last call left them."""
        return dict(self._impl.state())

    @property
    def num_calls(self) -> int:
        """How many engine calls one step makes."""
        return int(self._impl.num_calls)

    def __repr__(self) -> str:
        return f"SavedProgram({self.num_calls} engine calls, state={sorted(self.state)})"


def load_program(path: str) -> SavedProgram:
    """Load a step saved by ``tapegrad.compile(fn).save(path, names)`` (see
    :class:`SavedProgram`). A saved program is code, as a pickle is: load only files you trust.

    >>> import tapegrad as tg, tempfile, os
    >>> w = tg.tensor([0.0], requires_grad=True)
    >>> opt = tg.optim.SGD([w], lr=0.1)
    >>> @tg.compile
    ... def step(x):
    ...     loss = ((w * x - 2.0) ** 2).mean()
    ...     opt.zero_grad()
    ...     loss.backward()
    ...     opt.step()
    ...     return loss
    >>> _ = step(tg.ones(4))
    >>> path = os.path.join(tempfile.mkdtemp(), "step.tgp")
    >>> step.save(path, {"w": w})
    >>> saved = tg.load_program(path)
    >>> [round(saved(tg.ones(4)).item(), 4) for _ in range(2)]
    [2.56, 1.6384]
    >>> saved.state["w"]
    tensor([0.9760], requires_grad=True)
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"load_program(): path must be a str or os.PathLike, got {type(path).__name__}")
    return SavedProgram(_core._SavedProgram.load(os.fspath(path)))
