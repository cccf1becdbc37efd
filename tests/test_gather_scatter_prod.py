"""gather/scatter/scatter_add, prod/cumprod, repeat_interleave and add/sub's alpha beyond the
op table (tests/optable.py has their gradcheck and PyTorch-parity rows): PyTorch's error types
for bad input (an out-of-range index raises, it is never read), the in-place forms, repeated
scatter positions, gradients at zeros, and the integer/bool dtypes."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")

X = np.arange(6.0).reshape(2, 3)


def _same_error(call):
    """``call(m)`` raises the same exception type with tapegrad and with PyTorch."""
    with pytest.raises(Exception) as ref:
        call(torch)
    with pytest.raises(type(ref.value)):
        call(tg)


def _i(m, a):
    return m.tensor(np.asarray(a, dtype=np.int64))


BAD = {
    "gather-oob": lambda m: m.gather(m.tensor(X), 1, _i(m, [[0, 3]])),
    "gather-neg": lambda m: m.gather(m.tensor(X), 1, _i(m, [[0, -1]])),
    "gather-rank": lambda m: m.gather(m.tensor(X), 1, _i(m, [0, 1])),
    "gather-size": lambda m: m.gather(m.tensor(X), 1, _i(m, [[0], [0], [0]])),
    "gather-float-index": lambda m: m.gather(m.tensor(X), 1, m.tensor([[0.0]])),
    "gather-dim": lambda m: m.gather(m.tensor(X), 2, _i(m, [[0]])),
    "gather-empty-dim": lambda m: m.gather(m.zeros(2, 0), 1, _i(m, [[0]])),
    "scatter-oob": lambda m: m.scatter(m.tensor(X), 0, _i(m, [[2]]), m.tensor(X)[:1, :1]),
    "scatter-src-small": lambda m: m.scatter(m.tensor(X), 1, _i(m, [[0, 1]]), m.tensor(X)[:1, :1]),
    "scatter-dtype": lambda m: m.scatter(m.tensor(X), 1, _i(m, [[0]]), m.ones(1, 1)),
    "scatter-rank": lambda m: m.scatter(m.tensor(X), 1, _i(m, [0]), m.tensor(X)),
    "scatter_add-oob": lambda m: m.scatter_add(m.tensor(X), 1, _i(m, [[5]]), m.tensor(X)),
    "scatter_add-value": lambda m: m.scatter_add(m.tensor(X), 1, _i(m, [[0]]), 2.5),
    "scatter_-leaf": lambda m: m.tensor(X, requires_grad=True).scatter_(1, _i(m, [[0]]), 1.0),
    "prod-tuple-dim": lambda m: m.prod(m.tensor(X), (0, 1)),
    "prod-dim-range": lambda m: m.tensor(X).prod(2),
    "cumprod-no-dim": lambda m: m.cumprod(m.tensor(X)),
    "repeat_interleave-neg": lambda m: m.repeat_interleave(m.tensor(X), -1),
    "repeat_interleave-neg-counts": lambda m: m.tensor(X).repeat_interleave(_i(m, [1, -1]), 0),
    "repeat_interleave-size": lambda m: m.tensor(X).repeat_interleave(_i(m, [1, 2]), 1),
    "repeat_interleave-2d": lambda m: m.tensor(X).repeat_interleave(_i(m, [[1, 2]]), 0),
    "repeat-short": lambda m: m.tensor(X).repeat(2),
    "repeat-float": lambda m: m.tensor(X).repeat(1.5, 2),
    "add-float-alpha-int": lambda m: m.add(_i(m, [1, 2]), _i(m, [1, 2]), alpha=0.5),
    "add-bool-alpha-float": lambda m: m.add(m.tensor([1.0]), m.tensor([1.0]), alpha=True),
    "add_-float-alpha-int": lambda m: _i(m, [1, 2]).add_(_i(m, [1, 2]), alpha=0.5),
    "sub-alpha-none": lambda m: m.sub(m.tensor([1.0]), m.tensor([1.0]), alpha=None),
    "add-alpha-positional": lambda m: m.tensor([1.0]).add(m.tensor([1.0]), 2, 3),
}


@pytest.mark.parametrize("name", BAD)
def test_errors_as_pytorch(name):
    if name == "add-alpha-positional":  # PyTorch still has a deprecated add(alpha, other)
        with pytest.raises(TypeError):
            BAD[name](tg)
        return
    _same_error(BAD[name])


def test_out_of_range_message_names_op_index_and_dim():
    with pytest.raises(RuntimeError, match=r"gather.*index 7 is out of bounds for dimension 0 "
                                           r"with size 3"):
        tg.gather(tg.zeros(3), 0, tg.tensor([0, 7]))
    with pytest.raises(RuntimeError, match=r"scatter_add.*index -1"):
        tg.zeros(3).scatter_add_(0, tg.tensor([-1]), tg.ones(1))


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64"])
def test_scatter_gather_dtypes_and_repeated_positions(dtype):
    a = np.arange(12).reshape(3, 4).astype(dtype)
    idx = np.array([[0, 0, 2, 1], [0, 2, 2, 3]])  # repeated positions in each row
    src = (np.arange(8).reshape(2, 4) + 10).astype(dtype)
    for m in (tg, torch):
        x, i, s = m.tensor(a), m.tensor(idx), m.tensor(src)
        rows = m.tensor(idx[:, :3] % 2)
        got = [m.gather(x, 1, i), m.scatter_add(x, 1, i, s), x.scatter(0, rows, s),
               m.scatter(x, 1, i, 7), x.clone().scatter_add_(1, i, s), x.clone().scatter_(1, i, s)]
        if m is tg:
            mine = got
        else:
            for g, r in zip(mine, got):
                assert str(g.dtype).split(".")[-1] == str(r.dtype).split(".")[-1]
                np.testing.assert_array_equal(g.numpy(), r.numpy())


def test_inplace_scatter_history_and_version():
    w = tg.tensor(X, requires_grad=True)
    y = w * 2
    v0 = y._version if hasattr(y, "_version") else None
    assert y.scatter_(1, tg.tensor([[2], [0]]), 0.0) is y
    if v0 is not None:
        assert y._version > v0
    y.sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [[2, 2, 0], [0, 2, 2]])


@pytest.mark.parametrize("values", [[2.0, 0.0, 3.0, 4.0], [0.0, 5.0, 0.0, 2.0], [0.0] * 4,
                                    [1.5, -2.0, 0.5, 3.0]])
def test_product_gradients_at_zeros(values):
    # One zero: only its entry has a gradient (the product of the others); two or more: all 0.
    a = np.array(values)
    for f in [lambda m, x: m.prod(x), lambda m, x: m.cumprod(x, 0).sum(),
              lambda m, x: m.cumprod(x, 0)[2]]:
        x, tx = tg.tensor(a, requires_grad=True), torch.tensor(a, requires_grad=True)
        (g,) = tg.autograd.grad(f(tg, x), [x])
        (tg_,) = torch.autograd.grad(f(torch, tx), [tx])
        np.testing.assert_allclose(g.numpy(), tg_.numpy(), rtol=1e-12, atol=0)


@pytest.mark.parametrize("vals", [[1, 2, 3], [True, False, True], [True, True]])
def test_integer_and_bool_products(vals):
    for dt in (None, "float64"):
        for f in [lambda m, x, d: m.prod(x, dtype=d), lambda m, x, d: m.cumprod(x, 0, dtype=d),
                  lambda m, x, d: x.prod(0, keepdim=True, dtype=d)]:
            got = f(tg, tg.tensor(vals), dt and tg.float64)
            ref = f(torch, torch.tensor(vals), dt and torch.float64)
            assert str(got.dtype).split(".")[-1] == str(ref.dtype).split(".")[-1]
            np.testing.assert_array_equal(got.numpy(), ref.numpy())


def test_repeat_interleave_counts_only_and_alpha_dtypes():
    c = [3, 0, 2]
    np.testing.assert_array_equal(tg.repeat_interleave(tg.tensor(c)).numpy(),
                                  torch.repeat_interleave(torch.tensor(c)).numpy())
    for m in (tg, torch):
        i, b = m.tensor([1, 2]), m.tensor([True, False])
        out = [m.add(i, i, alpha=3), m.sub(i, 1, alpha=2), m.add(b, b, alpha=True),
               m.add(i, 2.5, alpha=2), i.clone().add_(i, alpha=-2), m.tensor([1.0]).sub(3, alpha=2)]
        if m is tg:
            mine = out
        else:
            for g, r in zip(mine, out):
                assert str(g.dtype).split(".")[-1] == str(r.dtype).split(".")[-1]
                np.testing.assert_array_equal(g.numpy(), r.numpy())
