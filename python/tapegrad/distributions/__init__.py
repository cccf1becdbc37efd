"""Probability distributions (``torch.distributions``): sampling, reparameterised sampling,
log densities, entropies, moments, CDFs and KL divergences, written with tapegrad's
differentiable ops so that gradients reach the parameters.

Families: :class:`Normal`, :class:`Uniform`, :class:`Bernoulli`, :class:`Categorical`,
:class:`OneHotCategorical`, :class:`Exponential`, :class:`Laplace`, :class:`Binomial`,
:class:`Multinomial`, :class:`Poisson`, :class:`Geometric`, and :class:`Independent` to read batch dims as event
dims. Draws come from tapegrad's generator (``tapegrad.manual_seed`` makes them repeatable);
the numbers differ from PyTorch's for the same seed, their distributions do not.

>>> import tapegrad as tg
>>> from tapegrad.distributions import Normal
>>> loc = tg.tensor(0.5, requires_grad=True)
>>> d = Normal(loc, 1.0)
>>> d.log_prob(tg.tensor(1.5)).backward()
>>> loc.grad
tensor(1.)
"""

from __future__ import annotations

from . import constraints
from .bernoulli import Bernoulli
from .binomial import Binomial
from .categorical import Categorical
from .distribution import Distribution
from .exp_family import ExponentialFamily
from .exponential import Exponential
from .geometric import Geometric
from .independent import Independent
from .kl import kl_divergence, register_kl
from .laplace import Laplace
from .multinomial import Multinomial
from .normal import Normal
from .one_hot_categorical import OneHotCategorical
from .poisson import Poisson
from .uniform import Uniform

__all__ = [
    "Bernoulli", "Binomial", "Categorical", "Distribution", "Exponential",
    "ExponentialFamily", "Geometric", "Independent", "Laplace", "Multinomial", "Normal",
    "OneHotCategorical", "Poisson", "Uniform", "constraints", "kl_divergence", "register_kl",
]
