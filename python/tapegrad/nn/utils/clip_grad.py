"""Gradient clipping (``torch.nn.utils.clip_grad``): by total norm or by value, in place."""

from __future__ import annotations

import math
import warnings
from collections.abc import Iterable

from ... import _core
from ...autograd import no_grad

Tensor = _core.Tensor

__all__ = ["clip_grad_norm_", "clip_grad_norm", "clip_grad_value_", "get_total_norm",
           "clip_grads_with_norm_"]

_Params = Tensor | Iterable[Tensor]


def _as_list(tensors: _Params) -> list[Tensor]:
    return [tensors] if isinstance(tensors, Tensor) else list(tensors)


def _grads(parameters: list[Tensor]) -> list[Tensor]:
    return [p.grad for p in parameters if p.grad is not None]


def _vector_norm(x: Tensor, p: float) -> Tensor:
    """‖x‖_p of all elements (0-d): max |x| for ∞, min |x| for −∞, the count of non-zeros for 0."""
    a = x.abs().reshape(-1)
    if a.shape[0] == 0:
        if math.isinf(p):
            raise RuntimeError(f"cannot compute the {p} norm of an empty tensor (shape "
                               f"{list(x.shape)}) because the operation does not have an "
                               "identity")
        return _core.zeros((), dtype=x.dtype)
    if p == math.inf:
        return a.amax()
    if p == -math.inf:
        return a.amin()
    if p == 0:
        return (a != 0).to(x.dtype).sum()
    if p == 1:
        return a.sum()
    if p == 2:
        return (a * a).sum().sqrt()
    return (a ** p).sum() ** (1.0 / p)


def get_total_norm(tensors: _Params, norm_type: float | str = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """The ``norm_type``-norm of the norms of ``tensors`` (as if they were concatenated);
    ``tensor(0.)`` for none.

    >>> import tapegrad as tg
    >>> float(tg.nn.utils.get_total_norm([tg.tensor([3.0]), tg.tensor([4.0])]))
    5.0
    """
    ts = _as_list(tensors)
    if not ts:
        return _core.tensor(0.0)
    p = float(norm_type)
    with no_grad():
        norms = _core.stack([_vector_norm(t.detach(), p) for t in ts])
        total = _vector_norm(norms, p)
    if error_if_nonfinite and not math.isfinite(total.item()):
        raise RuntimeError(f"The total norm of order {p} for gradients from `parameters` is "
                           "non-finite, so it cannot be clipped. To disable this error and scale "
                           "the gradients by the non-finite norm anyway, set "
                           "`error_if_nonfinite=False`")
    return total


def clip_grads_with_norm_(parameters: _Params, max_norm: float, total_norm: Tensor,
                          foreach: bool | None = None) -> None:
    """Scale the gradients by min(1, max_norm / (total_norm + 1e-6)) in place."""
    grads = _grads(_as_list(parameters))
    if not grads:
        return
    with no_grad():
        coef = float(max_norm) / (total_norm.detach() + 1e-6)
        coef = _core.minimum(coef, _core.ones((), dtype=coef.dtype))
        for g in grads:
            g.mul_(coef.to(g.dtype))


def clip_grad_norm_(parameters: _Params, max_norm: float, norm_type: float | str = 2.0,
                    error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Rescale the gradients of ``parameters`` in place so that their total ``norm_type``-norm
    (all gradients seen as one vector) is at most ``max_norm``; returns the total norm before
    clipping. ``error_if_nonfinite=True`` raises on a NaN or infinite norm instead of scaling.

    >>> import tapegrad as tg
    >>> w = tg.ones(4, requires_grad=True)
    >>> (3 * w).sum().backward()
    >>> tg.nn.utils.clip_grad_norm_(w, max_norm=1.0, norm_type="inf").item()
    3.0
    >>> [round(g, 4) for g in w.grad.tolist()]
    [1.0, 1.0, 1.0, 1.0]
    """
    params = _as_list(parameters)
    total = get_total_norm(_grads(params), norm_type, error_if_nonfinite, foreach)
    clip_grads_with_norm_(params, max_norm, total, foreach)
    return total


def clip_grad_norm(parameters: _Params, max_norm: float, norm_type: float | str = 2.0,
                   error_if_nonfinite: bool = False, foreach: bool | None = None) -> Tensor:
    """Deprecated alias of :func:`clip_grad_norm_` (as in PyTorch).

    >>> import tapegrad as tg, warnings
    >>> with warnings.catch_warnings():
    ...     warnings.simplefilter("ignore")
    ...     float(tg.nn.utils.clip_grad_norm([tg.ones(1, requires_grad=True)], 1.0))
    0.0
    """
    warnings.warn("`torch.nn.utils.clip_grad_norm` is now deprecated in favor of "
                  "`torch.nn.utils.clip_grad_norm_`.", FutureWarning, stacklevel=2)
    return clip_grad_norm_(parameters, max_norm, norm_type, error_if_nonfinite, foreach)


def clip_grad_value_(parameters: _Params, clip_value: float,
                     foreach: bool | None = None) -> None:
    """Clamp every gradient element into [−clip_value, clip_value] in place.

    >>> import tapegrad as tg
    >>> w = tg.ones(3, requires_grad=True)
    >>> (w * tg.tensor([-5.0, 0.5, 5.0])).sum().backward()
    >>> tg.nn.utils.clip_grad_value_([w], 1.0); w.grad.tolist()
    [-1.0, 0.5, 1.0]
    """
    c = float(clip_value)
    with no_grad():
        for g in _grads(_as_list(parameters)):
            g.copy_(g.clamp(-c, c))
