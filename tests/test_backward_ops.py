"""The fused derivatives (relu_backward, cross_entropy_backward, mse_loss_backward) are ops of
their own with their own backward: one derivative per op, with or without create_graph.

Each test differentiates the first gradient again with respect to everything it depends on —
the op's inputs *and* the incoming gradient — so every input of the *_backward op is
gradchecked (second order), and the same first gradient is checked to be bit for bit the one
backward() without create_graph computes."""

from __future__ import annotations

import numpy as np
import pytest
import tapegrad as tg
import tapegrad.nn.functional as F

RNG = np.random.default_rng(7)


def f64(a) -> tg.Tensor:
    return tg.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


def first_grad_fn(loss_fn, n_inputs):
    """(inputs..., v) -> d⟨v, loss(inputs)⟩/d inputs, recorded (create_graph=True)."""

    @tg.enable_grad()
    def fn(*ts):
        xs, v = ts[:n_inputs], ts[n_inputs]
        out = loss_fn(*xs)
        return tuple(tg.grad(out, list(xs), grad_outputs=v, create_graph=True))

    return fn


def same_without_create_graph(loss_fn, xs, v):
    """The first gradient with and without create_graph is the same computation."""
    out = loss_fn(*xs)
    plain = tg.grad(out, list(xs), grad_outputs=v.detach())
    out = loss_fn(*xs)
    graph = tg.grad(out, list(xs), grad_outputs=v.detach(), create_graph=True)
    for p, g in zip(plain, graph):
        assert np.array_equal(p.numpy(), g.detach().numpy())


def test_relu_backward_second_order():
    # random values: none within the finite-difference step of relu's kink at 0
    x = f64(RNG.standard_normal((4, 5)) + 0.05)
    v = f64(RNG.standard_normal((4, 5)))
    (gx,) = first_grad_fn(tg.relu, 1)(x, v)
    assert gx.grad_fn == "ReluBackwardBackward0"
    assert tg.gradcheck(first_grad_fn(tg.relu, 1), [x, v])
    same_without_create_graph(tg.relu, [x], v)


@pytest.mark.parametrize("exponent", [2.0, 3.0, 0.5, -1.0, 1.5])
def test_pow_scalar_exponent_first_grad_with_and_without_graph(exponent):
    # x ** c's rule takes dc·(c·x^(c−1)) in place outside create_graph: the same bits as the
    # recorded product under create_graph, in both dtypes, and still twice differentiable.
    x = f64(RNG.uniform(0.5, 2.0, (3, 4)))
    v = f64(RNG.standard_normal((3, 4)))

    def power(t):
        return t ** exponent

    assert tg.gradcheck(first_grad_fn(power, 1), [x, v])
    same_without_create_graph(power, [x], v)
    x32 = tg.tensor(x.detach().numpy().astype(np.float32), requires_grad=True)
    v32 = tg.tensor(v.detach().numpy().astype(np.float32))
    same_without_create_graph(power, [x32], v32)
    (g,) = tg.grad(power(x32), [x32], grad_outputs=v32)
    torch = pytest.importorskip("torch")
    tx = torch.tensor(x32.detach().numpy(), requires_grad=True)
    (tgx,) = torch.autograd.grad(tx ** exponent, [tx], grad_outputs=torch.tensor(v32.numpy()))
    assert np.array_equal(g.numpy(), tgx.numpy())


@pytest.mark.parametrize("reduction", ["none", "mean", "sum"])
def test_cross_entropy_backward_second_order(reduction):
    x = f64(RNG.standard_normal((5, 4)))
    y = tg.tensor([0, 3, 1, 1, 2])
    v = f64(RNG.standard_normal((5,)) if reduction == "none" else 1.7)

    def loss(t):
        return F.cross_entropy(t, y, reduction=reduction)

    (gx,) = first_grad_fn(loss, 1)(x, v)
    assert gx.grad_fn == "CrossEntropyBackwardBackward0"
    assert tg.gradcheck(first_grad_fn(loss, 1), [x, v])
    same_without_create_graph(loss, [x], v)


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_cross_entropy_third_order(reduction):
    # The backward of cross_entropy_backward is itself differentiable.
    x = f64(RNG.standard_normal((3, 4)))
    y = tg.tensor([2, 0, 3])
    w = tg.tensor(RNG.standard_normal((3, 4)))

    @tg.enable_grad()
    def hvp(t):
        (g,) = tg.grad(F.cross_entropy(t, y, reduction=reduction), t, create_graph=True)
        (h,) = tg.grad((g * w).sum(), t, create_graph=True)
        return h

    assert tg.gradcheck(hvp, [x])


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_mse_loss_backward_second_order(reduction):
    x = f64(RNG.standard_normal((3, 4)))
    t = f64(RNG.standard_normal((3, 4)))
    v = f64(0.6)

    def loss(a, b):
        return F.mse_loss(a, b, reduction=reduction)

    gx, _ = first_grad_fn(loss, 2)(x, t, v)
    assert gx.grad_fn == "MseLossBackwardBackward0"
    assert tg.gradcheck(first_grad_fn(loss, 2), [x, t, v])
    same_without_create_graph(loss, [x, t], v)
