"""Autograd front end: grad modes, ``grad``, ``backward``, ``gradcheck``, ``detect_anomaly``,
custom ``Function``s (``function.py``).

The tape and the reverse sweep live in C++ (``cpp/src/tape/``, ``cpp/src/autograd/``); this
module only shapes arguments the way PyTorch users expect.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import numpy as np

from .. import _core
from .function import Function, FunctionCtx, once_differentiable

Tensor = _core.Tensor
_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = [
    "no_grad",
    "enable_grad",
    "set_grad_enabled",
    "is_grad_enabled",
    "grad",
    "backward",
    "gradcheck",
    "GradcheckError",
    "detect_anomaly",
    "Function",
    "FunctionCtx",
    "once_differentiable",
]

is_grad_enabled = _core.is_grad_enabled


class _GradMode:
    """Base of the grad-mode context managers; instances also work as decorators."""

    _mode = True

    def __enter__(self) -> _GradMode:
        self._prev = _core.is_grad_enabled()
        _core.set_grad_enabled(self._mode)
        return self

    def __exit__(self, *exc: object) -> None:
        _core.set_grad_enabled(self._prev)

    def __call__(self, fn: _F) -> _F:
        mode = self._mode

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            prev = _core.is_grad_enabled()
            _core.set_grad_enabled(mode)
            try:
                return fn(*args, **kwargs)
            finally:
                _core.set_grad_enabled(prev)

        return wrapper  # type: ignore[return-value]


class no_grad(_GradMode):  # noqa: N801 - PyTorch's name
    """Disable recording: ``with tg.no_grad(): w -= lr * w.grad``. Also a decorator.

    >>> import tapegrad as tg
    >>> w = tg.ones(2, requires_grad=True)
    >>> with tg.no_grad():
    ...     y = w * 2
    >>> y.requires_grad
    False
    """

    _mode = False


class enable_grad(_GradMode):  # noqa: N801
    """Re-enable recording inside ``no_grad``. Also a decorator.

    >>> import tapegrad as tg
    >>> w = tg.ones(2, requires_grad=True)
    >>> with tg.no_grad():
    ...     with tg.enable_grad():
    ...         y = w * 2
    >>> y.requires_grad
    True
    """

    _mode = True


class set_grad_enabled(_GradMode):  # noqa: N801
    """``with tg.set_grad_enabled(False): ...`` or a plain call ``tg.set_grad_enabled(False)``.

    >>> import tapegrad as tg
    >>> with tg.set_grad_enabled(False):
    ...     tg.is_grad_enabled()
    False
    >>> tg.is_grad_enabled()
    True
    """

    def __init__(self, mode: bool) -> None:
        self._mode = bool(mode)
        self._prev = _core.is_grad_enabled()
        _core.set_grad_enabled(self._mode)

    def __enter__(self) -> set_grad_enabled:
        return self

    def __exit__(self, *exc: object) -> None:
        _core.set_grad_enabled(self._prev)


def _as_list(x: Any, op: str = "grad") -> list[Any]:
    if isinstance(x, Tensor):
        return [x]
    if isinstance(x, (str, bytes, dict)) or not hasattr(x, "__iter__"):
        raise TypeError(f"{op}: expected a Tensor or a sequence of Tensors, got {type(x).__name__}")
    return list(x)


def grad(
    outputs: Tensor | Sequence[Tensor],
    inputs: Tensor | Sequence[Tensor],
    grad_outputs: Tensor | Sequence[Tensor | None] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    allow_unused: bool = False,
) -> tuple[Tensor, ...]:
    """Gradients of ``outputs`` with respect to ``inputs``, returned (not accumulated).

    One gradient per input; an input that ``outputs`` does not depend on is an error, or
    ``None`` with ``allow_unused=True`` (typed ``Tensor`` as in PyTorch).

    >>> import tapegrad as tg
    >>> x = tg.tensor(3.0, requires_grad=True)
    >>> (dx,) = tg.grad(x * x, x, create_graph=True)
    >>> dx
    tensor(6., grad_fn=<AddBackward0>)
    >>> tg.grad(dx, x)[0]
    tensor(2.)
    """
    outs = _as_list(outputs)
    ins = _as_list(inputs)
    if grad_outputs is not None:
        grad_outputs = _as_list(grad_outputs)
    for i, t in enumerate(ins):
        if not isinstance(t, Tensor):
            raise TypeError(f"grad: inputs[{i}] is not a Tensor")
        if not t.requires_grad:
            raise RuntimeError(
                f"grad: one of the differentiated Tensors (input {i}, shape {list(t.shape)}) "
                "does not require grad"
            )
    if retain_graph is None:
        retain_graph = create_graph
    # The same tensor listed twice gets its gradient twice, as in PyTorch: ask once per tensor.
    unique: list[Tensor] = []
    slot: list[int] = []
    for t in ins:
        j = next((k for k, u in enumerate(unique) if u is t), len(unique))
        if j == len(unique):
            unique.append(t)
        slot.append(j)
    grads = _core._run_backward(outs, grad_outputs, retain_graph, create_graph, unique,
                                allow_unused, "grad")
    return tuple(grads[j] for j in slot)  # type: ignore[arg-type]  # None only with allow_unused, as in PyTorch


def backward(tensors: Tensor | Sequence[Tensor],
             grad_tensors: Tensor | Sequence[Tensor | None] | None = None,
             retain_graph: bool | None = None, create_graph: bool = False) -> None:
    """Accumulate gradients of ``tensors`` into the leaves' ``.grad`` (``tg.autograd.backward``).

    >>> import tapegrad as tg
    >>> x = tg.ones(2, requires_grad=True)
    >>> tg.autograd.backward([(3 * x).sum()]); x.grad
    tensor([3., 3.])
    """
    outs = _as_list(tensors)
    if grad_tensors is not None:
        grad_tensors = _as_list(grad_tensors)
    if retain_graph is None:
        retain_graph = create_graph
    _core._run_backward(outs, grad_tensors, retain_graph, create_graph, [], False, "backward")


class GradcheckError(RuntimeError):
    """Raised by :func:`gradcheck` when analytical and numerical gradients disagree.

    >>> import tapegrad as tg
    >>> x = tg.tensor([1.0], dtype=tg.float64, requires_grad=True)
    >>> try:
    ...     tg.gradcheck(lambda t: (t * t).detach() * t, [x])
    ... except tg.GradcheckError:
    ...     print("mismatch found")
    mismatch found
    """



class _Elements:
    """``t``'s elements by flat (row-major) index, read and written in the tensor's own memory —
    a strided view's too, where ``numpy().reshape(-1)`` would be a copy."""

    def __init__(self, t: Tensor) -> None:
        self.a = t.detach()._numpy_view()
        self.shape = self.a.shape

    def __getitem__(self, j: int) -> Any:
        return self.a[np.unravel_index(j, self.shape)]

    def __setitem__(self, j: int, value: float) -> None:
        self.a[np.unravel_index(j, self.shape)] = value

def gradcheck(
    fn: Callable[..., Any],
    inputs: Sequence[Tensor] | Tensor,
    eps: float = 1e-6,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    raise_exception: bool = True,
    seed: int = 0,
) -> bool:
    """Check ``fn``'s backward against float64 central differences.

    For every output, the reverse-mode product ``vᵀJ`` (one backward with a random ``v``) is
    compared with the same product from central differences, column by column; small outputs
    also get their full Jacobian compared row by row. A random-direction check compares
    ``vᵀJu`` for a random ``u`` as a last, cheap cross-check. Inputs should be float64 tensors
    that require grad.

    >>> x = tg.randn(3, dtype=tg.float64, requires_grad=True)
    >>> tg.gradcheck(lambda t: (t * t).sum(), [x])
    True
    """
    ins = _as_list(inputs, "gradcheck")
    diff = [t for t in ins if isinstance(t, Tensor) and t.requires_grad]
    for t in diff:
        if t.dtype != _core.dtype.float64:
            raise TypeError(f"gradcheck: inputs must be float64, got {t.dtype} (shape {list(t.shape)})")
    if not diff:
        raise ValueError("gradcheck: at least one input must require grad")
    rng = np.random.default_rng(seed)
    positions = [next(i for i, t in enumerate(ins) if t is d) for d in diff]
    for i, t in zip(positions, diff):  # perturbing one element must move one input element
        if t.numel() and any(st == 0 and n > 1 for st, n in zip(t.stride(), t.shape)):
            raise RuntimeError(f"The {i}th input has a dimension with stride 0. gradcheck only "
                               "supports inputs that are non-overlapping to be able to compute "
                               "the numerical gradients correctly. You should call .contiguous "
                               "on the input before passing it to gradcheck.")

    def outputs() -> list[Tensor]:
        out = fn(*ins)
        return [o for o in _as_list(out) if isinstance(o, Tensor)]

    def values() -> list[np.ndarray]:
        with no_grad():
            return [o.detach()._numpy_view().astype(np.float64).copy() for o in outputs()]

    def fail(msg: str) -> bool:
        if raise_exception:
            raise GradcheckError(msg)
        return False

    outs = outputs()
    float_outs = [i for i, o in enumerate(outs) if o.dtype in (_core.dtype.float64, _core.dtype.float32)]
    for oi in float_outs:
        o = outs[oi]
        if not o.requires_grad:
            # No history, so the output must not depend on the inputs (an op that forgot to
            # record would otherwise pass): every numerical derivative must be zero.
            for k, t in enumerate(diff):
                flat = _Elements(t)
                for j in range(t.numel()):
                    old = float(flat[j])
                    flat[j] = old + eps
                    plus = values()[oi]
                    flat[j] = old - eps
                    minus = values()[oi]
                    flat[j] = old
                    col = (plus - minus) / (2 * eps)
                    if not np.allclose(col, 0.0, atol=atol):
                        return fail(
                            f"gradcheck: output {oi} (shape {list(o.shape)}) does not require "
                            f"grad but changes with input {k} (shape {list(t.shape)}) element "
                            f"{j}: the op did not record its gradient"
                        )
            continue
        vs = [rng.standard_normal(tuple(o.shape))]
        if o.numel() <= 16:
            for j in range(o.numel()):
                e = np.zeros(o.numel())
                e[j] = 1.0
                vs.append(e.reshape(tuple(o.shape)))
        analytics = []
        for v in vs:
            outs = outputs()
            analytics.append(
                grad(
                    outs[oi],
                    diff,
                    grad_outputs=[_core.tensor(v, dtype=outs[oi].dtype)],
                    retain_graph=True,
                    allow_unused=True,
                )
            )
        for k, t in enumerate(diff):
            # One central-difference sweep gives column j of the Jacobian; dot it with each v.
            nums = np.zeros((len(vs), t.numel()))
            flat = _Elements(t)
            for j in range(t.numel()):
                old = float(flat[j])
                flat[j] = old + eps
                plus = values()[oi]
                flat[j] = old - eps
                minus = values()[oi]
                flat[j] = old
                col = (plus - minus) / (2 * eps)
                for vi, v in enumerate(vs):
                    nums[vi, j] = float(np.sum(col * v))
            for vi in range(len(vs)):
                ak = analytics[vi][k]
                a = np.zeros(tuple(t.shape)) if ak is None else ak._numpy_view().astype(np.float64)
                num = nums[vi].reshape(tuple(t.shape))
                if not np.allclose(a, num, atol=atol, rtol=rtol, equal_nan=True):
                    return fail(_mismatch(oi, positions[k], t, a, num, vi))
        # Random direction: vᵀJu both ways.
        outs = outputs()
        v = rng.standard_normal(tuple(outs[oi].shape))
        us = [rng.standard_normal(tuple(t.shape)) for t in diff]
        analytic = grad(outs[oi], diff, grad_outputs=[_core.tensor(v, dtype=outs[oi].dtype)],
                        retain_graph=True, allow_unused=True)
        lhs = sum(
            float(np.sum((np.zeros(u.shape) if a is None else a._numpy_view()) * u))
            for a, u in zip(analytic, us)
        )
        views = [t.detach()._numpy_view() for t in diff]
        base = [w.copy() for w in views]
        for w, b0, u in zip(views, base, us):
            w[...] = b0 + eps * u
        plus = values()[oi]
        for w, b0, u in zip(views, base, us):
            w[...] = b0 - eps * u
        minus = values()[oi]
        for w, b0 in zip(views, base):
            w[...] = b0
        rhs = float(np.sum((plus - minus) / (2 * eps) * v))
        if not np.isclose(lhs, rhs, atol=atol * 10, rtol=rtol, equal_nan=True):
            return fail(
                f"gradcheck: random-direction check failed for output {oi}: "
                f"vᵀJu analytical {lhs:.8g} vs numerical {rhs:.8g}"
            )
    return True


def _mismatch(oi: int, pos: int, t: Tensor, a: np.ndarray, num: np.ndarray, vi: int) -> str:
    """gradcheck's message: which input's gradient is wrong, where, and by how much."""
    diff = np.abs(a - num)
    if not diff.size:
        return f"gradcheck: Jacobian mismatch for output {oi} with respect to input {pos}"
    flat = int(np.nanargmax(np.where(np.isnan(diff), np.inf, diff)))
    idx = tuple(int(i) for i in np.unravel_index(flat, diff.shape))
    rel = diff / np.maximum(np.abs(num), np.finfo(np.float64).tiny)
    where = "a random vᵀJ" if vi == 0 else f"row {vi - 1} of the Jacobian (one output element)"
    return (
        f"gradcheck: Jacobian mismatch for output {oi} with respect to input {pos} "
        f"(shape {list(t.shape)}): the gradient of input {pos} is wrong, max abs difference "
        f"{float(diff.reshape(-1)[flat]):.6g} at index {idx} (analytical "
        f"{float(a.reshape(-1)[flat]):.8g}, numerical {float(num.reshape(-1)[flat]):.8g}), "
        f"max rel difference {float(np.nanmax(rel)):.6g}; checked through {where}\n"
        f"analytical:\n{a}\nnumerical:\n{num}"
    )


class detect_anomaly:  # noqa: N801
    """While active, the first recorded op whose forward output holds a NaN (from inputs
    without one) raises, naming the op and shapes; and a backward formula that produces NaN
    or Inf raises, naming its backward (``'SqrtBackward0' returned nan or inf values``).

    >>> import tapegrad as tg
    >>> x = tg.tensor([-1.0], requires_grad=True)
    >>> with tg.detect_anomaly():
    ...     tg.sqrt(x)
    Traceback (most recent call last):
    ...
    RuntimeError: ...
    """

    def __init__(self, check_nan: bool = True) -> None:
        self._on = check_nan

    def __enter__(self) -> detect_anomaly:
        self._prev = _core.is_anomaly_enabled()
        _core.set_anomaly_enabled(self._on)
        return self

    def __exit__(self, *exc: object) -> None:
        _core.set_anomaly_enabled(self._prev)

    def __call__(self, fn: _F) -> _F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with detect_anomaly(self._on):
                return fn(*args, **kwargs)

        return wrapper  # type: ignore[return-value]
