"""Tensor hooks (register_hook, register_post_accumulate_grad_hook) and Module hooks (forward,
forward pre, full backward, full backward pre), against PyTorch's order and values."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn


def _run_tensor_hooks(lib, log):
    """One graph with hooks on a leaf (used twice) and a non-leaf; returns the gradients."""
    kw = {"dtype": tg.float64} if lib is tg else {"dtype": lib.float64}
    x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True, **kw)
    w = lib.tensor([0.5, 0.25, 2.0], requires_grad=True, **kw)
    h = x * w
    h.register_hook(lambda g: log.append(("h1", g.tolist())))
    h.register_hook(lambda g: g * 3)                      # replaces h's gradient
    h.register_hook(lambda g: log.append(("h3", g.tolist())))
    h.retain_grad()
    x.register_hook(lambda g: log.append(("x1", g.tolist())) or g + 1)
    x.register_hook(lambda g: log.append(("x2", g.tolist())))
    removed = w.register_hook(lambda g: g * 100)
    removed.remove()
    y = (h * h).sum() + (x * 2).sum()                     # x reached through two paths
    y.backward()
    return x.grad.tolist(), w.grad.tolist(), h.grad.tolist()


def test_tensor_hooks_order_and_replacement_match_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = [], []
    got = _run_tensor_hooks(tg, ours)
    want = _run_tensor_hooks(torch, theirs)
    np.testing.assert_allclose(np.concatenate(got), np.concatenate(want), rtol=1e-12)
    assert [k for k, _ in ours] == [k for k, _ in theirs]
    for (_, a), (_, b) in zip(ours, theirs):
        np.testing.assert_allclose(a, b, rtol=1e-12)


def test_tensor_hooks_values_without_torch():
    log = []
    gx, gw, gh = _run_tensor_hooks(tg, log)
    x, w = np.array([1.0, -2.0, 3.0]), np.array([0.5, 0.25, 2.0])
    h = x * w
    dh = 3 * 2 * h                      # the hook multiplied h's gradient by 3
    np.testing.assert_allclose(gh, dh)  # retain_grad sees the replaced gradient
    np.testing.assert_allclose(gw, dh * x)
    np.testing.assert_allclose(gx, dh * w + 2 + 1)  # one call on the total, + 1 from the hook
    assert [k for k, _ in log] == ["h1", "h3", "x1", "x2"]


def test_hooks_in_grad():
    torch = pytest.importorskip("torch")
    out = []
    for lib in (tg, torch):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        h = x * x
        h.register_hook(lambda g: g * 10)
        x.register_hook(lambda g: g + 1)
        out.append(lib.autograd.grad(h.sum(), x)[0].tolist())
    assert out[0] == out[1]


def test_remove_and_context_manager():
    x = tg.ones(2, requires_grad=True)
    with x.register_hook(lambda g: g * 7):
        (x * 1).sum().backward()
    assert x.grad.tolist() == [7.0, 7.0]
    x.grad = None
    (x * 1).sum().backward()
    assert x.grad.tolist() == [1.0, 1.0]
    h = x.register_hook(lambda g: g * 2)
    h.remove()
    h.remove()  # twice is fine


def test_handle_does_not_keep_the_tensor_alive():
    import gc
    import weakref

    x = tg.ones(2, requires_grad=True)
    base = tg.tape_stats()["live_entries"]
    h = (x * 2).register_hook(lambda g: g)  # a non-leaf that dies at once
    gc.collect()
    assert tg.tape_stats()["live_entries"] <= base
    h.remove()  # a no-op now
    del weakref


def test_post_accumulate_grad_hook():
    torch = pytest.importorskip("torch")
    seen = {}
    for lib in (tg, torch):
        p = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        p.grad = lib.tensor([10.0, 10.0], dtype=lib.float64)
        log = seen.setdefault(lib.__name__, [])
        p.register_hook(lambda g, log=log: log.append(("pre", g.tolist())))
        p.register_post_accumulate_grad_hook(
            lambda t, log=log: log.append(("post", t.grad.tolist())))
        (p * p).sum().backward()
    assert seen["tapegrad"] == seen["torch"]


def test_hook_errors():
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        tg.ones(2).register_hook(lambda g: g)
    x = tg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="non-leaf"):
        (x * 2).register_post_accumulate_grad_hook(lambda t: None)
    x.register_hook(lambda g: tg.ones(3))
    with pytest.raises(RuntimeError, match="shape"):
        (x * 1).sum().backward()
    y = tg.ones(2, requires_grad=True)
    y.register_hook(lambda g: "nope")
    with pytest.raises(TypeError, match="str"):
        (y * 1).sum().backward()

    class Boom(Exception):
        pass

    z = tg.ones(2, requires_grad=True)

    def boom(g):
        raise Boom()

    z.register_hook(boom)
    with pytest.raises(Boom):
        (z * 1).sum().backward()
    (x.detach().requires_grad_() * 2).sum().backward()  # still working


def test_leaf_hook_sees_whole_gradient_with_factored_weight_grads():
    # A Linear weight's batch-1 gradient may be held factored: a hook still sees it whole.
    lin = nn.Linear(3, 2)
    seen = []
    lin.weight.register_hook(lambda g: seen.append(g.shape) or g * 0)
    lin(tg.ones(1, 3)).sum().backward()
    assert seen == [(2, 3)] and not np.any(lin.weight.grad.numpy())


# ----- module hooks ------------------------------------------------------------------------------
def _module_hooks(lib, log):
    lin = lib.nn.Linear(3, 2)
    lin.weight = lib.nn.Parameter(lib.tensor([[0.1, -0.2, 0.3], [0.4, 0.5, -0.6]],
                                             dtype=lib.float64))
    lin.bias = lib.nn.Parameter(lib.tensor([0.05, -0.05], dtype=lib.float64))
    hs = [
        lin.register_forward_pre_hook(lambda m, args: log.append("pre") or (args[0] * 2,)),
        lin.register_forward_pre_hook(lambda m, args, kwargs: log.append("pre-kw"),
                                      with_kwargs=True),
        lin.register_forward_hook(lambda m, args, out: log.append("fwd") or out + 1),
        lin.register_forward_hook(lambda m, args, out: log.append("fwd-first"), prepend=True),
        lin.register_full_backward_pre_hook(
            lambda m, gout: log.append(("bpre", [g.tolist() for g in gout])) or (gout[0] * 2,)),
        lin.register_full_backward_hook(
            lambda m, gin, gout: log.append(("bwd", [g.tolist() for g in gin],
                                             [g.tolist() for g in gout]))),
    ]
    x = lib.tensor([[1.0, 2.0, 3.0], [-1.0, 0.5, 2.0]], dtype=lib.float64, requires_grad=True)
    y = lin(x)
    (y * y).sum().backward()
    return hs, x, y, lin


def test_module_hooks_match_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = [], []
    _, x, y, lin = _module_hooks(tg, ours)
    _, tx, ty, tlin = _module_hooks(torch, theirs)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(lin.weight.grad.numpy(), tlin.weight.grad.numpy(), rtol=1e-12)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert repr(a) == repr(b) or np.allclose(
            np.concatenate([np.ravel(v) for v in a[1:]]),
            np.concatenate([np.ravel(v) for v in b[1:]]), rtol=1e-12), (a, b)
    assert y.grad_fn == ty.grad_fn.name()


def test_module_hooks_remove_restores_the_plain_call():
    log = []
    hs, *_ = _module_hooks(tg, log)
    lin = _module_hooks(tg, [])[3]
    for h in hs:
        h.remove()
    log.clear()
    x = tg.ones(1, 3, dtype=tg.float64, requires_grad=True)
    lin(x).sum().backward()
    assert log == []


def test_backward_hook_when_no_input_requires_grad():
    torch = pytest.importorskip("torch")
    res = []
    import warnings

    for lib in (tg, torch):
        lin = lib.nn.Linear(2, 2)
        got = []
        lin.register_full_backward_hook(
            lambda m, gin, gout, got=got: got.append((gin, len(gout))))
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # PyTorch warns that the hook fires at the outputs
            lin(lib.ones(3, 2)).sum().backward()
        res.append((len(got), got[0][0], got[0][1]))
    assert res[0] == res[1]


def test_backward_hook_can_replace_grad_input():
    lin = nn.Linear(2, 2)
    lin.register_full_backward_hook(lambda m, gin, gout: (gin[0] * 0,))
    x = tg.ones(3, 2, requires_grad=True)
    lin(x).sum().backward()
    assert not np.any(x.grad.numpy()) and np.any(lin.weight.grad.numpy())


def test_non_leaf_hook_outlives_its_tensor():
    torch = pytest.importorskip("torch")
    got = []
    for lib in (tg, torch):
        x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
        h = x * 2
        h.register_hook(lambda g: g * 5)
        z = h * 3
        del h  # PyTorch keeps the hook on the grad_fn; so does tapegrad's entry
        z.sum().backward()
        got.append(x.grad.tolist())
    assert got[0] == got[1] == [30.0, 30.0]


def _nested_backward(lib):
    """A non-leaf's hook runs a whole backward of another graph while the outer sweep is
    midway (the inner sweep cannot use the thread's adjoint arrays, which the outer one
    holds); returns both graphs' leaf gradients and the outer loss's second backward."""
    kw = {"dtype": lib.float64}
    x = lib.tensor([1.0, -2.0, 3.0], requires_grad=True, **kw)
    u = lib.tensor([0.5, 4.0], requires_grad=True, **kw)
    h = x * x

    def hook(g):
        with lib.enable_grad():  # (a sweep runs its hooks with grad mode off)
            ((u * u * u).sum() * 2).backward()
        return g * 3

    h.register_hook(hook)
    (h * lib.tensor([1.0, 2.0, 3.0], **kw)).sum().backward()
    first = (x.grad.tolist(), u.grad.tolist())
    y = (x * 5).sum()  # the thread's arrays are free again: a plain sweep after both
    y.backward()
    return first, x.grad.tolist()


def test_backward_inside_a_hook_runs_its_own_sweep():
    (xg, ug), xg2 = _nested_backward(tg)
    assert xg == [2.0 * 1.0 * 1.0 * 3, 2.0 * -2.0 * 2.0 * 3, 2.0 * 3.0 * 3.0 * 3]
    assert ug == [6.0 * 0.25, 6.0 * 16.0]
    assert xg2 == [a + 5.0 for a in xg]
    torch = pytest.importorskip("torch")
    assert _nested_backward(torch) == ((xg, ug), xg2)
