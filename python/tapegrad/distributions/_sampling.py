"""Exact samplers for the Poisson and binomial distributions, vectorised over tensors.

Both use inversion (a sequential search of the CDF, one tensor step per value) where the mean
is small, and Hörmann's transformed rejection with squeeze where it is large (PTRS for the
Poisson, BTRS for the binomial: W. Hörmann, "The transformed rejection method for generating
Poisson random variables", Insurance: Mathematics and Economics 12, 1993; "The generation of
binomial random variates", J. Statist. Comput. Simul. 46, 1993). A rejection round draws for
every element and keeps the first accepted draw of each; acceptance is above 80 %, so the
rounds needed grow as the logarithm of the number of elements. Everything runs in float64
without recording; draws come from tapegrad's generator.
"""

from __future__ import annotations

from .. import _core
from ..autograd import no_grad
from .utils import _lgamma, _uniform

Tensor = _core.Tensor
_f64 = _core.dtype.float64

# Below this mean, inversion (whose step count grows with the largest value drawn).
_INVERSION_BELOW = 10.0


def _poisson_inversion(lam: Tensor) -> Tensor:
    # P(0) = e^-λ, P(k) = P(k-1)·λ/k; the draw is the first k with u <= P(0) + … + P(k).
    u = _uniform(lam.shape, dtype=_f64)
    k = _core.zeros_like(lam)
    p = (-lam).exp()
    cdf = p
    active = u > cdf
    while bool(active.any()):
        k = k + active.to(_f64)
        p = _core.where(active, p * lam / k.clamp(min=1.0), p)
        cdf = _core.where(active, cdf + p, cdf)
        # p underflows to 0 long after any draw of probability above 1e-300 is settled
        active = active & (u > cdf) & (p > 0)
    return k


def _poisson_ptrs(lam: Tensor, todo: Tensor) -> Tensor:
    slam = lam.sqrt()
    log_lam = lam.log()
    b = 0.931 + 2.53 * slam
    a = -0.059 + 0.02483 * b
    log_inv_alpha = (1.1239 + 1.1328 / (b - 3.4)).log()
    v_r = 0.9277 - 3.6224 / (b - 2)
    out = _core.zeros_like(lam)
    pending = todo
    while bool(pending.any()):
        u = _uniform(lam.shape, dtype=_f64) - 0.5
        v = _uniform(lam.shape, dtype=_f64)
        us = 0.5 - u.abs()
        k = ((2 * a / us + b) * u + lam + 0.43).floor()
        squeeze = (us >= 0.07) & (v <= v_r)
        reject = (k < 0) | ((us < 0.013) & (v > us))
        k_safe = k.clamp(min=0.0)
        lhs = v.log() + log_inv_alpha - (a / (us * us) + b).log()
        rhs = -lam + k_safe * log_lam - _lgamma(k_safe + 1)
        accept = squeeze | (~reject & (lhs <= rhs))
        take = pending & accept
        out = _core.where(take, k, out)
        pending = pending & ~take
    return out


def poisson(rate: Tensor) -> Tensor:
    """Poisson draws of the given rates (same shape and dtype)."""
    with no_grad():
        lam = rate.to(_f64)
        small = lam < _INVERSION_BELOW
        out = _poisson_inversion(_core.where(small, lam, 0.0))
        if not bool(small.all()):
            big = _poisson_ptrs(_core.where(small, 1e3, lam), ~small)
            out = _core.where(small, out, big)
        return out.to(rate.dtype)


def _binomial_inversion(n: Tensor, p: Tensor) -> Tensor:
    # P(0) = qⁿ, P(k)/P(k-1) = ((n+1)/k - 1)·p/q; for n·p < 10 and p <= ½, qⁿ >= e^-14.
    q = 1 - p
    s = p / q
    a = (n + 1) * s
    u = _uniform(n.shape, dtype=_f64)
    k = _core.zeros_like(n)
    r = (n * (-p).log1p()).exp()
    cdf = r
    active = (u > cdf) & (k < n)
    while bool(active.any()):
        k = k + active.to(_f64)
        r = _core.where(active, r * (a / k.clamp(min=1.0) - s), r)
        cdf = _core.where(active, cdf + r, cdf)
        active = active & (u > cdf) & (k < n)
    return k


def _binomial_btrs(n: Tensor, p: Tensor, todo: Tensor) -> Tensor:
    q = 1 - p
    spq = (n * p * q).sqrt()
    b = 1.15 + 2.53 * spq
    a = -0.0873 + 0.0248 * b + 0.01 * p
    c = n * p + 0.5
    v_r = 0.92 - 4.2 / b
    alpha = (2.83 + 5.1 / b) * spq
    log_pq = (p / q).log()
    m = ((n + 1) * p).floor()
    h = _lgamma(m + 1) + _lgamma(n - m + 1)
    out = _core.zeros_like(n)
    pending = todo
    while bool(pending.any()):
        u = _uniform(n.shape, dtype=_f64) - 0.5
        v = _uniform(n.shape, dtype=_f64)
        us = 0.5 - u.abs()
        k = ((2 * a / us + b) * u + c).floor()
        outside = (k < 0) | (k > n)
        squeeze = (us >= 0.07) & (v <= v_r)
        k_safe = k.clamp(min=0.0)
        k_safe = _core.where(k_safe > n, n, k_safe)
        lhs = (v * alpha / (a / (us * us) + b)).log()
        rhs = h - _lgamma(k_safe + 1) - _lgamma(n - k_safe + 1) + (k_safe - m) * log_pq
        accept = ~outside & (squeeze | (lhs <= rhs))
        take = pending & accept
        out = _core.where(take, k, out)
        pending = pending & ~take
    return out


def binomial(total_count: Tensor, probs: Tensor) -> Tensor:
    """Binomial draws (same shape as the broadcast arguments, ``probs``' dtype)."""
    with no_grad():
        n = total_count.to(_f64)
        p = probs.to(_f64)
        flip = p > 0.5
        pm = _core.where(flip, 1 - p, p)  # draw failures when p > ½, then n - k
        small = n * pm < _INVERSION_BELOW
        out = _binomial_inversion(_core.where(small, n, 0.0), _core.where(small, pm, 0.0))
        if not bool(small.all()):
            big = _binomial_btrs(_core.where(small, 100.0, n), _core.where(small, 0.5, pm),
                                 ~small)
            out = _core.where(small, out, big)
        out = _core.where(flip, n - out, out)
        return out.to(probs.dtype)
