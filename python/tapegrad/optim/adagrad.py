"""``Adagrad`` (Duchi et al.), PyTorch's formulas."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .. import _core
from .optimizer import Optimizer, _check_lr, _no_differentiable

Tensor = _core.Tensor

__all__ = ["Adagrad"]


class Adagrad(Optimizer):
    """Adagrad (``torch.optim.Adagrad``): S ← S + g²; p ← p − clr·g/(√S + ε) with
    clr = lr/(1 + (t−1)·lr_decay) and g = ∓∇ + wd·p. State (created in the constructor, as
    PyTorch does): ``step`` and ``sum`` (starting at ``initial_accumulator_value``).

    >>> import tapegrad as tg
    >>> import tapegrad.optim
    >>> w = tg.tensor([1.0], requires_grad=True)
    >>> opt = tg.optim.Adagrad([w], lr=0.5)
    >>> (w * w).sum().backward(); opt.step()
    >>> round(w.item(), 4)
    0.5
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-2,
                 lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10,
                 foreach: bool | None = None, *, maximize: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        _check_lr(lr)
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError("Invalid initial_accumulator_value value: "
                             f"{initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        _no_differentiable("Adagrad", differentiable)
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        for g in self.param_groups:
            for p in g["params"]:
                st = self.state[p]
                st["step"] = _core.tensor(0.0, dtype=_core.dtype.float32)
                st["sum"] = _core.full(list(p.shape), float(g["initial_accumulator_value"]),
                                       dtype=p.dtype)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient (one C++ call per group)."""
        loss = self._closure(closure)
        state = self.state
        for g in self.param_groups:
            # Reads and fills `state` in C++ (Note [optimizer state lookups]).
            _core._adagrad_group(g["params"], state, g["lr"], g["lr_decay"], g["weight_decay"],
                                 g["eps"], g["maximize"])
        return loss
