"""The losses of torch.nn.functional, swept over every reduction and option against PyTorch
(forward and gradients to 1e-9 in float64, 1e-5 in float32, second derivatives through
create_graph) and checked by float64 gradcheck; their errors; their modules.

Each case is ``fn(ns, *inputs)`` with ``ns`` the tapegrad or the PyTorch namespace of
tests/optable.py, so one expression serves both libraries."""

from __future__ import annotations

import warnings
from itertools import product

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F
from optable import TG, torch_ns

REDUCTIONS = ["none", "mean", "sum"]
RNG = np.random.default_rng(1234)


def _targets(shape, c, ignore):
    """int64 class targets of `shape` in [0, c); ``ignore`` 'none' | 'some' | 'all' of them set
    to ignore index 1 (in range, so the check that skips ignored entries is exercised too)."""
    t = RNG.integers(0, c, size=shape)
    if ignore == "none":
        t[t == 1] = 0
    elif ignore == "some":
        t.flat[0] = 1
    else:
        t[...] = 1
    return t


# (input shape, class count): (N, C), K-dimensional (N, C, d1, d2), unbatched (C,)
CLASS_SHAPES = [((5, 4), 4), ((3, 4, 2, 3), 4), ((4,), 4)]


def _target_shape(shape):
    return () if len(shape) == 1 else (shape[0],) + shape[2:]


class LossCase:
    def __init__(self, name, fn, arrays, second=True):
        self.name, self.fn, self.arrays, self.second = name, fn, arrays, second

    def __repr__(self):
        return self.name


CASES: list[LossCase] = []


def _add(name, fn, arrays, second=True):
    CASES.append(LossCase(name, fn, arrays, second))


# cross_entropy and nll_loss with class-index targets
for (shape, c), weighted, ignore, red in product(CLASS_SHAPES, [False, True],
                                                 ["none", "some", "all"], REDUCTIONS):
    t = _targets(_target_shape(shape), c, ignore)
    if ignore == "some" and t.size == 1:  # the one target of an unbatched input: 'all'
        continue
    w = RNG.uniform(0.5, 2.0, c)
    x = RNG.standard_normal(shape)
    ii = 1 if ignore != "none" else -100

    def ce(ns, x, _t=t, _w=w if weighted else None, _ii=ii, _r=red, ls=0.0):
        weight = None if _w is None else ns.const(_w).to(x.dtype)
        return ns.F.cross_entropy(x, ns.const(_t), weight=weight, ignore_index=_ii, reduction=_r,
                                  label_smoothing=ls)

    tag = f"{'x'.join(map(str, shape))}-w{int(weighted)}-ignore_{ignore}-{red}"
    _add(f"cross_entropy-{tag}", ce, [x])
    _add(f"cross_entropy-ls-{tag}", lambda ns, x, _ce=ce: _ce(ns, x, ls=0.3), [x])

    def nll(ns, x, _t=t, _w=w if weighted else None, _ii=ii, _r=red):
        weight = None if _w is None else ns.const(_w).to(x.dtype)
        dim = 0 if x.ndim == 1 else 1
        return ns.F.nll_loss(x.log_softmax(dim), ns.const(_t), weight=weight, ignore_index=_ii,
                             reduction=_r)

    _add(f"nll_loss-{tag}", nll, [x])

# cross_entropy with class probabilities (gradients reach the target too)
for (shape, c), weighted, ls, red in product(CLASS_SHAPES, [False, True], [0.0, 0.25], REDUCTIONS):
    w = RNG.uniform(0.5, 2.0, c)
    dim = 0 if len(shape) == 1 else 1

    def ce_probs(ns, x, t, _w=w if weighted else None, _ls=ls, _r=red, _d=dim):
        weight = None if _w is None else ns.const(_w).to(x.dtype)
        return ns.F.cross_entropy(x, t.softmax(_d), weight=weight, reduction=_r,
                                  label_smoothing=_ls)

    _add(f"cross_entropy-probs-{'x'.join(map(str, shape))}-w{int(weighted)}-ls{ls}-{red}",
         ce_probs, [RNG.standard_normal(shape), RNG.standard_normal(shape)])

# elementwise regression losses; per-element weight (mse, l1, huber as PyTorch 2.x)
for red in REDUCTIONS:
    a, b = RNG.standard_normal((3, 5)), RNG.standard_normal((3, 5))
    w = RNG.uniform(0.5, 2.0, (3, 5))
    _add(f"l1_loss-{red}", lambda ns, a, b, _r=red: ns.F.l1_loss(a, b, reduction=_r), [a, b])
    _add(f"l1_loss-weight-{red}", lambda ns, a, b, _r=red, _w=w: ns.F.l1_loss(
        a, b, reduction=_r, weight=ns.const(_w).to(a.dtype)), [a, b])
    _add(f"mse_loss-weight-{red}", lambda ns, a, b, _r=red, _w=w: ns.F.mse_loss(
        a, b, reduction=_r, weight=ns.const(_w).to(a.dtype)), [a, b])
    for beta in [1.0, 0.5, 0.0]:
        _add(f"smooth_l1_loss-beta{beta}-{red}", lambda ns, a, b, _r=red, _b=beta:
             ns.F.smooth_l1_loss(a, b, reduction=_r, beta=_b), [a, b])
    for delta in [1.0, 0.3]:
        _add(f"huber_loss-delta{delta}-{red}", lambda ns, a, b, _r=red, _d=delta:
             ns.F.huber_loss(a, b, reduction=_r, delta=_d), [a, b])
    _add(f"huber_loss-weight-{red}", lambda ns, a, b, _r=red, _w=w: ns.F.huber_loss(
        a, b, reduction=_r, weight=ns.const(_w).to(a.dtype)), [a, b])

# binary cross-entropy on probabilities and on logits
for red, wshape in product(REDUCTIONS, [None, (3, 5), (5,)]):
    w = None if wshape is None else RNG.uniform(0.5, 2.0, wshape)

    def bce(ns, x, t, _w=w, _r=red):
        weight = None if _w is None else ns.const(_w).to(x.dtype)
        return ns.F.binary_cross_entropy(x.sigmoid(), t.sigmoid(), weight=weight, reduction=_r)

    _add(f"binary_cross_entropy-w{wshape}-{red}", bce,
         [RNG.standard_normal((3, 5)), RNG.standard_normal((3, 5))])
    for pshape in [None, (5,), (3, 1)]:
        p = None if pshape is None else RNG.uniform(0.5, 3.0, pshape)

        def bce_logits(ns, x, t, _w=w, _p=p, _r=red):
            weight = None if _w is None else ns.const(_w).to(x.dtype)
            pos = None if _p is None else ns.const(_p).to(x.dtype)
            return ns.F.binary_cross_entropy_with_logits(x * 3, t.sigmoid(), weight=weight,
                                                         reduction=_r, pos_weight=pos)

        _add(f"bce_with_logits-w{wshape}-p{pshape}-{red}", bce_logits,
             [RNG.standard_normal((3, 5)), RNG.standard_normal((3, 5))])

# Kullback-Leibler divergence ('mean' warns, as PyTorch: checked below)
for red, log_target in product(["none", "batchmean", "sum"], [False, True]):
    def kl(ns, x, t, _r=red, _lt=log_target):
        target = t.log_softmax(1) if _lt else t.softmax(1)
        return ns.F.kl_div(x.log_softmax(1), target, reduction=_r, log_target=_lt)

    _add(f"kl_div-{red}-log{log_target}", kl,
         [RNG.standard_normal((3, 5)), RNG.standard_normal((3, 5))])
_add("kl_div-zero-target", lambda ns, x: ns.F.kl_div(x, ns.const([[0.0, 0.5, 0.5]]).to(x.dtype),
                                                     reduction="sum"),
     [RNG.standard_normal((1, 3))])


def _run(ns, case, dtype, create_graph=False):
    """Forward, gradients of Σ r·loss (r fixed weights, so reduction='none' is covered), and,
    with create_graph, the gradients of Σ v·grad (a Hessian-vector product)."""
    xs = [ns.const(a).to(dtype).requires_grad_() for a in case.arrays]
    out = case.fn(ns, *xs)
    r = ns.const(np.linspace(0.5, 1.5, int(np.prod(out.shape))).reshape(out.shape)).to(out.dtype)
    grads = ns.lib.autograd.grad((out * r).sum(), xs, create_graph=create_graph, allow_unused=True) \
        if ns.name == "torch" else tg.grad((out * r).sum(), xs, create_graph=create_graph, allow_unused=True)
    res = [out] + [g for g in grads]
    if create_graph:
        gv = sum((g * ns.const(np.cos(np.arange(g.numel())).reshape(g.shape)).to(g.dtype)).sum()
                 for g in grads if g is not None and g.requires_grad)
        if isinstance(gv, int):  # no gradient depends on the inputs: second derivatives 0
            return res + [None] * len(xs)
        if ns.name == "torch":
            res += list(ns.lib.autograd.grad(gv, xs, allow_unused=True))
        else:
            res += list(tg.grad(gv, xs, allow_unused=True))
    return res


def _np(t):
    if t is None:
        return None
    if type(t).__module__.startswith("torch"):  # PyTorch's ZeroTensor needs force=True
        return t.detach().numpy(force=True).astype(np.float64)
    return t.detach().numpy().astype(np.float64)


def _compare(case, tg_dtype, torch_dtype, tol, create_graph=False):
    tns = torch_ns()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = _run(TG, case, tg_dtype, create_graph)
        theirs = _run(tns, case, torch_dtype, create_graph)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        a, b = _np(a), _np(b)
        if b is None:  # PyTorch: does not depend on the input (zero)
            assert a is None or np.all(a == 0), case
            continue
        if a is None:
            assert np.all(b == 0), case
            continue
        assert a.shape == b.shape, case
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol, equal_nan=True, err_msg=repr(case))


@pytest.mark.parametrize("case", CASES, ids=repr)
def test_float64_parity_and_second_derivatives(case):
    pytest.importorskip("torch")
    _compare(case, tg.float64, __import__("torch").float64, 1e-9, create_graph=case.second)


@pytest.mark.parametrize("case", [c for c in CASES if c.name.endswith("mean")], ids=repr)
def test_float32_parity(case):
    torch = pytest.importorskip("torch")
    _compare(case, tg.float32, torch.float32, 1e-5)


GRADCHECK = [c for c in CASES if "ignore_all" not in c.name or c.name.endswith("sum")]


@pytest.mark.parametrize("case", GRADCHECK, ids=repr)
def test_gradcheck(case):
    # (every target ignored with a mean is NaN by definition: nothing to check)
    inputs = [tg.tensor(a, requires_grad=True) for a in case.arrays]
    assert tg.autograd.gradcheck(lambda *xs: case.fn(TG, *xs), inputs)


# ----- the fused path ----------------------------------------------------------------------------
def test_plain_cross_entropy_keeps_the_fused_entry():
    x = tg.randn(6, 5, requires_grad=True)
    y = tg.tensor([0, 4, 2, 2, 1, 3])
    plain = F.cross_entropy(x, y)
    assert plain.grad_fn == "CrossEntropyBackward0"
    # an ignore_index no target hits, and an in-range one no target hits, change nothing
    for ii in (-100, 7, 5):
        same = F.cross_entropy(x, y, ignore_index=ii)
        assert same.grad_fn == "CrossEntropyBackward0" and same.item() == plain.item()
    # K-dimensional inputs go through the same entry on the (N·d, C) rows
    xk = tg.randn(2, 5, 3, requires_grad=True)
    yk = tg.tensor([[0, 1, 4], [2, 2, 3]])
    lk = F.cross_entropy(xk, yk, reduction="none")
    assert lk.shape == (2, 3)
    rows = xk.detach().permute(0, 2, 1).reshape(6, 5)
    assert lk.reshape(6).tolist() == F.cross_entropy(rows, yk.reshape(6), reduction="none").tolist()


# ----- errors name the op ------------------------------------------------------------------------
def _leaf(*shape):
    return tg.randn(*shape, requires_grad=True)


ERRORS = [
    # shapes
    (lambda: F.nll_loss(_leaf(4, 3), tg.tensor([0, 1, 2])), ValueError, ("nll_loss", "[4, 3]", "[3]")),
    (lambda: F.cross_entropy(_leaf(2, 3, 4), tg.zeros(2, 5, dtype=tg.int64)), RuntimeError,
     ("cross_entropy", "[2, 4]", "[2, 5]")),
    (lambda: F.cross_entropy(_leaf(3), tg.tensor([1])), ValueError, ("cross_entropy", "0-d")),
    (lambda: F.nll_loss(tg.tensor(1.0), tg.tensor(0)), ValueError, ("nll_loss", "0-d")),
    (lambda: F.l1_loss(_leaf(3), tg.ones(3, 1)), ValueError, ("l1_loss", "[3]", "[3, 1]")),
    (lambda: F.smooth_l1_loss(_leaf(3), tg.ones(4)), ValueError, ("smooth_l1_loss", "[4]")),
    (lambda: F.huber_loss(_leaf(2, 2), tg.ones(2)), ValueError, ("huber_loss", "[2, 2]")),
    (lambda: F.binary_cross_entropy(tg.rand(3), tg.rand(3, 1)), ValueError,
     ("binary_cross_entropy", "[3, 1]", "[3]")),
    (lambda: F.binary_cross_entropy(tg.rand(3), tg.rand(3), weight=tg.ones(4)), ValueError,
     ("binary_cross_entropy", "weight", "[4]")),
    (lambda: F.binary_cross_entropy_with_logits(_leaf(3, 2), tg.rand(3, 2), pos_weight=tg.ones(3)),
     ValueError, ("binary_cross_entropy_with_logits", "pos_weight", "[3]")),
    (lambda: F.nll_loss(_leaf(4, 3), tg.tensor([0, 1, 2, 1]), weight=tg.ones(4)), RuntimeError,
     ("nll_loss", "3 classes", "[4]")),
    (lambda: F.l1_loss(_leaf(3), tg.ones(3), weight=tg.ones(2)), ValueError, ("l1_loss", "[2]")),
    # dtypes
    (lambda: F.nll_loss(_leaf(2, 3), tg.tensor([0.0, 1.0])), TypeError, ("nll_loss", "int64", "float32")),
    (lambda: F.cross_entropy(_leaf(2, 3), tg.zeros(2, 3, dtype=tg.int64)), RuntimeError,
     ("cross_entropy", "floating point", "int64")),
    (lambda: F.nll_loss(tg.zeros(2, 3, dtype=tg.int64), tg.tensor([0, 1])), TypeError, ("nll_loss",)),
    (lambda: F.binary_cross_entropy(tg.rand(3), tg.rand(3, dtype=tg.float64)), RuntimeError,
     ("binary_cross_entropy", "float64", "float32")),
    (lambda: F.nll_loss(_leaf(2, 3), tg.tensor([0, 1]), weight=tg.ones(3, dtype=tg.float64)),
     RuntimeError, ("nll_loss", "float64")),
    # out-of-range classes (never a crash), with and without the options' path
    (lambda: F.nll_loss(_leaf(2, 3), tg.tensor([0, 3])), IndexError, ("nll_loss", "3", "3 classes")),
    (lambda: F.nll_loss(_leaf(2, 3), tg.tensor([-1, 0])), IndexError, ("nll_loss", "-1")),
    (lambda: F.cross_entropy(_leaf(2, 3), tg.tensor([1, 5]), ignore_index=1), IndexError,
     ("cross_entropy", "5", "position 1")),
    (lambda: F.cross_entropy(_leaf(2, 3), tg.tensor([0, 9]), weight=tg.ones(3)), IndexError,
     ("cross_entropy", "9")),
    (lambda: F.cross_entropy(_leaf(2, 3, 2), tg.tensor([[0, 1], [3, 0]])), IndexError,
     ("cross_entropy", "3", "[2, 3, 2]")),
    # values and options
    (lambda: F.binary_cross_entropy(tg.tensor([0.5, 1.5]), tg.ones(2)), RuntimeError,
     ("binary_cross_entropy", "between 0 and 1")),
    (lambda: F.binary_cross_entropy(tg.tensor([float("nan")]), tg.ones(1)), RuntimeError,
     ("binary_cross_entropy", "between 0 and 1")),
    (lambda: F.cross_entropy(_leaf(2, 3), tg.tensor([0, 1]), label_smoothing=1.5), RuntimeError,
     ("cross_entropy", "label_smoothing")),
    (lambda: F.cross_entropy(_leaf(2, 3), tg.rand(2, 3), ignore_index=0), RuntimeError,
     ("cross_entropy", "ignore_index")),
    (lambda: F.smooth_l1_loss(_leaf(3), tg.ones(3), beta=-1.0), RuntimeError, ("smooth_l1_loss", "beta")),
    (lambda: F.huber_loss(_leaf(3), tg.ones(3), delta=0.0), RuntimeError, ("huber_loss", "delta")),
    (lambda: F.nll_loss(_leaf(2, 3), tg.tensor([0, 1]), reduction="avg"), ValueError,
     ("nll_loss", "avg")),
    (lambda: F.kl_div(_leaf(2, 3), tg.rand(2, 3), reduction="avg"), ValueError, ("kl_div", "batchmean")),
    (lambda: tg.nn.NLLLoss(reduction="avg"), ValueError, ("NLLLoss", "avg")),
]


@pytest.mark.parametrize("fn,exc,words", ERRORS, ids=[str(i) for i in range(len(ERRORS))])
def test_errors_name_the_op(fn, exc, words):
    with pytest.raises(exc) as info:
        fn()
    for w in words:
        assert w in str(info.value), (w, str(info.value))


def test_mismatched_shapes_are_refused_where_pytorch_warns():
    # PyTorch broadcasts after a UserWarning; as mse_loss, tapegrad refuses (see check_same_shape).
    torch = pytest.importorskip("torch")
    with pytest.warns(UserWarning, match="different to the input size"):
        torch.nn.functional.l1_loss(torch.zeros(3), torch.zeros(3, 1))
    with pytest.raises(ValueError, match="l1_loss"):
        F.l1_loss(tg.zeros(3), tg.zeros(3, 1))


def test_dtype_promotion_as_pytorch():
    torch = pytest.importorskip("torch")
    a32, b64 = np.zeros(3, np.float32) + 1, np.zeros(3) + 0.25
    for name in ["l1_loss", "mse_loss", "smooth_l1_loss", "huber_loss"]:
        ours = getattr(F, name)(tg.tensor(a32), tg.tensor(b64))
        theirs = getattr(torch.nn.functional, name)(torch.tensor(a32), torch.tensor(b64))
        assert str(ours.dtype).split(".")[-1] == str(theirs.dtype).split(".")[-1], name
        assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)
    x = np.random.default_rng(0).standard_normal((2, 3)).astype(np.float32)
    p = np.full((2, 3), 1 / 3)
    ours = F.cross_entropy(tg.tensor(x), tg.tensor(p))  # float32 logits, float64 probabilities
    theirs = torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(p))
    assert ours.dtype == tg.float64 and theirs.dtype == torch.float64
    assert ours.item() == pytest.approx(theirs.item(), rel=1e-6)


def test_binary_cross_entropy_at_zero_and_one():
    torch = pytest.importorskip("torch")
    x, y = [0.0, 1.0, 0.0, 1.0, 0.5], [0.0, 1.0, 1.0, 0.0, 0.5]
    xt = tg.tensor(x, dtype=tg.float64, requires_grad=True)
    xp = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    ours = F.binary_cross_entropy(xt, tg.tensor(y, dtype=tg.float64), reduction="none")
    theirs = torch.nn.functional.binary_cross_entropy(xp, torch.tensor(y, dtype=torch.float64),
                                                      reduction="none")
    np.testing.assert_allclose(ours.detach().numpy(), theirs.detach().numpy())  # logs clamped
    ours.sum().backward()
    theirs.sum().backward()
    np.testing.assert_allclose(xt.grad.numpy(), xp.grad.numpy())  # (x − y)/max(x(1 − x), 1e-12)


def test_legacy_size_average_and_reduce():
    x, y = tg.randn(3, 4), tg.randn(3, 4)
    for sa, rd, red in [(None, False, "none"), (False, None, "sum"), (True, True, "mean")]:
        with pytest.warns(UserWarning, match=f"reduction='{red}'"):
            got = F.l1_loss(x, y, size_average=sa, reduce=rd)
        assert got.tolist() == F.l1_loss(x, y, reduction=red).tolist()
    with pytest.warns(UserWarning, match="size_average"):
        assert tg.nn.CrossEntropyLoss(reduce=False).reduction == "none"


def test_kl_div_mean_warns_as_pytorch():
    x, t = tg.randn(2, 3).log_softmax(1), tg.rand(2, 3)
    with pytest.warns(UserWarning, match="batchmean"):
        m = F.kl_div(x, t)
    assert m.item() == pytest.approx(F.kl_div(x, t, reduction="sum").item() / 6)


# ----- modules -----------------------------------------------------------------------------------
def test_modules_call_their_functions():
    x, t = tg.randn(4, 3), tg.tensor([0, 2, 1, 2])
    w = tg.tensor([0.5, 1.0, 2.0])
    p, q = tg.rand(4, 3), tg.rand(4, 3)
    pairs = [
        (tg.nn.NLLLoss(weight=w, ignore_index=2), F.nll_loss(x, t, weight=w, ignore_index=2)),
        (tg.nn.CrossEntropyLoss(weight=w, label_smoothing=0.1, reduction="sum"),
         F.cross_entropy(x, t, weight=w, label_smoothing=0.1, reduction="sum")),
        (tg.nn.L1Loss(reduction="none"), F.l1_loss(x, p, reduction="none")),
        (tg.nn.SmoothL1Loss(beta=0.5), F.smooth_l1_loss(x, p, beta=0.5)),
        (tg.nn.HuberLoss(delta=0.5), F.huber_loss(x, p, delta=0.5)),
        (tg.nn.BCELoss(weight=w), F.binary_cross_entropy(p, q, weight=w)),
        (tg.nn.BCEWithLogitsLoss(pos_weight=w), F.binary_cross_entropy_with_logits(x, q, pos_weight=w)),
        (tg.nn.KLDivLoss(reduction="batchmean", log_target=True),
         F.kl_div(x, q.log(), reduction="batchmean", log_target=True)),
    ]
    for module, expected in pairs:
        name = type(module).__name__
        if name in ("NLLLoss", "CrossEntropyLoss"):
            got = module(x, t)
        elif name == "BCELoss":
            got = module(p, q)
        elif name in ("BCEWithLogitsLoss",):
            got = module(x, q)
        elif name == "KLDivLoss":
            got = module(x, q.log())
        else:
            got = module(x, p)
        assert got.tolist() == expected.tolist(), name
    ce = tg.nn.CrossEntropyLoss(weight=w)
    assert set(ce.state_dict()) == {"weight"}  # a buffer, as PyTorch
    assert "reduction='sum'" in repr(tg.nn.L1Loss(reduction="sum"))


def test_loss_modules_match_torch_signatures():
    torch = pytest.importorskip("torch")
    import inspect

    for name in ["NLLLoss", "CrossEntropyLoss", "L1Loss", "MSELoss", "SmoothL1Loss", "HuberLoss",
                 "BCELoss", "BCEWithLogitsLoss", "KLDivLoss"]:
        ours = list(inspect.signature(getattr(tg.nn, name).__init__).parameters)
        theirs = list(inspect.signature(getattr(torch.nn, name).__init__).parameters)
        assert ours == theirs, name
    for name in ["nll_loss", "cross_entropy", "l1_loss", "mse_loss", "smooth_l1_loss", "huber_loss",
                 "binary_cross_entropy", "binary_cross_entropy_with_logits", "kl_div"]:
        ours = inspect.signature(getattr(F, name)).parameters
        theirs = inspect.signature(getattr(torch.nn.functional, name)).parameters
        assert list(ours) == list(theirs), name
        assert [p.default for p in ours.values()] == [p.default for p in theirs.values()], name


def test_class_weight_gets_its_true_gradient():
    # PyTorch has no derivative for nll_loss's weight; tapegrad's losses are compositions, so the
    # weight's gradient (through the weighted mean's denominator too) is exact.
    rng = np.random.default_rng(5)
    x = tg.tensor(rng.standard_normal((6, 4)), requires_grad=True)
    w = tg.tensor(rng.uniform(0.5, 2.0, 4), requires_grad=True)
    t = tg.tensor([0, 3, 1, 1, -100, 2])
    probs = tg.tensor(rng.standard_normal((6, 4))).softmax(1)
    for fn in [lambda x, w: F.nll_loss(x.log_softmax(1), t, weight=w),
               lambda x, w: F.cross_entropy(x, t, weight=w, label_smoothing=0.2),
               lambda x, w: F.cross_entropy(x, probs, weight=w)]:
        assert tg.autograd.gradcheck(fn, [x, w])
