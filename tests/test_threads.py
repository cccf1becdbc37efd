"""Threads and processes: the tape is per thread (Note [tape threads] in cpp/src/tape/threads.cpp),
large kernels release the GIL (Note [GIL] in tensor.h), and the kernel thread pool survives
fork."""

from __future__ import annotations

import gc
import multiprocessing as mp
import os
import sys
import threading
import time

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn


def _train(seed: int, steps: int = 60) -> list[np.ndarray]:
    """A small MLP trained with SGD on seeded data; returns the final parameters."""
    rng = np.random.default_rng(seed)
    X = tg.tensor(rng.standard_normal((64, 8)).astype(np.float32))
    y = tg.tensor(rng.integers(0, 3, 64))
    w1 = tg.tensor(rng.standard_normal((8, 32)).astype(np.float32) * 0.3, requires_grad=True)
    b1 = tg.zeros(32, requires_grad=True)
    w2 = tg.tensor(rng.standard_normal((32, 3)).astype(np.float32) * 0.3, requires_grad=True)
    params = [w1, b1, w2]
    opt = tg.optim.SGD(params, lr=0.1, momentum=0.9)
    for _ in range(steps):
        opt.zero_grad()
        loss = tg.nn.functional.cross_entropy(tg.relu(X @ w1 + b1) @ w2, y)
        loss.backward()
        opt.step()
        time.sleep(0)  # let the other thread interleave
    return [p.detach().numpy().copy() for p in params]


def test_two_threads_train_bitwise_like_sequential():
    base = tg.tape_stats()["live_entries"]
    expect = [_train(1), _train(2)]
    results: dict[int, list[np.ndarray]] = {}
    errors: list[BaseException] = []

    def run(seed: int) -> None:
        try:
            results[seed] = _train(seed)
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(s,)) for s in (1, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    for seed, exp in zip((1, 2), expect):
        for got, want in zip(results[seed], exp):
            np.testing.assert_array_equal(got, want)
    assert tg.tape_stats()["live_entries"] == base


def test_each_thread_has_its_own_tape():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3  # recorded on this thread's tape
    seen: dict[str, object] = {}

    def other() -> None:
        seen["stats"] = tg.tape_stats()
        try:
            y * 2
        except RuntimeError as e:
            seen["error"] = str(e)
        z = (x * x).sum()  # leaves may be shared; this records on the other tape
        z.backward()

    t = threading.Thread(target=other)
    t.start()
    t.join(timeout=60)
    assert seen["stats"]["live_entries"] == 0  # a new thread starts with an empty tape
    assert "another thread" in seen["error"] and "[2]" in seen["error"]
    np.testing.assert_allclose(x.grad.numpy(), [2.0, 4.0])
    y.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 7.0])


def test_tensor_with_history_dies_in_another_thread():
    """A result handed to another thread and dropped there is released by the owning tape."""
    gc.collect()  # earlier tests' cyclic garbage must not die inside the measured window
    x = tg.tensor(np.ones(16, np.float32), requires_grad=True)
    base = tg.tape_stats()["live_entries"]
    box = [tg.exp(x * 2).sum() for _ in range(50)]
    keep = tg.exp(x).sum()
    assert tg.tape_stats()["live_entries"] == base + 150 + 2

    def drop() -> None:
        box.clear()
        gc.collect()

    t = threading.Thread(target=drop)
    t.start()
    t.join(timeout=60)
    assert tg.tape_stats()["live_entries"] == base + 2  # drained by this (owning) thread
    keep.backward()
    np.testing.assert_allclose(x.grad.numpy(), np.full(16, np.e), rtol=1e-6)



def test_retain_grad_from_another_thread_is_honoured():
    """retain_grad marks the tensor's entry when called in the thread that recorded it; from
    another thread, which must not touch that tape's entries, it flags the whole tape, and the
    backward still fills .grad (Note [tape threads])."""
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    h = x * 2
    k = x * 3
    t = threading.Thread(target=h.retain_grad)
    t.start()
    t.join()
    assert h.retains_grad and not k.retains_grad
    (h * k).sum().backward()
    np.testing.assert_array_equal(h.grad.numpy(), (3 * x).detach().numpy())
    assert k.grad is None

def test_graph_from_finished_thread_can_be_used():
    """The tape of a thread that has exited is adopted by whoever uses what it left behind."""
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    out: list[tg.Tensor] = []
    t = threading.Thread(target=lambda: out.append((x * x * x).sum()))
    t.start()
    t.join(timeout=60)
    out[0].backward()
    np.testing.assert_allclose(x.grad.numpy(), [3.0, 12.0, 27.0])
    # A second finished thread's result, then everything dropped: the adopted tapes release
    # their entries (the main thread's tape ends up with nothing from this test alive).
    gc.collect()
    base = tg.tape_stats()["live_entries"]
    leftovers = [(x * 2).exp() for _ in range(3)]
    t = threading.Thread(target=lambda: leftovers.append(x.sum() * 1))
    t.start()
    t.join(timeout=60)
    leftovers[-1].backward()  # backward works here: the finished thread's tape is adopted
    np.testing.assert_allclose(x.grad.numpy(), [4.0, 13.0, 28.0])
    del leftovers, out
    gc.collect()
    assert tg.tape_stats()["live_entries"] == base


def test_backward_of_a_running_threads_graph_is_refused():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    ready, done = threading.Event(), threading.Event()
    box: list[tg.Tensor] = []

    def worker() -> None:
        box.append((x * 5).sum())
        ready.set()
        done.wait(60)

    t = threading.Thread(target=worker)
    t.start()
    assert ready.wait(60)
    with pytest.raises(RuntimeError, match="another thread"):
        box[0].backward()
    done.set()
    t.join(timeout=60)
    box[0].backward()  # the worker has exited: its tape is adopted
    np.testing.assert_allclose(x.grad.numpy(), [5.0, 5.0])


def test_large_matmul_releases_the_gil():
    n = 1024
    a = tg.randn(n, n)
    b = tg.randn(n, n)
    a @ b  # warm-up (thread pool, packing buffers)
    counter = [0]
    stop = threading.Event()
    started = threading.Event()

    def spin() -> None:
        started.set()
        while not stop.is_set():
            counter[0] += 1

    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    t = threading.Thread(target=spin)
    try:
        t.start()
        assert started.wait(30)
        progress = []
        for _ in range(4):
            before = counter[0]
            c = a @ b  # runs for milliseconds: the spinning thread must advance meanwhile
            progress.append(counter[0] - before)
    finally:
        stop.set()
        t.join(timeout=30)
        sys.setswitchinterval(old)
    assert max(progress) > 1000, progress
    an, bn = a.numpy().astype(np.float64), b.numpy().astype(np.float64)
    assert np.all(np.abs(c.numpy() - an @ bn) <= 1e-5 * (np.abs(an) @ np.abs(bn)))


def _child_train(q) -> None:  # runs in a forked child
    params = _train(3, steps=20)
    c = tg.randn(512, 512) @ tg.randn(512, 512)  # large enough for the pool
    q.put((float(sum(float(p.sum()) for p in params)), tuple(c.shape)))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_forked_child_can_train_after_parent_used_the_pool():
    tg.set_num_threads(2)
    big = tg.randn(512, 512)
    (big @ big).sum()  # the parent's pool is started and used
    expect = float(sum(float(p.sum()) for p in _train(3, steps=20)))
    ctx = mp.get_context("fork")
    q = ctx.Queue()
    with _no_warning_filter():
        p = ctx.Process(target=_child_train, args=(q,))
        p.start()
    p.join(timeout=120)
    if p.is_alive():
        p.kill()
        pytest.fail("the forked child hung")
    assert p.exitcode == 0
    total, shape = q.get(timeout=10)
    assert shape == (512, 512)
    assert total == expect


class _no_warning_filter:
    """Python 3.12+ warns (DeprecationWarning) on fork() in a process with threads; the pool's
    workers are exactly such threads, and forking anyway is what this test is about."""

    def __enter__(self):
        import warnings

        self._cm = warnings.catch_warnings()
        self._cm.__enter__()
        warnings.filterwarnings("ignore", message=".*fork.*", category=DeprecationWarning)

    def __exit__(self, *exc):
        return self._cm.__exit__(*exc)


def test_threads_that_exit_leave_their_blocks_behind_safely():
    """Each thread keeps freed tensor blocks, shapes and small buffers in lists of its own
    (Note [block recycling]), made on its first op and freed when it exits. Results made in
    short-lived threads are used and dropped by the main thread after those threads are gone
    (their blocks go to the main thread's lists or to the allocator), and blocks freed during
    a thread's exit go straight back to the allocator; values stay right throughout."""
    x = tg.tensor(np.arange(1.0, 65.0, dtype=np.float32), requires_grad=True)
    kept: list[tg.Tensor] = []

    def work(i: int) -> None:
        local = [tg.exp(x * (i + 1) / 64).sum() for _ in range(20)]  # freed at thread exit
        kept.append((x * (i + 1)).sum())
        kept.append(tg.zeros(300 + i))  # a heap buffer below 64 KiB
        del local

    for round_ in range(3):
        threads = [threading.Thread(target=work, args=(i,)) for i in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        total = sum(float(k.detach().sum().item()) for k in kept)
        want = sum(64 * 65 / 2 * (i + 1) for i in range(8))
        assert total == pytest.approx(want, rel=1e-6), round_
        kept.clear()
        gc.collect()
    y = (x * 2).sum()
    y.backward()
    np.testing.assert_array_equal(x.grad.numpy(), np.full(64, 2.0, np.float32))
