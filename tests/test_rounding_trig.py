"""Rounding (zero gradient), expm1 and the inverse trigonometric and hyperbolic functions:
function and method forms against PyTorch (1e-9 in float64, 1e-5 in float32) and float64
gradcheck."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg

# (name, domain low, high): inputs drawn inside the function's domain
UNARY = [("floor", -3, 3), ("ceil", -3, 3), ("trunc", -3, 3), ("round", -3, 3), ("frac", -3, 3),
         ("expm1", -2, 2), ("asin", -0.9, 0.9), ("acos", -0.9, 0.9), ("atan", -3, 3),
         ("asinh", -3, 3), ("acosh", 1.1, 4), ("atanh", -0.9, 0.9)]


def _sample(lo, hi, shape=(3, 4), seed=0):
    return np.random.default_rng(seed).uniform(lo, hi, shape)


@pytest.mark.parametrize("name,lo,hi", UNARY)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_unary_parity(name, lo, hi, dtype):
    torch = pytest.importorskip("torch")
    a = _sample(lo, hi).astype(dtype)
    tol = 1e-9 if dtype == "float64" else 1e-5
    x = tg.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    for y, ty in [(getattr(tg, name)(x), getattr(torch, name)(tx)),
                  (getattr(x, name)(), getattr(tx, name)())]:
        assert y.dtype == getattr(tg, dtype)
        np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
        g = np.random.default_rng(1).standard_normal(a.shape).astype(dtype)
        (gx,) = tg.autograd.grad((y * tg.tensor(g)).sum(), [x])
        (tgx,) = torch.autograd.grad((ty * torch.tensor(g)).sum(), [tx])
        np.testing.assert_allclose(gx.numpy(), tgx.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("name,lo,hi", [u for u in UNARY
                                        if u[0] not in ("floor", "ceil", "trunc", "round")])
def test_unary_gradcheck(name, lo, hi):
    x = tg.tensor(_sample(lo, hi, (2, 3), 2), requires_grad=True)
    assert tg.autograd.gradcheck(getattr(tg, name), (x,))


@pytest.mark.parametrize("decimals", [0, 1, 2, -1])
def test_round_decimals_and_ties(decimals):
    torch = pytest.importorskip("torch")
    a = np.array([0.5, 1.5, 2.5, -0.5, 1.25, 12.345, -7.77, 15.0])
    np.testing.assert_allclose(tg.round(tg.tensor(a), decimals=decimals).numpy(),
                               torch.round(torch.tensor(a), decimals=decimals).numpy(),
                               rtol=1e-12)
    np.testing.assert_allclose(tg.tensor(a).round(decimals=decimals).numpy(),
                               torch.tensor(a).round(decimals=decimals).numpy(), rtol=1e-12)


@pytest.mark.parametrize("shapes", [((3, 4), (3, 4)), ((3, 1), (1, 4)), ((4,), (3, 4))])
def test_atan2(shapes):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal(shapes[0]), rng.standard_normal(shapes[1])
    y, x = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
    ty, tx = torch.tensor(a, requires_grad=True), torch.tensor(b, requires_grad=True)
    out, tout = tg.atan2(y, x), torch.atan2(ty, tx)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-9)
    np.testing.assert_allclose(y.atan2(x).detach().numpy(), tout.detach().numpy(), rtol=1e-9)
    gs = tg.autograd.grad(out.sum(), [y, x])
    tgs = torch.autograd.grad(tout.sum(), [ty, tx])
    for g, tgr in zip(gs, tgs):
        np.testing.assert_allclose(g.numpy(), tgr.numpy(), rtol=1e-9, atol=1e-12)
    assert tg.autograd.gradcheck(tg.atan2, (y, x))


def test_integer_input_and_bad_arguments():
    torch = pytest.importorskip("torch")
    i = [1, 2, 3]
    np.testing.assert_allclose(tg.atan(tg.tensor(i)).numpy(), torch.atan(torch.tensor(i)).numpy(),
                               rtol=1e-6)
    for name in ["floor", "ceil", "trunc", "round"]:
        assert getattr(tg, name)(tg.tensor(i)).tolist() == i
        assert getattr(tg, name)(tg.tensor(i)).dtype == tg.int64
    for name in ["floor", "expm1", "asin", "atanh", "frac"]:
        with pytest.raises(TypeError, match=name):
            getattr(tg, name)([1.0])
    with pytest.raises(TypeError, match="round"):
        tg.round(tg.ones(2), decimals=1.5)
    with pytest.raises(TypeError, match="atan2"):
        tg.atan2(tg.ones(2), 1.0)
