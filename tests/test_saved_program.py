"""Saved programs (Note [saved programs] in cpp/src/capture/saved.cpp): a step captured by
``tapegrad.compile``, saved with ``save(path, names)`` after some steps and run by
``tapegrad.load_program`` (C++, no Python per op) must go on exactly as the eager step would:
the same losses and parameters, bit for bit, for every lesson's step. Then what cannot be
saved says why, and damaged files and wrong inputs raise."""
import os

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn as nn
import tapegrad.nn.functional as F

WARM, MORE = 3, 12  # eager/compiled steps before saving, saved-program steps after


def bits(t):
    if isinstance(t, (tuple, list)):  # a step returning several tensors
        return tuple(bits(x) for x in t)
    return np.asarray(t.detach().numpy()).tobytes()


def batches(n, shape_x, classes=None, dtype=np.float32, seed=0):
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        x = tg.from_numpy(rng.standard_normal(shape_x).astype(dtype))
        if classes is None:
            y = tg.from_numpy(rng.standard_normal((shape_x[0], 1)).astype(dtype))
        else:
            y = tg.from_numpy(rng.integers(0, classes, shape_x[0]).astype(np.int64))
        out.append((x, y))
    return out


# Each case builds (step, named tensors, batches): the same model from the same seed each time.
def learner_line(dtype):
    tg.manual_seed(0)
    x = tg.arange(8, dtype=dtype)
    y = 2 * x + 1 + 0.1 * tg.randn(8, dtype=dtype)
    m = tg.zeros(1, dtype=dtype, requires_grad=True)
    b = tg.zeros(1, dtype=dtype, requires_grad=True)
    lr = 0.01

    def step():
        loss = ((m * x + b - y) ** 2).mean()
        loss.backward()
        with tg.no_grad():
            m.sub_(lr * m.grad)
            b.sub_(lr * b.grad)
            m.grad.zero_()
            b.grad.zero_()
        return loss
    return step, {"m": m, "b": b}, [()] * (WARM + MORE)


def seed_mse(dtype):
    x = tg.tensor([1.0, 2, 3, 4, 5, 6, 7, 8], dtype=dtype)
    y = tg.tensor([3.2, 4.9, 7.1, 9.2, 10.8, 13.1, 15.0, 16.9], dtype=dtype)
    m = tg.tensor([0.9], dtype=dtype, requires_grad=True)
    b = tg.tensor([0.1], dtype=dtype, requires_grad=True)
    opt = tg.optim.SGD([m, b], lr=0.01, momentum=0.9)

    def step():
        opt.zero_grad()
        loss = F.mse_loss(m * x + b, y)
        loss.backward()
        opt.step()
        return loss
    return step, {"m": m, "b": b}, [()] * (WARM + MORE)


def d2l_linreg(dtype):
    tg.manual_seed(0)
    w = tg.normal(0, 0.01, size=(2, 1), requires_grad=True)
    w = w.to(dtype).detach().requires_grad_(True)
    b = tg.zeros(1, dtype=dtype, requires_grad=True)
    lr, batch = 0.03, 10

    def step(X, y):
        l = ((X @ w + b - y.reshape((-1, 1))) ** 2 / 2).sum()
        l.backward()
        with tg.no_grad():
            for param in (w, b):
                param -= lr * param.grad / batch
                param.grad.zero_()
        return l
    data = [(X, y.reshape(-1)) for X, y in batches(WARM + MORE, (batch, 2), dtype=numpy_dtype(dtype))]
    return step, {"w": w, "b": b}, data


def classifier_step(net, opt):
    """One training step of a classifier: cross-entropy, backward, the optimizer's step."""
    def step(X, y):
        opt.zero_grad()
        loss = F.cross_entropy(net(X), y)
        loss.backward()
        opt.step()
        return loss
    return step


def numpy_dtype(dtype):
    return np.dtype(str(dtype).split(".")[-1])


def softmax_sgd(dtype):
    tg.manual_seed(0)
    net = nn.Linear(20, 5).to(dtype)
    opt = tg.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)

    step = classifier_step(net, opt)
    np_dtype = numpy_dtype(dtype)
    return step, dict(net.named_parameters()), batches(WARM + MORE, (16, 20), 5, np_dtype)


def mlp_adam(dtype):
    tg.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 32), nn.ReLU(), nn.Linear(32, 5)).to(dtype)
    opt = tg.optim.Adam(net.parameters(), lr=1e-2)

    step = classifier_step(net, opt)
    np_dtype = numpy_dtype(dtype)
    return step, dict(net.named_parameters()), batches(WARM + MORE, (16, 20), 5, np_dtype)


def inplace_layers(dtype):
    """The in-place activations (nn.ReLU(inplace=True), F.elu_, clamp_ on a hidden value):
    their C++ form is the op and assign_inplace."""
    tg.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 32), nn.ReLU(inplace=True), nn.Linear(32, 16),
                        nn.ELU(inplace=True), nn.Linear(16, 5)).to(dtype)
    opt = tg.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)

    def step(xb, yb):
        opt.zero_grad()
        out = net(xb)
        out.clamp_(-4.0, 4.0)
        loss = F.cross_entropy(out, yb)
        loss.backward()
        opt.step()
        return loss
    np_dtype = numpy_dtype(dtype)
    return step, dict(net.named_parameters()), batches(WARM + MORE, (16, 20), 5, np_dtype)


def small_cnn(dtype):
    tg.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.BatchNorm2d(4), nn.ReLU(),
                        nn.MaxPool2d(2), nn.Conv2d(4, 6, 3), nn.ReLU(), nn.AvgPool2d(2),
                        nn.Flatten(), nn.Linear(6, 3)).to(dtype)
    opt = tg.optim.SGD(net.parameters(), lr=0.05, momentum=0.5)

    step = classifier_step(net, opt)
    np_dtype = numpy_dtype(dtype)
    named = dict(net.named_parameters())
    named.update({k: v for k, v in net.named_buffers() if v.is_floating_point()})
    return step, named, batches(WARM + MORE, (4, 1, 8, 8), 3, np_dtype)


def mlp_rmsprop(dtype):
    tg.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 16), nn.Tanh(), nn.Linear(16, 5)).to(dtype)
    opt = tg.optim.RMSprop(net.parameters(), lr=1e-2, momentum=0.5, centered=True)
    return (classifier_step(net, opt), dict(net.named_parameters()),
            batches(WARM + MORE, (16, 20), 5, numpy_dtype(dtype)))


def mlp_adagrad(dtype):
    tg.manual_seed(0)
    net = nn.Sequential(nn.Linear(20, 16), nn.ReLU(), nn.Linear(16, 5)).to(dtype)
    opt = tg.optim.Adagrad(net.parameters(), lr=0.1, lr_decay=1e-3)
    return (classifier_step(net, opt), dict(net.named_parameters()),
            batches(WARM + MORE, (16, 20), 5, numpy_dtype(dtype)))


def noisy_regression(dtype):
    """Random draws and fills inside the step (the default generator, seeded by the step)."""
    tg.manual_seed(0)
    w = tg.zeros(4, dtype=dtype, requires_grad=True)
    buf = tg.zeros(4, dtype=dtype)

    def step(x):
        tg.manual_seed(7)  # the same draws every step
        noise = tg.randn(4, dtype=dtype) * 0.01 + tg.rand(4, dtype=dtype) * 0.001
        scale = tg.ones_like(x).normal_(1.0, 0.01).uniform_(0.99, 1.01)
        target = tg.full((4,), 2.0, dtype=dtype) + tg.zeros_like(x)
        loss = ((w * x * scale + noise - target) ** 2).mean()
        loss.backward()
        with tg.no_grad():
            buf.copy_(w.grad)
            w.sub_(0.1 * buf)
            w.grad.fill_(0.0)
        return loss
    return step, {"w": w}, [(tg.arange(4, dtype=dtype) + i,) for i in range(WARM + MORE)]


def gather_scatter(dtype):
    """gather/scatter, linspace, eye, randint and randperm (default generator) in a step."""
    tg.manual_seed(0)
    w = tg.linspace(-1.0, 1.0, 12, dtype=dtype).reshape(3, 4).detach().requires_grad_()
    acc = tg.zeros(3, 4, dtype=dtype)

    def step(x):
        tg.manual_seed(3)
        idx = tg.randint(0, 4, (3, 2))
        perm = tg.randperm(3)
        picked = (w * x).gather(1, idx) + tg.eye(3, 2, dtype=dtype)
        spread = tg.zeros(3, 4, dtype=dtype).scatter_add(1, idx, picked)
        grid = tg.linspace(0.0, 1.0, 4, dtype=dtype)
        loss = ((spread[perm] - grid) ** 2).mean() + tg.scatter(x, 1, idx, 0.0).sum() * 0
        loss.backward()
        with tg.no_grad():
            acc.scatter_add_(1, idx, w.grad.gather(1, idx))
            acc.scatter_(1, idx, acc.gather(1, idx) * 0.5)
            w.sub_(0.1 * w.grad)
            w.grad.zero_()
        return loss, acc * 1
    return step, {"w": w, "acc": acc}, [(tg.full((3, 4), 1.0 + 0.1 * i, dtype=dtype),)
                                        for i in range(WARM + MORE)]


def fill_from_tensor(dtype):
    """fill_ with a 0-d tensor value in the step: differentiable in the value, and a .grad
    reset from a constant tensor."""
    level = tg.tensor(0.5, dtype=dtype, requires_grad=True)
    w = tg.tensor([0.1, -0.2, 0.3], dtype=dtype, requires_grad=True)
    zero = tg.tensor(0.0, dtype=dtype)

    def step(x):
        base = tg.zeros(3, dtype=dtype).fill_(level)
        loss = ((w * x + base) ** 2).mean()
        loss.backward()
        with tg.no_grad():
            w.sub_(0.1 * w.grad)
            level.sub_(0.1 * level.grad)
            w.grad.zero_()
            level.grad.fill_(zero)
        return loss
    return step, {"w": w, "level": level}, [(tg.arange(3, dtype=dtype) + i,)
                                            for i in range(WARM + MORE)]


def normal_draws(dtype):
    """tapegrad.normal in its four forms (tensor or number mean and std), default generator."""
    w = tg.tensor([0.3, -0.1, 0.2, 0.05], dtype=dtype, requires_grad=True)
    spread = tg.full((4,), 0.01, dtype=dtype)

    def step(x):
        tg.manual_seed(11)
        a = tg.normal(x * 0.1, spread)
        b = tg.normal(x, 0.02)
        c = tg.normal(0.0, spread * 2)
        d = tg.normal(1.0, 0.03, size=(4,), dtype=dtype)
        loss = ((w * (a + b) - c * d) ** 2).mean()
        loss.backward()
        with tg.no_grad():
            w.sub_(0.05 * w.grad)
            w.grad.zero_()
        return loss
    return step, {"w": w}, [(tg.arange(4, dtype=dtype) * 0.5 + i,) for i in range(WARM + MORE)]


CASES = [learner_line, seed_mse, d2l_linreg, softmax_sgd, mlp_adam, inplace_layers, small_cnn,
         mlp_rmsprop,
         mlp_adagrad, noisy_regression, gather_scatter, fill_from_tensor, normal_draws]


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_saved_step_goes_on_as_eager(case, dtype, tmp_path):
    step, named, data = case(dtype)
    eager = [bits(step(*args)) for args in data]
    eager_state = {k: bits(v) for k, v in named.items()}

    step, named, data = case(dtype)
    compiled = tg.compile(step, fullgraph=True)
    losses = [bits(compiled(*args)) for args in data[:WARM]]
    assert compiled._stats["captures"] == 1
    path = os.path.join(tmp_path, "step.tgp")
    compiled.save(path, named)
    saved = tg.load_program(path)
    assert sorted(saved.state) == sorted(named)
    losses += [bits(saved(*args)) for args in data[WARM:]]
    assert losses == eager
    assert {k: bits(v) for k, v in saved.state.items()} == eager_state
    # the program's state is its own copy: the Python model stayed where it was saved
    assert any(bits(v) != eager_state[k] for k, v in named.items())


def test_a_step_that_cannot_be_saved_says_which_call(tmp_path):
    w = tg.ones(3, requires_grad=True)
    g = tg.Generator().manual_seed(0)

    @tg.compile
    def step(x):
        loss = (w * x + tg.randn(3, generator=g)).sum()
        loss.backward()
        return loss
    step(tg.ones(3))
    step(tg.ones(3))
    assert step._stats["replays"] == 1  # it replays in Python all the same
    with pytest.raises(RuntimeError, match=r"randn\(\) has no C\+\+ form yet"):
        step.save(os.path.join(tmp_path, "x.tgp"))


def test_a_property_setter_without_cpp_form_is_named(tmp_path):
    w = tg.ones(3, requires_grad=True)

    @tg.compile
    def step(x):
        (w * x).sum().backward()
        with tg.no_grad():
            w.sub_(0.1 * w.grad)
        w.grad = None
    step(tg.ones(3))
    with pytest.raises(RuntimeError, match=r"a tensor property's setter \(such as `t.grad = ...`\)"):
        step.save(os.path.join(tmp_path, "x.tgp"))


def test_a_saved_run_that_fails_leaves_grad_mode_and_the_program_usable(tmp_path):
    w = tg.ones(4, requires_grad=True)

    def step(x, i):
        loss = (w * x).sum()
        loss.backward()
        with tg.no_grad():
            w.sub_(0.1 * w.grad * x.gather(0, i))  # a bad index fails inside no_grad
            w.grad.zero_()
    c = tg.compile(step)
    c(tg.ones(4), tg.tensor([0, 1, 2, 3]))
    path = os.path.join(tmp_path, "x.tgp")
    c.save(path, {"w": w})
    saved = tg.load_program(path)
    assert saved(tg.ones(4), tg.tensor([0, 1, 2, 3])) is None  # the step returns nothing
    with pytest.raises(RuntimeError, match="out of bounds"):
        saved(tg.ones(4), tg.tensor([0, 1, 2, 99]))
    assert tg.is_grad_enabled() and (w * 2).sum().requires_grad
    saved(tg.ones(4), tg.tensor([0, 1, 2, 3]))


def test_save_needs_a_captured_program(tmp_path):
    path = os.path.join(tmp_path, "x.tgp")
    step = tg.compile(lambda x: x * 2)
    with pytest.raises(RuntimeError, match="nothing captured yet"):
        step.save(path)

    @tg.compile
    def reads_item(x):
        return x * (x.sum().item() > 0)
    reads_item(tg.ones(2))
    with pytest.raises(RuntimeError, match="no call was captured"):
        reads_item.save(path)
    assert not os.path.exists(path)


def test_a_constant_with_history_cannot_be_saved(tmp_path):
    w = tg.ones(3, requires_grad=True)
    scaled = w * 2  # made before the capture: its graph is not in the program

    @tg.compile
    def step(x):
        loss = (scaled * x).sum()
        loss.backward(retain_graph=True)
        return loss
    step(tg.ones(3))
    with pytest.raises(RuntimeError, match="autograd history"):
        step.save(os.path.join(tmp_path, "x.tgp"))


def saved_line(tmp_path):
    w = tg.zeros(4, requires_grad=True)
    opt = tg.optim.SGD([w], lr=0.1)

    @tg.compile
    def step(x):
        opt.zero_grad()
        loss = ((w * x - 1) ** 2).mean()
        loss.backward()
        opt.step()
        return loss, w * 1
    step(tg.ones(4))
    path = os.path.join(tmp_path, "line.tgp")
    step.save(path, {"w": w})
    return path


def test_results_and_input_checks(tmp_path):
    saved = tg.load_program(saved_line(tmp_path))
    loss, w1 = saved(tg.ones(4))
    assert loss.shape == () and w1.shape == (4,)
    assert "SavedProgram(" in repr(saved) and saved.num_calls > 3
    with pytest.raises(ValueError, match="expected 1 input"):
        saved()
    with pytest.raises(ValueError, match=r"shape \[4\]"):
        saved(tg.ones(5))
    with pytest.raises(ValueError, match="float32"):
        saved(tg.ones(4, dtype=tg.float64))
    with pytest.raises(TypeError):
        saved("not a tensor")
    # still usable after the refusals
    assert saved(tg.ones(4))[0].item() < loss.item()


def test_damaged_truncated_and_foreign_files(tmp_path):
    path = saved_line(tmp_path)
    with open(path, "rb") as f:
        raw = f.read()
    bad = os.path.join(tmp_path, "bad.tgp")

    def load(data):
        with open(bad, "wb") as f:
            f.write(data)
        return tg.load_program(bad)
    flipped = bytearray(raw)
    flipped[len(raw) // 2] ^= 0x40
    with pytest.raises(RuntimeError, match="damaged"):
        load(bytes(flipped))
    with pytest.raises(RuntimeError, match="truncated"):
        load(raw[:-5])
    with pytest.raises(RuntimeError, match="damaged \\(3 bytes after its end\\)"):
        load(raw + b"xyz")
    with pytest.raises(RuntimeError, match="not a saved tapegrad program"):
        load(b"\x89PNG not a program")
    with pytest.raises(RuntimeError, match="version"):
        load(raw[:17] + b"\x63\x00\x00\x00" + raw[21:])
    with pytest.raises(RuntimeError, match="cannot open"):
        tg.load_program(os.path.join(tmp_path, "missing.tgp"))
    assert tg.load_program(path)(tg.ones(4))[0].shape == ()


def test_optimizer_state_read_in_the_step_after_its_first_update(tmp_path):
    """A momentum buffer made inside the optimizer's (lowered) step on the captured call and
    then read by Python in the same step: the Python replay and the saved program both see it."""
    def case():
        w = tg.tensor([1.0, -2.0, 0.5], requires_grad=True)
        opt = tg.optim.SGD([w], lr=0.1, momentum=0.9)

        def step(x):
            opt.zero_grad()
            loss = ((w * x).sum() - 1) ** 2
            loss.backward()
            opt.step()
            return loss, opt.state[w]["momentum_buffer"] * 1
        return step, w
    step, w = case()
    eager = [tuple(bits(t) for t in step(tg.full((3,), i + 1.0))) for i in range(6)]
    step, w = case()
    c = tg.compile(step, fullgraph=True)
    got = [tuple(bits(t) for t in c(tg.full((3,), i + 1.0))) for i in range(3)]
    path = os.path.join(tmp_path, "m.tgp")
    c.save(path, {"w": w})
    saved = tg.load_program(path)
    got += [tuple(bits(t) for t in saved(tg.full((3,), i + 1.0))) for i in range(3, 6)]
    assert got == eager


@pytest.mark.parametrize("case", CASES, ids=[c.__name__ for c in CASES])
def test_compiled_steps_replay_their_cpp_form(case):
    """A compiled step whose calls all have a C++ form replays that form (stats: cpp_form);
    the binding replay (options={'cpp_form': False}) gives the same bits."""
    results = {}
    for cpp in (True, False):
        step, named, data = case(tg.float32)
        c = tg.compile(step, fullgraph=True, options={"cpp_form": cpp})
        results[cpp] = [bits(c(*args)) for args in data] + [bits(v) for v in named.values()]
        assert c._stats["cpp_form"] == int(cpp) and c._stats["replays"] == len(data) - 1
    assert results[True] == results[False]


def test_compile_options_are_checked():
    with pytest.raises(ValueError, match="unknown option"):
        tg.compile(lambda x: x, options={"max_autotune": True})
    with pytest.raises(ValueError, match="unknown option"):
        tg.compile(lambda x: x, options={"cpp_form": "yes"})


def fnv1a(data):
    h = 1469598103934665603
    for c in data:
        h = ((h ^ c) * 1099511628211) & 0xFFFFFFFFFFFFFFFF
    return h


def test_crafted_files_raise_and_never_crash(tmp_path):
    """Payload bytes changed at random with the checksum made to match again (what a crafted
    file could hold): loading and running raise Python exceptions or run; nothing crashes and
    the library keeps working."""
    import random
    import struct

    tg.manual_seed(0)
    net = nn.Linear(3, 2)
    opt = tg.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)

    @tg.compile
    def step(x, y):
        opt.zero_grad()
        loss = F.mse_loss(net(x).relu(), y)
        loss.backward()
        opt.step()
        return loss
    x, y = tg.ones(4, 3), tg.zeros(4, 2)
    step(x, y)
    path = os.path.join(tmp_path, "good.tgp")
    step.save(path, dict(net.named_parameters()))
    with open(path, "rb") as f:
        raw = f.read()
    header, payload = raw[:37], raw[37:]
    assert fnv1a(payload) == struct.unpack("<Q", header[29:37])[0]
    rng = random.Random(1)
    outcomes = {"loads and runs": 0, "raises": 0}
    bad = os.path.join(tmp_path, "bad.tgp")
    for _ in range(300):
        p = bytearray(payload)
        for _ in range(rng.randint(1, 3)):
            p[rng.randrange(len(p))] = rng.choice([0, 1, 0x7F, 0x80, 0xFF, rng.randrange(256)])
        with open(bad, "wb") as f:
            f.write(header[:29] + struct.pack("<Q", fnv1a(bytes(p))) + bytes(p))
        try:
            tg.load_program(bad)(tg.ones(4, 3), tg.zeros(4, 2))
            outcomes["loads and runs"] += 1
        except (RuntimeError, ValueError, TypeError, IndexError, MemoryError, OverflowError):
            outcomes["raises"] += 1
    assert outcomes["raises"] > 0 and sum(outcomes.values()) == 300
    assert tg.load_program(path)(x, y).shape == ()  # still working


def test_wrong_types_raise_type_error(tmp_path):
    path = saved_line(tmp_path)
    for bad in (None, 3, b"x"[0]):
        with pytest.raises(TypeError, match="load_program"):
            tg.load_program(bad)
    w = tg.ones(2, requires_grad=True)

    @tg.compile
    def step(x):
        return (w * x).sum()
    step(tg.ones(2))
    with pytest.raises(TypeError, match="names must be a dict"):
        step.save(os.path.join(tmp_path, "s.tgp"), [w])
    with pytest.raises(TypeError):
        step.save(None)
    assert tg.load_program(path)(tg.ones(4))[0].shape == ()
