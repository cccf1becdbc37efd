"""Bounded memory: long loops keep resident memory and the tape flat (docs/architecture.md, "bounded
memory"; Note [tape lifetime] in cpp/src/tape/tape.cpp). Each loop runs 20k iterations after a
warm-up; resident memory (from /proc/self/statm) may grow by at most a few MB, and
tg.tape_stats() must stay small."""

from __future__ import annotations

import gc
import os

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn

pytestmark = pytest.mark.skipif(not os.path.exists("/proc/self/statm"),
                                reason="needs /proc/self/statm")

# AddressSanitizer keeps freed memory in quarantine, so resident memory is not meaningful
# under it (.ci/run's sanitizer pass); the tape bounds are still checked there.
UNDER_ASAN = "libasan" in os.environ.get("LD_PRELOAD", "")

ITERS = 20_000
WARMUP = 2_000
MAX_GROWTH = 4 * 2**20  # bytes


def rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def soak(step, max_entries: int = 64) -> None:
    """Run `step(i)` WARMUP + ITERS times; check memory and tape size stay bounded."""
    for i in range(WARMUP):
        step(i)
    gc.collect()
    start = rss()
    peak_entries = peak_live = 0
    for i in range(ITERS):
        step(i)
        if i % 1000 == 0:
            s = tg.tape_stats()
            peak_entries = max(peak_entries, s["entries"])
            peak_live = max(peak_live, s["live_entries"])
    gc.collect()
    growth = rss() - start
    stats = tg.tape_stats()
    if not UNDER_ASAN:
        assert growth < MAX_GROWTH, f"resident memory grew by {growth / 2**20:.1f} MB"
    assert peak_live <= max_entries, f"{peak_live} live tape entries"
    # dead entries are compacted once they outnumber the live ones (and exceed 256)
    assert peak_entries <= max(2 * max_entries, 600), f"{peak_entries} tape entries"
    assert stats["live_entries"] <= max_entries


def _mlp() -> nn.Module:
    tg.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def test_tape_stats_is_documented_and_counts():
    doc = tg.tape_stats.__doc__
    for key in ("entries", "live_entries", "saved_bytes"):
        assert key in doc
    base = tg.tape_stats()
    x = tg.ones(256, requires_grad=True)
    y = tg.exp(x)  # saves its output: 1 KiB
    s = tg.tape_stats()
    assert s["live_entries"] == base["live_entries"] + 1
    assert s["saved_bytes"] >= base["saved_bytes"] + 1024
    del y
    assert tg.tape_stats()["live_entries"] == base["live_entries"]


def test_evaluation_without_no_grad():
    model = _mlp()
    X = tg.randn(32, 8)

    def step(i: int) -> None:
        out = model(X)
        out.argmax(dim=1)

    soak(step)


def test_training_steps():
    model = _mlp()
    opt = tg.optim.SGD(model.parameters(), lr=0.05, momentum=0.9)
    X = tg.randn(32, 8)
    y = tg.randint(0, 3, (32,))

    def step(i: int) -> None:
        opt.zero_grad()
        loss = tg.nn.functional.cross_entropy(model(X), y)
        loss.backward()
        opt.step()

    soak(step)
    assert np.isfinite(tg.nn.functional.cross_entropy(model(X), y).item())


def test_graph_replaced_each_iteration():
    """A result kept across iterations and replaced (its old graph must die) — and a graph that
    is built but never differentiated."""
    w = tg.randn(16, 16, requires_grad=True)
    state = {"h": tg.randn(4, 16)}

    def step(i: int) -> None:
        h = tg.tanh(state["h"].detach() @ w)
        state["h"] = h  # the previous graph is dropped here
        if i % 7 == 0:
            h.sum().backward()
            w.grad = None

    soak(step)


def test_create_graph_loop():
    x = tg.randn(8, requires_grad=True)
    w = tg.randn(8, requires_grad=True)

    def step(i: int) -> None:
        y = (tg.sin(x * w) ** 2).sum()
        (gx,) = tg.grad(y, [x], create_graph=True)
        (gx * gx).sum().backward()
        x.grad = None
        w.grad = None

    soak(step)


def test_backward_with_retain_graph_then_drop():
    x = tg.randn(64, requires_grad=True)

    def step(i: int) -> None:
        y = tg.exp(x).sum()
        y.backward(retain_graph=True)
        y.backward()
        x.grad = None

    soak(step)
