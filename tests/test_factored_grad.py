"""Batch-1 Linear weight gradients held as an outer product (Note [factored weight gradients]
in cpp/src/autograd/factored.cpp): every observable result must equal the eager path's bit for bit.

The oracles: NumPy's float32 outer product (one rounded product per element, as the GEMM);
the same training run with `.grad` read before every step (which forms the matrix, so the
ordinary axpy update runs); tg.grad, which never factors; PyTorch when installed."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F
from tapegrad import nn, optim

DTYPES = [np.float32, np.float64]


def _mlp(seed, dtype=np.float32, d_in=37, hidden=19, d_out=5):
    rng = np.random.default_rng(seed)
    w1 = (rng.standard_normal((hidden, d_in)) / np.sqrt(d_in)).astype(dtype)
    b1 = rng.standard_normal(hidden).astype(dtype) * 0.1
    w2 = (rng.standard_normal((d_out, hidden)) / np.sqrt(hidden)).astype(dtype)
    b2 = rng.standard_normal(d_out).astype(dtype) * 0.1
    return [w1, b1, w2, b2]


def _params(arrays):
    return [tg.tensor(a, requires_grad=True) for a in arrays]


def _forward(ps, x):
    w1, b1, w2, b2 = ps
    return F.linear(F.relu(F.linear(x, w1, b1)), w2, b2)


@pytest.mark.parametrize("dtype", DTYPES)
def test_grad_is_the_outer_product(dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((1, 23)).astype(dtype)
    c = rng.standard_normal((1, 11)).astype(dtype)
    w = tg.tensor(rng.standard_normal((11, 23)).astype(dtype), requires_grad=True)
    (F.linear(tg.tensor(x), w) * tg.tensor(c)).sum().backward()
    want = np.outer(c[0], x[0])  # each element one rounded product
    assert w.grad.dtype == w.dtype and w.grad.shape == (11, 23)
    np.testing.assert_array_equal(w.grad.numpy(), want)
    # The same gradient through tg.grad (never factored).
    (g,) = tg.grad((F.linear(tg.tensor(x), w) * tg.tensor(c)).sum(), w)
    np.testing.assert_array_equal(g.numpy(), want)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("wide", [False, True])
def test_sgd_steps_equal_the_materialised_path(dtype, wide):
    """Factored update (SGD reads the rows) vs ordinary update (.grad read first)."""
    arrays = _mlp(2, dtype, d_in=300 if wide else 37, hidden=64 if wide else 19)
    fast, slow = _params(arrays), _params(arrays)
    opt_fast, opt_slow = optim.SGD(fast, lr=0.05), optim.SGD(slow, lr=0.05)
    rng = np.random.default_rng(3)
    skipped_rows = 0
    for _ in range(12):
        x = tg.tensor(rng.standard_normal((1, arrays[0].shape[1])).astype(dtype))
        y = tg.tensor([int(rng.integers(0, 5))])
        for ps, opt, read_grad in ((fast, opt_fast, False), (slow, opt_slow, True)):
            opt.zero_grad()
            F.cross_entropy(_forward(ps, x), y).backward()
            if read_grad:
                skipped_rows += int((ps[0].grad.numpy() == 0).all(axis=1).sum())
            opt.step()
    assert skipped_rows > 0  # ReLU switched units off, so the row-skipping path ran
    for a, b in zip(fast, slow):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    for a, b in zip(fast, slow):  # .grad after the last step: the same tensor
        np.testing.assert_array_equal(a.grad.numpy(), b.grad.numpy())


def test_rows_with_zero_gradient_are_not_written():
    w0 = np.arange(12, dtype=np.float32).reshape(4, 3) - 5.5
    w = tg.tensor(w0, requires_grad=True)
    c = np.array([[0.0, 2.0, -0.0, 0.5]], np.float32)
    x = np.array([[1.0, -2.0, 3.0]], np.float32)
    (F.linear(tg.tensor(x), w) * tg.tensor(c)).sum().backward()
    optim.SGD([w], lr=0.1).step()
    got = w.detach().numpy()
    np.testing.assert_array_equal(got[[0, 2]], w0[[0, 2]])
    want = w0[[1, 3]] - np.float32(0.1) * np.outer(c[0, [1, 3]], x[0])
    np.testing.assert_allclose(got[[1, 3]], want, rtol=1e-6)


@pytest.mark.parametrize("bad", [np.inf, np.nan])
def test_non_finite_input_poisons_every_row_as_eager(bad):
    """0·inf is NaN: with a non-finite x no row may be skipped."""
    w0 = np.ones((3, 4), np.float32)
    c = np.array([[0.0, 1.0, 0.0]], np.float32)
    x = np.array([[1.0, bad, 2.0, 3.0]], np.float32)
    results = []
    for read_grad in (False, True):
        w = tg.tensor(w0, requires_grad=True)
        (F.linear(tg.tensor(x), w) * tg.tensor(c)).sum().backward()
        if read_grad:
            w.grad  # noqa: B018 — forms the matrix: the ordinary path
        optim.SGD([w], lr=0.1).step()
        results.append(w.detach().numpy())
    np.testing.assert_array_equal(results[0], results[1])
    assert np.isnan(results[0][[0, 2], 1]).all()  # 0·x_1 = NaN: skipping would keep 1.0


def test_accumulates_over_backwards_and_shared_weights():
    rng = np.random.default_rng(4)
    w = tg.tensor(rng.standard_normal((6, 5)).astype(np.float32), requires_grad=True)
    x1, x2 = (rng.standard_normal((1, 5)).astype(np.float32) for _ in range(2))
    F.linear(tg.tensor(x1), w).sum().backward()
    F.linear(tg.tensor(x2), w).sum().backward()  # adds onto the factored first gradient
    ones = np.ones(6, np.float32)
    want = np.outer(ones, x1[0]) + np.outer(ones, x2[0])
    np.testing.assert_array_equal(w.grad.numpy(), want)
    w.grad = None
    (F.linear(tg.tensor(x1), w).sum() + F.linear(tg.tensor(x2), w).sum()).backward()
    np.testing.assert_allclose(w.grad.numpy(), want, rtol=1e-6)


def test_input_changed_after_backward_does_not_change_grad():
    x = tg.tensor([[1.0, 2.0, 3.0]])
    w = tg.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    F.linear(x, w).sum().backward()
    x.mul_(10.0)
    np.testing.assert_array_equal(w.grad.numpy(), [[1, 2, 3], [1, 2, 3]])


def test_zero_grad_keep_and_other_optimizers():
    rng = np.random.default_rng(5)
    arrays = _mlp(6)
    x = tg.tensor(rng.standard_normal((1, 37)).astype(np.float32))
    y = tg.tensor([2])
    for make in (lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                 lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.01),
                 lambda ps: optim.Adam(ps, lr=0.01)):
        fast, slow = _params(arrays), _params(arrays)
        for ps, read_grad in ((fast, False), (slow, True)):
            opt = make(ps)
            for _ in range(3):
                opt.zero_grad(set_to_none=False)
                F.cross_entropy(_forward(ps, x), y).backward()
                if read_grad:
                    ps[0].grad  # noqa: B018
                opt.step()
        for a, b in zip(fast, slow):
            np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    w = tg.tensor(np.ones((2, 3), np.float32), requires_grad=True)
    F.linear(tg.ones(1, 3), w).sum().backward()
    optim.SGD([w], lr=0.1).zero_grad(set_to_none=False)
    np.testing.assert_array_equal(w.grad.numpy(), np.zeros((2, 3), np.float32))


def test_create_graph_gets_an_ordinary_differentiable_gradient():
    w = tg.tensor([[1.0, 2.0]], requires_grad=True)
    x = tg.tensor([[3.0, 4.0]], requires_grad=True)
    (F.linear(x, w) ** 2).sum().backward(create_graph=True)
    assert w.grad.requires_grad
    x.grad = None
    # w.grad = 2·s·x with s = w·x, so Σ w.grad = 2·s·Σx  ⇒  ∂/∂x_k = 2·w_k·Σx + 2·s
    w.grad.sum().backward()
    s = 1 * 3 + 2 * 4
    np.testing.assert_allclose(x.grad.numpy(), [[2 * 1 * 7 + 2 * s, 2 * 2 * 7 + 2 * s]])


def test_mlp_batch1_training_matches_pytorch():
    torch = pytest.importorskip("torch")
    arrays = _mlp(7, d_in=784 // 4, hidden=64, d_out=10)
    ours = _params(arrays)
    theirs = [torch.tensor(a, requires_grad=True) for a in arrays]
    opt, topt = optim.SGD(ours, lr=0.1), torch.optim.SGD(theirs, lr=0.1)
    rng = np.random.default_rng(8)
    for _ in range(20):
        xa = rng.standard_normal((1, 196)).astype(np.float32)
        ya = int(rng.integers(0, 10))
        opt.zero_grad()
        F.cross_entropy(_forward(ours, tg.tensor(xa)), tg.tensor([ya])).backward()
        opt.step()
        topt.zero_grad()
        w1, b1, w2, b2 = theirs
        h = torch.relu(torch.nn.functional.linear(torch.tensor(xa), w1, b1))
        torch.nn.functional.cross_entropy(torch.nn.functional.linear(h, w2, b2),
                                          torch.tensor([ya])).backward()
        topt.step()
    for a, b in zip(ours, theirs):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_module_training_uses_it_and_grad_reads_as_a_tensor():
    net = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Linear(4, 2))
    opt = optim.SGD(net.parameters(), lr=0.1)
    x, y = tg.randn(1, 8), tg.tensor([1])
    F.cross_entropy(net(x), y).backward()
    g = net[0].weight.grad
    assert isinstance(g, tg.Tensor) and g.shape == (4, 8) and not g.requires_grad
    before = net[0].weight.detach().clone()
    opt.step()
    np.testing.assert_allclose(net[0].weight.detach().numpy(),
                               (before - 0.1 * g).numpy(), rtol=1e-6)
