"""tapegrad.optim: SGD and Adam against NumPy references of PyTorch's formulas (and against
PyTorch itself when installed); hyper-parameter validation."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn, optim


def _quadratic_grads(params):
    """Loss Σ (p − 1)² · c with a fixed c per parameter, so gradients change every step."""
    loss = None
    for i, p in enumerate(params):
        term = ((p - 1.0) ** 2 * float(i + 1)).sum()
        loss = term if loss is None else loss + term
    loss.backward()


def _ref_sgd(ps, steps, lr, momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False):
    ps = [p.copy() for p in ps]
    bufs = [None] * len(ps)
    for _ in range(steps):
        for i, p in enumerate(ps):
            g = 2 * (p - 1.0) * (i + 1) + weight_decay * p
            if momentum:
                bufs[i] = g.copy() if bufs[i] is None else momentum * bufs[i] + (1 - dampening) * g
                g = g + momentum * bufs[i] if nesterov else bufs[i]
            ps[i] = p - lr * g
    return ps


def _ref_adam(ps, steps, lr, b1, b2, eps, weight_decay=0.0):
    ps = [p.astype(np.float64) for p in ps]
    m = [np.zeros_like(p) for p in ps]
    v = [np.zeros_like(p) for p in ps]
    for t in range(1, steps + 1):
        for i, p in enumerate(ps):
            g = 2 * (p - 1.0) * (i + 1) + weight_decay * p
            m[i] = b1 * m[i] + (1 - b1) * g
            v[i] = b2 * v[i] + (1 - b2) * g * g
            mhat = m[i] / (1 - b1 ** t)
            vhat = v[i] / (1 - b2 ** t)
            ps[i] = p - lr * mhat / (np.sqrt(vhat) + eps)
    return ps


def _run(opt_factory, init, steps):
    params = [tg.tensor(a, requires_grad=True) for a in init]
    opt = opt_factory(params)
    for _ in range(steps):
        opt.zero_grad()
        _quadratic_grads(params)
        opt.step()
    return [p.detach().numpy() for p in params]


INIT = [np.array([0.5, -1.0, 2.0], np.float32), np.array([[0.3, 0.1], [-0.2, 4.0]], np.float32)]


@pytest.mark.parametrize("kw", [
    dict(),
    dict(momentum=0.9),
    dict(momentum=0.9, dampening=0.1),
    dict(momentum=0.8, nesterov=True),
    dict(weight_decay=0.05),
    dict(momentum=0.9, weight_decay=0.01, nesterov=True),
])
def test_sgd_matches_reference(kw):
    got = _run(lambda ps: optim.SGD(ps, lr=0.05, **kw), INIT, 6)
    want = _ref_sgd(INIT, 6, 0.05, **kw)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kw", [dict(), dict(weight_decay=0.1), dict(betas=(0.8, 0.9), eps=1e-6)])
def test_adam_matches_reference(kw):
    got = _run(lambda ps: optim.Adam(ps, lr=0.1, **kw), INIT, 7)
    b1, b2 = kw.get("betas", (0.9, 0.999))
    want = _ref_adam(INIT, 7, 0.1, b1, b2, kw.get("eps", 1e-8), kw.get("weight_decay", 0.0))
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name,kw", [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.05, betas=(0.85, 0.99), weight_decay=0.01)),
])
def test_matches_torch(name, kw):
    torch = pytest.importorskip("torch")
    got = _run(lambda ps: getattr(optim, name)(ps, **kw), INIT, 5)
    tparams = [torch.tensor(a, requires_grad=True) for a in INIT]
    topt = getattr(torch.optim, name)(tparams, **kw)
    for _ in range(5):
        topt.zero_grad()
        loss = sum((((p - 1.0) ** 2) * float(i + 1)).sum() for i, p in enumerate(tparams))
        loss.backward()
        topt.step()
    for g, t in zip(got, tparams, strict=True):
        np.testing.assert_allclose(g, t.detach().numpy(), rtol=1e-5, atol=1e-6)


def test_seed_regression_first_step():
    x = tg.tensor([0, 1, 2, 3, 4, 5, 6, 7.0])
    y = tg.tensor([1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37])
    m = tg.tensor([0.9], requires_grad=True)
    b = tg.tensor([0.1], requires_grad=True)
    opt = optim.SGD([m, b], lr=0.01)
    (tg.sum((m * x + b - y) ** 2) / len(y)).backward()
    opt.step()
    assert m.item() == pytest.approx(0.5369, abs=1e-4)
    assert b.item() == pytest.approx(0.0374, abs=1e-4)


def test_parameters_without_grad_are_skipped():
    a = tg.tensor([1.0], requires_grad=True)
    b = tg.tensor([2.0], requires_grad=True)
    opt = optim.SGD([a, b], lr=0.5, momentum=0.9)
    (a * 3).sum().backward()
    opt.step()
    assert a.item() == pytest.approx(-0.5) and b.item() == 2.0


def test_zero_grad_default_none_and_zeros():
    lin = nn.Linear(2, 2)
    opt = optim.SGD(lin.parameters(), lr=0.1)
    lin(tg.ones(1, 2)).sum().backward()
    opt.zero_grad(set_to_none=False)
    assert float(lin.weight.grad.abs().sum()) == 0.0
    opt.zero_grad()
    assert lin.weight.grad is None


@pytest.mark.parametrize("factory,msg", [
    (lambda p: optim.SGD(p, lr=-1), "Invalid learning rate: -1"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=-0.5), "Invalid momentum value: -0.5"),
    (lambda p: optim.SGD(p, lr=0.1, weight_decay=-1e-3), "Invalid weight_decay value"),
    (lambda p: optim.SGD(p, lr=0.1, nesterov=True), "Nesterov momentum requires"),
    (lambda p: optim.SGD(p, lr=0.1, momentum=0.9, dampening=0.1, nesterov=True),
     "Nesterov momentum requires"),
    (lambda p: optim.Adam(p, lr=-1), "Invalid learning rate: -1"),
    (lambda p: optim.Adam(p, eps=-1e-8), "Invalid epsilon value"),
    (lambda p: optim.Adam(p, betas=(1.0, 0.999)), "Invalid beta parameter at index 0"),
    (lambda p: optim.Adam(p, betas=(0.9, -0.1)), "Invalid beta parameter at index 1"),
    (lambda p: optim.Adam(p, weight_decay=-1), "Invalid weight_decay value"),
])
def test_invalid_hyper_parameters(factory, msg):
    with pytest.raises(ValueError, match=msg):
        factory([tg.zeros(1, requires_grad=True)])


def test_invalid_parameter_lists():
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors"):
        optim.SGD(tg.zeros(1, requires_grad=True), lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([tg.zeros(1, requires_grad=True) * 2], lr=0.1)
    with pytest.raises(TypeError, match="parameter 0"):
        optim.Adam([1.0])


def test_repr_and_state():
    opt = optim.Adam([tg.zeros(1, requires_grad=True)], lr=0.01)
    assert "Adam" in repr(opt) and "lr: 0.01" in repr(opt)
    # PyTorch's layout: no per-parameter state before the first step.
    assert opt.state_dict()["state"] == {}


def test_adam_step_counts_are_per_parameter():
    """A parameter that had no gradient on some steps gets its own bias correction (PyTorch)."""
    torch = pytest.importorskip("torch")
    a0, b0 = [0.5, -1.0], [2.0]
    a, b = tg.tensor(a0, requires_grad=True), tg.tensor(b0, requires_grad=True)
    ta, tb = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    topt = torch.optim.Adam([ta, tb], lr=0.1)
    for step in range(5):
        opt.zero_grad()
        topt.zero_grad()
        use_b = step >= 3  # b gets gradients only on the last two steps
        loss = (a * a).sum() + ((b * 3.0).sum() if use_b else 0.0)
        tloss = (ta * ta).sum() + ((tb * 3.0).sum() if use_b else 0.0)
        loss.backward()
        tloss.backward()
        opt.step()
        topt.step()
    np.testing.assert_allclose(a.detach().numpy(), ta.detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(b.detach().numpy(), tb.detach().numpy(), rtol=1e-5)
    state = opt.state_dict()["state"]  # PyTorch's layout: parameter index -> its state
    assert [state[i]["step"].item() for i in (0, 1)] == [5, 2]
