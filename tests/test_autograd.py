"""The tape's semantics (docs/architecture.md), one test each: .grad accumulation, retain_grad,
backward(gradient=), retain_graph, create_graph, grad modes, detach, tg.grad, deep chains,
bounded memory, version counters and detect_anomaly."""

from __future__ import annotations

import gc
import math
import os

import numpy as np
import pytest

import tapegrad as tg


def leaf(values, dtype=tg.float64):
    return tg.tensor(values, dtype=dtype, requires_grad=True)


# ----- .grad, retain_grad, gradient= -----------------------------------------------------------
def test_leaf_grad_accumulates_across_backwards():
    x = leaf([1.0, 2.0])
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    (3 * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [5.0, 7.0])
    x.grad = None
    (3 * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0])


def test_grad_is_accumulated_into_the_same_tensor_and_zero_keeps_it():
    x = leaf([1.0])
    (2 * x).sum().backward()
    g = x.grad
    (2 * x).sum().backward()
    assert g.numpy()[0] == 4.0  # += in place, as PyTorch
    with tg.no_grad():
        x.grad.zero_()
    (2 * x).sum().backward()
    assert x.grad.item() == 2.0


def test_a_variable_used_twice_gets_both_contributions():
    x = leaf(3.0)
    y = x * x + x.exp() * x
    y.backward()
    assert x.grad.item() == pytest.approx(2 * 3 + math.exp(3) * 4)


def test_non_leaf_grad_is_not_kept_unless_retain_grad():
    x = leaf([1.0, 2.0])
    h = x * 3
    k = x * 4
    h.retain_grad()
    assert h.retains_grad and not k.retains_grad
    (h * k).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), [4.0, 8.0])
    assert k.grad is None
    assert not h.is_leaf and x.is_leaf
    np.testing.assert_array_equal(x.grad.numpy(), [24.0, 48.0])


def test_backward_with_gradient_on_non_scalar():
    x = leaf([1.0, 2.0, 3.0])
    y = x * x
    y.backward(gradient=tg.tensor([1.0, 0.5, 0.0], dtype=tg.float64))
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 0.0])


def test_backward_on_non_scalar_without_gradient_raises():
    x = leaf([1.0, 2.0, 3.0])
    y = x * 2
    with pytest.raises(RuntimeError, match=r"scalar outputs.*\[3\]"):
        y.backward()
    with pytest.raises(ValueError, match=r"\[2\].*\[3\]"):
        y.backward(gradient=tg.tensor([1.0, 2.0], dtype=tg.float64))
    y.sum().backward()  # still usable afterwards
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0, 2.0])


def test_backward_of_a_one_element_non_scalar_is_implicit():
    x = leaf([2.0])
    (x * x).backward()
    assert x.grad.item() == 4.0


def test_backward_on_tensor_without_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        tg.tensor([1.0]).sum().backward()


# ----- retain_graph ----------------------------------------------------------------------------
def test_second_backward_raises_naming_retain_graph():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x.exp() * x).sum()
    y.backward(retain_graph=True)
    g1 = x.grad.numpy().copy()
    y.backward()
    np.testing.assert_allclose(x.grad.numpy(), 2 * g1)


def test_backward_through_ops_without_saved_tensors_twice_is_fine():
    x = leaf([1.0, 2.0])
    y = (x + 1).sum()
    y.backward()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 2.0])


# ----- create_graph ----------------------------------------------------------------------------
def test_create_graph_hessian():
    x = leaf([1.0, 2.0, 3.0])
    f = (x**3).sum() + x[0] * x[1]
    (g,) = tg.grad(f, x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [3 + 2, 12 + 1, 27])
    H = np.stack([tg.grad(g[i], x, retain_graph=True)[0].numpy() for i in range(3)])
    np.testing.assert_allclose(H, [[6, 1, 0], [1, 12, 0], [0, 0, 18]])


def test_create_graph_hessian_vector_product():
    x = leaf([0.5, -1.0])
    v = tg.tensor([1.0, 2.0], dtype=tg.float64)
    f = (x.sin() * (x[0] * x[1])).sum()
    (g,) = tg.grad(f, x, create_graph=True)
    (hv,) = tg.grad((g * v).sum(), x)
    # numerical H·v from the gradient
    eps = 1e-6

    def grad_at(a):
        t = leaf(a)
        f = (t.sin() * (t[0] * t[1])).sum()
        return tg.grad(f, t)[0].numpy()

    a = np.array([0.5, -1.0])
    num = (grad_at(a + eps * v.numpy()) - grad_at(a - eps * v.numpy())) / (2 * eps)
    np.testing.assert_allclose(hv.numpy(), num, rtol=1e-6, atol=1e-8)


def test_third_derivative():
    x = leaf(2.0)
    y = x**4
    (d1,) = tg.grad(y, x, create_graph=True)
    (d2,) = tg.grad(d1, x, create_graph=True)
    (d3,) = tg.grad(d2, x, create_graph=True)
    (d4,) = tg.grad(d3, x)
    assert (d1.item(), d2.item(), d3.item(), d4.item()) == (32.0, 48.0, 48.0, 24.0)


def test_third_derivative_through_exp_tanh_chain():
    x = leaf(0.3)
    y = (x * 2).tanh().exp()
    ds = []
    out = y
    for _ in range(3):
        (out,) = tg.grad(out, x, create_graph=True)
        ds.append(out.item())
    # finite differences of the second derivative
    def d2(a):
        t = leaf(a)
        (g,) = tg.grad((t * 2).tanh().exp(), t, create_graph=True)
        return tg.grad(g, t)[0].item()

    h = 1e-5
    assert ds[2] == pytest.approx((d2(0.3 + h) - d2(0.3 - h)) / (2 * h), rel=1e-6)


def test_backward_with_create_graph_makes_grad_differentiable():
    x = leaf(3.0)
    (x**3).backward(create_graph=True)
    assert x.grad.requires_grad and x.grad.item() == 27.0
    (d2,) = tg.grad(x.grad, x)
    assert d2.item() == 18.0


def test_grad_without_create_graph_returns_constants():
    x = leaf(3.0)
    (g,) = tg.grad(x**2, x)
    assert not g.requires_grad and g.grad_fn is None


# ----- grad modes ------------------------------------------------------------------------------
def test_no_grad_context_manager():
    x = leaf([1.0])
    with tg.no_grad():
        assert not tg.is_grad_enabled()
        y = x * 2
        with tg.enable_grad():
            assert tg.is_grad_enabled()
            z = x * 2
        assert not tg.is_grad_enabled()
    assert tg.is_grad_enabled()
    assert not y.requires_grad and y.grad_fn is None
    assert z.requires_grad and z.grad_fn == "MulBackward0"


def test_no_grad_and_enable_grad_as_decorators():
    x = leaf([1.0])

    @tg.no_grad()
    def frozen(t):
        return t * 2

    @tg.enable_grad()
    def recorded(t):
        return t * 2

    assert not frozen(x).requires_grad
    assert tg.is_grad_enabled()
    with tg.no_grad():
        assert recorded(x).requires_grad
        assert not tg.is_grad_enabled()


def test_no_grad_restores_mode_after_an_exception():
    with pytest.raises(ZeroDivisionError):
        with tg.no_grad():
            1 / 0
    assert tg.is_grad_enabled()

    @tg.no_grad()
    def boom():
        raise KeyError

    with pytest.raises(KeyError):
        boom()
    assert tg.is_grad_enabled()


def test_parameter_update_under_no_grad():
    m = leaf([0.9], tg.float32)
    (m * 2).sum().backward()
    with tg.no_grad():
        m -= 0.01 * m.grad
    assert m.is_leaf and m.requires_grad and m.grad_fn is None
    assert m.item() == pytest.approx(0.88)


def test_detach_shares_storage_and_cuts_history():
    x = leaf([1.0, 2.0])
    y = x * 2
    d = y.detach()
    assert not d.requires_grad and d.is_leaf and d.grad_fn is None
    with tg.no_grad():
        d += 1  # shares memory with y
    np.testing.assert_array_equal(y.detach().numpy(), [3.0, 5.0])
    z = (d * x).sum()
    z.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 5.0])


def test_requires_grad_():
    x = tg.tensor([1.0, 2.0])
    assert not x.requires_grad
    assert x.requires_grad_() is x
    assert x.requires_grad
    (x * x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [2.0, 4.0])
    x.requires_grad_(False)
    assert not (x * x).requires_grad
    y = leaf([1.0]) * 2
    with pytest.raises(RuntimeError, match="non-leaf|leaf"):
        y.requires_grad_(False)


def test_no_entry_recorded_when_no_input_requires_grad():
    before = tg.tape_stats()["live_entries"]
    a = tg.tensor([1.0, 2.0])
    b = (a * 2).exp().sum()
    assert not b.requires_grad
    assert tg.tape_stats()["live_entries"] == before


# ----- tg.grad ---------------------------------------------------------------------------------
def test_grad_returns_instead_of_accumulating():
    x = leaf([1.0, 2.0])
    y = leaf([3.0, 4.0])
    gx, gy = tg.grad((x * y).sum(), [x, y])
    np.testing.assert_array_equal(gx.numpy(), [3.0, 4.0])
    np.testing.assert_array_equal(gy.numpy(), [1.0, 2.0])
    assert x.grad is None and y.grad is None


def test_grad_allow_unused():
    x = leaf([1.0])
    unused = leaf([2.0])
    y = (x * 2).sum()
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        tg.grad(y, [x, unused], retain_graph=True)
    gx, gu = tg.grad(y, [x, unused], allow_unused=True)
    assert gx.item() == 2.0 and gu is None


def test_grad_with_grad_outputs_and_several_outputs():
    x = leaf([1.0, 2.0])
    a = x * 2
    b = x * x
    (g,) = tg.grad([a, b], x, grad_outputs=[tg.tensor([1.0, 1.0], dtype=tg.float64),
                                            tg.tensor([1.0, 0.0], dtype=tg.float64)])
    np.testing.assert_array_equal(g.numpy(), [4.0, 2.0])


def test_grad_of_an_intermediate():
    x = leaf([1.0, 2.0])
    h = x.exp()
    y = (h * 3).sum()
    (gh,) = tg.grad(y, h)
    np.testing.assert_array_equal(gh.numpy(), [3.0, 3.0])


def test_grad_input_that_does_not_require_grad_raises():
    with pytest.raises(RuntimeError, match="does not require grad"):
        x = leaf([1.0])
        tg.grad((x * 2).sum(), tg.tensor([1.0]))


# ----- deep chains and bounded memory ---------------------------------------------------------
def test_deep_chain_of_100k_ops_backpropagates():
    gc.collect()
    base = tg.tape_stats()["live_entries"]  # what other tests still hold
    x = leaf(1.0)
    y = x
    for _ in range(100_000):
        y = y * 1.0
    y = y + 0.0
    y.backward()
    assert x.grad.item() == 1.0
    del y
    # dropping the chain releases it without recursion, too
    assert tg.tape_stats()["live_entries"] <= base


def test_deep_chain_is_released_without_backward():
    gc.collect()
    base = tg.tape_stats()["live_entries"]  # what other tests still hold
    x = leaf(1.0)
    y = x
    for _ in range(100_000):
        y = (y * 1.0).sin()
    del y
    gc.collect()
    assert tg.tape_stats()["live_entries"] <= base


def _rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _model():
    tg.manual_seed(0)
    w1 = tg.randn(16, 8, requires_grad=True)
    w2 = tg.randn(1, 16, requires_grad=True)
    x = tg.randn(32, 8)
    return w1, w2, x


@pytest.mark.skipif(not os.path.exists("/proc/self/statm"), reason="needs /proc")
@pytest.mark.parametrize("with_backward", [False, True])
def test_memory_bounded_when_evaluating_without_no_grad(with_backward):
    w1, w2, x = _model()
    gc.collect()
    base_entries = tg.tape_stats()["entries"]
    base_live = tg.tape_stats()["live_entries"]  # tensors other tests still hold
    peaks = {"entries": 0, "live_entries": 0}
    rss = []
    for i in range(20_000):
        h = (x @ w1.T).tanh()
        loss = ((h @ w2.T) ** 2).mean()
        if with_backward and i % 2:
            loss.backward()
        for key in peaks:
            peaks[key] = max(peaks[key], tg.tape_stats()[key])
        if i in (2_000, 19_999):
            rss.append(_rss_bytes())
    del h, loss
    assert peaks["live_entries"] - base_live <= 10
    assert peaks["entries"] - base_entries <= 600  # compaction keeps the arrays short
    assert tg.tape_stats()["live_entries"] <= base_live
    assert rss[1] - rss[0] < 8 * 2**20, rss


def test_saved_tensors_are_released_when_results_are_dropped():
    x = leaf(np.ones((256, 256)))
    before = tg.tape_stats()["saved_bytes"]
    y = (x.exp() * x).sum()
    assert tg.tape_stats()["saved_bytes"] > before
    del y
    assert tg.tape_stats()["saved_bytes"] == before


def test_backward_releases_saved_tensors():
    x = leaf(np.ones((256, 256)))
    before = tg.tape_stats()["saved_bytes"]
    y = (x.exp() * x).sum()
    y.backward()
    assert tg.tape_stats()["saved_bytes"] == before


# ----- in-place ops and version counters -------------------------------------------------------
def test_modifying_a_saved_tensor_in_place_then_backward_raises():
    x = leaf([1.0, 2.0])
    h = x * 2
    y = (h.exp()).sum()  # exp saves its output; mul below saves h
    z = (h * h).sum()
    with tg.no_grad():
        h2 = h.detach()
        h2 += 1  # same storage as h → version bump
    with pytest.raises(RuntimeError, match=r"modified by an inplace operation.*MulBackward0"):
        z.backward()
    del y


def test_inplace_on_saved_output_raises_naming_the_op():
    x = leaf([1.0, 2.0])
    y = x.exp()
    y.mul_(2)  # exp's saved output changes; mul_ is recorded
    with pytest.raises(RuntimeError, match=r"inplace.*ExpBackward0"):
        y.sum().backward()


def test_inplace_ops_bump_the_version():
    t = tg.zeros(3)
    v0 = t._version
    t += 1
    t.mul_(2)
    t.zero_()
    t.fill_(3.0)
    t.copy_(tg.ones(3))
    t[0] = 5.0
    t.normal_()
    assert t._version == v0 + 7


def test_inplace_on_a_non_leaf_is_differentiable():
    x = leaf([1.0, 2.0])
    y = x * 3
    y += x
    y *= x
    y.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [8.0, 16.0])  # d(4x²)/dx


def test_inplace_mul_and_div_keep_second_derivatives():
    # h = x², h *= x → x³: the saved old h must carry its history under create_graph.
    x = leaf([1.0, 2.0])
    h = x * x
    h *= x
    (g,) = tg.grad(h.sum(), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [3.0, 12.0])
    np.testing.assert_allclose(tg.grad(g.sum(), x)[0].numpy(), [6.0, 12.0])
    # h = 3x, h /= x² → 3/x
    x = leaf([1.0, 2.0])
    h = x * 3
    h /= x * x
    (g,) = tg.grad(h.sum(), x, create_graph=True)
    np.testing.assert_allclose(g.detach().numpy(), [-3.0, -0.75])
    np.testing.assert_allclose(tg.grad(g.sum(), x)[0].numpy(), [6.0, 0.75])


def test_inplace_square_of_itself():
    x = leaf([1.0, 2.0])
    h = x * x
    h *= h  # x⁴ (PyTorch refuses this one; tapegrad differentiates it)
    h.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 32.0])


def test_retain_grad_survives_an_inplace_op():
    x = leaf([1.0, 2.0])
    h = x * 2
    h.retain_grad()
    h += 1
    (h * h).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), [6.0, 10.0])  # w.r.t. the new value
    np.testing.assert_array_equal(x.grad.numpy(), [12.0, 20.0])



def test_retain_grad_on_a_dropped_tensor_and_on_other_output_slots():
    """The sweep finds a retained non-leaf through its entry (Entry::retains) and a weak
    reference the tensor keeps to itself: a retained tensor dropped before backward gets
    nothing and breaks nothing; outputs of a multi-output op retain per slot; a retained
    tensor whose entry is reused by a compiled step's replays is filled on every replay."""
    x = leaf([1.0, -2.0, 3.0, 4.0])
    h = x * 2
    h.retain_grad()
    loss = (h * h).sum()
    del h
    loss.backward()
    np.testing.assert_array_equal(x.grad.numpy(), [8.0, -16.0, 24.0, 32.0])

    x = leaf([1.0, -2.0, 3.0, 4.0])
    a, b = (x * 1).split(2)
    b.retain_grad()
    (a * 3 + b * b).sum().backward()
    assert a.grad is None
    np.testing.assert_array_equal(b.grad.numpy(), [6.0, 8.0])
    np.testing.assert_array_equal(x.grad.numpy(), [3.0, 3.0, 6.0, 8.0])

    w = leaf([0.5, 1.5])

    def step(v):
        w.grad = None
        h = w * v
        h.retain_grad()
        (h * h).sum().backward()
        return h.grad

    compiled = tg.compile(step)
    for k in range(3):
        v = tg.tensor([1.0 + k, 2.0], dtype=tg.float64)
        np.testing.assert_array_equal(compiled(v).numpy(), 2 * w.detach().numpy() * v.numpy())
    assert compiled._stats["captures"] == 1 and compiled._stats["replays"] == 2

def test_setitem_of_a_value_with_grad_into_a_plain_tensor():
    w = leaf([1.0, 2.0])
    y = tg.zeros(3, dtype=tg.float64)
    y[1:] = w * 2
    assert not y.is_leaf and y.requires_grad
    (y * tg.tensor([1.0, 2.0, 3.0], dtype=tg.float64)).sum().backward()
    np.testing.assert_array_equal(w.grad.numpy(), [4.0, 6.0])


def test_inplace_on_a_leaf_that_requires_grad_raises():
    w = leaf([1.0, 2.0])
    for op in [lambda: w.add_(1.0), lambda: w.mul_(2.0), lambda: w.zero_(),
               lambda: w.fill_(1.0), lambda: w.copy_(tg.ones(2)), lambda: w.__setitem__(0, 3.0),
               lambda: w.normal_()]:
        with pytest.raises(RuntimeError, match="leaf"):
            op()
    with pytest.raises(RuntimeError, match="leaf"):
        w -= 1.0
    np.testing.assert_array_equal(w.detach().numpy(), [1.0, 2.0])
    with tg.no_grad():
        w -= 1.0
        w[1] = 7.0
    np.testing.assert_array_equal(w.detach().numpy(), [0.0, 7.0])


def test_setitem_on_non_leaf_routes_gradients():
    x = leaf([1.0, 2.0, 3.0])
    v = leaf(10.0)
    y = x * 1.0
    y[1] = v * 2
    (y * tg.tensor([1.0, 2.0, 3.0], dtype=tg.float64)).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [1.0, 0.0, 3.0])
    assert v.grad.item() == 4.0


# ----- detect_anomaly --------------------------------------------------------------------------
def test_detect_anomaly_names_the_op_sqrt_at_zero():
    x = leaf([0.0, 1.0])
    y = x.sqrt().sum()
    with tg.detect_anomaly():
        with pytest.raises(RuntimeError, match="SqrtBackward0"):
            y.backward()


def test_detect_anomaly_names_the_op_log_at_zero():
    x = leaf([0.0, 1.0])
    with tg.detect_anomaly():
        y = x.log().sum()
        with pytest.raises(RuntimeError, match="LogBackward0.*nan or inf"):
            y.backward()


def test_detect_anomaly_names_the_op_sqrt_of_negative():
    x = leaf([-1.0, 1.0])
    y = (x.sqrt() * 2).sum()
    with tg.detect_anomaly():
        with pytest.raises(RuntimeError, match="SqrtBackward0"):
            y.backward()


def test_without_detect_anomaly_inf_grads_pass_silently():
    x = leaf([0.0, 1.0])
    x.sqrt().sum().backward()
    assert math.isinf(x.grad.numpy()[0])


def test_detect_anomaly_as_decorator_and_restores():
    @tg.detect_anomaly()
    def run():
        x = leaf([0.0])
        x.sqrt().sum().backward()

    with pytest.raises(RuntimeError, match="SqrtBackward0"):
        run()
    assert not tg._core.is_anomaly_enabled()  # off again after the decorated call
    x = leaf([0.0])
    x.sqrt().sum().backward()
    assert np.isinf(x.grad.numpy()[0])  # d√x/dx at 0 = inf, reported only in anomaly mode


# ----- misc ------------------------------------------------------------------------------------
def test_grad_fn_names():
    x = leaf([1.0, 2.0])
    assert x.grad_fn is None
    assert (x + x).grad_fn == "AddBackward0"
    assert (x * x).grad_fn == "MulBackward0"
    assert x.sum().grad_fn == "SumBackward0"
    assert (x @ x).grad_fn == "ViewBackward0"  # 1-D @ 1-D: a (1×k)·(k×1) mm, viewed as 0-d (PyTorch: DotBackward0)


def test_gradients_have_the_input_dtype_and_shape():
    x = leaf([[1.0, 2.0]], tg.float32)
    b = leaf([3.0], tg.float64)
    (x * b).sum().backward()
    assert x.grad.dtype == tg.float32 and tuple(x.grad.shape) == (1, 2)
    assert b.grad.dtype == tg.float64 and tuple(b.grad.shape) == (1,)
