"""Microseconds per training step of the two small models the design targets (docs/speed.md):
the seed's 8-point regression step and a softmax-regression step 256×784 → 10 (forward,
cross-entropy, backward, SGD update), each eager and compiled (``tapegrad.compile``: captured
on the first call, replayed in C++ after). A quick look, not a benchmark suite (see bench/).

>>> r = run(repeat=20, log=lambda s: None)
>>> sorted(r)
['regression_compiled_step_us', 'regression_step_us', 'softmax_compiled_step_us', 'softmax_step_us']
"""

from __future__ import annotations

import time
from collections.abc import Callable

import tapegrad as tg
from tapegrad import nn, optim
from tapegrad.examples.regression import B0, M0, X, Y


def _time(step: Callable[[], None], repeat: int) -> float:
    for _ in range(max(3, repeat // 10)):  # warm-up
        step()
    best = float("inf")
    for _ in range(5):
        t0 = time.perf_counter()
        for _ in range(repeat):
            step()
        best = min(best, (time.perf_counter() - t0) / repeat)
    return best * 1e6


def regression_step_us(repeat: int = 2000, compile: bool = False) -> float:
    """Best-of-5 mean µs of one seed regression step (forward, MSE, backward, SGD); with
    ``compile`` the step runs through ``tapegrad.compile`` (fullgraph: it must replay)."""
    x, y = tg.tensor(X), tg.tensor(Y)
    m = tg.tensor([M0], requires_grad=True)
    b = tg.tensor([B0], requires_grad=True)
    opt = optim.SGD([m, b], lr=1e-4)

    def step() -> None:
        opt.zero_grad()
        nn.functional.mse_loss(m * x + b, y).backward()
        opt.step()

    return _time(tg.compile(step, fullgraph=True) if compile else step, repeat)


def softmax_step_us(repeat: int = 200, batch: int = 256, features: int = 784,
                    compile: bool = False) -> float:
    """Best-of-5 mean µs of one softmax-regression step on a (batch, features) batch; with
    ``compile`` through ``tapegrad.compile``."""
    tg.manual_seed(0)
    X_ = tg.rand(batch, features)
    y_ = tg.randint(0, 10, (batch,))
    net = nn.Linear(features, 10)
    opt = optim.SGD(net.parameters(), lr=1e-3)

    def step() -> None:
        opt.zero_grad()
        nn.functional.cross_entropy(net(X_), y_).backward()
        opt.step()

    return _time(tg.compile(step, fullgraph=True) if compile else step, repeat)


def run(repeat: int = 2000, log: Callable[[str], None] = print) -> dict[str, float]:
    """Time both steps, eager and compiled, and print µs/step."""
    r = regression_step_us(repeat)
    rc = regression_step_us(repeat, compile=True)
    s = softmax_step_us(max(10, repeat // 10))
    sc = softmax_step_us(max(10, repeat // 10), compile=True)
    log(f"regression step (8 points, SGD):        {r:8.2f} µs/step eager, "
        f"{rc:8.2f} compiled ({rc / r:.2f}×)")
    log(f"softmax regression step (256×784 → 10): {s:8.2f} µs/step eager, "
        f"{sc:8.2f} compiled ({sc / s:.2f}×)")
    return {"regression_step_us": r, "regression_compiled_step_us": rc, "softmax_step_us": s,
            "softmax_compiled_step_us": sc}
