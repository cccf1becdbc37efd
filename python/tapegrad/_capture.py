"""What ``tapegrad.compile`` (``_compile.py``) needs below ``nn`` and ``optim``: the guards the
library's Python registers while a step is captured, and the capture flag they test. A step is
captured once and replayed in C++ (Note [capture and replay] in
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

import copy
import types
from collections.abc import Callable
from typing import Any

from . import _core

__all__: list[str] = []  # tapegrad.compile is in _compile.py, above nn

# Captures in progress (any thread): the library's Python asks _core for guards only then.
ACTIVE = 0
# Bumped whenever a module attribute starts or stops naming a parameter, buffer or submodule
# (nn.Module.__setattr__, __delattr__ and the register_* methods call structure_changed).
STRUCTURE = 0


def structure_changed() -> None:
    global STRUCTURE
    STRUCTURE += 1

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
            _guard_contents(g[name], out)
    for cell in getattr(f, "__closure__", None) or ():
        try:
            v = cell.cell_contents
        except ValueError:  # an empty cell
            continue
        if not isinstance(v, _SKIP):
            out.append(("cell", cell, None))
            _guard_contents(v, out)
    return out


_PLAIN = (int, float, complex, str, bytes, bool, type(None))


def _plain(v: Any, budget: list[int]) -> bool:
    """v is numbers, strings, None, and tuples, lists and dicts of them (at most 256 in all)."""
    budget[0] -= 1
    if budget[0] < 0:
        return False
    if type(v) in _PLAIN:
        return True
    if type(v) in (tuple, list):
        return all(_plain(x, budget) for x in v)
    if type(v) is dict:
        return all(_plain(k, budget) and _plain(x, budget) for k, x in v.items())
    return False


def _guard_contents(v: Any, out: list[tuple[str, Any, Any]]) -> None:
    """A dict or list of plain values that fn reads is guarded by its contents (a counter in
    a dict, a list of settings): ``("contents", v, copy)``. Others are guarded by identity."""
    if type(v) in (dict, list) and _plain(v, [256]):
        out.append(("contents", v, copy.deepcopy(v)))


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
