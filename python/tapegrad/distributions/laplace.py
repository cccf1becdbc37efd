"""The Laplace distribution (``torch.distributions.Laplace``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .. import _core
from .._tensor import Size
from . import constraints
from .distribution import Distribution
from .utils import _finfo, _uniform, broadcast_all

Tensor = _core.Tensor

__all__ = ["Laplace"]


class Laplace(Distribution):
    """The Laplace (double exponential) distribution with density
    ``exp(-|x - loc| / scale) / (2·scale)``.

    Args:
        loc (float or Tensor): the mean.
        scale (float or Tensor): the scale, positive.
        validate_args (bool, optional): check the arguments (default: the global setting).

    ``rsample`` inverts the CDF at u ~ U(eps - 1, 1): ``loc - scale·sign(u)·log(1 - |u|)``.

    >>> import tapegrad as tg
    >>> from tapegrad.distributions import Laplace
    >>> m = Laplace(tg.tensor([0.0]), tg.tensor([1.0]))
    >>> m.variance, m.log_prob(tg.tensor([1.0])), m.cdf(tg.tensor([0.0]))
    (tensor([2.]), tensor([-1.6931]), tensor([0.5000]))
    """

    arg_constraints = {"loc": constraints.real, "scale": constraints.positive}
    support = constraints.real
    has_rsample = True

    def __init__(self, loc: Tensor | float, scale: Tensor | float,
                 validate_args: bool | None = None) -> None:
        self.loc, self.scale = broadcast_all(loc, scale)
        if isinstance(loc, (int, float)) and isinstance(scale, (int, float)):
            batch_shape = Size()
        else:
            batch_shape = self.loc.shape
        super().__init__(batch_shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Laplace:
        new = self._get_checked_instance(Laplace, _instance)
        batch_shape = Size(batch_shape)
        new.loc = self.loc.expand(batch_shape)
        new.scale = self.scale.expand(batch_shape)
        super(Laplace, new).__init__(batch_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @property
    def mean(self) -> Tensor:
        return self.loc

    @property
    def mode(self) -> Tensor:
        return self.loc

    @property
    def variance(self) -> Tensor:
        return 2 * self.scale.pow(2)

    @property
    def stddev(self) -> Tensor:
        return (2 ** 0.5) * self.scale

    def rsample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        eps = float(_finfo(self.loc.dtype).eps)
        # u ~ U[eps - 1, 1): |u| < 1, so log1p(-|u|) is finite.
        u = _uniform(shape, dtype=self.loc.dtype) * (2 - eps) + (eps - 1)
        return self.loc - self.scale * u.sign() * (-u.abs()).log1p()

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return -(2 * self.scale).log() - (value - self.loc).abs() / self.scale

    def cdf(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        return 0.5 - 0.5 * (value - self.loc).sign() * (
            -(value - self.loc).abs() / self.scale).expm1()

    def icdf(self, value: Tensor) -> Tensor:
        term = value - 0.5
        return self.loc - self.scale * term.sign() * (-2 * term.abs()).log1p()

    def entropy(self) -> Tensor:
        return 1 + (2 * self.scale).log()
