"""Pooling (cpp/src/ops/pool.cpp): PyTorch parity of values, indices and gradients over a sweep
of shapes and window arguments, ties and NaNs in max pooling, double backward, the modules and
the errors. optable.py carries the gradcheck/second-order cases of each row."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

DT = {64: (tg.float64, torch.float64, 1e-9), 32: (tg.float32, torch.float32, 1e-5)}


def _pair(tfn, ttfn, x: np.ndarray, bits: int, seed: int = 0):
    """Values (and indices) and the input gradient for a random output gradient, both sides."""
    tdt, torch_dt, tol = DT[bits]
    a = tg.tensor(x, dtype=tdt, requires_grad=True)
    b = torch.tensor(x, dtype=torch_dt, requires_grad=True)
    ra, rb = tfn(a), ttfn(b)
    ya, yb = (ra[0], rb[0]) if isinstance(ra, tuple) else (ra, rb)
    assert tuple(ya.shape) == tuple(yb.shape)
    np.testing.assert_allclose(ya.detach().numpy(), yb.detach().numpy(), rtol=tol, atol=tol)
    if isinstance(ra, tuple):
        assert ra[1].dtype == tg.int64
        np.testing.assert_array_equal(ra[1].numpy(), rb[1].numpy())
    v = np.random.default_rng(seed).standard_normal(tuple(yb.shape))
    (ga,) = tg.grad([ya], [a], grad_outputs=[tg.tensor(v, dtype=tdt)])
    (gb,) = torch.autograd.grad([yb], [b], grad_outputs=[torch.tensor(v, dtype=torch_dt)])
    np.testing.assert_allclose(ga.numpy(), gb.numpy(), rtol=tol, atol=tol)


# (input shape, kernel, stride, padding, dilation, ceil_mode): odd sizes, windows that overlap,
# leave a remainder, pad both sides, dilate, and ceil_mode with and without a dropped window.
WINDOWS = [
    ((2, 3, 7, 9), 2, None, 0, 1, False),
    ((2, 3, 7, 9), 3, 2, 1, 1, True),
    ((1, 2, 8, 8), 3, 3, 1, 1, True),
    ((1, 1, 5, 5), 3, 2, 1, 1, True),
    ((2, 1, 6, 11), (3, 2), (2, 1), (1, 1), 1, False),
    ((3, 10, 10), (4, 3), (3, 2), (2, 1), 1, True),  # unbatched
    ((1, 2, 13, 12), 3, 2, 1, (2, 3), True),
    ((0, 2, 6, 6), 2, None, 0, 1, False),  # zero-size batch
    ((2, 17, 33, 31), 5, 2, 2, 1, False),  # several planes per thread task
]


@pytest.mark.parametrize("bits", [64, 32])
@pytest.mark.parametrize("shape,k,s,p,d,ceil", WINDOWS)
def test_max_pool2d_matches_torch(shape, k, s, p, d, ceil, bits):
    x = np.random.default_rng(len(shape) + sum(shape)).standard_normal(shape)
    _pair(lambda t: F.max_pool2d(t, k, s, p, d, ceil, return_indices=True),
          lambda t: TF.max_pool2d(t, k, s, p, d, ceil, return_indices=True), x, bits)


@pytest.mark.parametrize("bits", [64, 32])
@pytest.mark.parametrize("include_pad", [True, False])
@pytest.mark.parametrize("shape,k,s,p,d,ceil", [w for w in WINDOWS if w[4] == 1])
def test_avg_pool2d_matches_torch(shape, k, s, p, d, ceil, include_pad, bits):
    x = np.random.default_rng(sum(shape)).standard_normal(shape)
    _pair(lambda t: F.avg_pool2d(t, k, s, p, ceil, include_pad),
          lambda t: TF.avg_pool2d(t, k, s, p, ceil, include_pad), x, bits)


@pytest.mark.parametrize("divisor", [1, 3, 7])
def test_avg_pool2d_divisor_override(divisor):
    x = np.random.default_rng(divisor).standard_normal((2, 2, 7, 6))
    _pair(lambda t: F.avg_pool2d(t, 3, 2, 1, True, divisor_override=divisor),
          lambda t: TF.avg_pool2d(t, 3, 2, 1, True, divisor_override=divisor), x, 64)


@pytest.mark.parametrize("bits", [64, 32])
@pytest.mark.parametrize("shape,size", [
    ((2, 3, 7, 9), (3, 4)), ((2, 3, 7, 9), 1), ((1, 2, 5, 5), (5, 5)), ((1, 2, 4, 6), (7, 9)),
    ((3, 10, 7), (None, 3)), ((2, 1, 6, 5), (4, None)), ((0, 2, 5, 5), 2),
])
def test_adaptive_pool2d_matches_torch(shape, size, bits):
    x = np.random.default_rng(sum(shape)).standard_normal(shape)
    _pair(lambda t: F.adaptive_avg_pool2d(t, size), lambda t: TF.adaptive_avg_pool2d(t, size),
          x, bits)
    _pair(lambda t: F.adaptive_max_pool2d(t, size, return_indices=True),
          lambda t: TF.adaptive_max_pool2d(t, size, return_indices=True), x, bits)


def test_adaptive_pool2d_to_an_empty_output():
    # PyTorch allows output_size 0 (its backward then refuses; ours gives zeros).
    x = tg.randn(1, 2, 5, 5, dtype=tg.float64, requires_grad=True)
    for f in (F.adaptive_avg_pool2d, F.adaptive_max_pool2d):
        y = f(x, 0)
        assert y.shape == (1, 2, 0, 0)
        y.sum().backward()
        assert not x.grad.numpy().any()


@pytest.mark.parametrize("shape,k,s,p,d,ceil", [
    ((2, 3, 11), 3, 2, 1, 1, True), ((3, 10), 4, None, 2, 1, False),
    ((1, 2, 16), 3, 1, 1, 3, False), ((0, 2, 9), 2, None, 0, 1, True),
])
def test_1d_pools_match_torch(shape, k, s, p, d, ceil):
    x = np.random.default_rng(sum(shape)).standard_normal(shape)
    _pair(lambda t: F.max_pool1d(t, k, s, p, d, ceil, return_indices=True),
          lambda t: TF.max_pool1d(t, k, s, p, d, ceil, return_indices=True), x, 64)
    _pair(lambda t: F.avg_pool1d(t, k, s, p, ceil, False),
          lambda t: TF.avg_pool1d(t, k, s, p, ceil, False), x, 64)
    for size in (1, 3, 5):
        _pair(lambda t: F.adaptive_avg_pool1d(t, size),
              lambda t: TF.adaptive_avg_pool1d(t, size), x, 64)
        _pair(lambda t: F.adaptive_max_pool1d(t, size, return_indices=True),
              lambda t: TF.adaptive_max_pool1d(t, size, return_indices=True), x, 64)


@pytest.mark.parametrize("bits", [64, 32])
def test_max_pool_ties_pick_the_first_maximum(bits):
    # Few distinct values: most windows hold ties; the index (and so the gradient) must be the
    # first maximum in row-major window order, as PyTorch.
    x = np.random.default_rng(3).integers(0, 3, (2, 3, 9, 8)).astype(np.float64)
    for k, s, p in [(2, None, 0), (3, 1, 1), (3, 2, 1)]:
        _pair(lambda t: F.max_pool2d(t, k, s, p, return_indices=True),
              lambda t: TF.max_pool2d(t, k, s, p, return_indices=True), x, bits)
    _pair(lambda t: F.adaptive_max_pool2d(t, (4, 3), return_indices=True),
          lambda t: TF.adaptive_max_pool2d(t, (4, 3), return_indices=True), x, bits)
    # constant input: every window ties everywhere; -inf everywhere likewise
    for c in (1.0, -np.inf):
        _pair(lambda t: F.max_pool2d(t, 3, 2, 1, return_indices=True),
              lambda t: TF.max_pool2d(t, 3, 2, 1, return_indices=True), np.full((1, 1, 6, 7), c),
              bits)


def test_max_pool_nan_propagates_as_torch():
    x = np.random.default_rng(4).standard_normal((1, 2, 6, 6))
    x[0, 0, 1, 1] = x[0, 0, 1, 2] = x[0, 1, 4, 4] = np.nan
    for fn, tfn in [
        (lambda t: F.max_pool2d(t, 2, return_indices=True),
         lambda t: TF.max_pool2d(t, 2, return_indices=True)),
        (lambda t: F.max_pool2d(t, 3, 1, 1, return_indices=True),
         lambda t: TF.max_pool2d(t, 3, 1, 1, return_indices=True)),
        (lambda t: F.adaptive_max_pool2d(t, 2, return_indices=True),
         lambda t: TF.adaptive_max_pool2d(t, 2, return_indices=True)),
    ]:
        a, b = fn(tg.tensor(x)), tfn(torch.tensor(x))
        np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())  # NaN == NaN here
        np.testing.assert_array_equal(a[1].numpy(), b[1].numpy())
    y = F.avg_pool2d(tg.tensor(x), 2).numpy()
    np.testing.assert_array_equal(np.isnan(y), np.isnan(TF.avg_pool2d(torch.tensor(x), 2).numpy()))


@pytest.mark.parametrize("name,args", [
    ("max_pool2d", (3, 2, 1)), ("avg_pool2d", (3, 2, 1, True, False)),
    ("adaptive_avg_pool2d", ((3, 2),)), ("adaptive_max_pool2d", ((3, 2),)),
])
def test_double_backward_matches_torch(name, args):
    # dx = B(x)·v is linear in v: differentiate Σ w·dx with respect to v (and x) in both.
    rng = np.random.default_rng(5)
    x = rng.permutation(2 * 2 * 7 * 6).reshape(2, 2, 7, 6) / 10.0
    xa = tg.tensor(x, requires_grad=True)
    xb = torch.tensor(x, requires_grad=True)
    ya, yb = getattr(F, name)(xa, *args), getattr(TF, name)(xb, *args)
    v = rng.standard_normal(tuple(yb.shape))
    w = rng.standard_normal(x.shape)
    va = tg.tensor(v, requires_grad=True)
    vb = torch.tensor(v, requires_grad=True)
    (ga,) = tg.grad([ya], [xa], grad_outputs=[va], create_graph=True)
    (gb,) = torch.autograd.grad([yb], [xb], grad_outputs=[vb], create_graph=True)
    (hva,) = tg.grad([(ga * tg.tensor(w)).sum()], [va])
    (hvb,) = torch.autograd.grad([(gb * torch.tensor(w)).sum()], [vb])
    np.testing.assert_allclose(hva.numpy(), hvb.numpy(), rtol=1e-9, atol=1e-12)
    assert np.abs(hva.numpy()).max() > 0.1  # not vacuous
    # Third order: the backward of the backward's backward is the backward again.
    (g3,) = tg.grad([(hva * tg.tensor(v)).sum()], [va]) if hva.requires_grad else (None,)
    assert g3 is None or g3.shape == va.shape


def test_grad_fn_names_are_torchs():
    x = tg.ones(1, 1, 4, 4, requires_grad=True)
    assert F.max_pool2d(x, 2).grad_fn == "MaxPool2DWithIndicesBackward0"
    assert F.avg_pool2d(x, 2).grad_fn == "AvgPool2DBackward0"
    assert F.adaptive_avg_pool2d(x, 2).grad_fn == "AdaptiveAvgPool2DBackward0"


def test_indices_do_not_require_grad_and_forward_without_grad_records_nothing():
    x = tg.randn(1, 2, 4, 4, requires_grad=True)
    y, i = F.max_pool2d(x, 2, return_indices=True)
    assert y.requires_grad and not i.requires_grad
    with tg.no_grad():
        assert not F.max_pool2d(x, 2).requires_grad
        assert not F.avg_pool2d(x, 2).requires_grad


@pytest.mark.parametrize("fn,exc,match", [
    (lambda x: F.max_pool2d(x, 7), RuntimeError, r"max_pool2d: .*\[1, 2, 5, 5\].*output size 0x0"),
    (lambda x: F.avg_pool2d(x, (2, 7)), RuntimeError, r"avg_pool2d: .*\[1, 2, 5, 5\].*kernel"),
    (lambda x: F.max_pool2d(x, 2, 0), RuntimeError, "max_pool2d: stride must be greater than zero"),
    (lambda x: F.avg_pool2d(x, 2, -1), RuntimeError, "avg_pool2d: stride must be greater"),
    (lambda x: F.max_pool2d(x, 0), RuntimeError, "max_pool2d: kernel_size must be greater"),
    (lambda x: F.max_pool2d(x, 2, dilation=0), RuntimeError, "max_pool2d: dilation"),
    (lambda x: F.max_pool2d(x, 2, padding=2), RuntimeError,
     r"max_pool2d: padding must be at most half of kernel_size, got padding \(2, 2\)"),
    (lambda x: F.avg_pool2d(x, 3, padding=(0, 2)), RuntimeError, "avg_pool2d: padding"),
    (lambda x: F.max_pool2d(x, 2, padding=-1), RuntimeError, "max_pool2d: padding must be non-neg"),
    (lambda x: F.avg_pool2d(x, 2, divisor_override=0), RuntimeError, "divisor_override"),
    (lambda x: F.max_pool2d(x[0, 0], 2), RuntimeError, r"max_pool2d: expected a 3-D .*\[5, 5\]"),
    (lambda x: F.avg_pool2d(x.reshape(1, 1, 2, 5, 5), 2), RuntimeError, r"avg_pool2d: .*\[1, 1, 2, 5, 5\]"),
    (lambda x: F.max_pool2d(tg.zeros(1, 0, 5, 5), 2), RuntimeError, r"\[1, 0, 5, 5\]"),
    (lambda x: F.adaptive_avg_pool2d(x[0, 0], 2), RuntimeError, r"adaptive_avg_pool2d: .*\[5, 5\]"),
    (lambda x: F.adaptive_avg_pool2d(x, -1), RuntimeError, "adaptive_avg_pool2d: output_size"),
    (lambda x: F.max_pool1d(x, 2), RuntimeError, r"max_pool1d: expected a 2-D \(C, L\)"),
    (lambda x: F.avg_pool1d(x[0], 9), RuntimeError, r"avg_pool1d: .*\[2, 5, 5\]"),
    (lambda x: F.max_pool2d(x.long(), 2), TypeError, r"max_pool2d: .*int64.*\[1, 2, 5, 5\]"),
    (lambda x: F.avg_pool2d(x.long(), 2), TypeError, "avg_pool2d: .*int64"),
    (lambda x: F.adaptive_avg_pool2d(x.long(), 2), TypeError, "adaptive_avg_pool2d: .*int64"),
    (lambda x: F.max_pool2d(x, 2.0), TypeError, "max_pool2d: kernel_size must be an int"),
    (lambda x: F.max_pool2d(x, (2, 2, 2)), TypeError, "max_pool2d: kernel_size"),
    (lambda x: F.max_pool1d(x[0], (2, 2)), TypeError, "max_pool1d: kernel_size"),
    (lambda x: F.adaptive_avg_pool2d(x, "a"), TypeError, "adaptive_avg_pool2d: output_size"),
    (lambda x: F.max_pool2d(None, 2), TypeError, "max_pool2d"),
    # a dilated window whose every tap falls in the padding (PyTorch returns -inf there)
    (lambda x: F.max_pool2d(tg.zeros(1, 1, 2, 2), 2, 1, 1, dilation=3), RuntimeError,
     "entirely in the padding"),
])
def test_bad_input_raises_naming_op_and_shapes(fn, exc, match):
    with pytest.raises(exc, match=match):
        fn(tg.zeros(1, 2, 5, 5))


def test_errors_are_torchs_types_where_torch_raises():
    x = torch.zeros(1, 2, 5, 5)
    for f in [lambda: TF.max_pool2d(x, 7), lambda: TF.max_pool2d(x, 2, 0),
              lambda: TF.max_pool2d(x, 2, padding=2), lambda: TF.max_pool2d(x[0, 0], 2)]:
        with pytest.raises(RuntimeError):
            f()


def test_modules_match_torch_and_show_torchs_repr():
    x = np.random.default_rng(6).standard_normal((2, 3, 9, 8))
    pairs = [
        (tg.nn.MaxPool2d(3, 2, 1, ceil_mode=True), torch.nn.MaxPool2d(3, 2, 1, ceil_mode=True)),
        (tg.nn.MaxPool2d(2, return_indices=True), torch.nn.MaxPool2d(2, return_indices=True)),
        (tg.nn.AvgPool2d(3, 2, 1, count_include_pad=False),
         torch.nn.AvgPool2d(3, 2, 1, count_include_pad=False)),
        (tg.nn.AvgPool2d((2, 3), divisor_override=4), torch.nn.AvgPool2d((2, 3), divisor_override=4)),
        (tg.nn.AdaptiveAvgPool2d((None, 3)), torch.nn.AdaptiveAvgPool2d((None, 3))),
        (tg.nn.AdaptiveMaxPool2d(2, True), torch.nn.AdaptiveMaxPool2d(2, True)),
    ]
    for m, tm in pairs:
        assert repr(m) == repr(tm)
        _pair(m, tm, x, 64)
    x1 = x.reshape(2, 3, 72)
    pairs1 = [
        (tg.nn.MaxPool1d(3, 2, 1, 2), torch.nn.MaxPool1d(3, 2, 1, 2)),
        (tg.nn.AvgPool1d(4, 3, 2, True), torch.nn.AvgPool1d(4, 3, 2, True)),
        (tg.nn.AdaptiveAvgPool1d(5), torch.nn.AdaptiveAvgPool1d(5)),
        (tg.nn.AdaptiveMaxPool1d(5), torch.nn.AdaptiveMaxPool1d(5)),
    ]
    for m, tm in pairs1:
        assert repr(m) == repr(tm)
        _pair(m, tm, x1, 64)


@pytest.mark.parametrize("dim,sizes,shape", [
    (1, (2, 3), (4, 6)), (-1, (2, -1), (3, 4, 8)), (0, (1, 2, 2), (4,)), (1, [3, 1], (2, 3, 5)),
    (1, (0, 2), (3, 0)),
])
def test_unflatten_matches_torch(dim, sizes, shape):
    m, tm = tg.nn.Unflatten(dim, sizes), torch.nn.Unflatten(dim, sizes)
    assert repr(m) == repr(tm)
    x = np.arange(int(np.prod(shape)), dtype=np.float64).reshape(shape)
    xa = tg.tensor(x, requires_grad=True)
    y = m(xa)
    assert tuple(y.shape) == tuple(tm(torch.tensor(x)).shape)
    np.testing.assert_array_equal(y.detach().numpy(), tm(torch.tensor(x)).numpy())
    y.sum().backward()
    assert xa.grad.shape == xa.shape


def test_unflatten_errors():
    with pytest.raises(RuntimeError, match=r"Unflatten: .*\(4, 4\).*size 6"):
        tg.nn.Unflatten(1, (4, 4))(tg.zeros(2, 6))
    with pytest.raises(IndexError, match="Unflatten: dim 3"):
        tg.nn.Unflatten(3, (2, 3))(tg.zeros(2, 6))
    with pytest.raises(TypeError, match="unflattened_size"):
        tg.nn.Unflatten(1, 6)  # type: ignore[arg-type]


def test_pooling_runs_the_same_under_each_kernel_target():
    # The pooling slots have one (reference) implementation; each forced target must agree.
    import subprocess
    import sys

    code = ("import numpy as np, tapegrad as tg, tapegrad.nn.functional as F\n"
            "x = tg.tensor(np.random.default_rng(0).standard_normal((2, 3, 9, 7)))\n"
            "print(float(F.max_pool2d(x, 3, 2, 1).sum() + F.avg_pool2d(x, 2).sum()))\n")
    outs = set()
    for arch in tg.cpu_info()["available"]:
        env = dict(__import__("os").environ, TAPEGRAD_ARCH=arch)
        outs.add(subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                                text=True, check=True).stdout)
    assert len(outs) == 1


@pytest.mark.parametrize("threads", [1, 2])
def test_results_do_not_depend_on_thread_count(threads):
    x = tg.tensor(np.random.default_rng(7).standard_normal((8, 16, 20, 20)))
    old = tg.get_num_threads()
    try:
        tg.set_num_threads(threads)
        a = F.max_pool2d(x, 2).numpy().copy(), F.avg_pool2d(x, 3, 1, 1).numpy().copy()
        tg.set_num_threads(1)
        b = F.max_pool2d(x, 2).numpy(), F.avg_pool2d(x, 3, 1, 1).numpy()
    finally:
        tg.set_num_threads(old)
    for u, v in zip(a, b):
        np.testing.assert_array_equal(u, v)


def test_sweep_of_small_windows_matches_torch():
    # Every (kernel, stride, padding, ceil_mode) combination on a few odd sizes, float64.
    rng = np.random.default_rng(8)
    for h, w in [(1, 1), (3, 4), (5, 7)]:
        x = rng.standard_normal((1, 2, h, w))
        for k, s, p, ceil in itertools.product([1, 2, 3], [1, 2, 3], [0, 1], [False, True]):
            if p > k // 2 or (h + 2 * p < k) or (w + 2 * p < k):
                continue
            _pair(lambda t: F.max_pool2d(t, k, s, p, 1, ceil, return_indices=True),
                  lambda t: TF.max_pool2d(t, k, s, p, 1, ceil, return_indices=True), x, 64)
            _pair(lambda t: F.avg_pool2d(t, k, s, p, ceil),
                  lambda t: TF.avg_pool2d(t, k, s, p, ceil), x, 64)


# ----- tiled fast path (Note [tiled pooling]) ------------------------------------------------
def _tiled_oracle(x, kh, kw, d):
    """The reference kernels' arithmetic in NumPy: window sums from 0, row by row, then / d;
    the max's first maximum; the backward's 0 + g/d into every window element, 0 elsewhere."""
    n, c, h, w = x.shape
    oh, ow = h // kh, w // kw
    blocks = x[:, :, :oh * kh, :ow * kw].reshape(n, c, oh, kh, ow, kw).transpose(0, 1, 2, 4, 3, 5)
    flat = blocks.reshape(n, c, oh, ow, kh * kw)
    s = np.zeros((n, c, oh, ow), x.dtype)
    for e in range(kh * kw):
        s = s + flat[..., e]
    avg = s / x.dtype.type(d)
    arg = flat.argmax(-1)
    mx = np.take_along_axis(flat, arg[..., None], -1)[..., 0]
    idx = (np.arange(oh)[:, None] * kh + arg // kw) * w + np.arange(ow) * kw + arg % kw
    share = x.dtype.type(0) + avg / x.dtype.type(d)
    dx = np.zeros_like(x)
    dx[:, :, :oh * kh, :ow * kw] = np.repeat(np.repeat(share, kh, 2), kw, 3)
    return avg, mx, idx, dx


@pytest.mark.parametrize("arch", tg.cpu_info()["available"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_tiled_pooling_is_bitwise_the_reference_arithmetic_on_every_target(arch, dtype):
    rng = np.random.default_rng(3)
    previous = tg.cpu_info()["selected"]
    tg._core._set_arch(arch)
    try:
        for shape, (kh, kw), override in itertools.product(
                [(2, 3, 8, 8), (2, 3, 9, 7), (1, 2, 10, 10)], [(1, 1), (2, 2), (3, 3), (2, 3)],
                [None, 3]):
            # small integers plus signed zeros: ties for the max, −0 for the sums' start at 0
            x = (rng.integers(-3, 4, shape) * rng.choice([1.0, 0.37], shape)).astype(dtype)
            x[rng.random(shape) < 0.1] = -0.0
            d = override or kh * kw
            avg, mx, idx, dx = _tiled_oracle(x, kh, kw, d)
            t = tg.tensor(x, requires_grad=True)
            y = F.avg_pool2d(t, (kh, kw), divisor_override=override)
            assert y.detach().numpy().tobytes() == avg.tobytes(), (shape, kh, kw, override)
            y.backward(tg.tensor(avg))
            assert t.grad.numpy().tobytes() == dx.tobytes(), (shape, kh, kw, override)
            m, i = F.max_pool2d(tg.tensor(x), (kh, kw), return_indices=True)
            assert m.numpy().tobytes() == mx.tobytes() and (i.numpy() == idx).all()
    finally:
        tg._core._set_arch(previous)
