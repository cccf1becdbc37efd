"""The multinomial distribution (``torch.distributions.Multinomial``)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from .. import _core
from .._tensor import Size
from ..autograd import no_grad
from . import _sampling, constraints
from .binomial import Binomial
from .categorical import Categorical
from .distribution import Distribution
from .utils import _lgamma, broadcast_all

Tensor = _core.Tensor

__all__ = ["Multinomial"]


class Multinomial(Distribution):
    """The counts of each of K categories in ``total_count`` independent categorical draws
    with probabilities ``probs`` (normalised over the last dim) or ``logits``; event shape
    ``(K,)``. ``log_prob`` accepts any counts (``total_count`` is then the sum of each value).

    Args:
        total_count (int): the number of draws.
        probs (Tensor): event probabilities.
        logits (Tensor): event log-probabilities (unnormalised).
        validate_args (bool, optional): check the arguments (default: the global setting).

    ``sample`` draws the counts one category at a time, each a binomial draw of the trials
    left with the probability conditional on the earlier categories, so its cost does not
    grow with ``total_count``.

    >>> import tapegrad as tg
    >>> from tapegrad.distributions import Multinomial
    >>> _ = tg.manual_seed(0)
    >>> x = Multinomial(100, tg.tensor([1.0, 1.0, 1.0, 1.0])).sample()
    >>> x.shape, x.sum().item()
    (tapegrad.Size([4]), 100.0)
    >>> m = Multinomial(probs=tg.tensor([1.0, 1.0, 1.0, 1.0]), validate_args=False)
    >>> m.log_prob(tg.tensor([21.0, 24.0, 30.0, 25.0]))
    tensor(-7.7168)
    """

    arg_constraints = {"probs": constraints.simplex, "logits": constraints.real_vector}

    def __init__(self, total_count: int = 1, probs: Tensor | None = None,
                 logits: Tensor | None = None, validate_args: bool | None = None) -> None:
        if not isinstance(total_count, int):
            raise NotImplementedError("inhomogeneous total_count is not supported")
        self.total_count = total_count
        self._categorical = Categorical(probs=probs, logits=logits)
        self._binomial = Binomial(total_count=total_count, probs=self.probs)
        batch_shape = self._categorical.batch_shape
        event_shape = self._categorical.param_shape[-1:]
        super().__init__(batch_shape, event_shape, validate_args=validate_args)

    def expand(self, batch_shape: Sequence[int], _instance: Any = None) -> Multinomial:
        new = self._get_checked_instance(Multinomial, _instance)
        batch_shape = Size(batch_shape)
        new.total_count = self.total_count
        new._categorical = self._categorical.expand(batch_shape)
        super(Multinomial, new).__init__(batch_shape, self.event_shape, validate_args=False)
        new._validate_args = self._validate_args
        return new

    @constraints.dependent_property(is_discrete=True, event_dim=1)
    def support(self) -> constraints.Constraint:  # type: ignore[override]
        return constraints.multinomial(self.total_count)

    @property
    def logits(self) -> Tensor:
        return self._categorical.logits

    @property
    def probs(self) -> Tensor:
        return self._categorical.probs

    @property
    def param_shape(self) -> Size:
        return self._categorical.param_shape

    @property
    def mean(self) -> Tensor:
        return self.probs * self.total_count

    @property
    def variance(self) -> Tensor:
        return self.total_count * self.probs * (1 - self.probs)

    def sample(self, sample_shape: Sequence[int] = ()) -> Tensor:
        shape = self._extended_shape(sample_shape)
        with no_grad():
            probs = self.probs.detach().to(_core.dtype.float64).expand(shape)
            # X_k ~ Binomial(n - Σ_{j<k} X_j, p_k / (1 - Σ_{j<k} p_j)), the last takes the rest
            left = _core.full(shape[:-1], float(self.total_count), dtype=_core.dtype.float64)
            mass = _core.ones(shape[:-1], dtype=_core.dtype.float64)
            counts = []
            k_events = shape[-1]
            for k in range(k_events - 1):
                p_k = probs[..., k]
                ratio = (p_k / mass.clamp(min=math.ulp(0.0))).clamp(min=0.0, max=1.0)
                x_k = _sampling.binomial(left, ratio)
                counts.append(x_k)
                left = left - x_k
                mass = mass - p_k
            counts.append(left)
            return _core.stack(counts, -1).to(self.probs.dtype)

    def entropy(self) -> Tensor:
        n = _core.tensor(float(self.total_count), dtype=self.probs.dtype)
        cat_entropy = self._categorical.entropy()
        term1 = n * cat_entropy - _lgamma(n + 1)
        support = self._binomial.enumerate_support(expand=False)[1:]
        binomial_probs = self._binomial.log_prob(support).exp()
        weights = _lgamma(support + 1)
        term2 = (binomial_probs * weights).sum([0, -1])
        return term1 + term2

    def log_prob(self, value: Tensor) -> Tensor:
        if self._validate_args:
            self._validate_sample(value)
        logits, value = broadcast_all(self.logits, value)
        log_factorial_n = _lgamma(value.sum(-1) + 1)
        log_factorial_xs = _lgamma(value + 1).sum(-1)
        # 0·log 0 is 0: a category of probability 0 that is never drawn costs nothing
        logits = _core.where((value == 0) & (logits == -math.inf), 0.0, logits)
        log_powers = (logits * value).sum(-1)
        return log_factorial_n - log_factorial_xs + log_powers
