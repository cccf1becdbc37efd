"""Every SIMD kernel target against the portable reference, from Python (docs/architecture.md, "Tests").

Each test runs the same public-API computation under the reference target ("generic") and under
every target this CPU can run (``tg.cpu_info()['available']``, switched with
``tg._core._set_arch``), and compares: exactly for add/sub/mul/div/maximum/minimum and max/min/
argmax, within 2 ULP of the correctly rounded value for float32 exp/log/tanh/sigmoid, GEMM to
1e-5 (float32) / 1e-12 (float64) relative to Σ|a||b|, sums to the accuracy of a pairwise sum,
and exactly for the data-movement, selection, loss-row and optimizer kernels (where, compare,
clamp, casts, permute, cat, indexing, MSE/BCE rows, relu's backward, SGD, Adam), on the sizes
{0, 1, 2, 4, 7, 8, 9, 15, 16, 17, 18, 20, 63, 64, 65, 127, 1000} (every tail the AVX-512 loads and
stores move as a narrower whole vector, Note [tail stores]: 1, 2, 4, 8 lanes of floats, 1, 2, 4
of doubles, alone and after full vectors).
"""

from __future__ import annotations

import contextlib

import numpy as np
import pytest

import tapegrad as tg

SIZES = [0, 1, 2, 4, 7, 8, 9, 15, 16, 17, 18, 20, 63, 64, 65, 127, 1000]
TARGETS = tg.cpu_info()["available"]
DTYPES = [np.float32, np.float64]


@contextlib.contextmanager
def target(name: str):
    """Run the block with kernel target `name`, then restore the previous one."""
    previous = tg.cpu_info()["selected"]
    tg._core._set_arch(name)
    try:
        yield
    finally:
        tg._core._set_arch(previous)


def on(name: str, fn):
    """fn() under target `name`, with every result copied out to NumPy."""
    with target(name):
        out = fn()
    seq = out if isinstance(out, (tuple, list)) else [out]
    return [np.array(o.detach().numpy() if isinstance(o, tg.Tensor) else o) for o in seq]


def against_reference(arch: str, fn):
    return on("generic", fn), on(arch, fn)


def ulp_distance(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance in float32 ULPs (0 for two NaNs or equal infinities)."""
    def ordered(x):
        i = np.ascontiguousarray(x, np.float32).view(np.int32).astype(np.int64)
        return np.where(i < 0, -(i & 0x7FFFFFFF), i)

    d = np.abs(ordered(a) - ordered(b))
    both_nan = np.isnan(a) & np.isnan(b)
    return np.where(both_nan, 0, d)


def sample(rng: np.random.Generator, n: int, dtype, lo: float = -4.0, hi: float = 4.0):
    return rng.uniform(lo, hi, n).astype(dtype)


@pytest.fixture(params=TARGETS)
def arch(request) -> str:
    """Every target, for checks against an independent oracle (NumPy, float64, ULPs)."""
    return request.param


@pytest.fixture(params=[t for t in TARGETS if t != "generic"] or ["generic"])
def simd(request) -> str:
    """The SIMD targets, for checks against the reference (generic) kernels."""
    return request.param


# ----- elementwise -------------------------------------------------------------------------------
BINARY = {"add": tg.add, "sub": tg.sub, "mul": tg.mul, "div": tg.div,
          "maximum": tg.maximum, "minimum": tg.minimum}


@pytest.mark.parametrize("dtype", DTYPES)
def test_binary_is_exact_with_every_broadcast_path(simd, dtype, rng):
    for n in SIZES:
        a = sample(rng, n, dtype)
        b = sample(rng, n, dtype)
        if n > 3:
            a[1], b[2] = np.nan, np.inf
        col = sample(rng, 5, dtype).reshape(5, 1)
        s = dtype(0.75)
        pairs = [(a, b), (a, np.array(s)), (np.array(s), b),  # same shape, scalar both sides
                 (np.tile(a, (3, 1)), b), (col, a[None, :])]  # row, column x row
        for name, op in BINARY.items():
            for x, y in pairs:
                want, got = against_reference(simd, lambda: op(tg.tensor(x), tg.tensor(y)))
                np.testing.assert_array_equal(got[0], want[0], err_msg=f"{name} n={n}")


def _math_inputs(rng, n):
    x = rng.uniform(-12.0, 12.0, n).astype(np.float32)
    specials = np.array([0.0, -0.0, np.inf, -np.inf, np.nan, 88.7, 89.0, -87.5, -103.0, -110.0,
                         1e-30, -1e-30, 1e-40, 0.625, -0.625, 9.5, 20.0, -20.0], np.float32)
    k = min(n, specials.size)
    x[:k] = specials[:k]
    return x


UNARY_F32 = {
    "exp": (tg.exp, np.exp, lambda x: x),
    "log": (tg.log, np.log, np.abs),  # log sees |x|: 0, subnormals, inf, NaN, normals
    "tanh": (tg.tanh, np.tanh, lambda x: x),
    "sigmoid": (tg.sigmoid, lambda x: 1.0 / (1.0 + np.exp(-x)), lambda x: x),
}


@pytest.mark.parametrize("name", UNARY_F32)
def test_float32_math_within_2_ulp(arch, name, rng):
    tg_fn, np_fn, domain = UNARY_F32[name]
    for n in SIZES:
        x = domain(_math_inputs(rng, n))
        (got,) = on(arch, lambda: tg_fn(tg.tensor(x)))
        with np.errstate(all="ignore"):
            exact = np_fn(x.astype(np.float64)).astype(np.float32)  # correctly rounded
            if name == "log":
                exact[x == 0] = -np.inf
        d = ulp_distance(got, exact)
        assert d.max(initial=0) <= 2, (name, n, x[d > 2][:5], got[d > 2][:5], exact[d > 2][:5])


def test_float64_math_matches_reference(simd, rng):
    x = rng.uniform(-30.0, 30.0, 1000)
    x[:4] = [0.0, np.inf, -np.inf, np.nan]
    for fn in (tg.exp, tg.tanh, tg.sigmoid, tg.relu, tg.sqrt, tg.abs):
        arg = np.abs(x) if fn is tg.sqrt else x
        for n in SIZES:
            want, got = against_reference(simd, lambda: fn(tg.tensor(arg[:n])))
            np.testing.assert_allclose(got[0], want[0], rtol=1e-14, atol=0, err_msg=str(fn))


# ----- reductions and the softmax family --------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
def test_reductions(simd, dtype, rng):
    rel = 1e-6 if dtype == np.float32 else 1e-14
    for n in SIZES:
        for shape, dim in [((n,), None), ((3, n), 1), ((n, 5), 0), ((2, n, 3), 1)]:
            x = sample(rng, int(np.prod(shape)), dtype).reshape(shape)
            t = lambda: tg.tensor(x)  # noqa: E731
            want, got = against_reference(
                simd, lambda: t().sum() if dim is None else t().sum(dim))
            scale = np.abs(x).sum(axis=dim) + 1e-30
            assert np.all(np.abs(got[0] - want[0]) <= rel * scale), (shape, dim)
            if n == 0:
                continue
            for op in ("amax", "amin", "argmax", "argmin"):
                want, got = against_reference(
                    simd, lambda: getattr(t(), op)() if dim is None else getattr(t(), op)(dim))
                np.testing.assert_array_equal(got[0], want[0], err_msg=f"{op} {shape}")


def test_float32_long_sum_is_pairwise_accurate(arch):
    a = np.full(1_000_003, 0.1, np.float32)
    exact = a.astype(np.float64).sum()
    (got,) = on(arch, lambda: tg.from_numpy(a).sum())
    assert abs(float(got) - exact) <= 1e-6 * exact
    cols = np.full((4099, 33), 0.1, np.float32)
    (got,) = on(arch, lambda: tg.from_numpy(cols).sum(0))
    np.testing.assert_allclose(got, cols.astype(np.float64).sum(0), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_family(simd, dtype, rng):
    rtol = 4e-6 if dtype == np.float32 else 1e-13
    for n in SIZES[1:]:
        x = (sample(rng, 4 * n, dtype) * 10).reshape(4, n)
        x[1, 0] = -np.inf
        if n > 1:
            x[3, 1] = 60.0  # one dominant logit
        for dim in (1, 0):
            for op in ("softmax", "log_softmax", "logsumexp"):
                want, got = against_reference(simd, lambda: getattr(tg, op)(tg.tensor(x), dim))
                np.testing.assert_allclose(got[0], want[0], rtol=rtol, atol=1e-30,
                                           err_msg=f"{op} n={n} dim={dim}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_cross_entropy_forward_and_backward(simd, dtype, rng):
    rtol = 4e-6 if dtype == np.float32 else 1e-13
    for c in SIZES[1:]:
        x = (sample(rng, 37 * c, dtype) * 4).reshape(37, c)
        y = (np.arange(37) * 7) % c

        def run():
            xt = tg.tensor(x, requires_grad=True)
            loss = tg.nn.functional.cross_entropy(xt, tg.tensor(y), reduction="none")
            (loss * tg.tensor(np.linspace(-1, 1, 37).astype(dtype))).sum().backward()
            return loss, xt.grad

        want, got = against_reference(simd, run)
        for w, g in zip(want, got):
            np.testing.assert_allclose(g, w, rtol=rtol, atol=rtol * 1e-2, err_msg=f"c={c}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_narrow_rows_blocks_and_specials(simd, dtype, rng):
    """Rows of at most 32 values go through the transposed blocks of Note [narrow rows]: row
    counts around the block size, widths around the vector widths and the 32 limit, rows with
    NaN, +inf, all −inf, ties at the maximum and one dominant logit."""
    rtol = 4e-6 if dtype == np.float32 else 1e-13
    for c in (1, 2, 3, 8, 10, 16, 17, 31, 32, 33):
        for n in (1, 7, 16, 17, 33):
            x = (sample(rng, n * c, dtype) * 6).reshape(n, c)
            specials = [np.nan, np.inf, -np.inf, 60.0]
            for i in range(min(n, 4)):
                x[i, (i * 3) % c] = specials[i]
            if n > 4:
                x[4, :] = -np.inf
            if n > 5 and c > 1:
                x[5, :2] = 2.5  # a tie at the maximum
            y = (np.arange(n) * 5) % c
            g = np.linspace(-1, 1, n).astype(dtype)

            def run(x=x, y=y, g=g):
                xt = tg.tensor(x, requires_grad=True)
                loss = tg.nn.functional.cross_entropy(xt, tg.tensor(y), reduction="none")
                (loss * tg.tensor(g)).sum().backward()
                xs = tg.tensor(x)
                return (loss, xt.grad, tg.softmax(xs, 1), tg.log_softmax(xs, 1),
                        tg.logsumexp(xs, 1))

            want, got = against_reference(simd, run)
            for name, w, o in zip(("loss", "grad", "softmax", "log_softmax", "lse"), want, got):
                np.testing.assert_allclose(o, w, rtol=rtol, atol=rtol * 1e-2,
                                           err_msg=f"{name} n={n} c={c}")


# ----- GEMM ---------------------------------------------------------------------------------------
def _gemm_shapes():
    shapes = [(s, s, s) for s in SIZES if s <= 127]
    shapes += [(1000, 17, 64), (9, 1000, 65), (63, 64, 1000), (256, 10, 784), (7, 1, 1000)]
    # Packed path: primes and every row count of a last, partial micro-tile (m mod 14 and
    # mod 6 run through many values), k past whole vectors (transposing packs' scalar tail).
    shapes += [(97, 131, 67), (83, 61, 129), (45, 64, 33), (131, 47, 251)]
    # Dot path up to 11 columns on AVX2 (Note [dot path]): column groups of 5 and their
    # remainder, an odd row left after the 2-row tiles, k past whole vectors, one row.
    shapes += [(37, 11, 83), (9, 8, 40), (1, 9, 300)]
    return shapes


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans", ["nn", "tn", "nt", "tt"])
def test_gemm_matches_reference(simd, dtype, trans, rng):
    rel = 1e-5 if dtype == np.float32 else 1e-12
    for m, n, k in _gemm_shapes():
        a = sample(rng, m * k, dtype, -1, 1).reshape((k, m) if trans[0] == "t" else (m, k))
        b = sample(rng, k * n, dtype, -1, 1).reshape((n, k) if trans[1] == "t" else (k, n))
        opa = (lambda t: t.T) if trans[0] == "t" else (lambda t: t)
        opb = (lambda t: t.T) if trans[1] == "t" else (lambda t: t)
        na, nb = opa(a), opb(b)
        want, got = against_reference(simd, lambda: opa(tg.tensor(a)) @ opb(tg.tensor(b)))
        bound = rel * (np.abs(na) @ np.abs(nb)) + 1e-30
        assert np.all(np.abs(got[0] - want[0]) <= bound), (trans, m, n, k)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("trans", ["nn", "tn"])
def test_gemm_power_of_two_row_stride(simd, dtype, trans, rng):
    """C rows a multiple of 2 KiB apart take the late C-tile prefetch (Note [GEMM prefetch]):
    k shorter than the prefetch distance, one k slice, and several slices (C re-read)."""
    rel = 1e-5 if dtype == np.float32 else 1e-12
    n = 2048 // np.dtype(dtype).itemsize
    for m, k in ((30, 50), (29, 300), (43, 700)):
        a = sample(rng, m * k, dtype, -1, 1).reshape((k, m) if trans[0] == "t" else (m, k))
        b = sample(rng, k * n, dtype, -1, 1).reshape(k, n)
        na = a.T if trans[0] == "t" else a
        want, got = against_reference(
            simd, lambda: (tg.tensor(a).T if trans[0] == "t" else tg.tensor(a)) @ tg.tensor(b))
        bound = rel * (np.abs(na) @ np.abs(b)) + 1e-30
        assert np.all(np.abs(got[0] - want[0]) <= bound), (trans, m, n, k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_operands_read_in_place_equal_packed(simd, dtype, rng):
    """Row-major operands are read where they are when their rows spread over the L1 sets
    (Notes [A read in place], [B read in place]); the same values stored transposed take the
    packing path. Every C value sees the same FMAs in the same order either way, so all four
    combinations agree to the bit, as does the product with B padded to whole panels (the
    last, half-width panel runs one vector wide otherwise), and with float64 NumPy within the
    rounding bound. Shapes:
    rows an odd number of cache lines apart, a partial last B panel (49 lines = 24 panels and
    a half), partial row tiles, several k slices, several row blocks (m past mc), B off a
    cache line."""
    line = 64 // np.dtype(dtype).itemsize  # elements per cache line
    for m, n, k in ((256, 49 * line, 256), (97, 25 * line, 700), (650, 13 * line, 300)):
        a = sample(rng, m * k, dtype, -1, 1).reshape(m, k)
        b = sample(rng, k * n, dtype, -1, 1).reshape(k, n)
        flat = np.empty(k * n + 1, dtype)  # b again, its rows starting off a line
        off = flat[1:].reshape(k, n)
        off[...] = b

        # b with columns added up to whole panels (2 lines wide): the last panel full width
        padded = np.concatenate([b, sample(rng, k * line, dtype, -1, 1).reshape(k, line)], 1)

        def run():
            rows_a, packed_a = tg.tensor(a), tg.tensor(np.ascontiguousarray(a.T)).T
            rows_b, packed_b = tg.tensor(b), tg.tensor(np.ascontiguousarray(b.T)).T
            return (rows_a @ rows_b, rows_a @ packed_b, packed_a @ rows_b,
                    packed_a @ packed_b, rows_a @ tg.from_numpy(off),
                    (rows_a @ tg.tensor(padded))[:, :n])

        got = on(simd, run)
        for other in got[1:]:
            assert np.array_equal(got[0], other), (m, n, k)
        want = a.astype(np.float64) @ b.astype(np.float64)
        bound = (1e-5 if dtype == np.float32 else 1e-12) * (np.abs(a) @ np.abs(b)) + 1e-30
        assert np.all(np.abs(got[0] - want) <= bound), (m, n, k)



@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_dot_path_bits_do_not_depend_on_the_tile(simd, dtype, rng):
    """Few output columns run the dot path (Note [dot path]): each C(i, j) adds its k products
    lane by lane and then the lanes, whatever tile computes it. Rows of a multi-row tile have
    their sums reduced several vectors at once (hsums), a leftover row one vector at a time,
    so one row of A repeated 9 times (two 4-row tiles and a leftover on AVX-512, more tiles
    on AVX2) must give 9 equal rows of C, for every column count the path takes and k with a
    partial last vector or none; and the same row alone (a 1-row product) the same bits."""
    # the column counts each target's dot path takes (dot_cols in the targets' gemm.cpp)
    dot_cols = {("avx512", np.float32): (1, 3, 5, 7, 10, 11, 15),
                ("avx512", np.float64): (1, 3, 5, 7),
                ("avx2", np.float32): (1, 3, 5, 7, 10, 11),
                ("avx2", np.float64): (1, 3, 10, 11)}
    for n in dot_cols.get((simd, dtype), ()):
        for k in (37, 100, 784):
            row = sample(rng, k, dtype, -1, 1)
            w = sample(rng, n * k, dtype, -1, 1).reshape(n, k)
            a = np.repeat(row[None, :], 9, axis=0)

            def run():
                wt = tg.tensor(w)
                return tg.tensor(a) @ wt.T, tg.tensor(row[None, :]) @ wt.T

            many, one = on(simd, run)
            assert np.array_equal(many, np.repeat(one, 9, axis=0)), (n, k)
            want = row.astype(np.float64) @ w.T.astype(np.float64)
            bound = (1e-5 if dtype == np.float32 else 1e-12) * (np.abs(row) @ np.abs(w.T))
            assert np.all(np.abs(one[0] - want) <= bound + 1e-30), (n, k)


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_few_row_blocks_equal_taller_ones(simd, dtype, rng):
    """Few rows against a wide row-major B take the direct path in blocks no taller than
    needed (2, 4, 8, 10 rows on AVX-512): the weight gradient gᵀ·X of a 10-class layer is
    one 10-row block. Each C value sees the same FMAs in the same order whatever the block's
    height, so those rows equal the same rows computed inside a 12- or more-row product."""
    k, n = 256, 784
    x = sample(rng, k * n, dtype, -1, 1).reshape(k, n)
    g = sample(rng, 24 * k, dtype, -1, 1).reshape(24, k)
    for m in (2, 3, 4, 7, 8, 9, 10):
        def run():
            xt = tg.tensor(x)
            return tg.tensor(g[:m]) @ xt, tg.tensor(g) @ xt
        few, tall = on(simd, run)
        assert np.array_equal(few, tall[:m]), m

_SMALL_BLOCKS_SCRIPT = r"""
import numpy as np, tapegrad as tg
rng = np.random.default_rng(5)
for arch in tg.cpu_info()["available"]:
    tg._core._set_arch(arch)
    for dtype, rel in ((np.float32, 1e-5), (np.float64, 1e-12)):
        for m, n, k in ((97, 131, 67), (61, 200, 150), (150, 59, 173), (61, 48, 150),
                        (61, 24, 150)):
            for ta in (False, True):
                for tb in (False, True):
                    a = rng.uniform(-1, 1, (k, m) if ta else (m, k)).astype(dtype)
                    b = rng.uniform(-1, 1, (n, k) if tb else (k, n)).astype(dtype)
                    na, nb = (a.T if ta else a), (b.T if tb else b)
                    x, y = tg.tensor(a), tg.tensor(b)
                    got = ((x.T if ta else x) @ (y.T if tb else y)).numpy()
                    want = na.astype(np.float64) @ nb.astype(np.float64)
                    bound = rel * (np.abs(na) @ np.abs(nb)) + 1e-30
                    assert np.all(np.abs(got - want) <= bound), (arch, dtype, m, n, k, ta, tb)
print("ok")
"""


def test_gemm_with_small_cache_blocks():
    """TAPEGRAD_GEMM_BLOCKS=kc,mc,nc forces blocks much smaller than the shapes, so every loop
    of the packed GEMM (several jc, pc and ic blocks, partial last blocks) runs; results against
    float64 NumPy on every target. Also checks that cpu_info() reports the override."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "TAPEGRAD_GEMM_BLOCKS": "24,30,40", "TAPEGRAD_NUM_THREADS": "1"}
    code = ("import tapegrad as tg; g = tg.cpu_info()['gemm']['float32'];"
            "assert g['kc'] == 24 or g['mr'] == 0, g\n" + _SMALL_BLOCKS_SCRIPT)
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       check=False)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-3000:]


def test_cpu_info_reports_caches_and_blocks():
    info = tg.cpu_info()
    for level in ("L1d", "L2", "L3"):
        assert set(info["caches"][level]) == {"size", "ways", "line", "sets", "shared_by"}
    assert info["caches"]["source"] in ("cpuid", "sysfs", "cpuid+sysfs", "default")
    for dtype in ("float32", "float64"):
        g = info["gemm"][dtype]
        if info["selected"] == "generic":
            assert g["mr"] == 0
            continue
        assert g["mr"] > 0 and g["nr"] > 0 and g["kc"] >= 8
        assert g["mc"] % g["mr"] == 0 and g["nc"] % g["nr"] == 0
    assert isinstance(info["model_name"], str) and info["family"] >= 0


@pytest.mark.parametrize("dtype", DTYPES)
def test_gemm_backward_uses_transposed_products(simd, dtype, rng):
    # dA = dC·Bᵀ and dB = Aᵀ·dC (trans_b / trans_a), accumulated into existing grads (beta = 1)
    # when the same leaf is used twice.
    rel = 1e-5 if dtype == np.float32 else 1e-12
    for m, n, k in [(256, 10, 784), (9, 17, 65), (64, 63, 1), (1, 127, 16)]:
        a = sample(rng, m * k, dtype, -1, 1).reshape(m, k)
        b = sample(rng, k * n, dtype, -1, 1).reshape(k, n)
        g = sample(rng, m * n, dtype, -1, 1).reshape(m, n)

        def run():
            at, bt = tg.tensor(a, requires_grad=True), tg.tensor(b, requires_grad=True)
            out = at @ bt + (at * 0.5) @ bt
            out.backward(tg.tensor(g))
            return out, at.grad, bt.grad

        want, got = against_reference(simd, run)
        bounds = [np.abs(a) @ np.abs(b), np.abs(g) @ np.abs(b).T, np.abs(a).T @ np.abs(g)]
        for w, r, bound in zip(want, got, bounds):
            assert np.all(np.abs(r - w) <= 2 * rel * bound + 1e-30), (m, n, k)


# ----- threads -----------------------------------------------------------------------------------
def test_parallel_paths_match_reference(simd, rng):
    x = sample(rng, (1 << 19) + 5, np.float32)
    y = sample(rng, x.size, np.float32)
    saved = tg.get_num_threads()
    try:
        for threads in (1, 2):
            tg.set_num_threads(threads)
            want, got = against_reference(simd, lambda: (tg.tensor(x) + tg.tensor(y),
                                                         tg.tensor(x) * tg.tensor(y),
                                                         tg.exp(tg.tensor(x))))
            np.testing.assert_array_equal(got[0], want[0])
            np.testing.assert_array_equal(got[1], want[1])
            assert ulp_distance(got[2], want[2]).max() <= 3
            (s,) = on(simd, lambda: tg.tensor(x).sum())
            assert abs(float(s) - x.astype(np.float64).sum()) <= 1e-6 * np.abs(x).sum()
    finally:
        tg.set_num_threads(saved)


def test_generic_target_against_numpy(rng):
    """The reference kernels themselves, against NumPy (float64 oracle for float32 math)."""
    with target("generic"):
        for n in SIZES:
            x = sample(rng, n, np.float32)
            y = sample(rng, n, np.float32)
            np.testing.assert_array_equal((tg.tensor(x) + tg.tensor(y)).numpy(), x + y)
            np.testing.assert_array_equal((tg.tensor(x) * tg.tensor(y)).numpy(), x * y)
            got = tg.exp(tg.tensor(x)).numpy()
            assert ulp_distance(got, np.exp(x.astype(np.float64)).astype(np.float32)).max(
                initial=0) <= 2
            if n:
                s64 = x.astype(np.float64).sum()
                assert abs(tg.tensor(x).sum().item() - s64) <= 1e-6 * np.abs(x).sum() + 1e-7
        a = rng.standard_normal((37, 45))
        b = rng.standard_normal((45, 29))
        err = np.abs((tg.tensor(a) @ tg.tensor(b)).numpy() - a @ b)
        assert np.all(err <= 1e-12 * (np.abs(a) @ np.abs(b)))


# ----- data movement, selection, loss rows, optimizer updates ------------------------------------
def test_selection_and_movement_match_reference(simd, rng):
    """where / comparisons / clamp / casts / permute / cat / indexing through the public API."""
    for n in SIZES:
        x = sample(rng, 2 * n, np.float32).reshape(2, n)
        y = sample(rng, n, np.float32)
        if n > 3:
            x[0, 1], y[2] = np.nan, np.inf
        idx = rng.integers(-n, n, size=n) if n else np.zeros(0, np.int64)

        def run():
            tx, ty = tg.tensor(x), tg.tensor(y)
            return (tg.where(tx > ty, tx, ty), tx <= ty, tg.clamp(tx, -1.0, 2.0),
                    tx.long(), tg.isnan(tx), tx.permute(1, 0), tg.cat([tx, tx], 1),
                    tx[:, tg.tensor(idx)], (tx > 0) ^ (ty < 0))

        want, got = against_reference(simd, run)
        for i, (w, g) in enumerate(zip(want, got)):
            np.testing.assert_array_equal(g, w, err_msg=f"output {i}, n={n}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_loss_rows_and_relu_backward_match_reference(simd, dtype, rng):
    """MSE (fused mean) forward and backward, BCE-with-logits rows, relu's backward: exact."""
    for n in SIZES:
        x = sample(rng, 3 * n, dtype).reshape(3, n)
        t = sample(rng, 3 * n, dtype).reshape(3, n)
        g = sample(rng, 3 * n, dtype).reshape(3, n)

        def run():
            a = tg.tensor(x, requires_grad=True)
            b = tg.tensor(t, requires_grad=True)
            mse = tg.nn.functional.mse_loss(a, b)
            mse.backward()
            grads = (a.grad, b.grad)
            a.grad = None
            tg.relu(a).backward(tg.tensor(g))
            bce = tg.nn.functional.binary_cross_entropy_with_logits(
                tg.tensor(x), tg.tensor((t > 0).astype(dtype)), reduction="none")
            return (mse, *grads, a.grad, bce)

        want, got = against_reference(simd, run)
        for i, (w, r) in enumerate(zip(want, got)):
            np.testing.assert_array_equal(r, w, err_msg=f"output {i}, n={n}")


@pytest.mark.parametrize("opt", ["sgd", "sgd-momentum", "sgd-nesterov-wd", "adam", "adam-wd"])
def test_optimizer_updates_match_reference(simd, opt, rng):
    w0 = [sample(rng, n, np.float32) for n in SIZES]
    grads = [sample(rng, n, np.float32) for n in SIZES]

    def run():
        params = [tg.tensor(w, requires_grad=True) for w in w0]
        if opt.startswith("sgd"):
            o = tg.optim.SGD(params, lr=0.1, momentum=0.0 if opt == "sgd" else 0.9,
                             nesterov="nesterov" in opt, weight_decay=1e-2 if "wd" in opt else 0.0)
        else:
            o = tg.optim.Adam(params, lr=1e-2, weight_decay=1e-2 if "wd" in opt else 0.0)
        for _ in range(3):
            for p, g in zip(params, grads):
                p.grad = tg.tensor(g)
            o.step()
        return params

    want, got = against_reference(simd, run)
    for n, w, g in zip(SIZES, want, got):
        np.testing.assert_array_equal(g, w, err_msg=f"{opt} n={n}")
