"""Reused temporaries (Note [reused temporaries] in cpp/src/ops/binary.cpp): in a compiled
step's C++ form, an add, sub, mul or div that records nothing writes into the tensor it made on
the previous replay when nothing else holds that tensor. Same bits as eager and as
``options={"memory_planning": False}``; a tensor the caller (or a view, or an in-place write)
still has is never written over."""

from __future__ import annotations

import threading

import numpy as np
import pytest
import tapegrad as tg

RNG = np.random.default_rng(11)
DTYPES = [tg.float32, tg.float64]


def bits(t):
    return t.detach().numpy().tobytes()


def chain(x, w):
    # no-grad temporaries of every reusable kind: a 0-d operand, a row broadcast into a
    # matrix, same shapes; only the reduction is kept
    with tg.no_grad():
        t = x * 2.5
        u = t + w
        v = u / 3.0
        s = v - x
        return (s * s).sum()


def inputs(dtype, i):
    rng = np.random.default_rng(i)
    return (tg.tensor(rng.standard_normal((3, 4)), dtype=dtype),
            tg.tensor(rng.standard_normal(4), dtype=dtype))


@pytest.mark.parametrize("dtype", DTYPES)
def test_no_grad_chain_same_bits_with_and_without_memory_planning(dtype):
    planned = tg.compile(chain, fullgraph=True)
    plain = tg.compile(chain, fullgraph=True, options={"memory_planning": False})
    for i in range(40):
        args = inputs(dtype, i)
        want = bits(chain(*args))
        assert bits(planned(*args)) == want, f"call {i}"
        assert bits(plain(*args)) == want, f"call {i}"
    for c in (planned, plain):
        assert c._stats["cpp_form"] == 1 and c._stats["replays"] == 39


def test_large_temporaries_same_bits():
    # above 64 KiB a result is not kept between replays (the buffer cache has its memory)
    def big(x, w):
        with tg.no_grad():
            return ((x * 0.5 + w) / 3.0 - x).sum()

    c = tg.compile(big, fullgraph=True)
    for i in range(5):
        rng = np.random.default_rng(i)
        x = tg.tensor(rng.standard_normal((300, 100)), dtype=tg.float32)
        w = tg.tensor(rng.standard_normal(100), dtype=tg.float32)
        assert bits(c(x, w)) == bits(big(x, w))


def test_reuse_saves_the_tensors_of_the_temporaries():
    if not tg._core._block_stats()["enabled"]:
        pytest.skip("block recycling is off in this build (sanitizers)")
    planned = tg.compile(chain, fullgraph=True)
    plain = tg.compile(chain, fullgraph=True, options={"memory_planning": False})
    args = inputs(tg.float32, 0)

    def blocks_per_call(c):
        for _ in range(3):
            c(*args)
        s0 = tg._core._block_stats()
        for _ in range(20):
            c(*args)
        s1 = tg._core._block_stats()
        return ((s1["fresh"] + s1["reused"]) - (s0["fresh"] + s0["reused"])) / 20

    # five temporaries (t, u, v, s, s*s), each a TensorImpl, a storage, a shape and a buffer
    assert blocks_per_call(planned) < blocks_per_call(plain) - 5


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_returned_temporary_is_never_written_over(dtype):
    def f(x):
        with tg.no_grad():
            return x * 2.0

    c = tg.compile(f, fullgraph=True)
    xs = [tg.tensor(RNG.standard_normal(5), dtype=dtype) for _ in range(6)]
    results = [c(x) for x in xs]
    for x, r in zip(xs, results):
        assert bits(r) == bits(x * 2.0)
    assert len({id(r) for r in results}) == len(results)


def test_a_temporary_held_by_a_view_is_never_written_over():
    def f(x):
        with tg.no_grad():
            t = x + 1.0
            return t[1:]  # a view: holds t

    c = tg.compile(f, fullgraph=True)
    xs = [tg.tensor(RNG.standard_normal(6)) for _ in range(5)]
    views = [c(x) for x in xs]
    for x, v in zip(xs, views):
        assert bits(v) == bits((x + 1.0)[1:])


@pytest.mark.parametrize("dtype", DTYPES)
def test_a_temporary_written_in_place_gets_a_fresh_tensor(dtype):
    def f(x):
        with tg.no_grad():
            t = x * 3.0
            t.add_(1.0)  # version 1: not as the op made it
            return (t * t).sum()

    c = tg.compile(f, fullgraph=True)
    for i in range(10):
        x = tg.tensor(RNG.standard_normal(7), dtype=dtype)
        assert bits(c(x)) == bits(f(x))


def test_learner_step_reuses_and_matches_eager():
    # the learner's `m -= lr * m.grad` under no_grad: the products are the reused temporaries
    def make():
        m = tg.tensor([0.9], requires_grad=True)
        b = tg.tensor([0.1], requires_grad=True)
        x = tg.tensor([1.0, 2, 3, 4, 5, 6, 7, 8])
        y = tg.tensor([2.9, 5.1, 7.2, 8.8, 11.1, 13.0, 15.2, 16.9])

        def step():
            nonlocal m, b
            loss = ((m * x + b - y) ** 2).mean()
            loss.backward()
            with tg.no_grad():
                m -= 0.01 * m.grad
                b -= 0.01 * b.grad
                m.grad.zero_()
                b.grad.zero_()
            return loss.detach()
        return step, lambda: (m, b)

    (eager, pe), (comp, pc) = make(), make()
    compiled = tg.compile(comp, fullgraph=True)
    for i in range(300):
        assert bits(eager()) == bits(compiled()), f"step {i}"
        for a, b in zip(pe(), pc()):
            assert bits(a) == bits(b), f"step {i}"
    assert compiled._stats["cpp_form"] == 1


def test_threads_share_one_compiled_no_grad_step():
    c = tg.compile(chain, fullgraph=True)
    c(*inputs(tg.float64, 0))  # captured once, before the threads
    errors = []

    def work(k):
        try:
            for i in range(200):
                args = inputs(tg.float64, 1000 * k + i % 7)
                if bits(c(*args)) != bits(chain(*args)):
                    errors.append((k, i))
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append((k, repr(e)))

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []


def test_memory_planning_option_is_checked():
    with pytest.raises(ValueError, match="memory_planning"):
        tg.compile(chain, options={"memory_planning": "yes"})
