"""Fuzzing with hypothesis (fixed seed, bounded budget): random op programs — random shapes
that broadcast, random op sequences that reuse intermediate values — checked against NumPy
in float64 (forward) and tg.gradcheck (backward); and read_idx on mutated/truncated files
(a clean error, never a crash)."""

from __future__ import annotations

import gzip
import struct
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

import tapegrad as tg  # noqa: E402

# Fixed seed (derandomize) and a fixed budget: a few seconds in CI.
FUZZ = settings(derandomize=True, max_examples=800, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def _sig(x):
    return 1 / (1 + np.exp(-x))


def _lse(x, d):
    m = np.max(x, axis=d, keepdims=True)
    return m + np.log(np.sum(np.exp(x - m), axis=d, keepdims=True))


# Smooth ops only (no kinks near random points), so central differences are meaningful.
# name: (arity, tapegrad fn, numpy fn); reductions get a dim d valid for the operand.
UNARY = {
    "neg": (lambda a: -a, lambda a: -a),
    "exp": (lambda a: tg.exp(tg.tanh(a)), lambda a: np.exp(np.tanh(a))),  # bounded exponent
    "tanh": (tg.tanh, np.tanh),
    "sigmoid": (tg.sigmoid, _sig),
    "sin": (tg.sin, np.sin),
    "cos": (tg.cos, np.cos),
    "square": (lambda a: a * a, lambda a: a * a),
    "pow3": (lambda a: a**3, lambda a: a**3),
    "log1p_sq": (lambda a: tg.log(1 + a * a), lambda a: np.log(1 + a * a)),
    "sqrt1p_sq": (lambda a: tg.sqrt(1 + a * a), lambda a: np.sqrt(1 + a * a)),
    "scale": (lambda a: 0.5 * a - 2.0, lambda a: 0.5 * a - 2.0),
    "rdiv": (lambda a: 1.0 / (2 + a * a), lambda a: 1.0 / (2 + a * a)),
}
BINARY = {
    "add": (lambda a, b: a + b, lambda a, b: a + b),
    "sub": (lambda a, b: a - b, lambda a, b: a - b),
    "mul": (lambda a, b: a * b, lambda a, b: a * b),
    "div": (lambda a, b: a / (1.5 + b * b), lambda a, b: a / (1.5 + b * b)),
    # a branch that is C¹ across a = b (a jump would defeat finite differences)
    "where": (lambda a, b: tg.where(a > b, (a - b) * (a - b), a * b - a * b),
              lambda a, b: np.where(a > b, (a - b) * (a - b), 0.0 * a * b)),
}
REDUCE = {  # keepdim=True keeps every value broadcastable with the others
    "sum": (lambda a, d: a.sum(dim=d, keepdim=True), lambda a, d: a.sum(axis=d, keepdims=True)),
    "mean": (lambda a, d: a.mean(dim=d, keepdim=True), lambda a, d: a.mean(axis=d, keepdims=True)),
    "logsumexp": (lambda a, d: tg.logsumexp(a, dim=d, keepdim=True), _lse),
    "softmax": (lambda a, d: tg.softmax(a, dim=d),
                lambda a, d: np.exp(a - _lse(a, d))),
    "log_softmax": (lambda a, d: tg.log_softmax(a, dim=d), lambda a, d: a - _lse(a, d)),
}


@st.composite
def programs(draw):
    ndim = draw(st.integers(1, 3))
    base = draw(st.lists(st.integers(1, 4), min_size=ndim, max_size=ndim))
    n_in = draw(st.integers(1, 3))
    shapes = []
    for _ in range(n_in):  # each input: base with some dims set to 1 and leading dims dropped
        s = [1 if draw(st.booleans()) and draw(st.booleans()) else d for d in base]
        shapes.append(tuple(s[draw(st.integers(0, ndim - 1)) if draw(st.booleans()) else 0:]))
    seed = draw(st.integers(0, 2**31 - 1))
    steps = []
    n_vals = n_in
    for _ in range(draw(st.integers(1, 8))):
        kind = draw(st.sampled_from(["unary", "binary", "binary", "reduce", "matmul"]))
        i = draw(st.integers(0, n_vals - 1))  # any earlier value: reuse is the point
        if kind == "unary":
            steps.append(("unary", draw(st.sampled_from(sorted(UNARY))), i))
        elif kind == "binary":
            steps.append(("binary", draw(st.sampled_from(sorted(BINARY))), i,
                          draw(st.integers(0, n_vals - 1))))
        elif kind == "reduce":
            steps.append(("reduce", draw(st.sampled_from(sorted(REDUCE))), i,
                          draw(st.integers(-3, 2))))
        else:
            steps.append(("matmul", "matmul", i))
        n_vals += 1
    return shapes, seed, steps


def run_program(shapes, seed, steps, inputs, lib):
    """Replay the program with `lib` = 'tg' or 'np' on `inputs`; returns every value."""
    rng = np.random.default_rng(seed)
    vals = list(inputs)
    for step in steps:
        kind, name, i = step[:3]
        a = vals[i]
        if kind == "unary":
            f = UNARY[name][0 if lib == "tg" else 1]
            vals.append(f(a))
        elif kind == "binary":
            f = BINARY[name][0 if lib == "tg" else 1]
            vals.append(f(a, vals[step[3]]))
        elif kind == "reduce":
            nd = len(a.shape)
            if nd == 0:
                vals.append(a)
                continue
            d = step[3] % nd
            f = REDUCE[name][0 if lib == "tg" else 1]
            vals.append(f(a, d))
        else:  # a @ W with a fixed W of shape (k, k): the value keeps its shape
            k = a.shape[-1] if len(a.shape) else 1
            w = rng.standard_normal((k, k)) / np.sqrt(k)
            if len(a.shape) == 0:
                vals.append(a)
                continue
            vals.append(a @ (tg.tensor(w) if lib == "tg" else w))
    return vals


@FUZZ
@given(programs())
def test_random_programs_match_numpy_and_gradcheck(prog):
    shapes, seed, steps = prog
    rng = np.random.default_rng(seed)
    arrays = [rng.uniform(-2, 2, s) for s in shapes]
    ins = [tg.tensor(a, dtype=tg.float64, requires_grad=True) for a in arrays]
    got = run_program(shapes, seed, steps, ins, "tg")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = run_program(shapes, seed, steps, arrays, "np")
    for k, (g, w) in enumerate(zip(got, want)):
        w = np.asarray(w, dtype=np.float64)
        assert tuple(g.shape) == w.shape, f"value {k}: shape {tuple(g.shape)} vs {w.shape}"
        np.testing.assert_allclose(g.detach().numpy(), w, rtol=1e-9, atol=1e-12,
                                   err_msg=f"value {k} of {steps}")

    def fn(*xs):
        vals = run_program(shapes, seed, steps, xs, "tg")
        # every value feeds the output, each through its own fixed weights
        out = 0
        for j, v in enumerate(vals[len(xs):]):
            wj = np.random.default_rng(seed + j).uniform(0.5, 1.5, tuple(v.shape))
            out = out + (v * tg.tensor(wj)).sum()
        return out

    assert tg.gradcheck(fn, ins, eps=1e-6, atol=1e-6, rtol=1e-4)


def _idx(kind: int, dims: tuple[int, ...], payload: bytes) -> bytes:
    return struct.pack(">I", kind) + struct.pack(f">{len(dims)}I", *dims) + payload


@FUZZ
@given(data=st.data())
def test_read_idx_on_mutated_files(tmp_path_factory, data):
    images = data.draw(st.booleans())
    if images:
        n, r, c = data.draw(st.tuples(st.integers(0, 3), st.integers(0, 4), st.integers(0, 4)))
        good = _idx(2051, (n, r, c), bytes(range(n * r * c)))
    else:
        n = data.draw(st.integers(0, 10))
        good = _idx(2049, (n,), bytes(i % 10 for i in range(n)))
    raw = bytearray(good)
    for _ in range(data.draw(st.integers(0, 4))):  # mutate: flip, truncate, insert
        op = data.draw(st.sampled_from(["flip", "truncate", "insert", "header"]))
        if op == "flip" and raw:
            i = data.draw(st.integers(0, len(raw) - 1))
            raw[i] = data.draw(st.integers(0, 255))
        elif op == "truncate":
            del raw[data.draw(st.integers(0, len(raw))):]
        elif op == "insert":
            raw[data.draw(st.integers(0, len(raw))):0] = data.draw(st.binary(max_size=8))
        elif op == "header" and len(raw) >= 8:
            i = data.draw(st.sampled_from([4, 8, 12][: max(1, (len(raw) - 4) // 4)]))
            raw[i:i + 4] = struct.pack(">I", data.draw(st.sampled_from(
                [0, 1, 2**31 - 1, 2**32 - 1, 2**16, 2**31])))
    compress = data.draw(st.booleans())
    blob = gzip.compress(bytes(raw)) if compress else bytes(raw)
    if compress and data.draw(st.booleans()):
        blob = blob[: data.draw(st.integers(0, len(blob)))]  # a cut gzip stream
    p = tmp_path_factory.mktemp("idx") / ("f.idx.gz" if compress else "f.idx")
    p.write_bytes(blob)
    try:
        t = tg.data.read_idx(p)
    except ValueError as e:
        assert "read_idx" in str(e) and "f.idx" in str(e), str(e)
        return
    # It parsed: then it must be exactly what the (possibly mutated) bytes say, read here
    # independently of tapegrad: big-endian magic 2051 (images, 3 dims) or 2049 (labels).
    magic = struct.unpack(">I", bytes(raw[:4]))[0]
    assert magic in (2051, 2049), magic
    nd = 3 if magic == 2051 else 1
    dims = struct.unpack(f">{nd}I", bytes(raw[4:4 + 4 * nd]))
    count = int(np.prod(dims, dtype=np.int64))
    payload = np.frombuffer(bytes(raw[4 + 4 * nd: 4 + 4 * nd + count]), dtype=np.uint8)
    assert payload.size == count  # a short payload must have been refused
    assert tuple(t.shape) == tuple(dims)
    if magic == 2051:
        assert t.dtype == tg.float32
        np.testing.assert_array_equal(t.numpy(), (payload.reshape(dims) / 255.0).astype(np.float32))
    else:
        assert t.dtype == tg.int64
        np.testing.assert_array_equal(t.numpy(), payload.astype(np.int64))
