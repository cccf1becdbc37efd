"""The Poisson distribution (``torch.distributions.Poisson``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import _core
from .._tensor import Size
from . import _sampling, constraints
from .exp_family import ExponentialFamily
from .utils import _lgamma, _promote, broadcast_all

Tensor = _core.Tensor

__all__ = ["Poisson"]


class Poisson(ExponentialFamily):
    """The Poisson distribution: P(X = k) = rateᵏ e^-rate / k!, k = 0, 1, …

    Args:
        rate (Number or Tensor): the rate (the mean), non-negative.
        validate_args (bool, optional): check the arguments (default: the global setting).

    ``sample`` is exact: inversion for rates below 10, Hörmann's PTRS rejection above. As in
    PyTorch, there is no closed-form ``entropy`` (NotImplementedError).

    >>> import tapegrad as tg
    >>> from tapegrad.distributions import Poisson
    >>> m = Poisson(tg.tensor([4.0]))
    >>> m.mean, m.variance, m.log_prob(tg.tensor([3.0]))
    (tensor([4.]), tensor([4.]), tensor([-1.6329]))
    """

    arg_constraints = {"rate": constraints.nonnegative}
    support = constraints.nonnegative_integer

    def __init__(self, rate: Tensor | float, validate_args: bool | None = None) -> None:
        (self.rate,) = broadcast_all(rate)
        batch_shape = Size() if isinstance(rate, (int, float)) else self.rate.shape
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Poisson:
        new = self._get_checked_instance(Poisson, _instance)
        batch_shape = Size(batch_shape)
        new.rate = self.rate.expand(batch_shape)
        super(Poisson, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self) -> Tensor:
        return self.rate

    @property
    def mode(self) -> Tensor:
        return self.rate.floor()

    @property
    def variance(self) -> Tensor:
        return self.rate

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        return _sampling.poisson(self.rate.detach().expand(shape))

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        rate, value = _promote(*broadcast_all(self.rate, value))
        # xlogy(k, rate): 0 where k = 0, whatever the rate
        k_log_rate = value * _core.where(value == 0, 1.0, rate).log()
        return k_log_rate - rate - _lgamma(value + 1)

    @property
    def _natural_params(self) -> tuple[Tensor]:
        return (self.rate.log(),)

    def _log_normalizer(self, x: Tensor) -> Tensor:  # type: ignore[override]
        return x.exp()
