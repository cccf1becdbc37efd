"""Fused linear-relu (Note [fused linear-relu] in cpp/src/ops/linalg.cpp): in a compiled step's
C++ form, a ``linear`` whose output only the ``relu`` right after it reads runs as one GEMM with
relu in its epilogue. It records what the pair records, so every result — losses, gradients,
parameters, optimizer state — is the eager step's to the bit, and the same as with
``options={"fusion": False}``; a pre-activation that anything else reads is never fused."""

from __future__ import annotations

import numpy as np
import pytest
import tapegrad as tg
import tapegrad.nn as nn
import tapegrad.nn.functional as F

DTYPES = [tg.float32, tg.float64]


def bits(t):
    return t.detach().numpy().tobytes()


def mlp_step(sizes, dtype, opt, seed):
    """A Linear → ReLU → Linear classifier (seeded) and its training step, returning the loss;
    `opt` makes the optimizer from the parameters."""
    tg.manual_seed(seed)
    net = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.ReLU(), nn.Linear(sizes[1], sizes[2]))
    net = net.to(dtype)
    optimizer = opt(net.parameters())

    def step(xb, yb):
        optimizer.zero_grad()
        loss = F.cross_entropy(net(xb), yb)
        loss.backward()
        optimizer.step()
        return loss.detach()
    return net, step


def mlp_run(mode, dtype, batch, opt_name, steps, sizes=(40, 24, 5)):
    """Losses and final parameters of `steps` MLP steps run eagerly (mode None) or compiled."""
    rng = np.random.default_rng(batch)
    x = tg.tensor(rng.standard_normal((batch, sizes[0])), dtype=dtype)
    y = tg.tensor(rng.integers(0, sizes[2], batch))
    net, step = mlp_step(sizes, dtype, seed=3, opt=(
        (lambda ps: tg.optim.SGD(ps, lr=0.05, momentum=0.9)) if opt_name == "sgd"
        else (lambda ps: tg.optim.Adam(ps, lr=1e-2))))
    fn = step if mode is None else tg.compile(step, fullgraph=True, options={"fusion": mode})
    losses = [bits(fn(x, y)) for _ in range(steps)]
    stats = None if mode is None else fn._stats
    return losses, [bits(p) for p in net.parameters()], stats


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("batch", [1, 7, 64])
@pytest.mark.parametrize("opt_name", ["sgd", "adam"])
def test_mlp_step_fused_equals_eager_and_unfused(dtype, batch, opt_name):
    eager = mlp_run(None, dtype, batch, opt_name, 30)
    fused = mlp_run(True, dtype, batch, opt_name, 30)
    plain = mlp_run(False, dtype, batch, opt_name, 30)
    assert fused[2]["fused"] == 1 and plain[2]["fused"] == 0
    assert fused[2]["replays"] == 29
    assert fused[:2] == eager[:2]
    assert plain[:2] == eager[:2]


def test_mnist_sized_layer_fused_equals_eager():
    # 784→256 at batch 256: the packed GEMM path with several k slices and edge tiles
    eager = mlp_run(None, tg.float32, 256, "sgd", 4, sizes=(784, 256, 10))
    fused = mlp_run(True, tg.float32, 256, "sgd", 4, sizes=(784, 256, 10))
    assert fused[2]["fused"] == 1
    assert fused[:2] == eager[:2]


def compiled_and_eager(fn, *args):
    c = tg.compile(fn, fullgraph=True)
    out = [c(*args) for _ in range(3)]
    return c._stats["fused"], out, fn(*args)


@pytest.mark.parametrize("dtype", DTYPES)
def test_functional_forms_shapes_and_specials(dtype):
    rng = np.random.default_rng(5)
    xn = rng.standard_normal((9, 6))
    xn[2, 3] = np.nan  # a NaN row stays NaN through relu
    xn[4] = 0.0       # zero rows: relu(bias) with -0.0 and +0.0 biases
    x = tg.tensor(xn, dtype=dtype)
    w = tg.tensor(rng.standard_normal((5, 6)), dtype=dtype, requires_grad=True)
    b = tg.tensor([0.5, -0.0, 0.0, -1.0, 2.0], dtype=dtype, requires_grad=True)
    x3 = tg.tensor(rng.standard_normal((2, 3, 6)), dtype=dtype)
    w0 = tg.zeros(3, 0, dtype=dtype)
    b0 = tg.tensor([1.0, -2.0, 0.0], dtype=dtype)

    def with_bias(x):
        return F.relu(F.linear(x, w, b))

    def without_bias(x):
        return tg.relu(F.linear(x, w))

    def empty_in(x):  # in_features = 0: the output is relu(bias)
        return F.relu(F.linear(x, w0, b0))

    # (a 3-D input runs as the pair inside the fused call: same bits)
    for fn, arg in ((with_bias, x), (without_bias, x), (with_bias, x3),
                    (empty_in, tg.zeros(4, 0, dtype=dtype))):
        n, outs, ref = compiled_and_eager(fn, arg)
        assert n == 1, fn.__name__
        for o in outs:
            assert o.shape == ref.shape and bits(o) == bits(ref), fn.__name__
    assert np.isnan(with_bias(x).detach().numpy()[2]).all()

    def grads(fn):
        w.grad = None
        b.grad = None
        fn(x)
        return bits(w.grad), bits(b.grad)

    scale = tg.arange(5, dtype=dtype)

    def backward(x):
        (F.relu(F.linear(x, w, b)) * scale).sum().backward()

    c = tg.compile(backward, fullgraph=True)
    want = grads(backward)
    assert [grads(c) for _ in range(3)] == [want] * 3
    assert c._stats["fused"] == 1


def test_a_pre_activation_read_elsewhere_is_not_fused():
    rng = np.random.default_rng(8)
    x = tg.tensor(rng.standard_normal((6, 4)))
    w = tg.tensor(rng.standard_normal((3, 4)), requires_grad=True)

    def returned(x):  # the caller gets h: it must hold the pre-activation values
        h = F.linear(x, w)
        return h, F.relu(h)

    def reused(x):  # another op reads h after the relu
        h = F.linear(x, w)
        return (F.relu(h) + h).sum()

    def not_next(x):  # a call between the pair: left as it is
        h = F.linear(x, w)
        s = x * 2.0
        return F.relu(h).sum() + s.sum()

    def written(x):  # h written in place between the two calls
        h = F.linear(x, w)
        h.mul_(2.0)
        return F.relu(h)

    for fn in (returned, reused, not_next, written):
        c = tg.compile(fn, fullgraph=True)
        outs = [c(x) for _ in range(3)]
        ref = fn(x)
        assert c._stats["fused"] == 0, fn.__name__
        refs = ref if isinstance(ref, tuple) else (ref,)
        for o in outs:
            got = o if isinstance(o, tuple) else (o,)
            assert [bits(t) for t in got] == [bits(t) for t in refs], fn.__name__


def test_double_backward_through_the_fused_pair():
    # a gradient penalty: d/dx of Σ relu(linear(x)) with create_graph, then its square's grad
    # (relu's backward is recorded too: the Relu entry of the fused call must be the pair's)
    rng = np.random.default_rng(9)
    w = tg.tensor(rng.standard_normal((5, 4)), requires_grad=True)
    b = tg.tensor(rng.standard_normal(5), requires_grad=True)

    def penalty(x):
        F.relu(F.linear(x, w, b)).sum().backward(create_graph=True)
        gx = x.grad
        loss = (gx * gx).sum()
        loss.backward()
        return loss.detach()

    def run(fn):
        w.grad = None
        b.grad = None
        x = tg.tensor(rng.standard_normal((6, 4)), requires_grad=True)
        out = fn(x)
        return bits(out), bits(w.grad)

    c = tg.compile(penalty, fullgraph=True)
    state = rng.bit_generator.state
    got = [run(c) for _ in range(3)]
    rng.bit_generator.state = state
    want = [run(penalty) for _ in range(3)]
    assert c._stats["cpp_form"] == 1 and c._stats["fused"] == 1
    assert got == want


def test_fusion_option_is_checked():
    with pytest.raises(ValueError, match="fusion"):
        tg.compile(lambda x: x, options={"fusion": 1})


@pytest.mark.parametrize("dtype", DTYPES)
def test_loaded_program_fuses_and_equals_eager(dtype, tmp_path):
    rng = np.random.default_rng(4)
    batches = [(tg.tensor(rng.standard_normal((16, 30)), dtype=dtype),
                tg.tensor(rng.integers(0, 4, 16))) for _ in range(6)]

    def make():
        return mlp_step((30, 20, 4), dtype, seed=1,
                        opt=lambda ps: tg.optim.SGD(ps, lr=0.1, momentum=0.9))

    net, step = make()
    want = [bits(step(x, y)) for x, y in batches]
    want_params = {k: bits(v) for k, v in net.named_parameters()}

    net, step = make()
    c = tg.compile(step, fullgraph=True, options={"fusion": False})  # saved calls are unfused
    got = [bits(c(x, y)) for x, y in batches[:3]]
    path = str(tmp_path / "mlp.tgp")
    c.save(path, dict(net.named_parameters()))
    loaded = tg.load_program(path)
    assert loaded._impl.num_fused == 1  # the file keeps the pair; the loader fuses it
    got += [bits(loaded(x, y)) for x, y in batches[3:]]
    assert got == want
    assert {k: bits(v) for k, v in loaded.state.items() if k in want_params} == want_params
