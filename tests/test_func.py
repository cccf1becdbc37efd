"""tapegrad.func against torch.func (the trusted twin) on the op table of optable.py, and vmap
against a Python loop over the batch.

- every transform (grad, vjp, jvp, jacrev, jacfwd, hessian) on the table's differentiable
  cases, float64 to 1e-9 (the Jacobian transforms on the small cases);
- vmap on every case: the result equals a loop + stack, or the call raises a clear
  ``vmap: ...`` error (an op without a batch rule) — never a different answer; the ops the
  brief lists must batch; per-sample gradients (vmap of grad) equal a loop of grads;
- has_aux, argnums tuples, pytrees, composition, functional_call, in_dims/out_dims, nesting,
  randomness, and that the transforms leave no state behind.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import tapegrad as tg
import tapegrad.func as tf
from optable import CASES, TG, torch_ns
from tapegrad.func_vmap import BATCH_RULES, BatchedTensor

torch = pytest.importorskip("torch")
TORCH = torch_ns()
# TG with the losses and linear looked up at call time, so that vmap's dispatch sees them
# (optable's TG holds the _core callables themselves).
def _late(name):
    return lambda *a, **kw: getattr(tg._core, name)(*a, **kw)


TG = SimpleNamespace(**{**vars(TG), **{
    k: _late(getattr(TG, k).__name__)
    for k in ("mse_loss", "cross_entropy", "linear", "bce_with_logits")}})
TOL = 1e-9
# torch.func's first use scripts a helper with torch.jit, which warns that it is deprecated.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")

PARITY = [c for c in CASES if c.torch]
SMALL = [c for c in PARITY if sum(int(np.prod(s)) for s in c.shapes) <= 24]


def _outs(r):
    return list(r) if isinstance(r, (tuple, list)) else [r]


def _close(a, b, msg=""):
    a = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    assert a.shape == b.shape, (msg, a.shape, b.shape)
    np.testing.assert_allclose(a, b, rtol=TOL, atol=TOL, err_msg=msg)


def _first_float(case, ns, xs):
    for o in _outs(case.fn(ns, *xs)):
        if o.dtype in (ns.float32, ns.float64):
            return o
    return None


def _weights(case):
    """A fixed random weighting of the first float output (it makes the case scalar)."""
    xs = [tg.tensor(a) for a in case.inputs()]
    o = _first_float(case, TG, xs)
    if o is None:
        return None
    return np.random.default_rng(5).standard_normal(tuple(o.shape))


def _scalar(case, ns, w):
    def f(*xs):
        return (_first_float(case, ns, xs) * ns.const(w)).sum()

    return f


def _vector(case, ns):
    return lambda *xs: _first_float(case, ns, xs)


def _both(case):
    arrays = case.inputs()
    return [tg.tensor(a) for a in arrays], [torch.tensor(a) for a in arrays]


def _torch_or_skip(fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - torch.func lacks a rule: nothing to compare with
        pytest.skip(f"torch.func: {type(e).__name__}: {e}")


# ----- transforms against torch.func over the op table -----------------------------------------

@pytest.mark.parametrize("case", PARITY, ids=[c.id for c in PARITY])
def test_grad_vjp_jvp_sweep(case):
    w = _weights(case)
    if w is None:
        pytest.skip("no float output")
    xs, txs = _both(case)
    argnums = tuple(range(len(xs)))
    ref = _torch_or_skip(lambda: torch.func.grad(_scalar(case, TORCH, w), argnums)(*txs))
    got = tf.grad(_scalar(case, TG, w), argnums)(*xs)
    for a, b in zip(got, ref):
        _close(a, b, case.id)
    # vjp with the weights as cotangent
    tout, tfn = torch.func.vjp(_vector(case, TORCH), *txs)
    out, fn = tf.vjp(_vector(case, TG), *xs)
    _close(out, tout, case.id)
    for a, b in zip(fn(tg.tensor(w)), tfn(torch.tensor(w))):
        _close(a, b, case.id)
    # jvp with random tangents
    rng = np.random.default_rng(1)
    ts = [rng.standard_normal(x.shape) for x in case.inputs()]
    ref = _torch_or_skip(lambda: torch.func.jvp(_vector(case, TORCH), tuple(txs),
                                                tuple(torch.tensor(t) for t in ts)))
    got = tf.jvp(_vector(case, TG), tuple(xs), tuple(tg.tensor(t) for t in ts))
    _close(got[0], ref[0], case.id)
    _close(got[1], ref[1], case.id)


@pytest.mark.parametrize("case", SMALL, ids=[c.id for c in SMALL])
def test_jacobians_sweep(case):
    if _weights(case) is None:
        pytest.skip("no float output")
    xs, txs = _both(case)
    argnums = tuple(range(len(xs)))
    ref = _torch_or_skip(lambda: torch.func.jacrev(_vector(case, TORCH), argnums)(*txs))
    for transform in (tf.jacrev, tf.jacfwd):
        got = transform(_vector(case, TG), argnums)(*xs)
        for a, b in zip(got, ref):
            _close(a, b, f"{transform.__name__} {case.id}")


HESS = [c for c in SMALL if c.op in ("mul", "div", "exp", "log", "tanh", "sigmoid", "pow_tt",
                                     "softmax", "log_softmax", "logsumexp", "matmul", "linear",
                                     "mse_loss", "cross_entropy", "gelu", "softplus", "where")]


@pytest.mark.parametrize("case", HESS, ids=[c.id for c in HESS])
def test_hessian_sweep(case):
    w = _weights(case)
    xs, txs = _both(case)
    ref = _torch_or_skip(lambda: torch.func.hessian(_scalar(case, TORCH, w))(*txs))
    _close(tf.hessian(_scalar(case, TG, w))(*xs), ref, case.id)
    # hessian = jacfwd(jacrev) = jacrev(jacrev)
    _close(tf.jacrev(tf.jacrev(_scalar(case, TG, w)))(*xs), ref, case.id)


def _pair(seed=0, shapes=((3,), (3,))):
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    return [tg.tensor(a) for a in arrays], [torch.tensor(a) for a in arrays]


def test_has_aux_and_grad_and_value():
    (x, y), (tx, ty) = _pair()

    def f(ns):
        def g(a, b):
            out = (a.sin() * b).sum()
            return out, {"double": out * 2, "a": a}
        return g

    (ga, gb), aux = tf.grad(f(TG), (0, 1), has_aux=True)(x, y)
    (tga, tgb), taux = torch.func.grad(f(torch), (0, 1), has_aux=True)(tx, ty)
    _close(ga, tga)
    _close(gb, tgb)
    _close(aux["double"], taux["double"])
    g, (v, aux) = tf.grad_and_value(f(TG), 1, has_aux=True)(x, y)
    tgr, (tv, taux) = torch.func.grad_and_value(f(torch), 1, has_aux=True)(tx, ty)
    _close(g, tgr)
    _close(v, tv)
    _, fn, _ = tf.vjp(lambda a: (a.exp(), a.sum()), x, has_aux=True)
    _close(fn(tg.ones(3, dtype=tg.float64))[0], tx.exp())
    _close(tf.jvp(lambda a: (a.exp(), a * 2), (x,), (y,), has_aux=True)[2], 2 * tx)
    _close(tf.jacrev(lambda a: (a.exp(), 3), has_aux=True)(x)[0], torch.diag(tx.exp()))
    _close(tf.jacfwd(lambda a: (a.exp(), 3), has_aux=True)(x)[0], torch.diag(tx.exp()))


def test_pytrees():
    (x, y), (tx, ty) = _pair(1)

    def f(ns):
        def g(d, t):
            return {"u": (d["x"] * t[0]).sin(), "v": [d["y"].exp() + t[1]]}
        return g

    inp = ({"x": x, "y": y}, (x, y))
    tinp = ({"x": tx, "y": ty}, (tx, ty))
    for ours, theirs in [(tf.jacrev, torch.func.jacrev), (tf.jacfwd, torch.func.jacfwd)]:
        got = ours(f(TG), argnums=(0, 1))(*inp)
        ref = theirs(f(torch), argnums=(0, 1))(*tinp)
        for a, b in zip(_flat(got), _flat(ref)):
            _close(a, b)
    _, fn = tf.vjp(f(TG), *inp)
    _, tfn = torch.func.vjp(f(torch), *tinp)
    ct = {"u": tg.ones(3, dtype=tg.float64), "v": [tg.full((3,), 2.0, dtype=tg.float64)]}
    tct = {"u": torch.ones(3, dtype=torch.float64), "v": [torch.full((3,), 2.0,
                                                                     dtype=torch.float64)]}
    for a, b in zip(_flat(fn(ct)), _flat(tfn(tct))):
        _close(a, b)
    got = tf.jvp(f(TG), inp, inp)
    ref = torch.func.jvp(f(torch), tinp, tinp)
    for a, b in zip(_flat(got), _flat(ref)):
        _close(a, b)


def _flat(tree):
    if isinstance(tree, dict):
        return [x for k in tree for x in _flat(tree[k])]
    if isinstance(tree, (tuple, list)):
        return [x for t in tree for x in _flat(t)]
    return [tree]


def test_composition():
    (x, y), (tx, ty) = _pair(2)

    def f(a, b):
        return (a.sin() * b.exp()).sum() * (a * b).sum()

    _close(tf.grad(lambda a: tf.grad(f)(a, y).sum())(x),
           torch.func.grad(lambda a: torch.func.grad(f)(a, ty).sum())(tx))
    ref = torch.func.hessian(f, argnums=(0, 1))(tx, ty)
    got = tf.hessian(f, argnums=(0, 1))(x, y)
    for a, b in zip(_flat(got), _flat(ref)):
        _close(a, b)
    _close(tf.jacrev(tf.jacrev(f))(x, y), tf.jacfwd(tf.jacrev(f))(x, y))
    _close(tf.jacfwd(tf.jacfwd(f))(x, y), ref[0][0])
    # jvp of grad: a Hessian-vector product
    _close(tf.jvp(tf.grad(f), (x, y), (y, x * 0))[1],
           torch.func.jvp(torch.func.grad(f), (tx, ty), (ty, tx * 0))[1])
    # a closed-over tensor that the outer transform differentiates
    _close(tf.grad(lambda b: tf.grad(f)(x, b).sum())(y),
           torch.func.grad(lambda b: torch.func.grad(f)(tx, b).sum())(ty))


def test_no_state_left_behind():
    x = tg.tensor([1.0, 2.0, 3.0], dtype=tg.float64)
    w = tg.tensor([0.5, -1.0, 2.0], dtype=tg.float64)
    before = tg.tape_stats()["live_entries"]
    outs = [tf.grad(lambda t: (t * w).sin().sum())(x), tf.jacrev(lambda t: t.exp() * w)(x),
            tf.hessian(lambda t: (t ** 3).sum())(x), tf.jvp(lambda t: t.exp(), (x,), (w,))[1],
            tf.vmap(tf.grad(lambda t: (t * w).sum().tanh()))(tg.stack([x, w])),
            tf.vjp(lambda t: t.exp(), x)[0]]
    for o in outs:
        assert not o.requires_grad and o.grad_fn is None
    assert not x.requires_grad and x.grad is None and not w.requires_grad
    del outs
    assert tg.tape_stats()["live_entries"] == before
    # inputs that require grad: the result stays differentiable (an outer autograd sees it)
    xr = x.detach().requires_grad_()
    g = tf.grad(lambda t: (t ** 3).sum())(xr)
    assert g.requires_grad and xr.grad is None
    (h,) = tg.grad(g.sum(), xr)
    _close(h, torch.tensor([6.0, 12.0, 18.0], dtype=torch.float64))


def test_errors():
    x = tg.ones(3, dtype=tg.float64)
    with pytest.raises(RuntimeError, match="scalar"):
        tf.grad(lambda t: t * 2)(x)
    with pytest.raises(RuntimeError, match="argnums"):
        tf.grad(lambda t: t.sum(), argnums=3)(x)
    with pytest.raises(RuntimeError, match="has_aux"):
        tf.grad(lambda t: t.sum(), has_aux=True)(x)
    with pytest.raises(RuntimeError, match="shape"):
        tf.vjp(lambda t: t * 2, x)[1](tg.ones(2, dtype=tg.float64))
    with pytest.raises(RuntimeError, match="tangent"):
        tf.jvp(lambda t: t * 2, (x,), (tg.ones(2, dtype=tg.float64),))


# ----- functional_call -------------------------------------------------------------------------

def _mlps():
    rng = np.random.default_rng(3)
    shapes = {"0.weight": (5, 4), "0.bias": (5,), "2.weight": (3, 5), "2.bias": (3,)}
    arrays = {k: rng.standard_normal(s) for k, s in shapes.items()}
    m = tg.nn.Sequential(tg.nn.Linear(4, 5), tg.nn.Tanh(), tg.nn.Linear(5, 3))
    tm = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.Tanh(), torch.nn.Linear(5, 3))
    return m, tm, arrays


def test_functional_call_mlp():
    m, tm, arrays = _mlps()
    params = {k: tg.tensor(a) for k, a in arrays.items()}
    tparams = {k: torch.tensor(a) for k, a in arrays.items()}
    x = np.random.default_rng(4).standard_normal((6, 4))
    y = np.arange(6) % 3
    originals = {k: v for k, v in m.named_parameters()}
    _close(tf.functional_call(m, params, (tg.tensor(x),)),
           torch.func.functional_call(tm, tparams, (torch.tensor(x),)))
    assert {k: v for k, v in m.named_parameters()} == originals

    def loss(ns, mod):
        def f(p, xb, yb):
            return ns.cross_entropy(ns.functional_call(mod, p, (xb,)), yb)
        return f

    ours = SimpleNamespace(cross_entropy=lambda *a: tg.nn.functional.cross_entropy(*a),
                           functional_call=tf.functional_call)
    tns = torch_ns()
    tns.functional_call = torch.func.functional_call
    g = tf.grad(loss(ours, m))(params, tg.tensor(x), tg.tensor(y))
    tgr = torch.func.grad(loss(tns, tm))(tparams, torch.tensor(x), torch.tensor(y))
    for k in arrays:
        _close(g[k], tgr[k], k)
    # per-sample gradients: vmap over grad, against a loop and against torch.func
    def one(ns, mod):
        def f(p, xb, yb):
            return loss(ns, mod)(p, xb.unsqueeze(0), yb.unsqueeze(0))
        return f

    ps = tf.vmap(tf.grad(one(ours, m)), in_dims=(None, 0, 0))(params, tg.tensor(x), tg.tensor(y))
    tps = torch.func.vmap(torch.func.grad(one(tns, tm)), in_dims=(None, 0, 0))(
        tparams, torch.tensor(x), torch.tensor(y))
    for k in arrays:
        _close(ps[k], tps[k], k)
        loop = tg.stack([tf.grad(one(ours, m))(params, tg.tensor(x[i]), tg.tensor(y[i]))[k]
                         for i in range(6)])
        _close(ps[k], loop, k)


def test_functional_call_restores_on_error_and_strict_and_ties():
    m, _, _ = _mlps()
    originals = dict(m.named_parameters())
    bad = {"0.weight": tg.ones(2, 2)}
    with pytest.raises((ValueError, RuntimeError)):
        tf.functional_call(m, bad, (tg.ones(1, 4),))
    assert dict(m.named_parameters()) == originals
    with pytest.raises(RuntimeError, match="strict"):
        tf.functional_call(m, {"0.weight": tg.ones(5, 4)}, (tg.ones(1, 4),), strict=True)
    # tied weights: replacing one name replaces both
    seq = tg.nn.Sequential(tg.nn.Linear(3, 3, bias=False), tg.nn.Linear(3, 3, bias=False))
    seq[1].weight = seq[0].weight
    w = tg.eye(3) * 2
    out = tf.functional_call(seq, {"0.weight": w}, (tg.ones(1, 3),))
    assert out.tolist() == [[4.0, 4.0, 4.0]]
    out = tf.functional_call(seq, {"0.weight": w}, (tg.ones(1, 3),), tie_weights=False)
    assert out.tolist() != [[4.0, 4.0, 4.0]]
    # several dicts
    out = tf.functional_call(seq, ({"0.weight": w}, {}), (tg.ones(1, 3),))
    assert out.tolist() == [[4.0, 4.0, 4.0]]


# ----- vmap over the op table: loop + stack, or a clear error ----------------------------------
B = 3
# The ops whose cases must batch (a lost batch rule fails here), but for the cases expected to
# raise (data-dependent shapes). The cases of any other op — one added to the table later —
# must batch like the loop or raise a clear "vmap: ..." error.
MUST_BATCH = {
    "add", "sub", "mul", "div", "neg", "pow_tt", "pow_ts", "pow_st", "exp", "log", "log1p",
    "erf", "sqrt", "abs", "relu", "sigmoid", "tanh", "sin", "cos", "maximum", "minimum",
    "where", "clamp", "gelu", "silu", "leaky_relu", "elu", "softplus", "log_sigmoid",
    "hardtanh", "sum", "mean", "max", "min", "amax", "amin", "logsumexp", "softmax",
    "log_softmax", "matmul", "mm", "bmm", "linear", "reshape", "view", "flatten", "transpose",
    "permute", "T", "squeeze", "unsqueeze", "expand", "view_as", "reshape_as", "expand_as",
    "clone", "cat", "stack", "index_int", "index_slice", "index_none", "index_ellipsis",
    "index_gather", "index_mask", "setitem", "inplace", "mse_loss", "cross_entropy",
    "bce_with_logits", "to", "conv2d", "conv1d", "pad", "nll_loss", "l1_loss", "smooth_l1_loss",
    "huber_loss", "binary_cross_entropy", "kl_div",
}
EXPECTED_TO_RAISE = {"index_mask-data[7]"}


def _batched_inputs(case):
    arrays = case.inputs()
    return [np.stack([a * (1 + 0.1 * k) for k in range(B)]) for a in arrays]


def _loop(fn, batched, in_dims):
    outs = []
    for k in range(B):
        args = [tg.tensor(a if d is None else np.take(a, k, axis=d)) for a, d in
                zip(batched, in_dims)]
        outs.append(_outs(fn(*args)))
    return [tg.stack([o[i] for o in outs]) for i in range(len(outs[0]))]


def _configs(case):
    n = len(case.shapes)
    yield "dim0", [0] * n
    if n > 1:
        yield "last-unbatched", [0] * (n - 1) + [None]
    if case.shapes[0]:
        yield "dim-1", [-1] + [0] * (n - 1)


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_vmap_sweep(case):
    fn = (lambda *xs: case.fn(TG, *xs))
    for label, in_dims in _configs(case):
        batched = _batched_inputs(case)
        if label == "last-unbatched":
            batched[-1] = batched[-1][0]
        if label == "dim-1":
            batched[0] = np.moveaxis(batched[0], 0, -1)
        expected = _loop(fn, batched, in_dims)
        try:
            got = _outs(tf.vmap(fn, in_dims=tuple(in_dims))(*[tg.tensor(a) for a in batched]))
        except RuntimeError as e:
            assert "vmap: " in str(e), f"{case.id}: unclear error {e!r}"
            assert case.id in EXPECTED_TO_RAISE or case.op not in MUST_BATCH, \
                f"{case.id} [{label}] does not batch: {e}"
            return
        assert case.id not in EXPECTED_TO_RAISE, f"{case.id} should raise"
        assert len(got) == len(expected)
        for a, b in zip(got, expected):
            assert a.dtype == b.dtype, case.id
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-12, atol=1e-12,
                                       err_msg=f"{case.id} [{label}]")
    if case.torch:
        _check_per_sample_grads(case)


def _check_per_sample_grads(case):
    """vmap(grad(f)) equals a loop of grad(f) (per-sample gradients through the batch rules)."""
    w = _weights(case)
    if w is None:
        return
    f = _scalar(case, TG, w)
    argnums = tuple(range(len(case.shapes)))
    batched = _batched_inputs(case)
    got = tf.vmap(tf.grad(f, argnums))(*[tg.tensor(a) for a in batched])
    for i, g in enumerate(got):
        loop = tg.stack([tf.grad(f, argnums)(*[tg.tensor(a[k]) for a in batched])[i]
                         for k in range(B)])
        np.testing.assert_allclose(g.numpy(), loop.numpy(), rtol=1e-10, atol=1e-10,
                                   err_msg=case.id)


def test_op_table_rows_batch_or_raise():
    # Every op of the table is either in BATCH_RULES or raises naming itself when it meets a
    # batched tensor — an op added to the table later cannot be silently wrong under vmap.
    x = tg.tensor(np.random.default_rng(0).standard_normal((2, 3)))
    nn = tg._core._nn
    for row in tg._core._op_table():
        name = row["name"]
        if name in BATCH_RULES:
            continue
        calls = []
        if "F" in row["expose"]:
            calls.append(lambda t, n=name: getattr(tg, n)(t))
        if "N" in row["expose"] and hasattr(nn, name):
            calls.append(lambda t, n=name: getattr(nn, n)(t))
        if "M" in row["expose"]:
            calls.append(lambda t, n=name: getattr(t, n)())
        for call in calls:
            with pytest.raises((RuntimeError, TypeError)) as info:
                tf.vmap(call)(x)
            if isinstance(info.value, RuntimeError):
                assert name in str(info.value)


# ----- vmap: dims, nesting, randomness, errors -------------------------------------------------

def test_vmap_in_out_dims():
    rng = np.random.default_rng(6)
    a, b = rng.standard_normal((4, 3)), rng.standard_normal((3, 4))
    ta, tb = torch.tensor(a), torch.tensor(b)

    def f(ns):
        return lambda x, y: (x * y.sin(), (x @ y).exp())

    for in_dims, out_dims, x, y in [((0, 1), 0, a, b), ((0, None), (1, 0), a, b[:, 0]),
                                    ((None, 1), -1, a[0], b), ((-1, 0), (-1, 0), b, a)]:
        args = (tg.tensor(np.ascontiguousarray(x)), tg.tensor(np.ascontiguousarray(y)))
        targs = (torch.tensor(x), torch.tensor(y))
        got = tf.vmap(f(TG), in_dims, out_dims)(*args)
        ref = torch.func.vmap(f(torch), in_dims, out_dims)(*targs)
        for p, q in zip(got, ref):
            _close(p, q, str((in_dims, out_dims)))
    # out_dims=None for an unbatched output; dict inputs with per-key in_dims
    got = tf.vmap(lambda d: (d["x"].sum(), d["c"] * 2), in_dims=({"x": 0, "c": None},),
                  out_dims=(0, None))({"x": tg.tensor(a), "c": tg.tensor(b)})
    _close(got[0], ta.sum(1))
    _close(got[1], tb * 2)
    with pytest.raises(ValueError, match="batched"):
        tf.vmap(lambda x: x, out_dims=None)(tg.tensor(a))
    with pytest.raises(ValueError, match="sizes"):
        tf.vmap(lambda x, y: x + y)(tg.tensor(a), tg.tensor(b))
    # chunking gives the same result
    _close(tf.vmap(lambda x: x.softmax(0) @ tg.tensor(b), chunk_size=3)(tg.tensor(a)),
           torch.func.vmap(lambda x: x.softmax(0) @ tb)(ta))


def test_vmap_nested_and_vmap_of_transforms():
    rng = np.random.default_rng(7)
    a, b = rng.standard_normal((2, 3, 4)), rng.standard_normal((3, 4))
    ta, tb = torch.tensor(a), torch.tensor(b)

    def f(x, y):
        return (x * y).sum().tanh() + x.max() * y.logsumexp(0).mean()

    got = tf.vmap(tf.vmap(f), in_dims=(0, None))(tg.tensor(a), tg.tensor(b))
    ref = torch.func.vmap(torch.func.vmap(f), in_dims=(0, None))(ta, tb)
    _close(got, ref)
    got = tf.vmap(tf.vmap(f, in_dims=(None, 0)), in_dims=(0, None))(tg.tensor(a[:, 0]),
                                                                    tg.tensor(b))
    ref = torch.func.vmap(torch.func.vmap(f, in_dims=(None, 0)), in_dims=(0, None))(ta[:, 0], tb)
    _close(got, ref)
    # vmap of grad of vmap, vmap of jacrev / jacfwd / hessian, vmap of a vjp_fn (a Jacobian)
    g = tf.vmap(tf.grad(lambda x: tf.vmap(lambda r: (r.sin() * r).sum())(x).sum()))
    tg_ = torch.func.vmap(torch.func.grad(
        lambda x: torch.func.vmap(lambda r: (r.sin() * r).sum())(x).sum()))
    _close(g(tg.tensor(a)), tg_(ta))
    h = (lambda ns: lambda x: (x.exp() * x).sum() * x.sum())
    for ours, theirs in [(tf.jacrev, torch.func.jacrev), (tf.jacfwd, torch.func.jacfwd),
                         (tf.hessian, torch.func.hessian)]:
        _close(tf.vmap(ours(h(TG)))(tg.tensor(b)), torch.func.vmap(theirs(h(torch)))(tb))
    # vmap(vmap(grad)), grad of vmap, a closure over the outer sample, vmap of grad of vmap
    f = (lambda r: (r.sin() * r.exp()).sum())
    _close(tf.vmap(tf.vmap(tf.grad(f)))(tg.tensor(a)),
           torch.func.vmap(torch.func.vmap(torch.func.grad(f)))(ta))
    _close(tf.grad(lambda t: tf.vmap(f)(t).sum())(tg.tensor(a)),
           torch.func.grad(lambda t: torch.func.vmap(f)(t).sum())(ta))

    def closure(vm):
        return lambda r: vm(lambda c: c * r.sum())(r)

    _close(tf.vmap(closure(tf.vmap), in_dims=2, out_dims=1)(tg.tensor(a)),
           torch.func.vmap(closure(torch.func.vmap), in_dims=2, out_dims=1)(ta))

    def vgv(fn, vm):
        return vm(fn(lambda w, xb: vm(lambda r: (r * w).sum().tanh())(xb).sum()),
                  in_dims=(None, 0))

    _close(vgv(tf.grad, tf.vmap)(tg.tensor(b[0]), tg.tensor(a)),
           vgv(torch.func.grad, torch.func.vmap)(tb[0], ta))
    _, fn = tf.vjp(lambda x: x.sin() * x.sum(), tg.tensor(b[0]))
    _close(tf.vmap(fn)(tg.eye(4, dtype=tg.float64))[0],
           torch.func.jacrev(lambda x: x.sin() * x.sum())(tb[0]))


def test_vmap_randomness():
    x = tg.zeros(4, 3)
    with pytest.raises(RuntimeError, match="randomness"):
        tf.vmap(lambda r: r + tg.randn(3))(x)
    with pytest.raises(RuntimeError, match="randomness"):
        tf.vmap(lambda r: r + tg.rand_like(r))(x)
    same = tf.vmap(lambda r: r + tg.randn(3), randomness="same")(x)
    assert all((same[i] == same[0]).all().item() for i in range(4))
    diff = tf.vmap(lambda r: r + tg.randn(3), randomness="different")(x)
    assert diff.shape == (4, 3) and not (diff[1] == diff[0]).all().item()
    diff = tf.vmap(lambda r: tg.rand_like(r), randomness="different")(x)
    assert not (diff[1] == diff[0]).all().item()
    with pytest.raises(RuntimeError, match="randomness"):
        tf.vmap(lambda r: r, randomness="sometimes")


def test_vmap_errors_are_clear():
    x = tg.tensor(np.arange(6.0).reshape(2, 3))
    with pytest.raises(AttributeError, match="vmap: item"):
        tf.vmap(lambda r: r.sum().item())(x)
    with pytest.raises(RuntimeError, match="data-dependent"):
        tf.vmap(lambda r: r[r > 1])(x)
    with pytest.raises(RuntimeError, match="no batch rule for 'Tensor.uniform_'"):
        tf.vmap(lambda r: r.uniform_())(x)
    with pytest.raises(RuntimeError, match="unbatched"):
        tf.vmap(lambda r: tg.zeros(3).add_(r))(x)
    assert isinstance(tf.vmap(lambda r: r)(x), tg.Tensor)
    seen = []
    tf.vmap(lambda r: seen.append(type(r)) or r)(x)
    assert seen == [BatchedTensor]
    # the op functions are themselves again after vmap returns
    assert tg.exp is tg._core.exp and type(tg.Tensor.__dict__["exp"]).__name__ != "function"


_R = np.random.default_rng(8)
_X = _R.standard_normal((3, 4, 5))
_I = np.array([[1, 0], [2, 2], [0, 3]])           # a batched index tensor (3 samples of 2)
EXTRA = {
    "sum-none-keep": (lambda x: x.sum(keepdim=True, dim=None) * x, [_X]),
    "mean-tuple": (lambda x: x.mean(dim=(0, -1)), [_X]),
    "argmax": (lambda x: x.argmax(), [_X]),
    "argmin-dim": (lambda x: tg.argmin(x, dim=1, keepdim=True), [_X]),
    "all-any": (lambda x: ((x > 0).all(1), (x > 0).any()), [_X]),
    "compare": (lambda x, y: (x < y, x >= 0.5, x != y, x == y), [_X, _X[::-1].copy()]),
    "logical": (lambda x: ((x > 0) & (x < 1)) | ~(x > -1), [_X]),
    "T-t": (lambda x: (x.T, x[0].t(), x.transpose(-1, 0)), [_X]),
    "squeeze-dims": (lambda x: x[:, :1, None].squeeze(1).squeeze(-2), [_X]),
    "max-other": (lambda x, y: x.max(y), [_X, _X[::-1].copy()]),
    "zeros_like": (lambda x: tg.zeros_like(x) + tg.ones_like(x) * x, [_X]),
    "gather-batched": (lambda x, i: x[i], [_X, _I]),
    "gather-batched-slice": (lambda x, i: x[:, i], [_X, _I]),
    "gather-batched-pair": (lambda x, i: x[i, i], [_X, _I]),
    "setitem": (lambda x: _setitem(x), [_X]),
    "cat-unbatched": (lambda x: tg.cat([x, tg.ones(1, 5, dtype=tg.float64)]), [_X]),
    "stack-neg": (lambda x: tg.stack([x, x * 2], dim=-1), [_X]),
    "expand": (lambda x: x[:1].expand(2, 3, 5), [_X]),
    "view_as": (lambda x: x.reshape(20).view_as(tg.zeros(5, 4)), [_X]),
    "linear-batched-weight": (lambda x: tg.nn.functional.linear(x[:2], x, x[1, :4]), [_X]),
    "bmm": (lambda x: tg.bmm(x.unsqueeze(0), x.T.unsqueeze(0)), [_X]),
}


def _setitem(x):
    y = x * 1.0
    y[1:3, ::2] = x[0, 0]
    y[0] = 7.0
    return y


@pytest.mark.parametrize("name", list(EXTRA))
def test_vmap_more_ops_against_a_loop(name):
    fn, arrays = EXTRA[name]
    got = _outs(tf.vmap(fn)(*[tg.tensor(a) for a in arrays]))
    loop = [_outs(fn(*[tg.tensor(a[k]) for a in arrays])) for k in range(len(arrays[0]))]
    for i, g in enumerate(got):
        np.testing.assert_array_equal(g.numpy(), tg.stack([o[i] for o in loop]).numpy(), name)
