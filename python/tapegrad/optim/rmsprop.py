"""``RMSprop`` (Hinton's lecture 6e), centred variant and momentum, PyTorch's formulas."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .. import _core
from .optimizer import Optimizer, _check_lr, _no_differentiable

Tensor = _core.Tensor

__all__ = ["RMSprop"]


class RMSprop(Optimizer):
    """RMSprop (``torch.optim.RMSprop``): s ← α·s + (1−α)·g²; with ``centered``
    ḡ ← lerp(ḡ, g, 1−α) and the denominator √(s − ḡ²) + ε, else √s + ε; with momentum μ
    b ← μ·b + g/denominator, p ← p − lr·b, else p ← p − lr·g/denominator
    (g = ∓∇ + wd·p). State: ``step``, ``square_avg``, ``momentum_buffer`` (μ > 0),
    ``grad_avg`` (centered).

    >>> import tapegrad as tg
    >>> import tapegrad.optim
    >>> w = tg.tensor([1.0], requires_grad=True)
    >>> opt = tg.optim.RMSprop([w])
    >>> (w * w).sum().backward(); opt.step()
    >>> round(w.item(), 4)  # 1 − 0.01·2/√(0.01·4)
    0.9
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-2,
                 alpha: float = 0.99, eps: float = 1e-8, weight_decay: float = 0,
                 momentum: float = 0, centered: bool = False, capturable: bool = False,
                 foreach: bool | None = None, maximize: bool = False,
                 differentiable: bool = False) -> None:
        _check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        _no_differentiable("RMSprop", differentiable)
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient (one C++ call per group)."""
        loss = self._closure(closure)
        state = self.state
        for g in self.param_groups:
            params = g["params"]
            # Reads and fills `state` in C++ (Note [optimizer state lookups]).
            _core._rmsprop_group(params, state, g["lr"], g["alpha"], g["eps"], g["weight_decay"],
                                 g["momentum"], bool(g["centered"]), g["maximize"])
        return loss
