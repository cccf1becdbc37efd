"""What a compiled replay (and an eager step) costs: every intermediate reuses the blocks the
previous step freed, nothing the user still holds is ever handed out again (Note [block
recycling] in cpp/src/blocks.cpp, Note [capture and replay] in cpp/src/capture/capture.cpp),
and the engine's shortcuts keep the bits of the ops they stand for."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import tapegrad as tg
from tapegrad import _core


def bits(t):
    return t.detach().numpy().tobytes()


def learner_step(dtype):
    """The 8-point line fit as a learner writes it; returns the loss, the prediction, views of
    intermediates and the gradient tensors, all of which the caller may keep."""
    m = tg.tensor([0.9], dtype=dtype, requires_grad=True)
    b = tg.tensor([0.1], dtype=dtype, requires_grad=True)

    def step(x, y):
        nonlocal m, b
        y_hat = m * x + b
        r = y_hat - y
        loss = (r**2).mean()
        loss.backward()
        grads = (m.grad * 1, b.grad * 1)  # copies: .grad itself is zeroed below
        with tg.no_grad():
            m -= 0.01 * m.grad
            b -= 0.01 * b.grad
            m.grad.zero_()
            b.grad.zero_()
        return loss, y_hat, y_hat[1:5], r.reshape(2, 4), grads[0], grads[1]
    return step, [m, b]


def data(dtype):
    rng = np.random.default_rng(0)
    x = np.arange(8.0)
    return tg.tensor(x, dtype=dtype), tg.tensor(2 - 0.5 * x + rng.normal(0, 0.1, 8), dtype=dtype)


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64])
def test_results_kept_by_the_caller_stay_intact_over_later_replays(dtype):
    x, y = data(dtype)
    eager, pe = learner_step(dtype)
    comp, pc = learner_step(dtype)
    compiled = tg.compile(comp, fullgraph=True)
    kept, expected = [], []
    for _ in range(40):
        expected.append([bits(t) for t in eager(x, y)])
        kept.append(compiled(x, y))  # held while every later replay runs
    assert compiled._stats["replays"] == 39
    for i, (got, want) in enumerate(zip(kept, expected)):
        assert [bits(t) for t in got] == want, f"step {i}"
    assert [bits(p) for p in pc] == [bits(p) for p in pe]


@pytest.mark.skipif(not _core._block_stats()["enabled"], reason="ASan builds skip the lists")
def test_replays_allocate_no_new_tensor_blocks():
    x, y = data(tg.float32)
    step, _ = learner_step(tg.float32)
    compiled = tg.compile(step, fullgraph=True)
    for _ in range(20):
        compiled(x, y)
    s0 = _core._block_stats()
    for _ in range(500):
        compiled(x, y)
    s1 = _core._block_stats()
    assert s1["fresh"] == s0["fresh"]  # every tensor and storage of a replay: a reused block
    assert s1["reused"] - s0["reused"] >= 500 * 10
    assert s1["cached"] <= 4 * 256  # bounded per size class


@pytest.mark.skipif(not _core._block_stats()["enabled"], reason="ASan builds skip the lists")
@pytest.mark.parametrize("opt", ["sgd", "adam"])
def test_batch_one_mlp_replays_allocate_no_new_blocks_or_buffers(opt):
    """Activations and gradients of 64 B – 64 KiB (256 floats here) reuse the buffers the
    previous replay freed; the results stay eager's."""
    def build():
        tg.manual_seed(0)
        net = tg.nn.Sequential(tg.nn.Linear(48, 256), tg.nn.ReLU(), tg.nn.Linear(256, 10))
        o = (tg.optim.SGD(net.parameters(), lr=0.1) if opt == "sgd"
             else tg.optim.Adam(net.parameters(), lr=1e-3))

        def step(x, y):
            o.zero_grad()
            loss = tg.nn.functional.cross_entropy(net(x), y)
            loss.backward()
            o.step()
            return loss
        return step, net
    # Buffers of 40 other sizes freed first: sizes the step never makes must not keep its
    # own out of the lists.
    held = [tg.ones(100 + 40 * k) * 2 for k in range(40)]
    del held
    x = tg.tensor(np.random.default_rng(1).standard_normal((1, 48)), dtype=tg.float32)
    y = tg.tensor([3])
    eager, ne = build()
    comp, nc = build()
    compiled = tg.compile(comp, fullgraph=True)
    for _ in range(10):
        assert bits(eager(x, y)) == bits(compiled(x, y))
    s0 = _core._block_stats()
    for _ in range(100):
        assert bits(eager(x, y)) == bits(compiled(x, y))
    assert _core._block_stats()["fresh"] == s0["fresh"]  # eager steps recycle as well
    assert [bits(p) for p in ne.parameters()] == [bits(p) for p in nc.parameters()]


def test_the_block_cache_is_bounded():
    big = [tg.ones(3) + i for i in range(5000)]
    assert all(t[0].item() == i + 1 for i, t in enumerate(big[:50]))
    del big
    assert _core._block_stats()["cached"] <= 4 * 256


def test_tensors_made_and_freed_on_different_threads():
    made: list = []
    errors: list = []

    def make():
        try:
            made.extend(tg.full((5,), float(i)) * 2 for i in range(600))
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors.append(e)
    t = threading.Thread(target=make)
    t.start()
    t.join()  # the worker has exited: its own cache is gone, its tensors live on
    assert not errors
    assert [bits(v) for v in made[:3]] == [bits(tg.full((5,), 2.0 * i)) for i in range(3)]
    made.clear()  # freed here, into this thread's cache

    box = [tg.full((7,), float(i)) + 1 for i in range(600)]

    def drop():
        try:
            box.clear()  # made here, freed by a thread that then exits
            fresh = [tg.zeros(7) + i for i in range(50)]
            assert all(v.sum().item() == 7 * i for i, v in enumerate(fresh))
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors.append(e)
    t = threading.Thread(target=drop)
    t.start()
    t.join()
    assert not errors
    again = [tg.arange(6.0) * i for i in range(100)]
    assert all(bits(v) == bits(tg.arange(6.0) * i) for i, v in enumerate(again))


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64])
@pytest.mark.parametrize("shape", [(), (1,), (8,), (7, 3), (2, 3, 5), (0,), (33, 17)])
def test_mean_is_its_sum_divided_by_the_count_to_the_bit(dtype, shape):
    """mean divides its sum in place and writes a full reduction's gradient as one fill; both
    must stay the composite sum(x) / n and expand(dy / n) to the bit."""
    rng = np.random.default_rng(len(shape))
    a = rng.standard_normal(shape) * 10
    dims_list = [None] + [d for d in range(len(shape))] + ([(0, 1)] if len(shape) > 1 else [])
    for dims in dims_list:
        for keep in (False, True):
            x = tg.tensor(a, dtype=dtype, requires_grad=True)
            ref = tg.tensor(a, dtype=dtype, requires_grad=True)
            if dims is None:
                y = x.mean()
                r = ref.sum() / tg.tensor(float(x.numel()), dtype=dtype)
            else:
                y = x.mean(dim=dims, keepdim=keep)
                d = (dims,) if isinstance(dims, int) else dims
                n = int(np.prod([shape[i] for i in d]))
                r = ref.sum(dim=dims, keepdim=keep) / tg.tensor(float(n), dtype=dtype)
            assert bits(y) == bits(r), (dims, keep)
            g = tg.tensor(rng.standard_normal(tuple(y.shape)), dtype=dtype)
            y.backward(g)
            r.backward(g)
            assert bits(x.grad) == bits(ref.grad), (dims, keep)


def test_guards_skipped_by_dict_version_still_see_every_change():
    """Item guards on an unchanged dict are not looked up again (its version is the same);
    any write to the dict, even one that restores the value, is checked again."""
    w = tg.tensor([2.0], requires_grad=True)
    opt = tg.optim.SGD([w], lr=0.5)

    def step(x):
        opt.zero_grad()
        (w * x).sum().backward()
        opt.step()
    c = tg.compile(step, fullgraph=True)
    twin = tg.tensor([2.0])
    for lr in (0.5, 0.5, 0.25, 0.25, 0.5, 0.5, 0.125):
        opt.param_groups[0]["lr"] = lr  # the same value written again bumps the version too
        opt.param_groups[0]["unrelated"] = lr * 3  # another key of the guarded dict
        c(tg.ones(1))
        twin -= lr
        assert bits(w) == bits(twin), lr
    assert c._stats["captures"] == 3  # lr 0.5, 0.25, 0.125; 0.5 again replays the first


def test_one_compiled_step_replayed_by_two_threads_at_once():
    """A replay keeps its frame between runs; a second replay of the same program that starts
    while the first one has released the GIL (a large kernel) runs on a frame of its own."""
    w = tg.tensor([1.5])
    step = tg.compile(lambda x: (x * w + 1).sum(), fullgraph=True)
    xs = [tg.arange(300_000.0) / (7 + k) for k in range(2)]  # ≥ 2^18 elements: no GIL
    want = [bits((x * w + 1).sum()) for x in xs]
    step(xs[0])  # the capture
    errors: list = []

    def work(k):
        try:
            for _ in range(30):
                assert bits(step(xs[k])) == want[k]
        except BaseException as e:  # noqa: BLE001 - re-raised below
            errors.append(e)
    threads = [threading.Thread(target=work, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert step._stats["replays"] == 60
