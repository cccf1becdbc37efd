"""A module's hooks and the call that runs them (``Module.__call__`` once a hook exists).

Backward hooks use two identity :class:`tapegrad.autograd.Function`\\ s, as PyTorch's
``BackwardHook`` does: one over the module's positional tensor inputs, one over its tensor
outputs. The outputs' backward sees ``grad_output`` (and runs the backward pre-hooks); the
inputs' backward sees ``grad_input`` and runs the full backward hooks with both.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any

from ... import _core
from ...autograd.function import Function
from ...utils.hooks import RemovableHandle

Tensor = _core.Tensor

_KINDS = ("forward_pre", "forward", "backward_pre", "backward")


class _ModuleHooks:
    def __init__(self) -> None:
        self.forward_pre: OrderedDict[int, Any] = OrderedDict()
        self.forward: OrderedDict[int, Any] = OrderedDict()
        self.backward_pre: OrderedDict[int, Any] = OrderedDict()
        self.backward: OrderedDict[int, Any] = OrderedDict()

    def add(self, kind: str, value: Any, prepend: bool) -> RemovableHandle:
        d = getattr(self, kind)
        handle = RemovableHandle(d)
        d[handle.id] = value
        if prepend:
            d.move_to_end(handle.id, last=False)
        return handle

    def call(self, module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        for hook, with_kwargs in list(self.forward_pre.values()):
            if with_kwargs:
                r = hook(module, args, kwargs)
                if r is not None:
                    if not (isinstance(r, tuple) and len(r) == 2):
                        raise RuntimeError(
                            "forward pre-hook must return None or a tuple of (new_args, "
                            f"new_kwargs), but got {r!r}")
                    args, kwargs = r
            else:
                r = hook(module, args)
                if r is not None:
                    args = r if isinstance(r, tuple) else (r,)
        state = None
        if (self.backward or self.backward_pre) and _core.is_grad_enabled():
            state = _BackwardState(module, self)
            args = state.wrap_inputs(args)
        out = module.forward(*args, **kwargs)
        for hook, with_kwargs in list(self.forward.values()):
            r = hook(module, args, kwargs, out) if with_kwargs else hook(module, args, out)
            if r is not None:
                out = r
        if state is not None:
            out = state.wrap_outputs(out)
        return out


class _BackwardState:
    """One call's backward-hook bookkeeping, shared by its two identity Functions."""

    def __init__(self, module: Any, hooks: _ModuleHooks) -> None:
        self.module = module
        self.hooks = hooks
        self.grad_output: tuple[Any, ...] | None = None
        self.n_inputs = 0
        self.input_mask: list[bool] = []

    def wrap_inputs(self, args: tuple[Any, ...]) -> tuple[Any, ...]:
        pos = [i for i, a in enumerate(args) if isinstance(a, Tensor)]
        self.n_inputs = len(pos)
        self.input_mask = [args[i].requires_grad for i in pos]
        if not any(self.input_mask):
            return args
        wrapped = _InputsHook.apply(self, *[args[i] for i in pos])
        new = list(args)
        for i, w in zip(pos, wrapped):
            new[i] = w
        return tuple(new)

    def wrap_outputs(self, out: Any) -> Any:
        single = isinstance(out, Tensor)
        outs = (out,) if single else out
        if not isinstance(outs, tuple):
            return out
        pos = [i for i, o in enumerate(outs) if isinstance(o, Tensor) and o.requires_grad]
        if not pos:
            return out
        wrapped = _OutputsHook.apply(self, *[outs[i] for i in pos])
        new = list(outs)
        for i, w in zip(pos, wrapped):
            new[i] = w
        return new[0] if single else tuple(new)

    def on_grad_output(self, grads: tuple[Any, ...]) -> tuple[Any, ...]:
        for hook in list(self.hooks.backward_pre.values()):
            r = hook(self.module, grads)
            if r is not None:
                grads = _checked(r, grads, "backward pre-hook", "grad_output")
        self.grad_output = grads
        if not any(self.input_mask):
            # No input needs a gradient: the full hooks run now, with grad_input of Nones.
            self.on_grad_input((None,) * self.n_inputs)
        return grads

    def on_grad_input(self, grads: tuple[Any, ...]) -> tuple[Any, ...]:
        grad_output = self.grad_output if self.grad_output is not None else ()
        for hook in list(self.hooks.backward.values()):
            r = hook(self.module, grads, grad_output)
            if r is not None:
                grads = _checked(r, grads, "backward hook", "grad_input")
        self.grad_output = None  # the state outlives this backward with the graph
        return grads


def _checked(r: Any, old: tuple[Any, ...], what: str, name: str) -> tuple[Any, ...]:
    r = tuple(r) if isinstance(r, (tuple, list)) else (r,)
    if len(r) != len(old):
        raise RuntimeError(f"{what} returned {len(r)} values for {name}, expected {len(old)}")
    for new, prev in zip(r, old):
        if isinstance(new, Tensor) and isinstance(prev, Tensor) and new.shape != prev.shape:
            raise RuntimeError(f"{what} changed the shape of a {name} entry from "
                               f"{list(prev.shape)} to {list(new.shape)}")
    return r


class _InputsHook(Function):
    @staticmethod
    def forward(ctx: Any, state: _BackwardState, *tensors: Tensor) -> tuple[Tensor, ...]:
        ctx.state = state
        ctx.mark_non_differentiable(*[t for t in tensors if not t.requires_grad])
        return tensors

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        state = ctx.state
        grads = tuple(g if m else None for g, m in zip(grads, state.input_mask))
        return (None, *state.on_grad_input(grads))


class _OutputsHook(Function):
    @staticmethod
    def forward(ctx: Any, state: _BackwardState, *tensors: Tensor) -> tuple[Tensor, ...]:
        ctx.state = state
        return tensors

    @staticmethod
    def backward(ctx: Any, *grads: Any) -> Any:
        return (None, *ctx.state.on_grad_output(grads))


# PyTorch's name for both: an output's grad_fn reads BackwardHookFunctionBackward.
_InputsHook.__name__ = _OutputsHook.__name__ = "BackwardHookFunction"
