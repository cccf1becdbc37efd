"""tapegrad against PyTorch (the trusted twin) on the op table of optable.py: forward values
and gradients in float64 to 1e-9, a float32 spot check at 1e-5, and higher-order derivatives
(create_graph): an MLP's Hessian-vector product and mixed second derivatives."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tapegrad as tg
from optable import CASES, TG, torch_ns

torch = pytest.importorskip("torch")
TORCH = torch_ns()

PARITY = [c for c in CASES if c.torch]


def _outs(r):
    return list(r) if isinstance(r, (tuple, list)) else [r]


def _np(t):
    return t.detach().numpy()  # same spelling in both libraries


def _compare(case, tg_dtype, torch_dtype, tol):
    arrays = case.inputs()
    xs = [tg.tensor(a, dtype=tg_dtype, requires_grad=True) for a in arrays]
    txs = [torch.tensor(a, dtype=torch_dtype, requires_grad=True) for a in arrays]
    outs, touts = _outs(case.fn(TG, *xs)), _outs(case.fn(TORCH, *txs))
    assert len(outs) == len(touts)
    diff_outs, diff_touts, vs = [], [], []
    rng = np.random.default_rng(99)
    for o, to in zip(outs, touts):
        assert tuple(o.shape) == tuple(to.shape), case.id
        assert str(o.dtype).split(".")[-1] == str(to.dtype).split(".")[-1], case.id
        if o.dtype in (tg.float32, tg.float64):
            np.testing.assert_allclose(_np(o), _np(to), rtol=tol, atol=tol, err_msg=case.id)
        else:  # indices of max/min(dim)
            np.testing.assert_array_equal(_np(o), _np(to), err_msg=case.id)
        if o.requires_grad:
            assert to.requires_grad
            v = rng.standard_normal(tuple(o.shape))
            diff_outs.append(o)
            diff_touts.append(to)
            vs.append(v)
    if not diff_outs:
        return
    g = tg.grad(diff_outs, xs, grad_outputs=[tg.tensor(v, dtype=tg_dtype) for v in vs],
                allow_unused=True)
    tgr = torch.autograd.grad(diff_touts, txs,
                              grad_outputs=[torch.tensor(v, dtype=torch_dtype) for v in vs],
                              allow_unused=True)
    for k, (a, b, x) in enumerate(zip(g, tgr, arrays)):
        a = np.zeros(x.shape) if a is None else _np(a)
        b = np.zeros(x.shape) if b is None else _np(b)
        assert a.shape == x.shape, (case.id, k)
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol, err_msg=f"{case.id} grad {k}")


@pytest.mark.parametrize("case", PARITY, ids=[c.id for c in PARITY])
def test_float64_parity(case):
    _compare(case, tg.float64, torch.float64, 1e-9)


F32_OPS = {"add", "mul", "div", "exp", "log", "tanh", "sigmoid", "matmul", "softmax",
           "log_softmax", "cross_entropy", "sum", "mean", "mse_loss", "logsumexp"}
F32 = [c for c in PARITY if c.op in F32_OPS]


@pytest.mark.parametrize("case", F32, ids=[c.id for c in F32])
def test_float32_parity(case):
    _compare(case, tg.float32, torch.float32, 1e-5)


def test_float32_softmax_family_accuracy():
    # Large logits (a confident classifier): the results must be as accurate as float32 allows.
    row = np.array([[47.84488, 35.54388, 18.0]], np.float32)
    exact = row.astype(np.float64) - np.log(np.exp(row.astype(np.float64)).sum(1, keepdims=True))
    x = tg.tensor(row)
    np.testing.assert_allclose(x.log_softmax(1).numpy(), exact, rtol=1e-6)
    np.testing.assert_allclose(x.softmax(1).numpy(), np.exp(exact), rtol=1e-6)
    loss = tg._core.cross_entropy(x, tg.tensor([0]), reduction="none")
    np.testing.assert_allclose(loss.numpy(), -exact[:, 0], rtol=1e-5)


def test_float32_long_sums_are_accurate():
    a = np.full(1_000_001, 0.1, np.float32)
    t = tg.from_numpy(a)
    exact = a.astype(np.float64).sum()
    assert t.sum().item() == pytest.approx(exact, rel=1e-6)
    assert t.mean().item() == pytest.approx(exact / a.size, rel=1e-6)
    assert t.sum().item() == pytest.approx(torch.from_numpy(a).sum().item(), rel=1e-6)


# ----- higher order ----------------------------------------------------------------------------
def _mlp(lib, params, x):
    w1, b1, w2, b2 = params
    h = lib.tanh(x @ w1.T + b1)
    return (lib.tanh(h @ w2.T + b2) ** 2).sum()


def test_mlp_hessian_vector_product():
    rng = np.random.default_rng(5)
    shapes = [(6, 3), (6,), (2, 6), (2,)]
    arrays = [rng.standard_normal(s) for s in shapes]
    vecs = [rng.standard_normal(s) for s in shapes]
    x = rng.standard_normal((5, 3))

    ps = [tg.tensor(a, dtype=tg.float64, requires_grad=True) for a in arrays]
    g = tg.grad(_mlp(tg, ps, tg.tensor(x)), ps, create_graph=True)
    dot = sum((gi * tg.tensor(v)).sum() for gi, v in zip(g, vecs))
    hv = tg.grad(dot, ps)

    tps = [torch.tensor(a, requires_grad=True) for a in arrays]
    tgrad = torch.autograd.grad(_mlp(torch, tps, torch.tensor(x)), tps, create_graph=True)
    tdot = sum((gi * torch.tensor(v)).sum() for gi, v in zip(tgrad, vecs))
    thv = torch.autograd.grad(tdot, tps)

    for a, b in zip(g, tgrad):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-9, atol=1e-12)
    for a, b in zip(hv, thv):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)
        assert np.abs(a.numpy()).max() > 1e-3  # not vacuous


def test_full_hessian_matches_torch():
    rng = np.random.default_rng(6)
    a = rng.standard_normal(4)
    x = tg.tensor(a, requires_grad=True)
    (g,) = tg.grad((x.sin() * x.exp()).sum() + (x @ x) ** 2, x, create_graph=True)
    rows = [tg.grad(g[i], x, retain_graph=True)[0].numpy() for i in range(4)]
    tx = torch.tensor(a, requires_grad=True)
    H = torch.autograd.functional.hessian(lambda t: (t.sin() * t.exp()).sum() + (t @ t) ** 2, tx)
    np.testing.assert_allclose(np.stack(rows), H.numpy(), rtol=1e-9, atol=1e-12)


def test_second_derivatives_of_z_is_x2_minus_y2():
    x = tg.tensor(3.0, dtype=tg.float64, requires_grad=True)
    y = tg.tensor(2.0, dtype=tg.float64, requires_grad=True)
    z = x**2 - y**2
    dzdx, dzdy = tg.grad(z, [x, y], create_graph=True)
    assert dzdx.item() == 6.0 and dzdy.item() == -4.0
    (d2x,) = tg.grad(dzdx, x, create_graph=True)
    assert d2x.item() == 2.0
    (d2y,) = tg.grad(dzdy, y, create_graph=True)
    assert d2y.item() == -2.0


def test_mixed_second_derivative_of_cylinder_volume():
    r = tg.tensor(3.0, dtype=tg.float64, requires_grad=True)
    length = tg.tensor(5.0, dtype=tg.float64, requires_grad=True)
    v = math.pi * r**2 * length
    (dv_dl,) = tg.grad(v, length, create_graph=True)
    (d2v,) = tg.grad(dv_dl, r, create_graph=True)
    assert d2v.item() == pytest.approx(2 * math.pi * 3.0, rel=1e-12)

    tr = torch.tensor(3.0, dtype=torch.float64, requires_grad=True)
    tl = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    (tdl,) = torch.autograd.grad(math.pi * tr**2 * tl, tl, create_graph=True)
    (td2,) = torch.autograd.grad(tdl, tr)
    assert d2v.item() == pytest.approx(td2.item(), rel=1e-12)


# ----- random broadcasting (hypothesis): every kernel fast path and the general one ----------


@st.composite
def broadcast_pair(draw):
    nd = draw(st.integers(0, 4))
    base = draw(st.lists(st.integers(0, 9), min_size=nd, max_size=nd))

    def side():
        keep = draw(st.integers(0, nd))  # drop leading dims
        return [1 if draw(st.booleans()) else d for d in base[nd - keep:]]

    return tuple(side()), tuple(side())


BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a.abs() ** b,
    "maximum": lambda a, b: (a.maximum(b)),
}


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(shapes=broadcast_pair(), op=st.sampled_from(sorted(BINARY)),
       f32=st.booleans(), seed=st.integers(0, 2**16))
def test_random_broadcasting_matches_torch(shapes, op, f32, seed):
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(0.5, 2.0, s) * rng.choice([-1, 1], s) for s in shapes]
    dt, tdt, tol = (tg.float32, torch.float32, 1e-5) if f32 else (tg.float64, torch.float64, 1e-12)
    xs = [tg.tensor(a, dtype=dt, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, dtype=tdt, requires_grad=True) for a in arrays]
    out, tout = BINARY[op](*xs), BINARY[op](*ts)
    assert tuple(out.shape) == tuple(tout.shape)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=tol, atol=tol)
    v = rng.standard_normal(tuple(out.shape))
    g = tg.grad(out, xs, grad_outputs=tg.tensor(v, dtype=dt))
    tgr = torch.autograd.grad(tout, ts, grad_outputs=torch.tensor(v, dtype=tdt))
    for a, b in zip(g, tgr):
        assert tuple(a.shape) == tuple(b.shape)
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=tol, atol=tol)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(shape=st.lists(st.integers(0, 6), min_size=1, max_size=4),
       data=st.data(), keepdim=st.booleans(), seed=st.integers(0, 2**16))
def test_random_reductions_match_torch(shape, data, keepdim, seed):
    nd = len(shape)
    dims = tuple(sorted(data.draw(st.sets(st.integers(0, nd - 1), min_size=1))))
    op = data.draw(st.sampled_from(["sum", "mean", "amax", "logsumexp"]))
    if op in ("amax", "mean", "logsumexp") and any(shape[d] == 0 for d in dims):
        return  # no identity (amax raises; mean is nan): covered in test_errors
    a = np.random.default_rng(seed).permutation(max(int(np.prod(shape)), 1))[: int(np.prod(shape))]
    a = a.reshape(shape) / 7.0
    x = tg.tensor(a, dtype=tg.float64, requires_grad=True)
    t = torch.tensor(a, dtype=torch.float64, requires_grad=True)
    out = getattr(x, op)(dims, keepdim=keepdim)
    tout = getattr(t, op)(dims, keepdim=keepdim)
    assert tuple(out.shape) == tuple(tout.shape)
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=1e-12, atol=1e-12)
    v = np.random.default_rng(seed + 1).standard_normal(tuple(out.shape))
    (g,) = tg.grad(out, x, grad_outputs=tg.tensor(v))
    (tgr,) = torch.autograd.grad(tout, t, grad_outputs=torch.tensor(v))
    np.testing.assert_allclose(g.numpy(), tgr.numpy(), rtol=1e-12, atol=1e-12)


@settings(max_examples=100, deadline=None, derandomize=True, database=None)
@given(m=st.integers(0, 70), k=st.integers(0, 70), n=st.integers(0, 70),
       batch=st.sampled_from([None, (), (3,), (2, 1), (1, 3)]),
       vec=st.sampled_from([None, "a", "b"]), f32=st.booleans(), seed=st.integers(0, 2**16))
def test_random_matmul_matches_torch(m, k, n, batch, vec, f32, seed):
    rng = np.random.default_rng(seed)
    sa = (k,) if vec == "a" else (*(batch or ()), m, k)
    sb = (k,) if vec == "b" else ((k, n) if batch is None else (*batch[::-1], k, n))
    a, b = rng.standard_normal(sa), rng.standard_normal(sb)
    dt, tdt, tol = (tg.float32, torch.float32, 2e-5) if f32 else (tg.float64, torch.float64, 1e-11)
    x, y = tg.tensor(a, dtype=dt, requires_grad=True), tg.tensor(b, dtype=dt, requires_grad=True)
    tx = torch.tensor(a, dtype=tdt, requires_grad=True)
    ty = torch.tensor(b, dtype=tdt, requires_grad=True)
    out, tout = x @ y, tx @ ty
    assert tuple(out.shape) == tuple(tout.shape)
    scale = max(1.0, np.sqrt(k))
    np.testing.assert_allclose(out.detach().numpy(), tout.detach().numpy(), rtol=tol,
                               atol=tol * scale)
    v = rng.standard_normal(tuple(out.shape))
    g = tg.grad(out, [x, y], grad_outputs=tg.tensor(v, dtype=dt))
    tgr = torch.autograd.grad(tout, [tx, ty], grad_outputs=torch.tensor(v, dtype=tdt))
    for p, q in zip(g, tgr):
        atol = tol * max(scale, np.sqrt(max(m, n, 1))) * 4  # sums of k or of m, n products
        np.testing.assert_allclose(p.numpy(), q.numpy(), rtol=tol, atol=atol)


@pytest.mark.parametrize("self_dtype", ["float32", "float64", "int64", "bool"])
@pytest.mark.parametrize("value_dtype", ["float32", "int64", "bool"])
def test_fill_with_a_tensor_value_matches_pytorch(self_dtype, value_dtype):
    """fill_(Tensor): a 0-d value converted as a cast, every dtype pair, as PyTorch."""
    def run(lib):
        v = lib.tensor(-2.7).to(getattr(lib, value_dtype))
        return lib.zeros(2, 3, dtype=getattr(lib, self_dtype)).t().fill_(v)
    got, want = run(tg), run(torch)
    assert str(got.dtype).split(".")[-1] == str(want.dtype).split(".")[-1]
    np.testing.assert_array_equal(got.numpy(), want.numpy())


def test_fill_with_a_tensor_value_is_differentiable_as_in_pytorch():
    """FillBackward: the value gets the sum of the filled tensor's gradient, what was there
    before gets zero; also through a transposed view, and with the value an element of the
    tensor being filled. Compared with PyTorch and with float64 central differences."""
    def run(lib, level):
        b = lib.tensor([[1.0, -2.0, 0.5], [3.0, 0.25, -1.0]], dtype=lib.float64,
                       requires_grad=True)
        v = lib.tensor(level, dtype=lib.float64, requires_grad=True)
        c = (b * 2).t()
        c.fill_(v)
        w = lib.tensor([[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]], dtype=lib.float64)
        y = (c * c * w).sum()
        y.backward()
        x = b * 1
        x.fill_(x[1, 2] * 3)
        z = (x * w.t()).sum()
        z.backward()
        return float(y.detach()), float(v.grad), b.grad.numpy().copy()

    got, want = run(tg, 0.75), run(torch, 0.75)
    assert got[0] == pytest.approx(want[0], abs=1e-12)
    assert got[1] == pytest.approx(want[1], abs=1e-12)
    np.testing.assert_allclose(got[2], want[2], atol=1e-12)
    h = 1e-6  # d/dv of sum(v² · w) is 2·v·sum(w)
    fd = (run(tg, 0.75 + h)[0] - run(tg, 0.75 - h)[0]) / (2 * h)
    assert got[1] == pytest.approx(fd, rel=1e-7)


def test_fill_value_must_be_zero_dimensional():
    for shape in ([2.0], [[2.0]]):
        with pytest.raises(ValueError, match="0-dimension value tensor"):
            tg.zeros(3).fill_(tg.tensor(shape))
        with pytest.raises(RuntimeError, match="0-dimension value tensor"):
            torch.zeros(3).fill_(torch.tensor(shape))
    t = tg.zeros(3)
    assert t.fill_(tg.tensor(4.0)).tolist() == [4.0, 4.0, 4.0]  # still usable
