"""``SGD``: stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .. import _core
from .._validation import check_hyperparameters
from .optimizer import Optimizer, _check_lr, _no_differentiable

Tensor = _core.Tensor

__all__ = ["SGD"]


class SGD(Optimizer):
    """Stochastic gradient descent (``torch.optim.SGD``), PyTorch's update and roundings:
    g ← ∓∇ (maximize) + wd·p; b ← μ·b + (1−τ)·g (b = g on the first step);
    g ← g + μ·b (Nesterov) or b; p ← p − lr·g.

    ``foreach`` and ``fused`` are accepted and ignored: every step is one C++ call per group.

    >>> import tapegrad as tg
    >>> import tapegrad.optim
    >>> m = tg.tensor([0.9], requires_grad=True)
    >>> opt = tg.optim.SGD([m], lr=0.01, momentum=0.9)
    >>> opt
    SGD (
    Parameter Group 0
        dampening: 0
        differentiable: False
        foreach: None
        fused: None
        lr: 0.01
        maximize: False
        momentum: 0.9
        nesterov: False
        weight_decay: 0
    )
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 momentum: float = 0, dampening: float = 0, weight_decay: float = 0,
                 nesterov: bool = False, *, maximize: bool = False, foreach: bool | None = None,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        _check_lr(lr)
        check_hyperparameters("SGD", momentum=momentum, weight_decay=weight_decay)  # NaN too
        _no_differentiable("SGD", differentiable)
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize, foreach=foreach,
                        differentiable=differentiable, fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient (one C++ call per group); returns the
        closure's loss when one is given."""
        loss = self._closure(closure)
        for g in self.param_groups:
            params = g["params"]
            if g["momentum"] == 0:
                # Plain SGD keeps no state (PyTorch stores no buffer either).
                _core._sgd_step(params, None, g["lr"], 0.0, g["dampening"], g["weight_decay"],
                                g["nesterov"], g["maximize"])
                continue
            # Reads and fills self.state in C++ (Note [optimizer state lookups]).
            _core._sgd_group(params, self.state, g["lr"], g["momentum"], g["dampening"],
                             g["weight_decay"], g["nesterov"], g["maximize"])
        return loss
