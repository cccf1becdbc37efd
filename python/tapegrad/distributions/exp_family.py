"""Exponential families (``torch.distributions.ExponentialFamily``).

>>> from tapegrad.distributions import ExponentialFamily, Normal, Uniform
>>> issubclass(Normal, ExponentialFamily), issubclass(Uniform, ExponentialFamily)
(True, False)
"""

from __future__ import annotations

from typing import Any

from .. import _core
from ..autograd import grad
from .distribution import Distribution

Tensor = _core.Tensor

__all__ = ["ExponentialFamily"]


class ExponentialFamily(Distribution):
    """A distribution whose density is p(x; θ) = exp(⟨t(x), θ⟩ - F(θ) + k(x)): natural
    parameters θ, sufficient statistic t, log normaliser F and carrier measure k.

    A family gives ``_natural_params``, ``_log_normalizer`` and ``_mean_carrier_measure``;
    the entropy and the KL divergence within the family then follow from the Bregman
    divergence of F, its gradient taken by autograd: H = F(θ) - ⟨θ, ∇F(θ)⟩ - E[k(x)].

    >>> import tapegrad as tg
    >>> from tapegrad.distributions import ExponentialFamily, Normal
    >>> d = Normal(tg.tensor([0.0]), tg.tensor([2.0]))
    >>> ExponentialFamily.entropy(d), d.entropy()
    (tensor([2.1121], grad_fn=<SubBackward0>), tensor([2.1121]))
    """

    @property
    def _natural_params(self) -> tuple[Tensor, ...]:
        raise NotImplementedError

    def _log_normalizer(self, *natural_params: Tensor) -> Tensor:
        raise NotImplementedError

    @property
    def _mean_carrier_measure(self) -> float:
        raise NotImplementedError

    def entropy(self) -> Tensor:
        """The entropy from the Bregman divergence of the log normaliser."""
        result: Any = -self._mean_carrier_measure
        nparams = [p.detach().requires_grad_() for p in self._natural_params]
        lg_normal = self._log_normalizer(*nparams)
        gradients = grad(lg_normal.sum(), nparams, create_graph=True)
        result = result + lg_normal
        for np_, g in zip(nparams, gradients):
            result = result - (np_ * g).reshape(tuple(self._batch_shape) + (-1,)).sum(-1)
        return result
