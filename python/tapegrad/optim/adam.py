"""``Adam`` and ``AdamW`` (decoupled weight decay), with ``amsgrad`` and ``maximize``."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from .. import _core
from .optimizer import Optimizer, _check_lr, _no_differentiable

Tensor = _core.Tensor

__all__ = ["Adam", "AdamW"]

_KEYS = ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq")


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction, PyTorch's formulas (``torch.optim.Adam``):
    m ← lerp(m, g, 1−β₁); v ← β₂·v + (1−β₂)·g²; p ← p − lr/(1−β₁ᵗ)·m / (√v/√(1−β₂ᵗ) + ε),
    with g = ∓∇ + wd·p (L2 penalty), or p ← p·(1 − lr·wd) first when
    ``decoupled_weight_decay`` (AdamW); ``amsgrad`` uses the running maximum of v.
    State per parameter: ``step`` (float32 scalar tensor), ``exp_avg``, ``exp_avg_sq`` and
    ``max_exp_avg_sq`` (amsgrad).

    >>> import tapegrad as tg
    >>> import tapegrad.optim
    >>> w = tg.tensor([1.0], requires_grad=True)
    >>> opt = tg.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> round(w.item(), 4), opt.state[w]["step"].item()
    (0.9, 1.0)
    """

    _name = "Adam"

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *,
                 foreach: bool | None = None, maximize: bool = False, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None,
                 decoupled_weight_decay: bool = False) -> None:
        _check_lr(lr)
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= betas[0] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 0: {betas[0]}")
        if not 0.0 <= betas[1] < 1.0:
            raise ValueError(f"Invalid beta parameter at index 1: {betas[1]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        _no_differentiable(self._name, differentiable)
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        maximize=maximize, foreach=foreach, capturable=capturable,
                        differentiable=differentiable, fused=fused,
                        decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient (one C++ call per group); returns the
        closure's loss when one is given."""
        loss = self._closure(closure)
        state = self.state
        for g in self.param_groups:
            params = g["params"]
            b1, b2 = g["betas"]
            # Reads and fills `state` in C++ (Note [optimizer state lookups]).
            _core._adam_group(params, state, g["lr"], b1, b2, g["eps"], g["weight_decay"],
                              bool(g["amsgrad"]), g["maximize"], g["decoupled_weight_decay"])
        return loss


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter; ``torch.optim.AdamW``): each step
    first shrinks the parameter, p ← p·(1 − lr·wd), then takes Adam's step without an L2 term.

    >>> import tapegrad as tg
    >>> import tapegrad.optim
    >>> w = tg.tensor([1.0], requires_grad=True)
    >>> opt = tg.optim.AdamW([w], lr=0.1)
    >>> opt.defaults["weight_decay"], opt.defaults["decoupled_weight_decay"]
    (0.01, True)
    >>> (w * w).sum().backward(); opt.step()
    >>> round(w.item(), 4)
    0.899
    """

    _name = "AdamW"

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach: bool | None = None, capturable: bool = False,
                 differentiable: bool = False, fused: bool | None = None) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
