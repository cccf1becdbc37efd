"""tapegrad.distributions against torch.distributions (the trusted twin) and against the
laws of the distributions themselves.

- every family × float32/float64 × broadcast parameter shapes (Python-number parameters
  included): log_prob (values with an extra sample dim), cdf, icdf, entropy, mean, mode,
  variance, stddev, enumerate_support against PyTorch (1e-9 float64, 1e-5 float32);
- gradients of log_prob, cdf and entropy with respect to every parameter against PyTorch,
  and float64 gradcheck; rsample's gradients by gradcheck (the draw repeated under one seed),
  against the reparameterisation identities, and against PyTorch's rsample fed the same noise;
- kl_divergence for every pair PyTorch implements among these families (values and
  gradients), and register_kl's dispatch;
- argument and value validation: the same exception type and message as PyTorch;
- sampling: shapes, dtypes, support, seeded reproducibility; moments within 5 standard
  errors over 20000 draws, and for the discrete families each probability within 5 standard
  errors of exp(log_prob).
"""

from __future__ import annotations

import math
import re

import numpy as np
import pytest
import tapegrad as tg
import tapegrad.distributions as D

RNG_SEED = 1234
TOL = {"float32": 1e-5, "float64": 1e-9}


def _torch():
    return pytest.importorskip("torch")


# ----- the families: how to draw parameters and in-support values ------------------------
# A parameter is drawn by `draw(rng, shape)`; a shape of None makes it a Python number.

def _real(rng, shape):
    return rng.normal(size=shape)


def _pos(rng, shape):
    return rng.uniform(0.5, 2.0, size=shape)


def _prob(rng, shape):
    return rng.uniform(0.05, 0.95, size=shape)


def _count(rng, shape):
    return rng.integers(0, 13, size=shape).astype(float)


def _low(rng, shape):
    return rng.uniform(-2.0, -0.6, size=shape)


def _high(rng, shape):
    return rng.uniform(0.6, 2.0, size=shape)


def _weights(rng, shape):
    return rng.uniform(0.1, 1.0, size=shape)


class Family:
    def __init__(self, name, cls, params, value, shapes, methods, grad=None, events=0):
        self.name, self.cls, self.params, self.value = name, cls, params, value
        self.shapes, self.methods, self.events = shapes, methods, events
        # the parameters gradients are taken with respect to
        self.grad = list(params) if grad is None else grad


TWO = [((), ()), ((5,), (5,)), ((2, 1), (3,)), ((4, 3), None), (None, (3,))]
ONE = [((),), ((5,),), ((2, 3),), (None,)]
CAT = [((4,),), ((3, 4),), ((2, 1, 4),)]
CONT = ["log_prob", "cdf", "icdf", "entropy", "mean", "mode", "variance", "stddev"]

FAMILIES = [
    Family("Normal", "Normal", {"loc": _real, "scale": _pos},
           lambda rng, s, p: rng.normal(size=s), TWO, CONT),
    Family("Laplace", "Laplace", {"loc": _real, "scale": _pos},
           lambda rng, s, p: rng.laplace(size=s), TWO, CONT),
    Family("Uniform", "Uniform", {"low": _low, "high": _high},
           lambda rng, s, p: rng.uniform(-0.5, 0.5, size=s), TWO,
           ["log_prob", "cdf", "icdf", "entropy", "mean", "variance", "stddev"]),
    Family("Exponential", "Exponential", {"rate": _pos},
           lambda rng, s, p: rng.exponential(size=s), ONE,
           ["log_prob", "cdf", "icdf", "entropy", "mean", "mode", "variance", "stddev"]),
    Family("Bernoulli(probs)", "Bernoulli", {"probs": _prob},
           lambda rng, s, p: rng.integers(0, 2, size=s).astype(float), ONE,
           ["log_prob", "entropy", "mean", "variance", "stddev", "enumerate_support"]),
    Family("Bernoulli(logits)", "Bernoulli", {"logits": _real},
           lambda rng, s, p: rng.integers(0, 2, size=s).astype(float), ONE,
           ["log_prob", "entropy", "mean", "mode", "variance", "stddev"]),
    Family("Geometric(probs)", "Geometric", {"probs": _prob},
           lambda rng, s, p: rng.integers(0, 9, size=s).astype(float), ONE,
           ["log_prob", "entropy", "mean", "mode", "variance", "stddev"]),
    Family("Geometric(logits)", "Geometric", {"logits": _real},
           lambda rng, s, p: rng.integers(0, 9, size=s).astype(float), ONE,
           ["log_prob", "entropy", "mean", "variance"]),
    Family("Poisson", "Poisson", {"rate": lambda rng, s: rng.uniform(0.5, 8.0, size=s)},
           lambda rng, s, p: rng.integers(0, 15, size=s).astype(float), ONE,
           ["log_prob", "mean", "mode", "variance", "stddev"]),
    Family("Binomial(probs)", "Binomial", {"total_count": _count, "probs": _prob},
           lambda rng, s, p: np.floor(rng.uniform(size=s) * (p["total_count"] + 1)),
           [((), ()), ((5,), (5,)), ((2, 1), (3,)), (None, (4,))],
           ["log_prob", "entropy", "mean", "mode", "variance", "enumerate_support"],
           grad=["probs"]),
    Family("Binomial(logits)", "Binomial", {"total_count": _count, "logits": _real},
           lambda rng, s, p: np.floor(rng.uniform(size=s) * (p["total_count"] + 1)),
           [((5,), (5,)), ((2, 1), (3,)), (None, (2, 3))],
           ["log_prob", "entropy", "mean", "variance"], grad=["logits"]),
    Family("Categorical(probs)", "Categorical", {"probs": _weights},
           lambda rng, s, p: rng.integers(0, 4, size=s).astype(np.int64), CAT,
           ["log_prob", "entropy", "mode", "enumerate_support"]),
    Family("Categorical(logits)", "Categorical", {"logits": _real},
           lambda rng, s, p: rng.integers(0, 4, size=s).astype(np.int64), CAT,
           ["log_prob", "entropy", "mean", "variance"]),
    Family("OneHotCategorical", "OneHotCategorical", {"probs": _weights},
           lambda rng, s, p: np.eye(4)[rng.integers(0, 4, size=s)], CAT,
           ["log_prob", "entropy", "mean", "mode", "variance", "enumerate_support"],
           events=1),
    Family("Multinomial", "Multinomial", {"total_count": _count, "probs": _weights},
           lambda rng, s, p: rng.multinomial(p["total_count"], [0.1, 0.2, 0.3, 0.4],
                                             size=s).astype(float),
           [(None, (4,)), (None, (3, 4)), (None, (2, 1, 4))],
           ["log_prob", "entropy", "mean", "variance"], grad=["probs"], events=1),
    Family("Independent(Normal)", "Independent", {"loc": _real, "scale": _pos},
           lambda rng, s, p: rng.normal(size=s), [((2, 3), (2, 3)), ((4, 1, 3), (5, 3))],
           ["log_prob", "entropy", "mean", "mode", "variance"]),
]
FAMILY = {f.name: f for f in FAMILIES}


def _param_arrays(fam, shapes, rng):
    """The parameters as NumPy arrays (or Python floats) and the batch shape."""
    arrays = {}
    for (name, draw), shape in zip(fam.params.items(), shapes):
        arrays[name] = float(draw(rng, ())) if shape is None else draw(rng, shape)
        if name == "total_count" and shape is None:
            arrays[name] = int(arrays[name])
    tensor_shapes = [np.shape(a) for a, s in zip(arrays.values(), shapes) if s is not None]
    batch = np.broadcast_shapes(*tensor_shapes) if tensor_shapes else ()
    if fam.cls in ("Categorical", "OneHotCategorical", "Multinomial"):
        batch = batch[:-1]
    return arrays, tuple(batch)


def _build(lib, fam, arrays, dtype, requires_grad=False):
    """The family's distribution in ``lib`` (tapegrad or torch) and its tensor parameters."""
    dt = getattr(lib, dtype)
    tensors = {}
    for name, a in arrays.items():
        if isinstance(a, (int, float)):
            tensors[name] = a
        else:
            rg = requires_grad and name in fam.grad
            tensors[name] = lib.tensor(np.asarray(a), dtype=dt, requires_grad=rg)
    mod = lib.distributions
    if fam.cls == "Independent":
        base = mod.Normal(tensors["loc"], tensors["scale"])
        dist = mod.Independent(base, 1)
    else:
        dist = getattr(mod, fam.cls)(**tensors)
    return dist, tensors


def _value(lib, fam, arr, dtype):
    if arr.dtype == np.int64:
        return lib.tensor(arr)
    return lib.tensor(arr, dtype=getattr(lib, dtype))


def _close(a, b, tol, what):
    a = a.detach().numpy() if hasattr(a, "detach") else np.asarray(a)
    b = b.detach().numpy() if hasattr(b, "detach") else np.asarray(b)
    assert a.shape == b.shape, f"{what}: shape {a.shape} vs {b.shape}"
    np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=tol, atol=tol,
                               equal_nan=True, err_msg=what)


def _cases():
    for fam in FAMILIES:
        for shapes in fam.shapes:
            for dtype in ("float32", "float64"):
                yield pytest.param(fam.name, shapes, dtype, id=f"{fam.name}-{shapes}-{dtype}")


@pytest.mark.parametrize("name,shapes,dtype", list(_cases()))
def test_against_torch(name, shapes, dtype):
    torch = _torch()
    fam = FAMILY[name]
    rng = np.random.default_rng(RNG_SEED)
    arrays, batch = _param_arrays(fam, shapes, rng)
    d_tg, p_tg = _build(tg, fam, arrays, dtype, requires_grad=True)
    d_t, p_t = _build(torch, fam, arrays, dtype, requires_grad=True)
    tol = TOL[dtype]
    assert tuple(d_tg.batch_shape) == tuple(d_t.batch_shape)
    assert tuple(d_tg.event_shape) == tuple(d_t.event_shape)
    assert d_tg.has_rsample == d_t.has_rsample
    assert repr(d_tg) == repr(d_t).replace("torch.", "tapegrad.")
    if fam.cls == "Independent":
        v = fam.value(rng, (2,) + tuple(d_t.batch_shape) + tuple(d_t.event_shape), arrays)
    else:
        v = fam.value(rng, (2,) + batch, arrays)
    loss_tg, loss_t = 0, 0
    for m in fam.methods:
        if m in ("log_prob", "cdf", "icdf"):
            arr = v
            if m == "icdf":
                arr = rng.uniform(0.05, 0.95, size=(2,) + batch)
            a = getattr(d_tg, m)(_value(tg, fam, arr, dtype))
            b = getattr(d_t, m)(_value(torch, fam, arr, dtype))
            w = rng.uniform(0.5, 1.5, size=tuple(b.shape))
            loss_tg = loss_tg + (a * tg.tensor(w, dtype=a.dtype)).sum()
            loss_t = loss_t + (b * torch.tensor(w, dtype=b.dtype)).sum()
        elif m == "entropy":
            try:
                b = d_t.entropy()
            except NotImplementedError as e:  # Binomial with unequal total counts
                with pytest.raises(NotImplementedError, match=re.escape(str(e))):
                    d_tg.entropy()
                continue
            a = d_tg.entropy()
            loss_tg, loss_t = loss_tg + a.sum(), loss_t + b.sum()
        elif m == "enumerate_support":
            try:
                d_t.enumerate_support()
            except NotImplementedError as e:  # Binomial with unequal total counts
                with pytest.raises(NotImplementedError, match=re.escape(str(e))):
                    d_tg.enumerate_support()
                continue
            for expand in (True, False):
                a, b = d_tg.enumerate_support(expand), d_t.enumerate_support(expand)
                _close(a, b, 0, f"{name} enumerate_support({expand})")
            continue
        else:
            a, b = getattr(d_tg, m), getattr(d_t, m)
            if m in ("mean", "variance", "stddev") and a.requires_grad:
                loss_tg, loss_t = loss_tg + a.sum(), loss_t + b.sum()
        assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1], m
        # a Python-number parameter is a float32 tensor (the default dtype) in both, so the
        # computation is float32 whatever the value's dtype; PyTorch's Multinomial entropy
        # takes lgamma(n + 1) of an int64 tensor, in float32 (test_multinomial_entropy
        # checks ours against an exact sum)
        if any(s is None and k != "total_count" for k, s in zip(fam.params, shapes)) or (
                fam.cls == "Multinomial" and m == "entropy"):
            tol = TOL["float32"]
        _close(a, b, tol, f"{name} {m}")
    # gradients of everything above with respect to the parameters
    if not (isinstance(loss_t, torch.Tensor) and loss_t.requires_grad):
        return
    loss_tg.backward()
    loss_t.backward()
    for k in fam.grad:
        if isinstance(p_tg[k], tg.Tensor):
            assert p_tg[k].grad is not None, f"{name}: no gradient for {k}"
            _close(p_tg[k].grad, p_t[k].grad, tol * 10, f"{name} d/d{k}")


def _gradcheck_cases():
    for fam in FAMILIES:
        shapes = fam.shapes[2] if len(fam.shapes) > 2 else fam.shapes[-1]
        yield pytest.param(fam.name, shapes, id=fam.name)


@pytest.mark.parametrize("name,shapes", list(_gradcheck_cases()))
def test_gradcheck(name, shapes):
    fam = FAMILY[name]
    rng = np.random.default_rng(RNG_SEED + 1)
    arrays, _ = _param_arrays(fam, shapes, rng)
    if "total_count" in arrays:  # one count, so that entropy is defined
        n = arrays["total_count"]
        arrays["total_count"] = 9 if isinstance(n, int) else np.full_like(n, 9.0)
    _, p = _build(tg, fam, arrays, "float64", requires_grad=True)
    names = [k for k in fam.grad if isinstance(p[k], tg.Tensor)]
    d0, _ = _build(tg, fam, arrays, "float64")
    v = fam.value(rng, tuple(d0.batch_shape) + tuple(d0.event_shape), arrays)
    value = _value(tg, fam, v, "float64")

    def make(*ts):
        kw = dict(p)
        kw.update(zip(names, ts))
        if fam.cls == "Independent":
            return D.Independent(D.Normal(kw["loc"], kw["scale"]), 1)
        return getattr(D, fam.cls)(**kw)

    inputs = [p[k] for k in names]
    assert tg.autograd.gradcheck(lambda *ts: make(*ts).log_prob(value), inputs)
    if "entropy" in fam.methods:
        assert tg.autograd.gradcheck(lambda *ts: make(*ts).entropy(), inputs)
    if "cdf" in fam.methods:
        assert tg.autograd.gradcheck(lambda *ts: make(*ts).cdf(value), inputs)
    if make(*inputs).has_rsample:
        def draw(*ts):
            tg.manual_seed(7)  # the same noise at every evaluation
            return make(*ts).rsample((3,))
        assert tg.autograd.gradcheck(draw, inputs)


def test_icdf_gradients_and_inverse():
    """icdf inverts cdf, and its gradient in the value (erfinv' for Normal) passes
    gradcheck, second order included."""
    u = tg.tensor([0.02, 0.3, 0.45, 0.77, 0.99], dtype=tg.float64, requires_grad=True)
    for d in (D.Normal(tg.tensor(0.3, dtype=tg.float64), 1.7),
              D.Laplace(tg.tensor(-1.0, dtype=tg.float64), 0.5),
              D.Exponential(tg.tensor(1.3, dtype=tg.float64)),
              D.Uniform(tg.tensor(-1.0, dtype=tg.float64), 2.0)):
        _close(d.cdf(d.icdf(u)), u, 1e-12, f"{type(d).__name__} cdf(icdf)")
        assert tg.autograd.gradcheck(d.icdf, [u])
    d = D.Normal(tg.tensor(0.0, dtype=tg.float64), 1.0)
    (g,) = tg.autograd.grad(d.icdf(u).sum(), [u], create_graph=True)
    (g2,) = tg.autograd.grad(g.sum(), [u])
    x = d.icdf(u).detach()
    # d/du Φ⁻¹(u) = 1/φ(x); d²/du² = x/φ(x)²
    phi = (-x * x / 2).exp() / math.sqrt(2 * math.pi)
    _close(g, 1 / phi, 1e-9, "icdf'")
    _close(g2, x / phi ** 2, 1e-8, "icdf''")


def test_normal_icdf_against_torch_erfinv():
    torch = _torch()
    y = np.linspace(-0.999999, 0.999999, 2001)
    for dtype in ("float32", "float64"):
        a = D.Normal(0.0, 1.0).icdf(tg.tensor((y + 1) / 2, dtype=getattr(tg, dtype)))
        b = torch.distributions.Normal(0.0, 1.0).icdf(
            torch.tensor((y + 1) / 2, dtype=getattr(torch, dtype)))
        _close(a, b, TOL[dtype] * 10, f"icdf {dtype}")
    edges = D.Normal(0.0, 1.0).icdf(tg.tensor([0.0, 1.0, 1.5], dtype=tg.float64))
    assert edges.tolist()[:2] == [-math.inf, math.inf] and math.isnan(edges.tolist()[2])


# ----- rsample --------------------------------------------------------------------------

def test_rsample_gradients_follow_the_reparameterisation():
    """d(draw)/d(parameter) from the draws themselves: 1 and (x - loc)/scale for the
    location-scale families, -x/rate for Exponential, 1 - t and t (t = (x - low)/(high -
    low)) for Uniform."""
    tg.manual_seed(3)
    f64 = tg.float64
    loc = tg.tensor([0.5, -1.0, 2.0], dtype=f64, requires_grad=True)
    scale = tg.tensor([1.0, 0.3, 2.5], dtype=f64, requires_grad=True)
    for cls in (D.Normal, D.Laplace):
        loc.grad = scale.grad = None
        x = cls(loc, scale).rsample((50,))
        x.sum().backward()
        _close(loc.grad, tg.full((3,), 50.0, dtype=f64), 1e-12, f"{cls.__name__} d/dloc")
        _close(scale.grad, ((x.detach() - loc.detach()) / scale.detach()).sum(0), 1e-10,
               f"{cls.__name__} d/dscale")
    rate = tg.tensor([0.5, 3.0], dtype=f64, requires_grad=True)
    x = D.Exponential(rate).rsample((40,))
    x.sum().backward()
    _close(rate.grad, (-x.detach() / rate.detach()).sum(0), 1e-10, "Exponential d/drate")
    low = tg.tensor([-1.0, 0.0], dtype=f64, requires_grad=True)
    high = tg.tensor([1.0, 5.0], dtype=f64, requires_grad=True)
    x = D.Uniform(low, high).rsample((40,))
    x.sum().backward()
    t = (x.detach() - low.detach()) / (high.detach() - low.detach())
    _close(low.grad, (1 - t).sum(0), 1e-10, "Uniform d/dlow")
    _close(high.grad, t.sum(0), 1e-10, "Uniform d/dhigh")


def test_normal_rsample_against_torch_given_the_same_noise(monkeypatch):
    torch = _torch()
    import torch.distributions.normal as tnormal
    tg.manual_seed(11)
    eps = tg.randn(4, 2, 3, dtype=tg.float64)
    monkeypatch.setattr(tnormal, "_standard_normal",
                        lambda shape, dtype, device: torch.tensor(eps.numpy()))
    rng = np.random.default_rng(5)
    lo, sc = rng.normal(size=(2, 1)), rng.uniform(0.5, 2, size=(3,))
    a_loc = tg.tensor(lo, dtype=tg.float64, requires_grad=True)
    a_sc = tg.tensor(sc, dtype=tg.float64, requires_grad=True)
    b_loc = torch.tensor(lo, dtype=torch.float64, requires_grad=True)
    b_sc = torch.tensor(sc, dtype=torch.float64, requires_grad=True)
    tg.manual_seed(11)
    xa = D.Normal(a_loc, a_sc).rsample((4,))
    xb = torch.distributions.Normal(b_loc, b_sc).rsample((4,))
    _close(xa, xb, 1e-12, "rsample")
    (xa ** 2).sum().backward()
    (xb ** 2).sum().backward()
    _close(a_loc.grad, b_loc.grad, 1e-9, "d/dloc")
    _close(a_sc.grad, b_sc.grad, 1e-9, "d/dscale")


def test_sample_has_no_gradient():
    loc = tg.tensor([0.0, 1.0], requires_grad=True)
    assert not D.Normal(loc, 1.0).sample((3,)).requires_grad
    assert D.Normal(loc, 1.0).rsample((3,)).requires_grad
    for d in (D.Bernoulli(probs=tg.tensor([0.3], requires_grad=True)),
              D.Poisson(tg.tensor([2.0], requires_grad=True))):
        assert not d.has_rsample and not d.sample((2,)).requires_grad
        with pytest.raises(NotImplementedError):
            d.rsample()


# ----- KL divergence ----------------------------------------------------------------------

def _n(rng, s):
    return {"loc": rng.normal(size=s), "scale": rng.uniform(0.5, 2.0, size=s)}


def _e(rng, s):
    return {"rate": rng.uniform(0.5, 2.0, size=s)}


def _u(rng, s):
    return {"low": rng.uniform(-2.0, -1.0, size=s), "high": rng.uniform(1.0, 2.0, size=s)}


def _u_inner(rng, s):
    return {"low": rng.uniform(-0.9, -0.1, size=s), "high": rng.uniform(0.1, 0.9, size=s)}


def _u_pos(rng, s):
    return {"low": rng.uniform(0.1, 0.5, size=s), "high": rng.uniform(1.0, 2.0, size=s)}


def _b(rng, s):
    return {"probs": rng.uniform(0.05, 0.95, size=s)}


def _bl(rng, s):
    return {"logits": rng.normal(size=s)}


def _p(rng, s):
    return {"rate": rng.uniform(0.5, 5.0, size=s)}


def _bin(rng, s):
    return {"total_count": np.full(s, 7.0), "probs": rng.uniform(0.05, 0.95, size=s)}


def _cat(rng, s):
    return {"probs": rng.uniform(0.1, 1.0, size=s + (4,))}


def _catl(rng, s):
    return {"logits": rng.normal(size=s + (4,))}


KL_PAIRS = [
    ("Normal", _n, "Normal", _n), ("Laplace", _n, "Laplace", _n),
    ("Exponential", _e, "Exponential", _e), ("Uniform", _u_inner, "Uniform", _u),
    ("Uniform", _u, "Uniform", _u_inner), ("Bernoulli", _b, "Bernoulli", _bl),
    ("Geometric", _b, "Geometric", _bl), ("Poisson", _p, "Poisson", _p),
    ("Binomial", _bin, "Binomial", _bin), ("Categorical", _cat, "Categorical", _catl),
    ("OneHotCategorical", _catl, "OneHotCategorical", _cat),
    ("Bernoulli", _b, "Poisson", _p), ("Exponential", _e, "Normal", _n),
    ("Laplace", _n, "Normal", _n), ("Normal", _n, "Laplace", _n),
    ("Uniform", _u, "Normal", _n), ("Uniform", _u_pos, "Exponential", _e),
    ("Uniform", _u, "Exponential", _e), ("Exponential", _e, "Uniform", _u),
    ("Laplace", _n, "Exponential", _e), ("Laplace", _n, "Uniform", _u),
    ("Normal", _n, "Exponential", _e), ("Normal", _n, "Uniform", _u),
    ("Poisson", _p, "Bernoulli", _b), ("Poisson", _p, "Binomial", _bin),
    ("Independent", _n, "Independent", _n),
]


def _kl_dist(lib, cls, params, dtype, grad):
    dt = getattr(lib, dtype)
    ts = {k: lib.tensor(v, dtype=dt, requires_grad=grad and k != "total_count")
          for k, v in params.items()}
    mod = lib.distributions
    if cls == "Independent":
        return mod.Independent(mod.Normal(**ts), 1), ts
    return getattr(mod, cls)(**ts), ts


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("pc,pp,qc,qp", KL_PAIRS,
                         ids=[f"{a}-{c}-{i}" for i, (a, _, c, _) in enumerate(KL_PAIRS)])
def test_kl_against_torch(pc, pp, qc, qp, dtype):
    torch = _torch()
    rng = np.random.default_rng(RNG_SEED + 2)
    # PyTorch's Bernoulli pair masks in place, so it needs p and q of one shape
    q_shape = (2, 3) if qc in ("Independent", "Bernoulli") else (3,)
    p_params, q_params = pp(rng, (2, 3)), qp(rng, q_shape)
    if pc == "Binomial":
        q_params["total_count"] = np.full((3,), 7.0)
    pa, pta = _kl_dist(tg, pc, p_params, dtype, True)
    qa, qta = _kl_dist(tg, qc, q_params, dtype, True)
    pb, ptb = _kl_dist(torch, pc, p_params, dtype, True)
    qb, qtb = _kl_dist(torch, qc, q_params, dtype, True)
    a = D.kl_divergence(pa, qa)
    b = torch.distributions.kl_divergence(pb, qb)
    _close(a, b, TOL[dtype], "kl")
    finite_a = tg.where(a.isfinite(), a, 0.0).sum()
    finite_b = torch.where(b.isfinite(), b, 0.0).sum()
    if not finite_b.requires_grad:
        return
    finite_a.backward()
    finite_b.backward()
    for ta, tb in ((pta, ptb), (qta, qtb)):
        for k in ta:
            if tb[k].grad is not None:
                ga = ta[k].grad if ta[k].grad is not None else tg.zeros_like(ta[k])
                _close(ga, tb[k].grad, TOL[dtype] * 10, f"kl d/d{k}")


def test_kl_gradcheck():
    f64 = tg.float64
    rng = np.random.default_rng(9)
    loc = tg.tensor(rng.normal(size=(3,)), dtype=f64, requires_grad=True)
    scale = tg.tensor(rng.uniform(0.5, 2, size=(3,)), dtype=f64, requires_grad=True)
    probs = tg.tensor(rng.uniform(0.1, 1, size=(2, 4)), dtype=f64, requires_grad=True)
    assert tg.gradcheck(lambda a, b: D.kl_divergence(D.Normal(a, b), D.Laplace(b, a.exp())),
                        [loc, scale])
    assert tg.gradcheck(lambda p: D.kl_divergence(D.Categorical(p), D.Categorical(p.flip(-1))),
                        [probs])


def test_kl_dispatch_and_errors():
    torch = _torch()
    with pytest.raises(NotImplementedError) as a:
        D.kl_divergence(D.Categorical(tg.ones(3)), D.Normal(0.0, 1.0))
    with pytest.raises(NotImplementedError) as b:
        torch.distributions.kl_divergence(torch.distributions.Categorical(torch.ones(3)),
                                          torch.distributions.Normal(0.0, 1.0))
    assert str(a.value) == str(b.value)

    # a subclass uses its parent's pair until it registers its own
    class Wide(D.Normal):
        pass

    p, q = Wide(0.0, 1.0), Wide(1.0, 2.0)
    _close(D.kl_divergence(p, q), D.kl_divergence(D.Normal(0.0, 1.0), D.Normal(1.0, 2.0)),
           0, "subclass")
    D.register_kl(Wide, Wide)(lambda p, q: tg.tensor(-1.0))
    assert D.kl_divergence(p, q).item() == -1.0
    # the Bregman form for one exponential family, when no closed form is registered
    from tapegrad.distributions.kl import _kl_expfamily_expfamily
    p, q = D.Poisson(tg.tensor([1.5, 3.0])), D.Poisson(tg.tensor([2.0, 0.5]))
    _close(_kl_expfamily_expfamily(p, q), D.kl_divergence(p, q), 1e-6, "Bregman")
    with pytest.raises(NotImplementedError):
        _kl_expfamily_expfamily(D.Normal(0.0, 1.0), D.Exponential(1.0))


# ----- validation -------------------------------------------------------------------------

BAD = [
    ("Normal", lambda L: L.distributions.Normal(L.tensor([0.0]), L.tensor([-1.0]))),
    ("Normal", lambda L: L.distributions.Normal(0.0, 0.0)),
    ("Uniform", lambda L: L.distributions.Uniform(L.tensor([1.0, 0.0]), L.tensor([0.0, 1.0]))),
    ("Bernoulli", lambda L: L.distributions.Bernoulli(L.tensor(1.5))),
    ("Bernoulli", lambda L: L.distributions.Bernoulli()),
    ("Bernoulli", lambda L: L.distributions.Bernoulli(0.5, 0.0)),
    ("Bernoulli", lambda L: L.distributions.Bernoulli("a")),
    ("Categorical", lambda L: L.distributions.Categorical(L.tensor(0.5))),
    ("Categorical", lambda L: L.distributions.Categorical(logits=L.tensor(0.5))),
    ("Categorical", lambda L: L.distributions.Categorical(L.tensor([-1.0, 2.0]))),
    ("Categorical", lambda L: L.distributions.Categorical(logits=L.tensor([0.0, math.nan]))),
    ("Exponential", lambda L: L.distributions.Exponential(L.tensor([1.0, -1.0]))),
    ("Laplace", lambda L: L.distributions.Laplace(0.0, -2.0)),
    ("Binomial", lambda L: L.distributions.Binomial(2.5, L.tensor(0.5))),
    ("Binomial", lambda L: L.distributions.Binomial(-1, L.tensor([0.5]))),
    ("Binomial", lambda L: L.distributions.Binomial(3, L.tensor([1.2]))),
    ("Poisson", lambda L: L.distributions.Poisson(L.tensor([-0.5]))),
    ("Geometric", lambda L: L.distributions.Geometric(L.tensor([0.0, 0.5]))),
    ("Geometric", lambda L: L.distributions.Geometric(L.tensor([1.5]))),
    ("OneHotCategorical", lambda L: L.distributions.OneHotCategorical(L.tensor([-1.0, 1.0]))),
    ("Independent", lambda L: L.distributions.Independent(
        L.distributions.Normal(L.zeros(3), 1.0), 2)),
    # values outside the support, of the wrong shape, or not tensors
    ("log_prob", lambda L: L.distributions.Normal(0.0, 1.0).log_prob(0.5)),
    ("log_prob", lambda L: L.distributions.Normal(L.zeros(3), 1.0).log_prob(L.zeros(2))),
    ("log_prob", lambda L: L.distributions.Bernoulli(L.tensor([0.3])).log_prob(
        L.tensor([0.5]))),
    ("log_prob", lambda L: L.distributions.Poisson(L.tensor([2.0])).log_prob(
        L.tensor([-1.0]))),
    ("log_prob", lambda L: L.distributions.Poisson(L.tensor([2.0])).log_prob(
        L.tensor([1.5]))),
    ("log_prob", lambda L: L.distributions.Categorical(L.ones(3)).log_prob(L.tensor(3))),
    ("log_prob", lambda L: L.distributions.Binomial(4, L.tensor([0.5])).log_prob(
        L.tensor([5.0]))),
    ("log_prob", lambda L: L.distributions.Exponential(L.tensor([2.0])).log_prob(
        L.tensor([-1.0]))),
    ("log_prob", lambda L: L.distributions.Uniform(0.0, 1.0).log_prob(L.tensor(1.5))),
    ("log_prob", lambda L: L.distributions.OneHotCategorical(L.ones(3)).log_prob(
        L.tensor([1.0, 1.0]))),
    ("log_prob", lambda L: L.distributions.OneHotCategorical(L.ones(3)).log_prob(
        L.tensor([1.0, 1.0, 0.0]))),
    ("cdf", lambda L: L.distributions.Laplace(0.0, 1.0).cdf(L.zeros(2, 1).expand(2, 3)
                                                            * math.nan)),
    ("entropy", lambda L: L.distributions.Binomial(L.tensor([2.0, 3.0]),
                                                   L.tensor([0.5, 0.5])).entropy()),
    ("entropy", lambda L: L.distributions.Poisson(L.tensor([2.0])).entropy()),
    ("kl", lambda L: L.distributions.kl_divergence(
        L.distributions.Binomial(2, L.tensor([0.5])),
        L.distributions.Binomial(3, L.tensor([0.5])))),
    ("validate", lambda L: L.distributions.Distribution.set_default_validate_args(2)),
]


def _normalise(msg):
    return msg.replace("torch.", "tapegrad.")


@pytest.mark.parametrize("what,make", BAD, ids=[f"{w}-{i}" for i, (w, _) in enumerate(BAD)])
def test_validation_errors_match_torch(what, make):
    torch = _torch()
    with pytest.raises(Exception) as expected:
        make(torch)
    with pytest.raises(type(expected.value)) as got:
        make(tg)
    assert str(got.value) == _normalise(str(expected.value))


def test_validation_can_be_turned_off():
    d = D.Normal(tg.tensor([0.0]), tg.tensor([-1.0]), validate_args=False)
    assert math.isnan(d.log_prob(tg.tensor([0.0])).item())
    D.Distribution.set_default_validate_args(False)
    try:
        assert D.Bernoulli(tg.tensor(1.5)).probs.item() == 1.5
        assert D.Poisson(tg.tensor([2.0])).log_prob(tg.tensor([1.5])).shape == (1,)
        # an explicit validate_args=True still validates
        with pytest.raises(ValueError):
            D.Bernoulli(tg.tensor(1.5), validate_args=True)
    finally:
        D.Distribution.set_default_validate_args(True)
    with pytest.raises(ValueError):
        D.Bernoulli(tg.tensor(1.5))


# ----- attributes, expand, constraints ---------------------------------------------------

def test_expand_and_attributes_against_torch():
    torch = _torch()
    for name in ("Normal", "Bernoulli(logits)", "Binomial(probs)", "Categorical(probs)",
                 "Multinomial",
                 "OneHotCategorical", "Independent(Normal)", "Uniform", "Geometric(probs)",
                 "Poisson", "Exponential", "Laplace"):
        fam = FAMILY[name]
        rng = np.random.default_rng(3)
        shapes = fam.shapes[1] if fam.cls != "Independent" else ((3,), (3,))
        arrays, _ = _param_arrays(fam, shapes, rng)
        a, _ = _build(tg, fam, arrays, "float64")
        b, _ = _build(torch, fam, arrays, "float64")
        if fam.cls == "Independent":
            a, b = D.Independent(a.base_dist, 1), torch.distributions.Independent(b.base_dist, 1)
        new = (2,) + tuple(b.batch_shape)
        ea, eb = a.expand(new), b.expand(new)
        assert type(ea) is type(a) and tuple(ea.batch_shape) == tuple(eb.batch_shape)
        assert tuple(ea.event_shape) == tuple(eb.event_shape)
        assert repr(ea) == _normalise(repr(eb))
        _close(ea.mean, eb.mean, 1e-12, f"{name} expand mean")
        assert ea._validate_args == eb._validate_args
        assert a.has_enumerate_support == b.has_enumerate_support
        assert type(a.support).__name__ == type(b.support).__name__
        assert a.support.is_discrete == b.support.is_discrete
        assert a.support.event_dim == b.support.event_dim
        assert sorted(a.arg_constraints) == sorted(b.arg_constraints)
        for k, c in a.arg_constraints.items():
            assert type(c).__name__ == type(b.arg_constraints[k]).__name__
        samples = ea.sample((3,))
        assert tuple(samples.shape) == (3,) + new + tuple(eb.event_shape)


def test_perplexity_and_lazy_parameters():
    torch = _torch()
    logits = [0.2, -1.0, 3.0]
    a = D.Categorical(logits=tg.tensor(logits, dtype=tg.float64))
    b = torch.distributions.Categorical(logits=torch.tensor(logits, dtype=torch.float64))
    assert "probs" not in a.__dict__
    _close(a.probs, b.probs, 1e-12, "probs")
    assert "probs" in a.__dict__
    _close(a.perplexity(), b.perplexity(), 1e-12, "perplexity")
    assert isinstance(D.Bernoulli.probs, property)


def test_constraints_check_like_torch():
    torch = _torch()
    from tapegrad.distributions import constraints as c
    from torch.distributions import constraints as tc
    x = [-math.inf, -1.0, 0.0, 0.5, 1.0, 2.0, 2.5, math.inf, math.nan]
    pairs = [(c.real, tc.real), (c.positive, tc.positive), (c.nonnegative, tc.nonnegative),
             (c.unit_interval, tc.unit_interval), (c.boolean, tc.boolean),
             (c.nonnegative_integer, tc.nonnegative_integer),
             (c.positive_integer, tc.positive_integer),
             (c.integer_interval(0, 2), tc.integer_interval(0, 2)),
             (c.interval(-1, 1), tc.interval(-1, 1)),
             (c.half_open_interval(-1, 1), tc.half_open_interval(-1, 1)),
             (c.greater_than(0.5), tc.greater_than(0.5)),
             (c.greater_than_eq(0.5), tc.greater_than_eq(0.5)),
             (c.less_than(0.5), tc.less_than(0.5))]
    for a, b in pairs:
        assert a.check(tg.tensor(x)).tolist() == b.check(torch.tensor(x)).tolist(), repr(b)
        assert repr(a) == repr(b)
        assert (a.is_discrete, a.event_dim) == (b.is_discrete, b.event_dim)
    m = [[0.2, 0.8], [0.5, 0.6], [1.0, 0.0], [-0.1, 1.1]]
    for a, b in [(c.simplex, tc.simplex), (c.one_hot, tc.one_hot), (c.real_vector,
                 tc.real_vector), (c.independent(c.positive, 1), tc.independent(tc.positive, 1))]:
        assert a.check(tg.tensor(m)).tolist() == b.check(torch.tensor(m)).tolist(), repr(b)
        assert repr(a) == repr(b)
    assert c.is_dependent(c.dependent) and c.is_dependent(D.Uniform.support)
    assert not c.is_dependent(c.real)
    with pytest.raises(ValueError, match="dependent constraint"):
        c.dependent.check(tg.zeros(1))


# ----- sampling ---------------------------------------------------------------------------

SAMPLERS = {
    "Normal": lambda dt: D.Normal(tg.tensor([0.5, -2.0], dtype=dt), tg.tensor([1.0, 3.0],
                                                                             dtype=dt)),
    "Laplace": lambda dt: D.Laplace(tg.tensor([0.5, -2.0], dtype=dt), tg.tensor([1.0, 3.0],
                                                                               dtype=dt)),
    "Uniform": lambda dt: D.Uniform(tg.tensor([0.0, -3.0], dtype=dt), tg.tensor([1.0, 5.0],
                                                                               dtype=dt)),
    "Exponential": lambda dt: D.Exponential(tg.tensor([0.5, 4.0], dtype=dt)),
    "Bernoulli": lambda dt: D.Bernoulli(tg.tensor([0.1, 0.5, 0.97], dtype=dt)),
    "Geometric": lambda dt: D.Geometric(tg.tensor([0.2, 0.7, 1.0], dtype=dt)),
    "Poisson": lambda dt: D.Poisson(tg.tensor([0.0, 0.7, 4.0, 9.9, 10.0, 37.0, 1000.0],
                                              dtype=dt)),
    "Binomial": lambda dt: D.Binomial(tg.tensor([0.0, 1.0, 20.0, 20.0, 100.0, 100.0, 5000.0,
                                                 40.0], dtype=dt),
                                      tg.tensor([0.3, 0.6, 0.45, 0.9, 0.05, 0.5, 0.3, 1.0],
                                                dtype=dt)),
    "Categorical": lambda dt: D.Categorical(tg.tensor([[0.1, 0.0, 0.6, 0.3],
                                                       [1.0, 1.0, 1.0, 1.0]], dtype=dt)),
    "OneHotCategorical": lambda dt: D.OneHotCategorical(
        logits=tg.tensor([[0.0, 1.0, -1.0], [2.0, 2.0, -30.0]], dtype=dt)),
    "Independent": lambda dt: D.Independent(D.Normal(tg.zeros(2, 3, dtype=dt), 2.0), 1),
    "Multinomial": lambda dt: D.Multinomial(30, tg.tensor([[0.1, 0.0, 0.6, 0.3],
                                                           [1.0, 1.0, 1.0, 1.0]], dtype=dt)),
}


@pytest.mark.parametrize("name", sorted(SAMPLERS))
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_sample_shapes_dtypes_support_and_seeds(name, dtype):
    d = SAMPLERS[name](getattr(tg, dtype))
    for shape in [(), (3,), (2, 4)]:
        tg.manual_seed(5)
        x = d.sample(shape)
        assert tuple(x.shape) == shape + tuple(d.batch_shape) + tuple(d.event_shape)
        want = tg.int64 if name == "Categorical" else getattr(tg, dtype)
        assert x.dtype == want
        assert bool(d.support.check(x).all()), name
        tg.manual_seed(5)
        assert x.tolist() == d.sample(shape).tolist()
        if d.has_rsample:
            tg.manual_seed(5)
            assert tuple(d.rsample(shape).shape) == tuple(x.shape)
    tg.manual_seed(6)
    y = d.sample((50,))
    tg.manual_seed(7)
    assert y.tolist() != d.sample((50,)).tolist()


N = 20000


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sample_moments(name):
    """Mean within 5 standard errors (σ/√N) and variance within 5 standard errors
    (√((m₄ - s⁴)/N), from the sample's fourth central moment) of the distribution's."""
    d = SAMPLERS[name](tg.float64)
    tg.manual_seed(2024)
    x = d.sample((N,)).to(tg.float64).numpy()
    if name == "Categorical":
        x = np.stack([x == k for k in range(4)], -1).astype(float)  # per-class frequencies
        mean, var = d.probs.numpy(), (d.probs * (1 - d.probs)).numpy()
    else:
        mean, var = d.mean.numpy(), d.variance.numpy()
    m = x.mean(0)
    s2 = x.var(0)
    m4 = ((x - m) ** 4).mean(0)
    se_mean = np.sqrt(var / N)
    se_var = np.sqrt(np.maximum(m4 - s2 ** 2, 0) / N)
    assert np.all(np.abs(m - mean) <= 5 * se_mean + 1e-12), (m, mean)
    assert np.all(np.abs(s2 - var) <= 5 * se_var + 1e-12), (s2, var)


@pytest.mark.parametrize("name", ["Poisson", "Binomial", "Geometric", "Categorical"])
def test_discrete_frequencies_match_log_prob(name):
    """Each value's frequency within 5 standard errors of exp(log_prob(value)): the whole
    distribution, not only two moments (both branches of the Poisson and binomial samplers)."""
    d = SAMPLERS[name](tg.float64)
    tg.manual_seed(99)
    x = d.sample((N,)).numpy()
    batch = tuple(d.batch_shape)
    lo, hi = int(x.min()), int(x.max())
    for k in range(lo, hi + 1):
        kk = tg.full(batch, float(k), dtype=tg.float64)
        if name == "Categorical":
            kk = kk.long()
        mask = True
        if name == "Binomial":
            mask = k <= d.total_count.numpy()
        with_support = D.Distribution._validate_args
        D.Distribution.set_default_validate_args(False)
        try:
            p = np.clip(np.where(mask, d.log_prob(kk).exp().numpy(), 0.0), 0.0, 1.0)
        finally:
            D.Distribution.set_default_validate_args(with_support)
        f = (x == k).mean(0)
        se = np.sqrt(p * (1 - p) / N)
        assert np.all(np.abs(f - p) <= 5 * se + 1.0 / N), (k, f, p)


def test_multinomial_entropy_is_the_exact_sum():
    """H = -Σ_x P(x) log P(x) over every count vector x of n = 6 draws in 4 categories."""
    import itertools
    p = np.array([0.1, 0.2, 0.3, 0.4])
    n = 6
    h = 0.0
    for x in itertools.product(range(n + 1), repeat=4):
        if sum(x) != n:
            continue
        lp = (math.lgamma(n + 1) - sum(math.lgamma(k + 1) for k in x)
              + sum(k * math.log(q) for k, q in zip(x, p)))
        h -= math.exp(lp) * lp
    got = D.Multinomial(n, tg.tensor(p, dtype=tg.float64)).entropy().item()
    assert abs(got - h) < 1e-12


def test_one_hot_and_bernoulli_sample_frequencies():
    d = SAMPLERS["OneHotCategorical"](tg.float64)
    tg.manual_seed(8)
    f = d.sample((N,)).numpy().mean(0)
    p = d.probs.numpy()
    assert np.all(np.abs(f - p) <= 5 * np.sqrt(p * (1 - p) / N) + 1.0 / N)


@pytest.mark.parametrize("make", [
    lambda: D.Poisson(tg.tensor(37.0, dtype=tg.float64)),
    lambda: D.Poisson(tg.tensor(1000.0, dtype=tg.float64)),
    lambda: D.Poisson(tg.tensor(3.5, dtype=tg.float64)),
    lambda: D.Binomial(100, tg.tensor(0.5, dtype=tg.float64)),
    lambda: D.Binomial(5000, tg.tensor(0.3, dtype=tg.float64)),
    lambda: D.Binomial(60, tg.tensor(0.8, dtype=tg.float64)),
    lambda: D.Binomial(30, tg.tensor(0.1, dtype=tg.float64)),
], ids=["poisson-37", "poisson-1000", "poisson-3.5", "binomial-100-0.5", "binomial-5000-0.3",
        "binomial-60-0.8", "binomial-30-0.1"])
def test_discrete_samplers_pass_a_chi_square_test(make):
    """Pearson's χ² over 100000 draws (cells of expected count below 5 merged) within
    df + 5·√(2·df): the rejection samplers (PTRS, BTRS) and inversion, one shape at a time."""
    d = make()
    n = 100000
    tg.manual_seed(31)
    x = d.sample((n,)).numpy()
    ks = np.arange(int(x.min()), int(x.max()) + 1)
    D.Distribution.set_default_validate_args(False)
    try:
        p = d.log_prob(tg.tensor(ks.astype(float), dtype=tg.float64)).exp().numpy()
    finally:
        D.Distribution.set_default_validate_args(True)
    observed = np.bincount((x - ks[0]).astype(np.int64), minlength=len(ks))
    expected = p * n
    big = expected >= 5
    stat = ((observed[big] - expected[big]) ** 2 / expected[big]).sum()
    rest_o, rest_e = observed[~big].sum(), n - expected[big].sum()
    stat += (rest_o - rest_e) ** 2 / rest_e
    df = int(big.sum())
    assert stat < df + 5 * math.sqrt(2 * df), (stat, df)


def test_zero_size_batches_and_samples():
    """Empty batches and empty sample shapes: samples and log-densities of the right shape
    (PyTorch cannot even build an empty Multinomial: its check reshapes to (0, -1))."""
    for d in (D.Normal(tg.zeros(0), 1.0), D.Poisson(tg.ones(0)),
              D.Binomial(3, tg.full((0,), 0.5)), D.Categorical(tg.ones(0, 3)),
              D.Multinomial(5, tg.ones(0, 3)), D.Independent(D.Normal(tg.zeros(0, 2), 1.0), 1)):
        for shape in [(), (2,), (0,)]:
            x = d.sample(shape)
            assert tuple(x.shape) == shape + tuple(d.batch_shape) + tuple(d.event_shape)
            assert tuple(d.log_prob(x).shape) == shape + tuple(d.batch_shape)
