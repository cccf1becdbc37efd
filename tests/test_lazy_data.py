"""nn.Softmax/LogSoftmax/Softmin, nn.LazyLinear and Tensor.data against PyTorch's behaviour,
plus einsum's and tapegrad.linalg's argument errors (their values and gradients are swept by
the op table, tests/optable.py)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tapegrad as tg

torch = pytest.importorskip("torch")


# ----- the softmax modules ----------------------------------------------------------------------
@pytest.mark.parametrize("name", ["Softmax", "LogSoftmax", "Softmin"])
@pytest.mark.parametrize("shape,dim", [((3, 4), 1), ((2, 3, 4), 0), ((5,), -1)])
def test_softmax_modules_match_torch(name, shape, dim):
    a = np.random.default_rng(len(shape)).standard_normal(shape)
    x = tg.tensor(a, requires_grad=True)
    tx = torch.tensor(a, requires_grad=True)
    m, tm = getattr(tg.nn, name)(dim=dim), getattr(torch.nn, name)(dim=dim)
    assert repr(m) == repr(tm)
    y, ty = m(x), tm(tx)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12, atol=1e-12)
    g = np.random.default_rng(1).standard_normal(shape)
    y.backward(tg.tensor(g))
    ty.backward(torch.tensor(g))
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("shape", [(3,), (2, 3), (2, 3, 4), (2, 3, 4, 5)])
def test_implicit_dim_warns_and_picks_torchs_dim(shape):
    a = np.random.default_rng(0).standard_normal(shape)
    for name in ("Softmax", "LogSoftmax", "Softmin"):
        with pytest.warns(UserWarning, match="Implicit dimension choice"):
            y = getattr(tg.nn, name)()(tg.tensor(a))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            ty = getattr(torch.nn, name)()(torch.tensor(a))
        np.testing.assert_allclose(y.numpy(), ty.numpy(), rtol=1e-12)
    assert tg.nn.functional.softmin(tg.tensor(a), dim=0).shape == tuple(shape)


# ----- LazyLinear ---------------------------------------------------------------------------------
def test_lazy_linear_materialises_and_becomes_linear():
    tg.manual_seed(0)
    m = tg.nn.LazyLinear(3)
    assert repr(m) == repr(torch.nn.LazyLinear(3)) == \
        "LazyLinear(in_features=0, out_features=3, bias=True)"
    assert isinstance(m.weight, tg.nn.UninitializedParameter) and m.has_uninitialized_params()
    assert list(m.state_dict()) == ["weight", "bias"]
    w, b = m.weight, m.bias
    opt = tg.optim.SGD(m.parameters(), lr=0.1)  # before the first call, as PyTorch allows
    x = tg.randn(5, 4)
    y = m(x)
    assert type(m) is tg.nn.Linear and repr(m) == "Linear(in_features=4, out_features=3, bias=True)"
    assert m.weight is w and m.bias is b and tuple(w.shape) == (3, 4) and tuple(b.shape) == (3,)
    assert not isinstance(w, tg.nn.UninitializedParameter) and isinstance(w, tg.nn.Parameter)
    bound = 1 / 2  # PyTorch's init: U(-1/sqrt(in), 1/sqrt(in))
    assert float(w.abs().max()) <= bound and float(b.abs().max()) <= bound
    np.testing.assert_allclose(y.detach().numpy(), (x @ w.T + b).detach().numpy(), rtol=1e-6)
    before = w.detach().clone()
    y.sum().backward()
    opt.step()
    np.testing.assert_allclose(w.detach().numpy(), (before - 0.1 * w.grad).numpy(), rtol=1e-6)
    assert m(x).shape == (5, 3)


def test_lazy_linear_dtype_bias_and_state_dict():
    m = tg.nn.LazyLinear(2, bias=False)
    assert m.bias is None and list(m.state_dict()) == ["weight"]
    m.double()
    m(tg.ones(4, dtype=tg.float64))
    assert m.weight.dtype == tg.float64 and tuple(m.weight.shape) == (2, 4)
    src = tg.nn.Linear(3, 2)
    lazy = tg.nn.LazyLinear(2)
    lazy.load_state_dict(src.state_dict())  # materialises from the checkpoint's shapes
    assert tuple(lazy.weight.shape) == (2, 3) and lazy.weight.tolist() == src.weight.tolist()
    x = tg.randn(4, 3)
    assert lazy(x).tolist() == src(x).tolist()
    assert repr(lazy) == "Linear(in_features=3, out_features=2, bias=True)"
    with pytest.raises(ValueError, match="LazyLinear"):
        tg.nn.LazyLinear(2)(tg.tensor(1.0))


def test_lazy_linear_first_call_is_not_captured():
    net = tg.nn.Sequential(tg.nn.Flatten(), tg.nn.LazyLinear(3))
    x = tg.randn(2, 1, 2, 2)
    with pytest.raises(RuntimeError, match="creates its parameters"):
        tg.compile(lambda t: net(t), fullgraph=True)(x)
    step = tg.compile(lambda t: net(t))
    np.testing.assert_array_equal(step(x).detach().numpy(), net(x).detach().numpy())


# ----- Tensor.data ------------------------------------------------------------------------------
def test_data_alias_has_its_own_version_counter():
    for lib in (tg, torch):
        p = lib.ones(3, requires_grad=True)
        y = (p * p).sum()
        d = p.data
        assert not d.requires_grad and d.is_leaf and d is not p.data
        p.data -= 0.5  # d2l's sgd: autograd does not see it
        d.mul_(2.0)
        assert p._version == 0 and p.tolist() == [1.0, 1.0, 1.0]
        y.backward()
        assert p.grad.tolist() == [2.0, 2.0, 2.0]
    w = tg.zeros(2, 3, requires_grad=True)
    w.data.normal_(0, 0.01)
    assert w.requires_grad and w.is_leaf and float(w.abs().sum()) > 0


def test_data_setter_keeps_identity_as_torch():
    for lib in (tg, torch):
        p = lib.ones(3, requires_grad=True)
        (p * 2).sum().backward()
        p.data = p.data * 3  # same shape: .grad kept
        assert p.tolist() == [3.0, 3.0, 3.0] and p.grad.tolist() == [2.0, 2.0, 2.0]
        p.data = lib.zeros(2, dtype=lib.float64)
        assert p.dtype == lib.float64 and tuple(p.shape) == (2,) and p.requires_grad and p.is_leaf
        src = lib.ones(2, dtype=lib.float64)
        p.data = src  # shares src's memory
        src.add_(1.0)
        assert p.tolist() == [2.0, 2.0]
        q = lib.ones(1)
        q.data = lib.tensor([5, 6])  # no grad: any dtype
        assert q.dtype == lib.int64 and q.tolist() == [5, 6]
        with pytest.raises(TypeError, match="Variable data has to be a tensor, but got int"):
            p.data = 5
        with pytest.raises(RuntimeError, match="must be floating point"):
            p.data = lib.zeros(2, dtype=lib.int64)
    p = tg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf"):  # PyTorch allows this one
        (p * 2).data = tg.zeros(2)
    opt = tg.optim.SGD([p], lr=1.0)
    p.data = tg.zeros(4)  # an optimizer holding p sees the new data
    (p * p).sum().backward()
    opt.step()
    assert p.tolist() == [0.0] * 4


# ----- einsum and linalg argument errors ----------------------------------------------------
def test_einsum_and_linalg_errors():
    a = tg.ones(2, 3)
    with pytest.raises(NotImplementedError, match="sublist"):
        tg.einsum(a, [0, 1])
    for eq, ops in [("ij,jk->ik", [a]), ("ij->ik", [a]), ("ijk->", [a]), ("ij,jk", [a, a]),
                    ("i.j", [a]), ("ij->ii", [a]), ("i1", [a])]:
        with pytest.raises(RuntimeError, match="einsum"):
            tg.einsum(eq, *ops)
        with pytest.raises(RuntimeError):
            torch.einsum(eq, *[torch.ones(tuple(o.shape)) for o in ops])
    assert tg.einsum("ij,jk->ik", [a, a.T]).tolist() == [[3.0, 3.0], [3.0, 3.0]]
    for f in (lambda lib: lib.linalg.norm(lib.ones(2, 2, 2), ord=1),
              lambda lib: lib.linalg.vector_norm(lib.ones(2, dtype=lib.int64)),
              lambda lib: lib.linalg.matrix_norm(lib.ones(3))):
        with pytest.raises(RuntimeError):
            f(tg)
        with pytest.raises(RuntimeError):
            f(torch)
    with pytest.raises(NotImplementedError, match="singular values"):
        tg.linalg.matrix_norm(a, ord="nuc")
    x = tg.tensor([[1.0, 0.0], [3.0, -4.0]])
    assert tg.linalg.vector_norm(x, ord=0).item() == 3.0
    assert tg.linalg.norm(x, keepdim=True).shape == (1, 1)
