"""PyTorch's Bernoulli and multinomial draws: ``tapegrad.bernoulli``, ``Tensor.bernoulli``,
``Tensor.bernoulli_`` and ``tapegrad.multinomial`` (``Tensor.multinomial``), each with
``generator=`` as in PyTorch.

Every draw starts from the uniforms of ``tapegrad.rand`` on the given generator (the default
one when ``generator`` is None), so a seeded :class:`tapegrad.Generator` reproduces the draws
and leaves the default generator where it was. A Bernoulli draw is ``u < p``; a multinomial draw
with replacement inverts the cumulative distribution of each row at a uniform, and one without
replacement is the exponential race PyTorch uses (the ``num_samples`` largest ``p / E`` with
``E = -log(1 - u)`` exponential): each next category is drawn in proportion to the
probabilities of those not drawn yet.

The draws are not differentiable and their results carry no history (PyTorch's ``bernoulli``
records a backward that returns zeros).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _core
from ._tensor import Tensor
from ._validation import typed

Generator = _core.Generator
_F64 = _core.dtype.float64

# Entries of the (rows, samples, categories) comparison a multinomial draw with replacement
# holds at once.
_CHUNK = 1 << 22


def _check_generator(op: str, generator: Any) -> None:
    if generator is not None and not isinstance(generator, Generator):
        raise TypeError(f"{op}(): argument 'generator' must be tapegrad.Generator, not "
                        f"{type(generator).__name__}")


def _probabilities(op: str, p: Tensor) -> Tensor:
    if not p.is_floating_point():
        raise NotImplementedError(f'"{op}" not implemented for \'{_dtype_word(p)}\'')
    return p.detach()


def _dtype_word(t: Tensor) -> str:
    return {"int64": "Long", "bool": "Bool", "float32": "Float", "float64": "Double"}.get(
        str(t.dtype).rpartition(".")[2], str(t.dtype))


def _check_unit_interval(p: Tensor) -> None:
    # NaN fails both comparisons, as it fails PyTorch's check
    a = p.numpy()
    if not ((a >= 0) & (a <= 1)).all():
        raise RuntimeError("Expected p_in >= 0 && p_in <= 1 to be true, but got false.")


def _mask(shape: Any, p: Tensor | float, dtype: Any, generator: Any) -> Tensor:
    """1 where a uniform draw falls below p, else 0, in `dtype` (one draw per element)."""
    u_dtype = p.dtype if isinstance(p, Tensor) and p.is_floating_point() else _F64
    u = _core.rand(*tuple(shape), dtype=u_dtype, generator=generator)
    return (u < p).to(dtype)


@typed(input="Tensor")
def bernoulli(input: Tensor, p: float | None = None, *,  # noqa: A002
              generator: Generator | None = None) -> Tensor:
    """Bernoulli draws: 1 with probability ``input[i]`` (or ``p`` for every element when given),
    else 0, in ``input``'s dtype and shape, from ``generator`` (the default generator when
    None). Probabilities outside [0, 1] (or NaN) raise RuntimeError.

    >>> import tapegrad as tg
    >>> g = tg.Generator().manual_seed(0)
    >>> tg.bernoulli(tg.tensor([0.0, 1.0, 1.0]), generator=g)
    tensor([0., 1., 1.])
    >>> a = tg.bernoulli(tg.full((3,), 0.5), generator=g.manual_seed(1))
    >>> bool((a == tg.bernoulli(tg.full((3,), 0.5), generator=g.manual_seed(1))).all())
    True
    """
    _check_generator("bernoulli", generator)
    if p is None:
        probs = _probabilities("bernoulli_tensor_cpu_p_", input)
        _check_unit_interval(probs)
        return _mask(input.shape, probs, input.dtype, generator)
    return _fill_like(input, p, generator, "bernoulli")


def _fill_like(input: Tensor, p: Any, generator: Any, op: str) -> Tensor:  # noqa: A002
    if isinstance(p, Tensor):
        probs = _probabilities("bernoulli_tensor_cpu_p_", p)
        _check_unit_interval(probs)
        if tuple(probs.shape) != tuple(input.shape):
            try:
                probs = probs.expand(*input.shape)
            except ValueError as e:  # PyTorch's RuntimeError, as for any in-place write
                raise RuntimeError(f"{op}_: {e}") from None
        return _mask(input.shape, probs, input.dtype, generator)
    if isinstance(p, bool) or not isinstance(p, (int, float)):
        raise TypeError(f"{op}(): argument 'p' must be float, not {type(p).__name__}")
    if not 0 <= p <= 1:
        raise RuntimeError(f"{op}_ expects p to be in [0, 1], but got p={p}")
    return _mask(input.shape, float(p), input.dtype, generator)


def _bernoulli_method(self: Tensor, p: Any = None, *, generator: Generator | None = None
                      ) -> Tensor:
    """``x.bernoulli()``: :func:`tapegrad.bernoulli` of ``x``; ``x.bernoulli(p)`` draws with
    probability ``p`` in ``x``'s shape and dtype."""
    return bernoulli(self, p, generator=generator)


def _bernoulli_(self: Tensor, p: Any = 0.5, *, generator: Generator | None = None) -> Tensor:
    """In place: each element becomes 1 with probability ``p`` (a number, or a tensor that
    broadcasts to this one's shape), else 0, from ``generator``; returns this tensor. Any
    dtype; written through ``copy_``, so in-place rules (a leaf that requires grad, versions)
    apply.

    >>> import tapegrad as tg
    >>> x = tg.zeros(4, dtype=tg.int64)
    >>> x.bernoulli_(1.0) is x, x.tolist()
    (True, [1, 1, 1, 1])
    """
    _check_generator("bernoulli_", generator)
    return self.copy_(_fill_like(self, p, generator, "bernoulli"))


@typed(input="Tensor", num_samples="int")
def multinomial(input: Tensor, num_samples: int, replacement: bool = False, *,  # noqa: A002
                generator: Generator | None = None) -> Tensor:
    """``num_samples`` category indices (int64) drawn from each row of ``input`` (1-D or 2-D,
    non-negative weights that need not sum to 1), with or without replacement, from
    ``generator``. Without replacement each next index is drawn in proportion to the weights
    of those not drawn yet (categories of weight 0 come last, as in PyTorch).

    >>> import tapegrad as tg
    >>> g = tg.Generator().manual_seed(0)
    >>> tg.multinomial(tg.tensor([0.0, 0.0, 1.0]), 2, replacement=True, generator=g)
    tensor([2, 2])
    >>> sorted(tg.multinomial(tg.tensor([1.0, 1.0, 1.0]), 3, generator=g).tolist())
    [0, 1, 2]
    """
    _check_generator("multinomial", generator)
    if input.dim() not in (1, 2):
        raise RuntimeError("prob_dist must be 1 or 2 dim")
    if not input.is_floating_point():
        raise RuntimeError("multinomial only supports floating-point dtypes for input, got: "
                           + _dtype_word(input))
    if num_samples <= 0:
        raise RuntimeError("cannot sample n_sample <= 0 samples")
    n_cat = input.shape[-1]
    if not replacement and num_samples > n_cat:
        raise RuntimeError("cannot sample n_sample > prob_dist.size(-1) samples without "
                           "replacement")
    w = input.detach().to(_F64).numpy().reshape(-1, n_cat)
    if not np.isfinite(w).all() or (w < 0).any():
        raise RuntimeError("probability tensor contains either `inf`, `nan` or element < 0")
    total = w.sum(axis=1)
    if (total <= 0).any():
        raise RuntimeError("invalid multinomial distribution (sum of probabilities <= 0)")
    rows = w.shape[0]
    if replacement:
        u = _core.rand(rows, num_samples, dtype=_F64, generator=generator).numpy()
        cdf = np.cumsum(w / total[:, None], axis=1)
        cdf[:, -1] = math.inf  # rounding may leave the last bound below 1
        # index = number of bounds <= u (a category of weight 0 has an empty interval)
        step = max(1, _CHUNK // max(1, rows * n_cat))
        idx = np.empty((rows, num_samples), dtype=np.int64)
        for s in range(0, num_samples, step):
            part = u[:, s:s + step]
            idx[:, s:s + step] = (cdf[:, None, :] <= part[:, :, None]).sum(axis=2)
    else:
        u = _core.rand(rows, n_cat, dtype=_F64, generator=generator).numpy()
        with np.errstate(divide="ignore"):
            scores = w / -np.log1p(-u)  # p / E, E exponential(1); 1 - u is in (0, 1]
        idx = np.argsort(-scores, axis=1, kind="stable")[:, :num_samples].astype(np.int64)
    shape = (num_samples,) if input.dim() == 1 else (rows, num_samples)
    return _core.from_numpy(np.ascontiguousarray(idx.reshape(shape)))


def _multinomial_method(self: Tensor, num_samples: int, replacement: bool = False, *,
                        generator: Generator | None = None) -> Tensor:
    """:func:`tapegrad.multinomial` of this tensor."""
    return multinomial(self, num_samples, replacement, generator=generator)


FUNCTIONS = ["bernoulli", "multinomial"]


def install() -> None:
    Tensor.bernoulli = _bernoulli_method  # type: ignore[attr-defined]
    Tensor.bernoulli_ = _bernoulli_  # type: ignore[attr-defined]
    Tensor.multinomial = _multinomial_method  # type: ignore[attr-defined]
    for name in ("bernoulli", "bernoulli_", "multinomial"):
        getattr(Tensor, name).__name__ = getattr(Tensor, name).__qualname__ = name
