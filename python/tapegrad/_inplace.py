"""The in-place forms of out-of-place ops: ``x.relu_()``, ``x.clamp_(0, 1)``,
``x.masked_fill_(mask, v)``, ``F.relu(x, inplace=True)``, ``nn.ReLU(inplace=True)``.

Each runs the op itself (recorded as usual, with its own backward) and writes the result into
the tensor, which takes the result's place on the tape (Note [in-place forms] in
cpp/src/ops/inplace.cpp). So every rule of the arithmetic in-place ops holds: a leaf that
requires grad refuses outside ``no_grad()``, a view writes through to its base, the version
counter catches a backward that needs the old value. An op whose backward reads its input runs
on a recorded copy of the tensor when a gradient may be needed (PyTorch's "original self"), so
``y.sin_()`` differentiates as ``y.sin()`` does.
"""

from __future__ import annotations

from typing import Any, Callable

from . import _core

Tensor = _core.Tensor

# Tensor methods that get an in-place form `name_`: the out-of-place elementwise methods
# PyTorch has one for (view-changing ones such as t_ and unsqueeze_ are not among them).
METHODS = (
    "abs", "acos", "acosh", "arctan2", "asin", "asinh", "atan", "atan2", "atanh", "bitwise_not",
    "ceil", "clamp", "clip", "cos", "cosh", "cumprod", "cumsum", "erf", "exp", "expm1", "floor",
    "frac", "log", "log10", "log1p", "log2", "logical_not", "masked_fill", "neg", "pow",
    "reciprocal", "relu", "round", "rsqrt", "sigmoid", "sign", "sin", "sinh", "sqrt", "square",
    "tanh", "trunc",
)

# Ops whose backward reads only their output, or nothing of their input: they run on the tensor
# itself, no copy (test_inplace.py checks each against the out-of-place gradient).
_OUTPUT_ONLY = frozenset((
    "relu", "sigmoid", "tanh", "exp", "sqrt", "neg", "sign", "frac", "masked_fill",
    "logical_not", "bitwise_not",
))


def _needs_original(self: Tensor, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    if not _core.is_grad_enabled():
        return False
    if self.requires_grad:
        return True
    return any(isinstance(a, Tensor) and a.requires_grad
               for a in (*args, *kwargs.values()))


def apply_(self: Tensor, op: str, fn: Callable[..., Tensor], *args: Any,
           output_only: bool = False, **kwargs: Any) -> Tensor:
    """``fn(self, *args, **kwargs)`` written into ``self`` (the in-place op named ``op``);
    returns ``self``. ``output_only``: fn's backward does not read its input."""
    if not isinstance(self, Tensor):
        from .func_vmap import BatchedTensor
        if isinstance(self, BatchedTensor):
            batched = getattr(type(self), op, None)  # the method's own batch rule
            if batched is not None:
                out_b: Tensor = batched(self, *args, **kwargs)
                return out_b
            # F.leaky_relu_ and the others: the batched op, copied into the batch
            return self.copy_(fn(self, *args, **kwargs))  # type: ignore[no-any-return]
        raise TypeError(f"{op}(): argument 'input' must be Tensor, not {type(self).__name__}")
    src = self
    if not output_only and _needs_original(self, args, kwargs):
        src = self.clone()
    result = fn(src, *args, **kwargs)
    if isinstance(result, Tensor) and result.dtype != self.dtype:
        _check_kind(self, result, op)
    out: Tensor = self._assign_inplace(result, op)
    return out


def _check_kind(self: Tensor, result: Tensor, op: str) -> None:
    """PyTorch's can_cast: a result of a higher kind (bool < integer < float) than ``self``
    cannot be written into it (the engine checks again; here the message names the op)."""
    r, s = result.dtype, self.dtype
    if (r.is_floating_point and not s.is_floating_point) or (s == _core.dtype.bool and r != s):
        raise TypeError(f"{op}: result type {str(r).split('.')[-1]} can't be cast to the "
                        f"desired output type {str(s).split('.')[-1]} (shape {list(self.shape)})")


def _method(name: str) -> Callable[..., Tensor]:
    out_of_place = getattr(Tensor, name)
    op = name + "_"
    output_only = name in _OUTPUT_ONLY

    def method(self: Tensor, *args: Any, **kwargs: Any) -> Tensor:
        if name == "pow" and "exponent" in kwargs:  # PyTorch's keyword for pow_
            args = (*args, kwargs.pop("exponent"))
        dtype = kwargs.get("dtype")
        if dtype is not None and isinstance(self, Tensor) and dtype != self.dtype:
            # cumsum_/cumprod_(dtype=...): the result is the tensor itself
            raise RuntimeError(f"Bad in-place call: input tensor dtype "
                               f"{str(self.dtype).split('.')[-1]} and output tensor dtype "
                               f"{str(dtype).split('.')[-1]} should match")
        return apply_(self, op, out_of_place, *args, output_only=output_only, **kwargs)

    method.__name__ = method.__qualname__ = op
    method.__doc__ = (f"In place: :meth:`Tensor.{name}` of this tensor (same arguments) written "
                      "into it; returns this tensor. Differentiable, with PyTorch's in-place "
                      "rules (a leaf that requires grad refuses outside ``no_grad()``; a result "
                      "of a wider kind, such as float into an integer tensor, raises).")
    return method


def install() -> None:
    for name in METHODS:
        setattr(Tensor, name + "_", _method(name))
