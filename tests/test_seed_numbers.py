"""docs/lessons.md: the seed notebook's numbers (Krohn, ML Foundations, regression-in-pytorch)
in float32 and float64, and the calculus examples."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad as tg

Y = [1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37]


def _setup(dtype):
    x = tg.tensor([0, 1, 2, 3, 4, 5, 6, 7.0], dtype=dtype)
    y = tg.tensor(Y, dtype=dtype)
    m = tg.tensor([0.9], dtype=dtype).requires_grad_()
    b = tg.tensor([0.1], dtype=dtype, requires_grad=True)
    return x, y, m, b


def _cost(x, y, m, b):
    return tg.sum((m * x + b - y) ** 2) / len(y)


DTYPES = pytest.mark.parametrize("dtype", [tg.float32, tg.float64], ids=["float32", "float64"])


@DTYPES
def test_initial_cost_and_gradients(dtype):
    x, y, m, b = _setup(dtype)
    C = _cost(x, y, m, b)
    assert C.dtype == dtype and C.shape == ()
    C.backward()
    assert round(C.item(), 4) == 19.6755
    assert round(m.grad.item(), 4) == 36.3050
    assert round(b.grad.item(), 4) == 6.2650
    assert m.grad.dtype == dtype and tuple(m.grad.shape) == (1,)


@DTYPES
def test_manual_gradients_equal_autodiff(dtype):
    x, y, m, b = _setup(dtype)
    C = _cost(x, y, m, b)
    C.backward()
    with tg.no_grad():
        yhat = m * x + b
        n = len(y)
        dm = 2 / n * tg.sum((yhat - y) * x)
        db = 2 / n * tg.sum(yhat - y)
    tol = 1e-5 if dtype == tg.float32 else 1e-12
    assert m.grad.item() == pytest.approx(dm.item(), rel=tol)
    assert b.grad.item() == pytest.approx(db.item(), rel=tol)


@DTYPES
def test_first_step(dtype):
    x, y, m, b = _setup(dtype)
    _cost(x, y, m, b).backward()
    with tg.no_grad():
        m -= 0.01 * m.grad
        b -= 0.01 * b.grad
    assert round(m.item(), 4) == 0.5369
    # b = 0.1 − 0.01·6.2650 = 0.03735 sits on a rounding tie: float32 shows 0.0374 (the
    # notebook's number), float64 0.0373; both are exactly the update.
    assert b.item() == pytest.approx(0.1 - 0.01 * 6.2650, abs=2e-6)
    if dtype == tg.float32:
        assert round(b.item(), 4) == 0.0374
    assert round(_cost(x, y, m, b).item(), 4) == 8.5722
    assert m.is_leaf and m.requires_grad and m.dtype == dtype


def _train(dtype, updates=1001):
    x, y, m, b = _setup(dtype)
    for _ in range(updates):
        m.grad = None
        b.grad = None
        C = _cost(x, y, m, b)
        C.backward()
        with tg.no_grad():
            m -= 0.01 * m.grad
            b -= 0.01 * b.grad
    return m, b, _cost(x, y, m, b)


def test_1001_updates_float32():
    m, b, C = _train(tg.float32)
    assert m.dtype == tg.float32
    assert m.item() == pytest.approx(-0.4681258, abs=2e-7)
    assert b.item() == pytest.approx(1.7542962, abs=2e-7)
    assert round(C.item(), 4) == 0.0195


def test_1001_updates_float64():
    m, b, C = _train(tg.float64)
    # the float32 reference numbers hold to float32's precision ...
    assert m.item() == pytest.approx(-0.4681258, abs=1e-5)
    assert b.item() == pytest.approx(1.7542962, abs=1e-5)
    assert round(C.item(), 4) == 0.0195
    # ... and the float64 run is the same recurrence written out in NumPy, to 1e-12
    xs = np.array([0, 1, 2, 3, 4, 5, 6, 7.0])
    ys = np.array([1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37])
    mm, bb = 0.9, 0.1
    for _ in range(1001):
        r = mm * xs + bb - ys
        mm, bb = mm - 0.01 * 2 * np.mean(r * xs), bb - 0.01 * 2 * np.mean(r)
    assert m.item() == pytest.approx(mm, abs=1e-12)
    assert b.item() == pytest.approx(bb, abs=1e-12)


def test_1001_updates_match_the_closed_form_direction():
    m, b, _ = _train(tg.float64, updates=20_000)
    # ordinary least squares on the seed data
    xs = np.arange(8.0)
    slope, intercept = np.polyfit(xs, Y, 1)
    assert m.item() == pytest.approx(slope, abs=1e-6)
    assert b.item() == pytest.approx(intercept, abs=1e-6)
    assert slope == pytest.approx(-0.469286, abs=1e-6)


# ----- calculus ----------------------------------------------------------------------------------
@DTYPES
def test_derivative_of_x_squared_at_5(dtype):
    x = tg.tensor(5.0, dtype=dtype, requires_grad=True)
    y = x**2
    y.backward()
    assert x.grad.item() == 10.0


@DTYPES
def test_cylinder_volume(dtype):
    r = tg.tensor(3.0, dtype=dtype, requires_grad=True)
    length = tg.tensor(5.0, dtype=dtype, requires_grad=True)
    v = math.pi * r**2 * length
    v.backward()
    assert round(v.item(), 4) == 141.3717
    assert round(length.grad.item(), 4) == 28.2743
    assert round(r.grad.item(), 4) == 94.2478


@DTYPES
def test_x2_minus_y2_second_derivatives(dtype):
    x = tg.tensor(3.0, dtype=dtype, requires_grad=True)
    y = tg.tensor(2.0, dtype=dtype, requires_grad=True)
    z = x**2 - y**2
    dzdx, dzdy = tg.grad(z, [x, y], create_graph=True)
    assert (dzdx.item(), dzdy.item()) == (6.0, -4.0)  # (2x, −2y)
    d2xx, d2xy = tg.grad(dzdx, [x, y], create_graph=True, allow_unused=True)
    d2yy, = tg.grad(dzdy, [y], create_graph=True)
    assert d2xx.item() == 2.0
    assert d2yy.item() == -2.0
    assert d2xy is None or d2xy.item() == 0.0  # ∂²z/∂x∂y = 0 (y does not reach ∂z/∂x)
    assert d2xx.dtype == dtype
