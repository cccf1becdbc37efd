"""Custom differentiable operations: ``tapegrad.autograd.Function`` (``torch.autograd.Function``).

A subclass gives a ``forward`` and a ``backward``; ``MyFn.apply(*args)`` runs the forward
without recording and puts ONE entry on the tape whose backward calls ``MyFn.backward``
(Note [custom functions] in ``cpp/src/autograd/custom.cpp``). Its ``grad_fn`` is
``MyFnBackward``.

>>> import tapegrad as tg
>>> class Square(tg.autograd.Function):
...     @staticmethod
...     def forward(ctx, x):
...         ctx.save_for_backward(x)
...         return x * x
...     @staticmethod
...     def backward(ctx, grad):
...         (x,) = ctx.saved_tensors
...         return grad * 2 * x
>>> x = tg.tensor([1.0, 3.0], requires_grad=True)
>>> y = Square.apply(x)
>>> y.grad_fn
'SquareBackward'
>>> y.sum().backward(); x.grad
tensor([2., 6.])
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from .. import _core

Tensor = _core.Tensor
_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = ["Function", "FunctionCtx", "once_differentiable"]


class FunctionCtx:
    """The ``ctx`` a :class:`Function`'s ``forward`` and ``backward`` share.

    Attributes set on it in ``forward`` are there in ``backward``. Tensors needed by the
    backward go through :meth:`save_for_backward` (version-checked; an output saved this way
    does not keep itself alive); a tensor stored as a plain attribute is kept as long as the
    graph, and an output stored so keeps its own graph alive — save outputs, don't assign them.

    >>> import tapegrad as tg
    >>> class Scale(tg.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x, k):
    ...         ctx.k = k                      # a non-tensor argument, kept as an attribute
    ...         print(ctx.needs_input_grad)
    ...         return x * k
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         return g * ctx.k, None         # None for the non-tensor argument
    >>> y = Scale.apply(tg.ones(2, requires_grad=True), 3.0)
    (True, False)
    """

    needs_input_grad: tuple[bool, ...]

    def __init__(self) -> None:
        self.needs_input_grad = ()
        self.to_save: tuple[Tensor | None, ...] = ()
        self._saved: tuple[Tensor | None, ...] | None = None
        self._dirty: tuple[Tensor, ...] = ()
        self._non_differentiable: tuple[Tensor, ...] = ()
        self._materialize_grads = True
        self._recorded = False

    def save_for_backward(self, *tensors: Tensor | None) -> None:
        """Keep ``tensors`` (inputs, outputs or intermediates; ``None`` allowed) for backward."""
        for i, t in enumerate(tensors):
            if t is not None and not isinstance(t, Tensor):
                raise TypeError(
                    f"save_for_backward can only save tensors, but argument {i} is a "
                    f"{type(t).__name__}; store other values as attributes of ctx")
        self.to_save = tensors

    @property
    def saved_tensors(self) -> tuple[Tensor | None, ...]:
        """The tensors given to :meth:`save_for_backward`, as the backward sees them."""
        if self._saved is not None:
            return self._saved
        if self._recorded:
            raise RuntimeError(
                "saved_tensors: the saved tensors are only available inside backward (they live "
                "on the tape entry, and a backward without retain_graph=True frees them)")
        return self.to_save

    def mark_dirty(self, *tensors: Tensor) -> None:
        """Declare inputs the forward modified in place (they must be returned as outputs)."""
        self._dirty = tensors

    def mark_non_differentiable(self, *tensors: Tensor) -> None:
        """Declare outputs that get no gradient (indices, masks); their backward grads are zeros."""
        self._non_differentiable = tensors

    def set_materialize_grads(self, value: bool) -> None:
        """With ``False``, backward gets ``None`` instead of zeros for outputs without gradient."""
        self._materialize_grads = bool(value)


def _default_setup_context(ctx: Any, inputs: tuple[Any, ...], output: Any) -> None:
    raise NotImplementedError


class Function:
    """Base class of custom differentiable operations (``torch.autograd.Function``).

    Subclasses define static methods ``forward(ctx, *args)`` and ``backward(ctx, *grads)`` —
    or ``forward(*args)`` plus ``setup_context(ctx, inputs, output)`` — and are called through
    ``apply``. ``backward`` gets one gradient per output of ``forward`` and returns one per
    argument of ``forward`` (``None`` for non-tensor arguments and inputs that need none; see
    ``ctx.needs_input_grad``). Written with tapegrad ops, the backward is itself
    differentiable (``create_graph=True``); :func:`once_differentiable` forbids that instead.
    Check a new Function with :func:`tapegrad.gradcheck`.

    >>> import tapegrad as tg
    >>> class Exp(tg.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         y = tg.exp(x)
    ...         ctx.save_for_backward(y)       # an output: saved without keeping itself alive
    ...         return y
    ...     @staticmethod
    ...     def backward(ctx, g):
    ...         (y,) = ctx.saved_tensors
    ...         return g * y                   # d eˣ/dx = eˣ
    >>> x = tg.tensor([0.0, 1.0], dtype=tg.float64, requires_grad=True)
    >>> tg.gradcheck(Exp.apply, [x])
    True
    """

    setup_context: Callable[..., Any] = staticmethod(_default_setup_context)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(
            f"{type(self).__name__}: autograd Functions are not instantiated; call "
            f"{type(self).__name__}.apply(...) (forward and backward are static methods)")

    @staticmethod
    def forward(ctx: Any, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("You must implement the forward function for custom autograd.Function.")

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Any) -> Any:
        raise NotImplementedError("You must implement the backward function for custom autograd.Function.")

    # torch.autograd.Function's name for backward in the functorch era.
    @classmethod
    def vjp(cls, ctx: Any, *grad_outputs: Any) -> Any:
        return cls.backward(ctx, *grad_outputs)

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Run ``forward`` on ``args`` and record one tape entry whose backward is ``backward``."""
        vmap = sys.modules.get("tapegrad.func_vmap")  # loaded only when tapegrad.func is used
        if vmap is not None and any(isinstance(a, vmap.BatchedTensor) for a in args):
            raise RuntimeError(
                f"vmap: {cls.__name__}.apply: a custom autograd.Function has no batch rule "
                "(PyTorch needs a vmap staticmethod or generate_vmap_rule=True, which tapegrad "
                "does not have); write the function with tapegrad ops, or loop over the batch")
        ctx = FunctionCtx()
        ctx.needs_input_grad = tuple(isinstance(a, Tensor) and a.requires_grad for a in args)
        prev = _core.is_grad_enabled()
        _core.set_grad_enabled(False)
        try:
            if cls.setup_context is not _default_setup_context:
                out = cls.forward(*args, **kwargs)
                cls.setup_context(ctx, args, out)
            else:
                out = cls.forward(ctx, *args, **kwargs)
        finally:
            _core.set_grad_enabled(prev)
        if not (prev and any(ctx.needs_input_grad)):
            ctx.to_save = ctx._dirty = ctx._non_differentiable = ()
            return out
        return _record(cls, ctx, args, out)


def _record(cls: type[Function], ctx: FunctionCtx, args: tuple[Any, ...], out: Any) -> Any:
    name = cls.__name__ + "Backward"
    is_tuple = isinstance(out, tuple)
    outs = list(out) if is_tuple else [out]
    inputs = [a for a in args if isinstance(a, Tensor)]
    tensor_args = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
    tensor_mask = [isinstance(a, Tensor) for a in args]
    dirty = {id(t) for t in ctx._dirty}
    for t in ctx._dirty:
        if not any(t is a for a in inputs):
            raise ValueError(f"{name}: mark_dirty() was given a tensor that is not an input")
        if not any(t is o for o in outs):
            raise ValueError(f"{name}: a tensor marked dirty must be returned as an output")
    non_diff = {id(t) for t in ctx._non_differentiable}
    recorded: list[int] = []  # positions in outs of the outputs the entry records
    tensor_outs: list[int] = []
    for j, o in enumerate(outs):
        if not isinstance(o, Tensor):
            continue
        tensor_outs.append(j)
        if id(o) not in dirty and any(o is a for a in inputs):
            # An input returned unchanged: the output is a new tensor over the same data.
            outs[j] = o.detach()
        if id(o) in non_diff or not o.dtype.is_floating_point:
            continue
        recorded.append(j)
    # Saved tensors: the identities the forward saw (an input returned as an output is saved
    # as the input); the engine keeps outputs as aliases.
    saved = list(ctx.to_save)
    saved_pos = [i for i, t in enumerate(saved) if t is not None]
    out_meta = {j: (tuple(outs[j].shape), outs[j].dtype) for j in tensor_outs}
    materialize = ctx._materialize_grads
    recorded_set = set(recorded)
    n_args = len(args)
    n_outs, n_saved = len(outs), len(saved)

    # The closure must not reach an output (nor ctx hold one): the entry owns this closure
    # and an output owns the entry, a cycle no collector could break.
    def backward(saved_list: list[Tensor], grads: list[Tensor | None]) -> list[Tensor | None]:
        full: list[Any] = [None] * n_outs
        it = iter(grads)
        for j in tensor_outs:
            if j in recorded_set:
                full[j] = next(it)
            elif materialize:
                shape, dtype = out_meta[j]
                if dtype.is_floating_point:
                    full[j] = _core.zeros(shape, dtype=dtype)
        restored: list[Tensor | None] = [None] * n_saved
        for i, t in zip(saved_pos, saved_list):
            restored[i] = t
        ctx._saved = tuple(restored)
        try:
            result = cls.backward(ctx, *full)
        finally:
            ctx._saved = None  # the entry holds them; ctx must not outlive them with a copy
        if not isinstance(result, tuple):
            result = (result,)
        if len(result) > n_args and all(r is None for r in result[n_args:]):
            result = result[:n_args]
        if len(result) != n_args:
            raise RuntimeError(
                f"function {name} returned an incorrect number of gradients "
                f"(expected {n_args}, got {len(result)})")
        for i, r in enumerate(result):
            if r is None:
                continue
            if not tensor_mask[i]:
                raise RuntimeError(
                    f"function {name} returned a gradient different than None at position "
                    f"{i}, but the corresponding forward input was not a Tensor")
            if not isinstance(r, Tensor):
                raise TypeError(
                    f"function {name} returned a {type(r).__name__} as the gradient at "
                    f"position {i}; expected a Tensor or None")
        return [result[i] for i in tensor_args]

    _core._record_function(name, inputs, [outs[j] for j in recorded],
                           [saved[i] for i in saved_pos], backward, materialize)
    ctx.to_save = ctx._dirty = ctx._non_differentiable = ()
    ctx._recorded = True
    return tuple(outs) if is_tuple else outs[0]


def once_differentiable(fn: _F) -> _F:
    """Decorate a ``backward`` that is not differentiable itself: it runs without recording,
    and differentiating its result (``create_graph=True``, then a second backward) raises.

    >>> import tapegrad as tg
    >>> from tapegrad.autograd.function import once_differentiable
    >>> class Cube(tg.autograd.Function):
    ...     @staticmethod
    ...     def forward(ctx, x):
    ...         ctx.save_for_backward(x)
    ...         return x ** 3
    ...     @staticmethod
    ...     @once_differentiable
    ...     def backward(ctx, g):
    ...         (x,) = ctx.saved_tensors
    ...         return 3 * x * x * g
    >>> x = tg.tensor(2.0, requires_grad=True)
    >>> (gx,) = tg.grad(Cube.apply(x), x, create_graph=True)
    >>> tg.grad(gx, x)
    Traceback (most recent call last):
    ...
    RuntimeError: trying to differentiate twice a function that was marked with @once_differentiable
    """

    @functools.wraps(fn)
    def wrapper(ctx: Any, *grads: Any) -> Any:
        prev = _core.is_grad_enabled()
        _core.set_grad_enabled(False)
        try:
            result = fn(ctx, *grads)
        finally:
            _core.set_grad_enabled(prev)
        # What the gradients depend on: the incoming gradients and (unlike PyTorch, which
        # looks at the former only) the saved tensors.
        saved = ctx._saved if isinstance(ctx, FunctionCtx) and ctx._saved else ()
        needing = [t for t in (*grads, *saved) if isinstance(t, Tensor) and t.requires_grad]
        if not prev or not needing:
            return result
        # Under create_graph: make each gradient the output of an entry whose backward
        # raises, so a second derivative through it fails loudly instead of being zero.
        single = not isinstance(result, tuple)
        res = [result] if single else list(result)
        outs = []
        for i, r in enumerate(res):
            if isinstance(r, Tensor) and r.dtype.is_floating_point:
                if r.requires_grad or any(r is g for g in grads):
                    r = r.detach()
                res[i] = r
                outs.append(r)
        _core._record_function("DelayedErrorBackward", needing, outs, [], _delayed_error, True)
        return res[0] if single else tuple(res)

    return wrapper  # type: ignore[return-value]


def _delayed_error(saved: list[Tensor], grads: list[Tensor | None]) -> list[Tensor | None]:
    raise RuntimeError("trying to differentiate twice a function that was marked with "
                       "@once_differentiable")
