"""tapegrad.autograd.Function: custom ops with a hand-written backward, one tape entry each
(Note [custom functions] in cpp/src/autograd/custom.cpp), against torch.autograd.Function."""

from __future__ import annotations

import gc
import threading
import weakref

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.autograd import Function
from tapegrad.autograd.function import once_differentiable


def _fn_classes(lib):
    """The same Functions written for tapegrad and for torch (lib is tg or torch)."""
    Base = tg.autograd.Function if lib is tg else lib.autograd.Function

    class Softplus(Base):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return lib.log1p(lib.exp(-lib.abs(x))) + lib.relu(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * lib.sigmoid(x)

    class Exp(Base):  # saves its output
        @staticmethod
        def forward(ctx, x):
            y = lib.exp(x)
            ctx.save_for_backward(y)
            return y

        @staticmethod
        def backward(ctx, g):
            (y,) = ctx.saved_tensors
            return g * y

    class MulAdd(Base):  # two tensor inputs (the second broadcast), a non-tensor argument
        @staticmethod
        def forward(ctx, x, w, k):
            ctx.save_for_backward(x, w)
            ctx.k = k
            return x * w * k + w

        @staticmethod
        def backward(ctx, g):
            x, w = ctx.saved_tensors
            gx = g * w * ctx.k if ctx.needs_input_grad[0] else None
            gw = g * x * ctx.k + g if ctx.needs_input_grad[1] else None
            return gx, gw, None

    class P3(Base):  # a backward written with ops: differentiable again
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return 0.5 * (5 * x**3 - 3 * x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return g * 1.5 * (5 * x**2 - 1)

    class SinCos(Base):  # two outputs
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return lib.sin(x), lib.cos(x)

        @staticmethod
        def backward(ctx, gs, gc):
            (x,) = ctx.saved_tensors
            return gs * lib.cos(x) - gc * lib.sin(x)

    return {"Softplus": Softplus, "Exp": Exp, "MulAdd": MulAdd, "P3": P3, "SinCos": SinCos}


TG = _fn_classes(tg)
CASES = {  # name -> (input shapes, extra non-tensor args, combine outputs to a tensor)
    "Softplus": ([(7,)], ()),
    "Exp": ([(3, 4)], ()),
    "MulAdd": ([(4, 3), (3,)], (2.5,)),
    "P3": ([(5,)], ()),
    "SinCos": ([(2, 3)], ()),
}


def _inputs(name, seed=0):
    r = np.random.default_rng(seed)
    return [r.standard_normal(s) for s in CASES[name][0]]


def _total(out):
    outs = out if isinstance(out, tuple) else (out,)
    return sum((o * (i + 1)).sum() for i, o in enumerate(outs))


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(name):
    xs = [tg.tensor(a, requires_grad=True) for a in _inputs(name)]
    extra = CASES[name][1]
    assert tg.gradcheck(lambda *t: TG[name].apply(*t, *extra), xs)


@pytest.mark.parametrize("name", sorted(CASES))
def test_matches_torch_function_including_double_backward(name):
    torch = pytest.importorskip("torch")
    TT = _fn_classes(torch)
    extra = CASES[name][1]
    arrays = _inputs(name)
    xs = [tg.tensor(a, requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, tout = TG[name].apply(*xs, *extra), TT[name].apply(*ts, *extra)
    for o, t in zip(out if isinstance(out, tuple) else (out,),
                    tout if isinstance(tout, tuple) else (tout,)):
        np.testing.assert_allclose(o.detach().numpy(), t.detach().numpy(), rtol=1e-9, atol=1e-12)
        assert o.grad_fn == f"{name}Backward"
    g = tg.grad(_total(out), xs, create_graph=True)
    tg_ = torch.autograd.grad(_total(tout), ts, create_graph=True)
    for a, b in zip(g, tg_):
        np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-9, atol=1e-12)
    # Second order: d/dx of Σ g·v.
    v = [np.random.default_rng(5).standard_normal(a.shape) for a in arrays]
    h = tg.grad(sum((a * tg.tensor(b)).sum() for a, b in zip(g, v)), xs, allow_unused=True)
    th = torch.autograd.grad(sum((a * torch.tensor(b)).sum() for a, b in zip(tg_, v)), ts,
                             allow_unused=True)
    for a, b in zip(h, th):
        if b is None:
            assert a is None or not np.any(a.numpy())
        else:
            np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-9, atol=1e-12)


def test_second_order_gradcheck_through_a_function():
    x = tg.tensor(np.linspace(-2, 2, 5), requires_grad=True)

    @tg.enable_grad()  # gradcheck evaluates fn under no_grad for its finite differences
    def first_derivative(t):
        return tg.grad(TG["P3"].apply(t).sum(), t, create_graph=True)[0]

    assert tg.gradcheck(first_derivative, [x])


def test_one_entry_and_setup_context_style():
    class Cube(Function):
        @staticmethod
        def forward(x):
            return x**3

        @staticmethod
        def setup_context(ctx, inputs, output):
            (x,) = inputs
            ctx.save_for_backward(x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * g * x * x

    x = tg.tensor([1.0, 2.0], requires_grad=True)
    before = tg.tape_stats()["live_entries"]
    y = Cube.apply(x)
    assert tg.tape_stats()["live_entries"] == before + 1  # the forward's pow is not recorded
    assert [op["backward"] for op in tg._core._graph(y)["ops"]] == ["CubeBackward"]
    y.sum().backward()
    assert x.grad.tolist() == [3.0, 12.0]


def test_apply_without_grad_records_nothing():
    x = tg.ones(2, requires_grad=True)
    with tg.no_grad():
        y = TG["Exp"].apply(x)
    assert not y.requires_grad and y.grad_fn is None
    assert TG["Exp"].apply(tg.ones(2)).grad_fn is None


def test_needs_input_grad_and_non_tensor_outputs():
    seen = []

    class Tagged(Function):
        @staticmethod
        def forward(ctx, x, scale, y, label):
            seen.append(ctx.needs_input_grad)
            return x * scale + y, label, 7

        @staticmethod
        def backward(ctx, g, g_label, g_seven):
            assert g_label is None and g_seven is None
            return g * 2, None, None, None

    x = tg.ones(3, requires_grad=True)
    out, label, seven = Tagged.apply(x, 2.0, tg.ones(3), "hello")
    assert (label, seven) == ("hello", 7)
    assert seen == [(True, False, False, False)]
    out.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0, 2.0]


def test_none_gradient_for_an_input():
    class FirstOnly(Function):
        @staticmethod
        def forward(ctx, a, b):
            return a + b

        @staticmethod
        def backward(ctx, g):
            return g, None

    a, b = tg.ones(2, requires_grad=True), tg.ones(2, requires_grad=True)
    FirstOnly.apply(a, b).sum().backward()
    assert a.grad.tolist() == [1.0, 1.0] and b.grad is None
    ga, gb = tg.grad(FirstOnly.apply(a, b).sum(), [a, b], allow_unused=True)
    assert gb is None


def test_multiple_outputs_one_used_materialize_and_not():
    got = []

    def make(materialize):
        class Two(Function):
            @staticmethod
            def forward(ctx, x):
                ctx.set_materialize_grads(materialize)
                return x * 2, x * 3

            @staticmethod
            def backward(ctx, g1, g2):
                got.append(g2)
                out = g1 * 2 if g1 is not None else None
                if g2 is not None:
                    out = g2 * 3 if out is None else out + g2 * 3
                return out

        return Two

    x = tg.ones(2, requires_grad=True)
    a, _ = make(True).apply(x)
    a.sum().backward()
    assert got[-1].tolist() == [0.0, 0.0] and x.grad.tolist() == [2.0, 2.0]
    x.grad = None
    a, _ = make(False).apply(x)
    a.sum().backward()
    assert got[-1] is None and x.grad.tolist() == [2.0, 2.0]


def test_mark_non_differentiable():
    class SortLike(Function):
        @staticmethod
        def forward(ctx, x):
            idx = tg.argsort(x) if hasattr(tg, "argsort") else tg.arange(x.shape[0])
            mask = x > 0
            ctx.mark_non_differentiable(mask)
            ctx.save_for_backward(x)
            return x * 1.0, idx, mask

        @staticmethod
        def backward(ctx, g, g_idx, g_mask):
            assert g_mask is None or not g_mask.requires_grad
            return g

    x = tg.tensor([1.0, -2.0, 3.0], requires_grad=True)
    y, idx, mask = SortLike.apply(x)
    assert y.requires_grad and not idx.requires_grad and not mask.requires_grad
    assert idx.dtype == tg.int64 and mask.dtype == tg.bool
    y.sum().backward()
    assert x.grad.tolist() == [1.0, 1.0, 1.0]


def test_mark_non_differentiable_float_output_gets_zero_grad():
    class Split(Function):
        @staticmethod
        def forward(ctx, x):
            aux = x * 10
            ctx.mark_non_differentiable(aux)
            return x * 2, aux

        @staticmethod
        def backward(ctx, g, g_aux):
            assert g_aux.tolist() == [0.0, 0.0]
            return g * 2

    x = tg.ones(2, requires_grad=True)
    y, aux = Split.apply(x)
    assert not aux.requires_grad
    y.sum().backward()
    assert x.grad.tolist() == [2.0, 2.0]


def _double_in_place(lib):
    Base = tg.autograd.Function if lib is tg else lib.autograd.Function

    class DoubleInPlace(Base):
        @staticmethod
        def forward(ctx, x):
            x.mul_(2)
            ctx.mark_dirty(x)
            ctx.save_for_backward(x)
            return x

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors  # the new value: gradient 2 regardless, x read for the check
            return g * 2 + 0 * x

    return DoubleInPlace


def test_mark_dirty_rebases_the_input():
    D = _double_in_place(tg)
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    a = w * 3
    v0 = a._version
    out = D.apply(a)
    assert out is a and a._version > v0
    assert a.grad_fn == "DoubleInPlaceBackward" and a.tolist() == [6.0, 12.0]
    (a * a).sum().backward()
    assert w.grad.tolist() == pytest.approx([2 * 6 * 2 * 3, 2 * 12 * 2 * 3])


def test_mark_dirty_matches_torch():
    torch = pytest.importorskip("torch")
    w = tg.tensor([1.0, -2.0], dtype=tg.float64, requires_grad=True)
    tw = torch.tensor([1.0, -2.0], dtype=torch.float64, requires_grad=True)
    a = _double_in_place(tg).apply(w * 3)
    ta = _double_in_place(torch).apply(tw * 3)
    (a * a).sum().backward()
    (ta * ta).sum().backward()
    np.testing.assert_allclose(w.grad.numpy(), tw.grad.numpy(), rtol=1e-12)


def test_mark_dirty_on_a_leaf_that_requires_grad_raises():
    with pytest.raises(RuntimeError, match="leaf Variable that requires grad"):
        _double_in_place(tg).apply(tg.ones(2, requires_grad=True))


def test_identity_output_is_a_new_tensor():
    class Ident(Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g * 5

    x = tg.ones(2, requires_grad=True)
    y = Ident.apply(x)
    assert y is not x and y.grad_fn == "IdentBackward" and x.is_leaf
    y.sum().backward()
    assert x.grad.tolist() == [5.0, 5.0]


def test_once_differentiable():
    class Cube(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x**3

        @staticmethod
        @once_differentiable
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            return 3 * x * x * g

    x = tg.tensor([1.0, 2.0], requires_grad=True)
    (gx,) = tg.grad(Cube.apply(x).sum(), x)
    assert gx.tolist() == [3.0, 12.0]
    (gx,) = tg.grad(Cube.apply(x).sum(), x, create_graph=True)
    assert gx.tolist() == [3.0, 12.0]
    with pytest.raises(RuntimeError, match="once_differentiable"):
        gx.sum().backward()
    # a plain backward still works afterwards
    Cube.apply(x).sum().backward()
    assert x.grad.tolist() == [3.0, 12.0]


def test_saved_tensor_modified_in_place_raises():
    Softplus = TG["Softplus"]
    a = tg.ones(3, requires_grad=True) * 1.0
    y = Softplus.apply(a)
    with tg.no_grad():
        a += 1
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*SoftplusBackward"):
        y.sum().backward()
    # a saved output
    y = TG["Exp"].apply(tg.ones(3, requires_grad=True))
    with tg.no_grad():
        y.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation.*ExpBackward"):
        y.sum().backward()


def test_second_backward_needs_retain_graph():
    x = tg.ones(2, requires_grad=True)
    y = TG["Softplus"].apply(x).sum()
    y.backward(retain_graph=True)
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True.*|SoftplusBackward"):
        y.backward()


def _bad(result):
    class Bad(Function):
        @staticmethod
        def forward(ctx, x, k=None):
            return x * 2

        @staticmethod
        def backward(ctx, g):
            return result(g)

    return Bad


@pytest.mark.parametrize("result, exc, pattern", [
    (lambda g: (g, g), RuntimeError, r"BadBackward returned an incorrect number of gradients \(expected 1, got 2\)"),
    (lambda g: g.expand(2, 3), None, None),  # the input broadcasts to it: summed back
    (lambda g: g.sum(), RuntimeError, r"BadBackward returned an invalid gradient at index 0 - got \[\] but expected shape compatible with \[3\]"),
    (lambda g: tg.ones(5), RuntimeError, r"BadBackward returned an invalid gradient at index 0 - got \[5\] but expected shape compatible with \[3\]"),
    (lambda g: tg.ones(3, dtype=tg.int64), TypeError, r"BadBackward returned an invalid gradient at index 0 - expected a floating-point dtype"),
    (lambda g: [1.0, 2.0, 3.0], TypeError, r"BadBackward returned a list as the gradient at position 0"),
])
def test_invalid_gradients_name_the_function(result, exc, pattern):
    x = tg.ones(3, requires_grad=True)
    y = _bad(result).apply(x).sum()
    if exc is None:
        y.backward()
        assert x.grad.shape == (3,)
        return
    with pytest.raises(exc, match=pattern):
        y.backward()
    # the library still works
    (x * 2).sum().backward()


def test_gradient_for_a_non_tensor_argument_raises():
    x = tg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="BadBackward returned a gradient different than None at position 1"):
        _bad(lambda g: (g, g)).apply(x, 2.0).sum().backward()


def test_float32_gradient_for_float64_input_is_cast():
    x = tg.ones(3, dtype=tg.float64, requires_grad=True)
    _bad(lambda g: g.float()).apply(x).sum().backward()
    assert x.grad.dtype == tg.float64


class _Boom(Exception):
    pass


def test_exceptions_propagate_unchanged_and_leave_the_library_working():
    class FailsForward(Function):
        @staticmethod
        def forward(ctx, x):
            raise _Boom("in forward")

    class FailsBackward(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * 2

        @staticmethod
        def backward(ctx, g):
            raise _Boom("in backward")

    x = tg.ones(2, requires_grad=True)
    base = tg.tape_stats()["live_entries"]  # entries other tests' objects still hold
    with pytest.raises(_Boom, match="in forward"):
        FailsForward.apply(x)
    assert tg.is_grad_enabled()
    y = (FailsBackward.apply(x) * 3).sum()
    with pytest.raises(_Boom, match="in backward"):
        y.backward()
    assert tg.is_grad_enabled()
    del y
    gc.collect()
    (x * 4).sum().backward()
    assert x.grad.tolist() == [4.0, 4.0]
    assert tg.tape_stats()["live_entries"] <= base


def test_function_cannot_be_instantiated():
    with pytest.raises(RuntimeError, match="apply"):
        TG["Exp"]()


def test_two_threads_applying_functions():
    errors = []

    def work(seed):
        try:
            r = np.random.default_rng(seed)
            for _ in range(200):
                a = r.standard_normal(5)
                x = tg.tensor(a, requires_grad=True)
                TG["P3"].apply(TG["Softplus"].apply(x)).sum().backward()
                s = np.log1p(np.exp(a))
                want = 1.5 * (5 * s**2 - 1) / (1 + np.exp(-a))
                np.testing.assert_allclose(x.grad.numpy(), want, rtol=1e-10)
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_ctx_and_saved_tensors_are_freed_with_the_entry():
    refs = []

    class Keep(Function):
        @staticmethod
        def forward(ctx, x):
            refs.append(weakref.ref(ctx))
            y = x * 2
            ctx.save_for_backward(x, y)  # an input and an output
            return y

        @staticmethod
        def backward(ctx, g):
            return g * 2

    x = tg.ones(1000, requires_grad=True)
    base = tg.tape_stats()
    y = Keep.apply(x)
    assert refs[0]() is not None and tg.tape_stats()["saved_bytes"] >= base["saved_bytes"] + 8000
    del y
    gc.collect()
    assert refs[-1]() is None
    after = tg.tape_stats()
    assert after["live_entries"] <= base["live_entries"]
    assert after["saved_bytes"] <= base["saved_bytes"]
    # after a backward, too
    y = Keep.apply(x)
    y.sum().backward()
    del y
    assert refs[-1]() is None


def test_memory_stays_flat_over_many_applications():
    import os

    if not os.path.exists("/proc/self/statm"):
        pytest.skip("needs /proc/self/statm")

    def rss():
        with open("/proc/self/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")

    w = tg.randn(64, requires_grad=True)
    Exp, P3 = TG["Exp"], TG["P3"]

    def step(i):
        y = P3.apply(Exp.apply(w * 0.01))  # no backward: dropped at once
        if i % 2:
            y.sum().backward()

    base = tg.tape_stats()["live_entries"]
    for i in range(500):
        step(i)
    gc.collect()
    start = rss()
    for i in range(5000):
        step(i)
        if i % 500 == 0:
            assert tg.tape_stats()["live_entries"] <= base + 4
    gc.collect()
    assert rss() - start < 4 * 2**20 or "libasan" in os.environ.get("LD_PRELOAD", "")
    assert tg.tape_stats()["live_entries"] <= base


def test_backward_that_runs_its_own_backward_like_checkpointing():
    # torch.utils.checkpoint's pattern: forward without a graph, backward recomputes with one
    # and differentiates it (a sweep inside a sweep on the same tape).
    class Checkpoint(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return tg.tanh(tg.exp(x) * x)

        @staticmethod
        def backward(ctx, g):
            (x,) = ctx.saved_tensors
            with tg.enable_grad():
                xd = x.detach().requires_grad_()
                y = tg.tanh(tg.exp(xd) * xd)
                (gx,) = tg.grad(y, xd, grad_outputs=g)
            return gx

    a = np.linspace(-1, 1, 6)
    x = tg.tensor(a, requires_grad=True)
    (Checkpoint.apply(x) * 2).sum().backward()
    u = np.exp(a) * a
    np.testing.assert_allclose(x.grad.numpy(), 2 * (1 - np.tanh(u) ** 2) * np.exp(a) * (1 + a),
                               rtol=1e-12)


def test_backward_in_another_thread_than_the_recording_one():
    box = {}

    def record():
        x = tg.tensor([1.0, 2.0], requires_grad=True)
        box["x"], box["y"] = x, TG["P3"].apply(x).sum()

    t = threading.Thread(target=record)
    t.start()
    t.join()
    box["y"].backward()  # the finished thread's tape is adopted
    np.testing.assert_allclose(box["x"].grad.numpy(), 1.5 * (5 * np.array([1.0, 2.0]) ** 2 - 1))
    box.clear()


def test_vmap_over_a_function_raises_clearly_and_func_grad_works():
    x = tg.tensor(np.linspace(-1, 1, 4))
    with pytest.raises(RuntimeError, match="vmap: Softplus.apply: a custom autograd.Function has no batch rule"):
        tg.func.vmap(TG["Softplus"].apply)(tg.stack([x, x]))
    g = tg.func.grad(lambda t: TG["Softplus"].apply(t).sum())(x)
    np.testing.assert_allclose(g.numpy(), 1 / (1 + np.exp(-x.numpy())), rtol=1e-12)
