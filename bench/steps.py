"""End-to-end training steps: tapegrad vs PyTorch eager vs JAX jit, one run, single thread.

What a user feels is the time of a training step, not a kernel's GFLOP/s (issue 6). Each
benchmark runs in its own subprocess per framework, so the peak resident memory (ru_maxrss) of
that process is the benchmark's peak memory, imports included. Every framework is pinned to one
thread and, through the CPU affinity of its process, to one core. Times are the best mean over
several timed blocks (same-run comparisons only: these machines are noisy, docs/speed.md).

Benchmarks (forward, loss, backward, optimizer update, gradient reset — everything a loop does):
  tiny      one recorded op on a 4-element tensor that requires grad, a * c (JAX: a jitted
            function of a and c — JAX has no tape, so this is its dispatch cost)
  seed      the 8-point line fit y = m·x + b, MSE, SGD lr 0.01 (Krohn's notebook)
  seedlearner  the same step as a learner writes it: ŷ = m*x + b, ((ŷ − y)**2).mean(),
            backward, `m -= lr*m.grad` under no_grad, grad.zero_() (JAX: a jitted function of
            one parameter array [m, b] doing value_and_grad and the update)
  linreg    d2l 3.3 (concise): Linear(2, 1), MSELoss, SGD lr 0.03, batch 10
  softmax   softmax regression 256×784 → 10, cross-entropy, SGD lr 0.1
  mlp256    MLP 784 → 256 → ReLU → 10 at batch 256
  mlp1      the same MLP at batch 1
  epoch     one epoch of softmax regression over 60000×784 random data, DataLoader batch 256,
            shuffled (JAX: NumPy permutation and slicing, as JAX has no DataLoader)

Frameworks: tapegrad eager; "tapegrad compiled", the same tapegrad step wrapped in
``tapegrad.compile(step, fullgraph=True)`` (captured on its first call, replayed in C++ after;
the epoch benchmark compiles the per-batch step, so the last partial batch captures a second
program; the tiny op is a statement, not a step, and has no compiled row); PyTorch eager; JAX jit.
The compiled column's first call (the capture) is reported separately in milliseconds.

Writes ``bench/results/steps-<cpu kind>.md`` (table with ratios and peak memory) and
``steps-<cpu kind>.png`` (bar chart, log scale): one pair per machine class
(``fma_peak.cpu_kind``), whose header names the CPU, its caches and the measured FMA limit.

    python bench/steps.py            # full run (~3 minutes)
    python bench/steps.py --quick    # fewer repeats
    python bench/steps.py --only seed,mlp1 --frameworks tapegrad,tapegrad-compiled,torch
    python bench/steps.py --rounds 3 # each framework 3 times, interleaved; the fastest round
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
import timeit
from pathlib import Path

BENCHES = ["tiny", "seed", "seedlearner", "linreg", "softmax", "mlp256", "mlp1", "epoch"]
BENCHES += ["resblock"]  # convolution family (CNN_MAKERS below)
BENCHES += ["lenet"]  # LeNet step (LENET_MAKERS below)
FRAMEWORKS = ["tapegrad", "tapegrad-compiled", "torch", "jax"]
LABELS = {
    "tiny": "tiny op a * c with grad (4 floats)",
    "seed": "seed 8-point regression step",
    "seedlearner": "seed step as a learner writes it (m*x + b, ((ŷ−y)**2).mean(), -=)",
    "linreg": "d2l linear regression step (batch 10)",
    "softmax": "softmax regression step 256×784→10",
    "mlp256": "MLP 784→256→10 step, batch 256",
    "mlp1": "MLP 784→256→10 step, batch 1",
    "epoch": "softmax regression epoch, 60000×784, DataLoader (ms)",
    "resblock": "ResNet block step (conv3×3-BN-ReLU ×2 + skip), 32×64×32×32",
    "lenet": "LeNet-5 step (sigmoid, avg pool), batch 256 of 1×28×28",
}
NAMES = {"tapegrad": "tapegrad", "tapegrad-compiled": "tapegrad compiled",
         "torch": "PyTorch eager", "jax": "JAX jit"}

SINGLE_THREAD_ENV = {
    "OMP_NUM_THREADS": "1",
    "OPENBLAS_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "TAPEGRAD_NUM_THREADS": "1",
    "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1",
    "JAX_PLATFORMS": "cpu",
    "TF_CPP_MIN_LOG_LEVEL": "3",
}

SEED_X = [0, 1, 2, 3, 4, 5, 6, 7.0]
SEED_Y = [1.86, 1.31, 0.62, 0.33, 0.09, -0.67, -1.23, -1.37]


# ----- timing -----------------------------------------------------------------------------------
def best_mean(step, seconds: float, blocks: int) -> float:
    """Best mean time per call (seconds) over `blocks` timed blocks of equal length."""
    step()
    t0 = time.perf_counter()
    n = 0
    while time.perf_counter() - t0 < 0.05:
        step()
        n += 1
    per = (time.perf_counter() - t0) / max(n, 1)
    reps = max(1, int(seconds / blocks / max(per, 1e-9)))
    best = float("inf")
    for _ in range(blocks):
        t0 = time.perf_counter()
        for _ in range(reps):
            step()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def random_data(n: int, d: int, classes: int, seed: int = 0):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d), dtype=np.float32)
    y = rng.integers(0, classes, n).astype(np.int64)
    return X, y


# ----- tapegrad ---------------------------------------------------------------------------------
def make_tapegrad(bench: str, compiled: bool = False):
    """The tapegrad step of ``bench``; with ``compiled`` the step (the epoch's per-batch step)
    is wrapped in ``tg.compile(..., fullgraph=True)``."""
    import numpy as np

    import tapegrad as tg
    import tapegrad.nn as nn
    import tapegrad.nn.functional as F
    import tapegrad.optim

    tg.set_num_threads(1)
    tg.manual_seed(0)
    if bench == "tiny":
        a, c = tg.tensor([1.0, 2, 3, 4], requires_grad=True), tg.tensor([1.0, 2, 3, 4])
        return {"stmt": "a * c", "globals": {"a": a, "c": c}}
    if bench == "seed":
        x, y = tg.tensor(SEED_X), tg.tensor(SEED_Y)
        m, b = tg.tensor([0.9], requires_grad=True), tg.tensor([0.1], requires_grad=True)
        opt = tg.optim.SGD([m, b], lr=0.01)

        def step():
            opt.zero_grad()
            F.mse_loss(m * x + b, y).backward()
            opt.step()
        return step
    if bench == "seedlearner":
        x, y = tg.tensor(SEED_X), tg.tensor(SEED_Y)
        m, b = tg.tensor([0.9], requires_grad=True), tg.tensor([0.1], requires_grad=True)
        lr = 0.01

        def step():
            nonlocal m, b  # `m -= …` rebinds the name (to the same tensor, updated in place)
            yhat = m * x + b
            loss = ((yhat - y) ** 2).mean()
            loss.backward()
            with tg.no_grad():
                m -= lr * m.grad
                b -= lr * b.grad
                m.grad.zero_()
                b.grad.zero_()
        return step
    if bench == "linreg":
        X, y = tg.data.synthetic_data(tg.tensor([2, -3.4]), 4.2, 1000, seed=0)
        X, y = X[:10], y[:10].reshape(-1, 1)
        net = nn.Linear(2, 1)
        nn.init.normal_(net.weight, 0, 0.01)
        nn.init.zeros_(net.bias)
        loss, opt = nn.MSELoss(), tg.optim.SGD(net.parameters(), lr=0.03)

        def step():
            opt.zero_grad()
            loss(net(X), y).backward()
            opt.step()
        return step
    if bench in ("softmax", "mlp256", "mlp1", "epoch"):
        n = {"softmax": 256, "mlp256": 256, "mlp1": 1, "epoch": 60000}[bench]
        Xn, yn = random_data(n, 784, 10)
        X, y = tg.from_numpy(Xn), tg.from_numpy(yn)
        if bench.startswith("mlp"):
            net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
        else:
            net = nn.Linear(784, 10)
        opt = tg.optim.SGD(net.parameters(), lr=0.1)

        def train(xb, yb):
            opt.zero_grad()
            F.cross_entropy(net(xb), yb).backward()
            opt.step()
        if bench != "epoch":
            return lambda: train(X, y)
        if compiled:
            train = tg.compile(train, fullgraph=True)
        loader = tg.data.DataLoader(tg.data.TensorDataset(X, y), batch_size=256, shuffle=True)

        def epoch():
            for xb, yb in loader:
                train(xb, yb)
        return epoch
    raise ValueError(bench)


# ----- PyTorch ----------------------------------------------------------------------------------
def make_torch(bench: str):
    import torch
    import torch.nn as nn
    import torch.nn.functional as F

    torch.set_num_threads(1)
    torch.manual_seed(0)
    if bench == "tiny":
        a, c = torch.tensor([1.0, 2, 3, 4], requires_grad=True), torch.tensor([1.0, 2, 3, 4])
        return {"stmt": "a * c", "globals": {"a": a, "c": c}}
    if bench == "seed":
        x, y = torch.tensor(SEED_X), torch.tensor(SEED_Y)
        m, b = torch.tensor([0.9], requires_grad=True), torch.tensor([0.1], requires_grad=True)
        opt = torch.optim.SGD([m, b], lr=0.01)

        def step():
            opt.zero_grad()
            F.mse_loss(m * x + b, y).backward()
            opt.step()
        return step
    if bench == "seedlearner":
        x, y = torch.tensor(SEED_X), torch.tensor(SEED_Y)
        m, b = torch.tensor([0.9], requires_grad=True), torch.tensor([0.1], requires_grad=True)
        lr = 0.01

        def step():
            nonlocal m, b
            yhat = m * x + b
            loss = ((yhat - y) ** 2).mean()
            loss.backward()
            with torch.no_grad():
                m -= lr * m.grad
                b -= lr * b.grad
                m.grad.zero_()
                b.grad.zero_()
        return step
    if bench == "linreg":
        w_true = torch.tensor([2, -3.4])
        X = torch.normal(0, 1, (1000, 2))
        y = (X @ w_true + 4.2 + torch.normal(0, 0.01, (1000,))).reshape(-1, 1)
        X, y = X[:10], y[:10]
        net = nn.Linear(2, 1)
        net.weight.data.normal_(0, 0.01)
        net.bias.data.fill_(0)
        loss, opt = nn.MSELoss(), torch.optim.SGD(net.parameters(), lr=0.03)

        def step():
            opt.zero_grad()
            loss(net(X), y).backward()
            opt.step()
        return step
    if bench in ("softmax", "mlp256", "mlp1", "epoch"):
        n = {"softmax": 256, "mlp256": 256, "mlp1": 1, "epoch": 60000}[bench]
        Xn, yn = random_data(n, 784, 10)
        X, y = torch.from_numpy(Xn), torch.from_numpy(yn)
        if bench.startswith("mlp"):
            net = nn.Sequential(nn.Linear(784, 256), nn.ReLU(), nn.Linear(256, 10))
        else:
            net = nn.Linear(784, 10)
        opt = torch.optim.SGD(net.parameters(), lr=0.1)

        def train(xb, yb):
            opt.zero_grad()
            F.cross_entropy(net(xb), yb).backward()
            opt.step()
        if bench != "epoch":
            return lambda: train(X, y)
        loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(X, y),
                                             batch_size=256, shuffle=True)

        def epoch():
            for xb, yb in loader:
                train(xb, yb)
        return epoch
    raise ValueError(bench)


# ----- JAX --------------------------------------------------------------------------------------
def make_jax(bench: str):
    import jax
    import jax.numpy as jnp
    import numpy as np

    def sgd(loss, lr):
        @jax.jit
        def step(params, *batch):
            grads = jax.grad(loss)(params, *batch)
            return jax.tree_util.tree_map(lambda p, g: p - lr * g, params, grads)
        return step

    def run(step, params, *batch):
        state = {"p": params}

        def call():
            state["p"] = step(state["p"], *batch)
            jax.block_until_ready(state["p"])
        return call

    key = jax.random.PRNGKey(0)
    if bench == "tiny":
        a, c = jnp.array([1.0, 2, 3, 4]), jnp.array([1.0, 2, 3, 4])
        mul = jax.jit(lambda a, c: a * c)
        return {"stmt": "mul(a, c).block_until_ready()", "globals": {"a": a, "c": c, "mul": mul}}
    if bench == "seed":
        x, y = jnp.array(SEED_X), jnp.array(SEED_Y)
        step = sgd(lambda p, x, y: jnp.mean((p["m"] * x + p["b"] - y) ** 2), 0.01)
        return run(step, {"m": jnp.array([0.9]), "b": jnp.array([0.1])}, x, y)
    if bench == "seedlearner":
        x, y = jnp.array(SEED_X), jnp.array(SEED_Y)

        def cost(p):
            return ((p[0] * x + p[1] - y) ** 2).mean()

        @jax.jit
        def learner_step(p):  # p = [m, b]: value and gradient, then the SGD update
            value, g = jax.value_and_grad(cost)(p)
            return p - 0.01 * g, value

        state = {"p": jnp.array([0.9, 0.1])}

        def call():
            state["p"], _ = learner_step(state["p"])
            jax.block_until_ready(state["p"])
        return call
    if bench == "linreg":
        k1, k2 = jax.random.split(key)
        X = jax.random.normal(k1, (10, 2))
        y = (X @ jnp.array([2, -3.4]) + 4.2).reshape(-1, 1)
        params = {"w": 0.01 * jax.random.normal(k2, (1, 2)), "b": jnp.zeros(1)}
        step = sgd(lambda p, X, y: jnp.mean((X @ p["w"].T + p["b"] - y) ** 2), 0.03)
        return run(step, params, X, y)

    def xent(logits, y):
        return jnp.mean(jax.nn.logsumexp(logits, axis=1) - jnp.take_along_axis(
            logits, y[:, None], axis=1)[:, 0])

    def linear_init(k, fan_in, fan_out):
        bound = 1 / np.sqrt(fan_in)
        kw, kb = jax.random.split(k)
        return (jax.random.uniform(kw, (fan_out, fan_in), minval=-bound, maxval=bound),
                jax.random.uniform(kb, (fan_out,), minval=-bound, maxval=bound))

    if bench in ("softmax", "mlp256", "mlp1", "epoch"):
        n = {"softmax": 256, "mlp256": 256, "mlp1": 1, "epoch": 60000}[bench]
        Xn, yn = random_data(n, 784, 10)
        k1, k2 = jax.random.split(key)
        if bench.startswith("mlp"):
            params = [linear_init(k1, 784, 256), linear_init(k2, 256, 10)]

            def loss(p, X, y):
                (w1, b1), (w2, b2) = p
                return xent(jax.nn.relu(X @ w1.T + b1) @ w2.T + b2, y)
        else:
            params = linear_init(k1, 784, 10)

            def loss(p, X, y):
                return xent(X @ p[0].T + p[1], y)
        step = sgd(loss, 0.1)
        if bench != "epoch":
            return run(step, params, jnp.asarray(Xn), jnp.asarray(yn))
        rng = np.random.default_rng(0)
        state = {"p": params}

        def epoch():
            order = rng.permutation(n)
            p = state["p"]
            for s in range(0, n, 256):
                idx = order[s:s + 256]
                p = step(p, Xn[idx], yn[idx])
            jax.block_until_ready(p)
            state["p"] = p
        return epoch
    raise ValueError(bench)


# ----- CNN steps (convolution family) -----------------------------------------------------------
# The ResNet-style block of the CNN lesson: x → conv3×3(64→64, pad 1, no bias) → BatchNorm2d →
# ReLU → conv3×3 → BatchNorm2d, + x, ReLU; loss = mean of the output squared (a stand-in head
# that keeps the step all convolution); SGD lr 0.01. Batch 32 of 64×32×32, training-mode batch
# statistics. (The LeNet step joins when pooling is in.)
RESBLOCK = (32, 64, 32, 32)


def cnn_tapegrad(bench: str):
    import numpy as np

    import tapegrad as tg
    from tapegrad import nn

    X = tg.from_numpy(np.random.default_rng(0).standard_normal(RESBLOCK).astype(np.float32))
    c = RESBLOCK[1]
    body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                         nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
    opt = tg.optim.SGD(body.parameters(), lr=0.01)

    def step():
        opt.zero_grad()
        (tg.relu(body(X) + X) ** 2).mean().backward()
        opt.step()
    return step


def cnn_torch(bench: str):
    import numpy as np
    import torch
    from torch import nn

    X = torch.from_numpy(np.random.default_rng(0).standard_normal(RESBLOCK).astype(np.float32))
    c = RESBLOCK[1]
    body = nn.Sequential(nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c), nn.ReLU(),
                         nn.Conv2d(c, c, 3, padding=1, bias=False), nn.BatchNorm2d(c))
    opt = torch.optim.SGD(body.parameters(), lr=0.01)

    def step():
        opt.zero_grad()
        (torch.relu(body(X) + X) ** 2).mean().backward()
        opt.step()
    return step


def cnn_jax(bench: str):
    import jax
    import jax.numpy as jnp
    import numpy as np

    X = jnp.asarray(np.random.default_rng(0).standard_normal(RESBLOCK).astype(np.float32))
    c = RESBLOCK[1]
    k1, k2 = jax.random.split(jax.random.PRNGKey(0))
    bound = 1.0 / np.sqrt(c * 9)
    params = {"w1": jax.random.uniform(k1, (c, c, 3, 3), minval=-bound, maxval=bound),
              "w2": jax.random.uniform(k2, (c, c, 3, 3), minval=-bound, maxval=bound),
              "g1": jnp.ones(c), "b1": jnp.zeros(c), "g2": jnp.ones(c), "b2": jnp.zeros(c)}

    def conv(x, w):
        return jax.lax.conv_general_dilated(x, w, (1, 1), [(1, 1), (1, 1)],
                                            dimension_numbers=("NCHW", "OIHW", "NCHW"))

    def bn(x, g, b):
        mean = x.mean(axis=(0, 2, 3), keepdims=True)
        var = x.var(axis=(0, 2, 3), keepdims=True)
        return (x - mean) / jnp.sqrt(var + 1e-5) * g[None, :, None, None] + b[None, :, None, None]

    def loss(p, x):
        h = jax.nn.relu(bn(conv(x, p["w1"]), p["g1"], p["b1"]))
        return (jax.nn.relu(bn(conv(h, p["w2"]), p["g2"], p["b2"]) + x) ** 2).mean()

    @jax.jit
    def update(p, x):
        g = jax.grad(loss)(p, x)
        return jax.tree_util.tree_map(lambda a, d: a - 0.01 * d, p, g)

    state = {"p": params}

    def step():
        state["p"] = update(state["p"], X)
        jax.block_until_ready(state["p"])
    return step


CNN_MAKERS = {"tapegrad": cnn_tapegrad, "torch": cnn_torch, "jax": cnn_jax}
CNN_MAKERS_BENCHES = {"resblock"}
# ----- end of the CNN steps ---------------------------------------------------------------------


# ----- LeNet step ---------------------------------------------------------------------------------
# d2l chapter 7's LeNet-5: Conv2d(1, 6, 5, padding=2), sigmoid, AvgPool2d(2, 2), Conv2d(6, 16, 5),
# sigmoid, AvgPool2d(2, 2), Flatten, Linear(400, 120), sigmoid, Linear(120, 84), sigmoid,
# Linear(84, 10); cross-entropy; SGD lr 0.9 (d2l's). Batch 256 of random 1×28×28 images. All
# three frameworks start from the same weights (PyTorch's default U(±1/√fan_in) drawn by NumPy)
# and see the same batch, so their losses agree step for step (tests/test_bench_steps.py); each
# step returns its loss so that check can read it.
LENET_BATCH = (256, 1, 28, 28)
LENET_LR = 0.9
# (weight shape, bias shape) of the conv and linear layers, in parameters() order.
LENET_SHAPES = [((6, 1, 5, 5), (6,)), ((16, 6, 5, 5), (16,)), ((120, 400), (120,)),
                ((84, 120), (84,)), ((10, 84), (10,))]


def lenet_data():
    """The batch (X float32 N×1×28×28, y int64 labels) and the initial weights, as NumPy arrays."""
    import numpy as np

    rng = np.random.default_rng(0)
    X = rng.standard_normal(LENET_BATCH, dtype=np.float32)
    y = rng.integers(0, 10, LENET_BATCH[0]).astype(np.int64)
    weights = []
    for w_shape, b_shape in LENET_SHAPES:
        bound = 1.0 / np.sqrt(np.prod(w_shape[1:]))
        weights.append(rng.uniform(-bound, bound, w_shape).astype(np.float32))
        weights.append(rng.uniform(-bound, bound, b_shape).astype(np.float32))
    return X, y, weights


def lenet_tapegrad(bench: str = "lenet"):
    import tapegrad as tg
    import tapegrad.nn.functional as F
    from tapegrad import nn

    tg.set_num_threads(1)
    Xn, yn, weights = lenet_data()
    X, y = tg.from_numpy(Xn), tg.from_numpy(yn)
    net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
                        nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
                        nn.Linear(400, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(),
                        nn.Linear(84, 10))
    with tg.no_grad():
        for p, w in zip(net.parameters(), weights, strict=True):
            p.copy_(tg.from_numpy(w))
    opt = tg.optim.SGD(net.parameters(), lr=LENET_LR)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(net(X), y)
        loss.backward()
        opt.step()
        return loss
    return step


def lenet_torch(bench: str = "lenet"):
    import torch
    import torch.nn.functional as F
    from torch import nn

    torch.set_num_threads(1)
    Xn, yn, weights = lenet_data()
    X, y = torch.from_numpy(Xn), torch.from_numpy(yn)
    net = nn.Sequential(nn.Conv2d(1, 6, 5, padding=2), nn.Sigmoid(), nn.AvgPool2d(2, 2),
                        nn.Conv2d(6, 16, 5), nn.Sigmoid(), nn.AvgPool2d(2, 2), nn.Flatten(),
                        nn.Linear(400, 120), nn.Sigmoid(), nn.Linear(120, 84), nn.Sigmoid(),
                        nn.Linear(84, 10))
    with torch.no_grad():
        for p, w in zip(net.parameters(), weights, strict=True):
            p.copy_(torch.from_numpy(w))
    opt = torch.optim.SGD(net.parameters(), lr=LENET_LR)

    def step():
        opt.zero_grad()
        loss = F.cross_entropy(net(X), y)
        loss.backward()
        opt.step()
        return loss
    return step


def lenet_jax(bench: str = "lenet"):
    import jax
    import jax.numpy as jnp

    Xn, yn, weights = lenet_data()
    X, y = jnp.asarray(Xn), jnp.asarray(yn)
    params = [jnp.asarray(w) for w in weights]

    def conv(x, w, b, pad):
        out = jax.lax.conv_general_dilated(x, w, (1, 1), [(pad, pad), (pad, pad)],
                                           dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return out + b[None, :, None, None]

    def avg_pool(x):  # AvgPool2d(2, 2): sum over each 2×2 window, stride 2, divided by 4
        return jax.lax.reduce_window(x, 0.0, jax.lax.add, (1, 1, 2, 2), (1, 1, 2, 2),
                                     "VALID") / 4.0

    def loss(p, x, y):
        w1, b1, w2, b2, w3, b3, w4, b4, w5, b5 = p
        h = avg_pool(jax.nn.sigmoid(conv(x, w1, b1, 2)))
        h = avg_pool(jax.nn.sigmoid(conv(h, w2, b2, 0))).reshape(x.shape[0], -1)
        h = jax.nn.sigmoid(h @ w3.T + b3)
        h = jax.nn.sigmoid(h @ w4.T + b4)
        logits = h @ w5.T + b5
        return jnp.mean(jax.nn.logsumexp(logits, axis=1)
                        - jnp.take_along_axis(logits, y[:, None], axis=1)[:, 0])

    @jax.jit
    def update(p, x, y):  # the whole step, SGD update included, is one compiled function
        value, g = jax.value_and_grad(loss)(p, x, y)
        return [a - LENET_LR * d for a, d in zip(p, g)], value

    state = {"p": params}

    def step():
        state["p"], value = update(state["p"], X, y)
        jax.block_until_ready(state["p"])
        return value
    return step


LENET_MAKERS = {"tapegrad": lenet_tapegrad, "torch": lenet_torch, "jax": lenet_jax}
# ----- end of the LeNet step ----------------------------------------------------------------------


# ----- tapegrad compiled -------------------------------------------------------------------------
def tapegrad_compiled(bench: str):
    """The tapegrad step of ``bench`` wrapped in ``tg.compile(step, fullgraph=True)`` (the epoch:
    its per-batch step). fullgraph: a step that cannot be replayed fails the run instead of
    being timed eagerly under the compiled name. None for the tiny statement."""
    import tapegrad as tg

    if bench == "tiny":
        return None
    if bench == "epoch":
        return make_tapegrad(bench, compiled=True)
    makers = CNN_MAKERS if bench in CNN_MAKERS_BENCHES else MAKERS
    makers = LENET_MAKERS if bench == "lenet" else makers
    return tg.compile(makers["tapegrad"](bench), fullgraph=True)


CNN_MAKERS["tapegrad-compiled"] = tapegrad_compiled
LENET_MAKERS["tapegrad-compiled"] = tapegrad_compiled


MAKERS = {"tapegrad": make_tapegrad, "tapegrad-compiled": tapegrad_compiled,
          "torch": make_torch, "jax": make_jax}


def worker(framework: str, bench: str, quick: bool) -> None:
    # One core for everyone, before any framework sizes its thread pools: XLA's CPU runtime
    # runs some work on a second thread whatever its flags say (CPU/wall 1.5–1.7 unpinned).
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    makers = CNN_MAKERS if bench in CNN_MAKERS_BENCHES else MAKERS
    makers = LENET_MAKERS if bench == "lenet" else makers  # LeNet step
    step = makers[framework](bench)
    extra = {}
    if framework == "tapegrad-compiled" and bench != "epoch":
        t0 = time.perf_counter()
        step()  # the capture: runs the step eagerly while recording it
        extra["first_call_s"] = time.perf_counter() - t0
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if isinstance(step, dict):  # a statement timed as `%timeit` would (no wrapper call)
        timer = timeit.Timer(step["stmt"], globals=step["globals"])
        n = max(1, timer.autorange()[0] // 10)
        best = min(timer.repeat(repeat=5 if quick else 30, number=n)) / n
    elif bench == "epoch":
        step()  # warm-up epoch (JIT compilation, allocator caches)
        best = float("inf")
        for _ in range(1 if quick else 3):
            t0 = time.perf_counter()
            step()
            best = min(best, time.perf_counter() - t0)
    else:
        best = best_mean(step, 0.5 if quick else 2.0, 5 if quick else 10)
    # CPU time / wall time while timing: ≈ 1 for a single-threaded run, > 1 if it used more.
    cpu_ratio = (time.process_time() - cpu0) / (time.perf_counter() - wall0)
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    stats = getattr(step, "_stats", None)
    if stats is not None:  # the compiled step: every timed call must have been a replay
        if stats["replays"] == 0 or stats["eager_calls"]:
            raise RuntimeError(f"{bench}: the compiled step did not replay: {stats}, "
                               f"{step.fallback_reasons}")
        extra["stats"] = dict(stats)
    print(json.dumps({"seconds": best, "peak_mb": peak_kb / 1024, "cpu_ratio": cpu_ratio,
                      **extra}))


# ----- driver -----------------------------------------------------------------------------------
def available(framework: str) -> bool:
    mod = {"tapegrad": "tapegrad", "tapegrad-compiled": "tapegrad", "torch": "torch",
           "jax": "jax"}[framework]
    code = f"import {mod}"
    r = subprocess.run([sys.executable, "-c", code], capture_output=True,
                       env={**os.environ, **SINGLE_THREAD_ENV})
    return r.returncode == 0


def best_of_rounds(runs: list) -> dict | None:
    """A framework's interleaved rounds as one result: the fastest round's time, and the
    worst round's first call, peak memory and CPU/wall ratio (those are bounds, not speeds)."""
    if not runs:
        return None
    best = dict(min(runs, key=lambda r: r["seconds"]))
    best["peak_mb"] = max(r["peak_mb"] for r in runs)
    best["cpu_ratio"] = max(r["cpu_ratio"] for r in runs)
    if all("first_call_s" in r for r in runs):
        best["first_call_s"] = max(r["first_call_s"] for r in runs)
    best["rounds"] = len(runs)
    return best


def run_one(framework: str, bench: str, quick: bool) -> dict | None:
    env = {**os.environ, **SINGLE_THREAD_ENV}
    r = subprocess.run([sys.executable, __file__, "--worker", framework, bench]
                       + (["--quick"] if quick else []), capture_output=True, text=True, env=env)
    if r.returncode != 0:
        print(f"  {framework}/{bench} failed:\n{r.stderr[-2000:]}", file=sys.stderr)
        return None
    return json.loads(r.stdout.strip().splitlines()[-1])


def machine_info() -> tuple[str, str]:
    """The header paragraph (CPU, caches, GEMM blocking, FMA limit) and the CPU-kind tag."""
    try:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        from fma_peak import cpu_kind, fma_limit, machine_header

        return machine_header(None, fma_limit()), cpu_kind()
    except Exception as e:  # noqa: BLE001 - informational only
        return f"CPU: ? ({e})", "unknown"


def machine() -> str:
    name = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                name = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    try:
        import tapegrad as tg
        arch = tg.cpu_info()["selected"]
    except Exception:  # noqa: BLE001 - informational only
        arch = "?"
    return f"{name}, {os.cpu_count()} logical CPUs, tapegrad kernels: {arch}, 1 thread"


def fmt_time(bench: str, r: dict | None) -> str:
    if r is None:
        return "—"
    v = r["seconds"] * (1e3 if bench == "epoch" else 1e6)
    return f"{v:.2f}" if v < 10 else f"{v:.1f}" if v < 1000 else f"{v:.0f}"


def ratio(a: dict | None, b: dict | None) -> str:
    if a is None or b is None:
        return "—"
    return f"{a['seconds'] / b['seconds']:.2f}×"


def first_call(r: dict | None) -> str:
    """The compiled step's first call (its capture), in ms."""
    if r is None or "first_call_s" not in r:
        return "—"
    return f"{r['first_call_s'] * 1e3:.2f}"


def write_table(results, frameworks, out: Path, header: str, stem: str = "steps") -> str:
    cols = [NAMES[f] for f in frameworks]
    # (numerator, denominator) of each ratio column, for the frameworks that ran.
    pairs = [(a, b) for a in ("tapegrad", "tapegrad-compiled") for b in ("torch", "jax")
             if a in frameworks and b in frameworks]
    short = {"tapegrad": "tapegrad", "tapegrad-compiled": "compiled", "torch": "PyTorch",
             "jax": "JAX"}
    compiled = "tapegrad-compiled" in frameworks
    lines = [header, "",
             "| benchmark (µs per step) | " + " | ".join(cols)
             + "".join(f" | {short[a]} / {short[b]}" for a, b in pairs)
             + (" | compiled first call (ms)" if compiled else "")
             + " | peak MB " + " / ".join(cols) + " |",
             "|---|" + "---:|" * (len(cols) + len(pairs) + compiled + 1)]
    for bench, row in results.items():
        cells = [fmt_time(bench, row.get(f)) for f in frameworks]
        cells += [ratio(row.get(a), row.get(b)) for a, b in pairs]
        if compiled:
            cells.append(first_call(row.get("tapegrad-compiled")))
        mem = " / ".join(f"{row[f]['peak_mb']:.0f}" if row.get(f) else "—" for f in frameworks)
        lines.append(f"| {LABELS[bench]} | " + " | ".join(cells) + f" | {mem} |")
    text = "\n".join(lines) + "\n"
    out.joinpath(f"{stem}.md").write_text(text)
    return text


def write_chart(results, frameworks, out: Path, title: str, stem: str = "steps") -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    benches = list(results)
    # Wide enough that every group's labels stay apart (about 1.5 inch per benchmark).
    fig, ax = plt.subplots(figsize=(max(11.0, 1.5 * len(benches) + 1), 5.6))
    width = 0.8 / len(frameworks)
    colors = {"tapegrad": "#2a7ab9", "tapegrad-compiled": "#12385a", "torch": "#ee4c2c", "jax": "#6a9f3a"}
    xs = np.arange(len(benches))
    for i, f in enumerate(frameworks):
        vals = [results[b][f]["seconds"] * 1e6 if results[b].get(f) else np.nan for b in benches]
        bars = ax.bar(xs + (i - (len(frameworks) - 1) / 2) * width, vals, width,
                      label=NAMES[f], color=colors[f])
        for rect, v in zip(bars, vals):
            if np.isfinite(v):
                label = (f"{v / 1000:.0f} ms" if v >= 10000 else f"{v:.0f}" if v >= 10
                         else f"{v:.1f}" if v >= 1 else f"{v:.2f}")
                ax.annotate(label, (rect.get_x() + rect.get_width() / 2, v), ha="center",
                            va="bottom", fontsize=7, xytext=(0, 2), textcoords="offset points",
                            rotation=90 if len(frameworks) > 3 else 0)
    ax.set_yscale("log")
    lo, hi = ax.get_ylim()
    ax.set_ylim(lo, hi * 8)  # room above the tallest bar for its (vertical) label
    ax.set_ylabel("time per step (µs, log scale; epoch: whole epoch)")
    short = {"tiny": "tiny op a·c\n(grad, 4 floats)", "seed": "seed 8-point\nregression",
             "seedlearner": "seed step,\nlearner-written",
             "linreg": "d2l linreg\nbatch 10",
             "softmax": "softmax reg.\n256×784→10", "mlp256": "MLP 784-256-10\nbatch 256",
             "mlp1": "MLP 784-256-10\nbatch 1", "epoch": "softmax epoch\n60000×784"}
    short["resblock"] = "ResNet block\n32×64×32×32"  # convolution family
    short["lenet"] = "LeNet-5\nbatch 256"  # LeNet step
    ax.set_xticks(xs)
    ax.set_xticklabels([short[b] for b in benches])
    ax.set_title(title, fontsize=10)
    ax.legend(loc="upper left")  # the short bars are on the left
    ax.grid(axis="y", which="major", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / f"{stem}.png", dpi=120)
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--worker", nargs=2, metavar=("FRAMEWORK", "BENCH"), help=argparse.SUPPRESS)
    ap.add_argument("--quick", action="store_true", help="fewer repeats")
    ap.add_argument("--only", default=",".join(BENCHES), help="comma-separated benchmarks")
    ap.add_argument("--frameworks", default=",".join(FRAMEWORKS))
    ap.add_argument("--out", default=str(Path(__file__).parent / "results"))
    ap.add_argument("--rounds", type=int, default=1,
                    help="run every framework this many times, interleaved, and keep each "
                         "one's fastest round (noise on a shared machine comes in bursts)")
    args = ap.parse_args(argv)
    if args.rounds < 1:
        ap.error("--rounds must be at least 1")
    if args.worker:
        worker(args.worker[0], args.worker[1], args.quick)
        return 0
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    frameworks = []
    for f in args.frameworks.split(","):
        if available(f):
            frameworks.append(f)
        else:
            print(f"{NAMES[f]} is not installed: skipped", file=sys.stderr)
    results: dict[str, dict] = {}
    for bench in args.only.split(","):
        results[bench] = {}
        rounds: dict[str, list] = {f: [] for f in frameworks}
        for _ in range(args.rounds):  # interleaved: every framework once per round
            for f in frameworks:
                if f == "tapegrad-compiled" and bench == "tiny":  # a statement, not a step
                    continue
                r = run_one(f, bench, args.quick)
                if r is not None:
                    rounds[f].append(r)
                print(f"{bench:11s} {f:17s} {fmt_time(bench, r):>9s} "
                      f"{'ms' if bench == 'epoch' else 'µs'}  peak {r['peak_mb'] if r else 0:.0f} MB"
                      f"  cpu/wall {r['cpu_ratio'] if r else 0:.2f}"
                      + (f"  first call {first_call(r)} ms" if r and "first_call_s" in r else ""),
                      flush=True)
        for f in frameworks:
            results[bench][f] = best_of_rounds(rounds[f])
        if args.rounds > 1 and rounds.get("tapegrad-compiled") and rounds.get("jax"):
            per = [a["seconds"] / b["seconds"]
                   for a, b in zip(rounds["tapegrad-compiled"], rounds["jax"])]
            print(f"{bench:11s} compiled / JAX by round: "
                  + " ".join(f"{x:.2f}" for x in per), flush=True)
    versions = []
    for f, mod in (("tapegrad", "tapegrad"), ("torch", "torch"), ("jax", "jax")):
        if f in frameworks or (f == "tapegrad" and "tapegrad-compiled" in frameworks):
            v = subprocess.run([sys.executable, "-c", f"import {mod}; print({mod}.__version__)"],
                               capture_output=True, text=True,
                               env={**os.environ, **SINGLE_THREAD_ENV}).stdout.strip()
            versions.append(f"{NAMES[f]} {v}")
    ratios = [r["cpu_ratio"] for row in results.values() for r in row.values() if r]
    cpu_header, kind = machine_info()
    stem = f"steps-{kind}"
    header = (cpu_header + "\n\n"
              f"Machine: {machine()}. " + ", ".join(versions) + ". Python "
              + platform.python_version() + ". Times: best mean over timed blocks; peak memory: "
              "ru_maxrss of the benchmark's own process (imports included); CPU time / wall "
              f"time of the timed runs ≤ {max(ratios, default=0):.2f} (single-threaded)."
              + (f" Each framework ran {args.rounds} times, interleaved; the fastest round's "
                 "time is shown, and the slowest round's first call and peak memory."
                 if args.rounds > 1 else ""))
    print()
    print(write_table(results, frameworks, out, header, stem))
    write_chart(results, frameworks, out, "Training step time, 1 thread — "
                + ", ".join(versions), stem)
    print(f"wrote {out / (stem + '.md')} and {out / (stem + '.png')}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
