"""Optimizers shaped like ``torch.optim``: ``step()`` updates every parameter in one C++ call.

>>> import tapegrad as tg
>>> import tapegrad.optim
>>> w = tg.tensor([1.0], requires_grad=True)
>>> opt = tg.optim.SGD([w], lr=0.1)
>>> (w * w).sum().backward(); opt.step()
>>> round(w.item(), 4)
0.8
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import _core
from ._validation import check_hyperparameters

Tensor = _core.Tensor

__all__ = ["Optimizer", "SGD", "Adam"]


class Optimizer:
    """Base class: holds a flat list of parameters and the hyper-parameters in ``defaults``.

    Parameter groups with different settings are not supported (pass one iterable of tensors).
    Subclasses implement ``step()``.

    >>> import tapegrad as tg
    >>> w = tg.ones(2, requires_grad=True)
    >>> opt = tg.optim.SGD([w], lr=0.5)
    >>> isinstance(opt, tg.optim.Optimizer), opt.defaults["lr"]
    (True, 0.5)
    """

    def __init__(self, params: Iterable[Tensor], defaults: dict[str, Any]) -> None:
        if isinstance(params, Tensor) or not isinstance(params, Iterable):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors, but got {type(params).__name__}")
        params = list(params)
        if params and isinstance(params[0], dict):
            raise TypeError(f"{type(self).__name__}: parameter groups (dicts) are not supported; "
                            "pass an iterable of tensors")
        if not params:
            raise ValueError("optimizer got an empty parameter list")
        for i, p in enumerate(params):
            if not isinstance(p, Tensor):
                raise TypeError(f"{type(self).__name__}: parameter {i} is a "
                                f"{type(p).__name__}, expected a tapegrad.Tensor")
            if not p.is_leaf:
                raise ValueError(f"can't optimize a non-leaf Tensor (parameter {i}, shape "
                                 f"{list(p.shape)}, computed by {p.grad_fn}); pass the leaf "
                                 "tensors, e.g. model.parameters()")
            if not p.is_floating_point():
                raise TypeError(f"{type(self).__name__}: parameter {i} has dtype {p.dtype}; "
                                "only floating point tensors can be optimized")
        seen: set[int] = set()
        self.params: list[Tensor] = []
        for p in params:
            if id(p) not in seen:
                seen.add(id(p))
                self.params.append(p)
        self.defaults = dict(defaults)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the gradients: to None (default, like PyTorch) or to zeros (one C++ call)."""
        _core._zero_grad(self.params, set_to_none)

    def step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Any]:
        """Hyper-parameters and per-parameter state (lists aligned with ``params``)."""
        return {"defaults": dict(self.defaults), "state": self._state()}

    def _state(self) -> dict[str, Any]:
        return {}

    def __repr__(self) -> str:
        inner = "".join(f"    {k}: {v}\n" for k, v in self.defaults.items())
        return f"{type(self).__name__} (\nParameter Group 0\n{inner})"


class SGD(Optimizer):
    """Stochastic gradient descent with optional momentum, dampening, weight decay and
    Nesterov momentum; PyTorch's update rule:
    g ← ∇ + wd·p; b ← μ·b + (1−τ)·g (b = g on the first step); g ← g + μ·b (Nesterov) or b;
    p ← p − lr·g.

    >>> import tapegrad as tg
    >>> import tapegrad.optim
    >>> m = tg.tensor([0.9], requires_grad=True)
    >>> opt = tg.optim.SGD([m], lr=0.01, momentum=0.9)
    >>> opt
    SGD (
    Parameter Group 0
        lr: 0.01
        momentum: 0.9
        dampening: 0
        weight_decay: 0
        nesterov: False
    )
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3, momentum: float = 0,
                 dampening: float = 0, weight_decay: float = 0, nesterov: bool = False) -> None:
        check_hyperparameters("SGD", lr=lr, momentum=momentum, dampening=dampening,
                              weight_decay=weight_decay)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, dict(lr=lr, momentum=momentum, dampening=dampening,
                                      weight_decay=weight_decay, nesterov=nesterov))
        self.momentum_buffers: list[Tensor | None] = [None] * len(self.params)

    def step(self) -> None:
        """Update every parameter that has a gradient (one C++ call)."""
        d = self.defaults
        self.momentum_buffers = _core._sgd_step(
            self.params, self.momentum_buffers, float(d["lr"]), float(d["momentum"]),
            float(d["dampening"]), float(d["weight_decay"]), bool(d["nesterov"]))

    def _state(self) -> dict[str, Any]:
        return {"momentum_buffer": list(self.momentum_buffers)}


class Adam(Optimizer):
    """Adam (Kingma & Ba) with bias correction and L2 ``weight_decay``, PyTorch's formulas.

    >>> import tapegrad as tg
    >>> import tapegrad.optim
    >>> w = tg.tensor([1.0], requires_grad=True)
    >>> opt = tg.optim.Adam([w], lr=0.1)
    >>> (w * w).sum().backward(); opt.step()
    >>> round(w.item(), 4)
    0.9
    """

    def __init__(self, params: Iterable[Tensor], lr: float = 1e-3,
                 betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0) -> None:
        check_hyperparameters("Adam", lr=lr, eps=eps, betas=betas, weight_decay=weight_decay)
        super().__init__(params, dict(lr=lr, betas=tuple(betas), eps=eps,
                                      weight_decay=weight_decay))
        self.steps: list[int] = [0] * len(self.params)  # one count per parameter, as PyTorch
        self.exp_avg: list[Tensor | None] = [None] * len(self.params)
        self.exp_avg_sq: list[Tensor | None] = [None] * len(self.params)

    def step(self) -> None:
        """Update every parameter that has a gradient (one C++ call)."""
        d = self.defaults
        self.exp_avg, self.exp_avg_sq, self.steps = _core._adam_step(
            self.params, self.exp_avg, self.exp_avg_sq, self.steps, float(d["lr"]),
            float(d["betas"][0]), float(d["betas"][1]), float(d["eps"]),
            float(d["weight_decay"]))

    def _state(self) -> dict[str, Any]:
        return {"step": list(self.steps), "exp_avg": list(self.exp_avg),
                "exp_avg_sq": list(self.exp_avg_sq)}
