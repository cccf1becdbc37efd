"""Convolution and padding: F.conv1d / F.conv2d / F.pad and nn.Conv1d / nn.Conv2d.

Float64 gradcheck over a geometry matrix (odd sizes, stride/padding/dilation/groups
combinations including depthwise, 1×1, zero-size batch), PyTorch parity of the forward and
every gradient (1e-9 float64, 1e-5 float32), double backward against PyTorch, the modules'
initialisation and reprs, and the errors of bad input. Shapes stay small (CI has 2 cores)."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn.functional as F

# (input shape, weight shape, kwargs) for conv2d; conv1d below. Odd sizes that are not SIMD
# multiples, every argument alone and combined.
GEOMS_2D = [
    ((2, 3, 7, 6), (4, 3, 3, 3), {}),
    ((1, 2, 9, 5), (3, 2, 2, 4), {"stride": 2}),
    ((2, 2, 6, 7), (3, 2, 3, 2), {"stride": (1, 3), "padding": (2, 1)}),
    ((1, 3, 8, 7), (2, 3, 3, 3), {"dilation": (2, 3), "padding": 2}),
    ((2, 4, 5, 6), (6, 2, 3, 3), {"groups": 2, "padding": 1}),
    ((2, 3, 6, 5), (3, 1, 3, 3), {"groups": 3, "padding": 1, "stride": 2}),  # depthwise
    ((1, 4, 9, 8), (8, 1, 3, 2), {"groups": 4, "dilation": 2}),  # depthwise multiplier 2
    ((2, 5, 4, 3), (7, 5, 1, 1), {}),  # 1×1: plain GEMM
    ((2, 4, 5, 5), (2, 4, 1, 1), {"stride": 2}),  # 1×1 strided: im2col
    ((1, 2, 5, 6), (3, 2, 3, 4), {"padding": "same"}),  # even kernel: asymmetric split
    ((1, 2, 7, 6), (3, 2, 3, 3), {"padding": "same", "dilation": 2}),
    ((1, 2, 5, 4), (3, 2, 5, 4), {"padding": "valid"}),  # kernel = input
    ((0, 3, 5, 5), (2, 3, 3, 3), {"padding": 1}),  # zero-size batch
    ((2, 3, 4, 4), (4, 3, 3, 3), {"stride": 3, "padding": (0, 2), "dilation": (1, 2)}),
    ((3, 5, 5), (4, 3, 3, 3), {"padding": 1}),  # unbatched (C, H, W)
]
GEOMS_1D = [
    ((2, 3, 9), (4, 3, 3), {}),
    ((2, 4, 10), (6, 2, 4), {"groups": 2, "stride": 3, "padding": 2}),
    ((1, 2, 8), (3, 2, 2), {"padding": "same", "dilation": 3}),
    ((3, 11), (2, 3, 5), {"padding": "valid", "dilation": 2}),  # unbatched
    ((0, 2, 5), (2, 2, 3), {}),
    ((2, 3, 7), (3, 1, 3), {"groups": 3, "padding": 1}),
]
GEOMS = [(2, *g) for g in GEOMS_2D] + [(1, *g) for g in GEOMS_1D]
IDS = [f"{d}d-{'x'.join(map(str, xs))}-{'x'.join(map(str, ws))}-{kw}" for d, xs, ws, kw in GEOMS]


def _inputs(xs, ws, seed=0, bias=True):
    rng = np.random.default_rng(seed)
    x, w = rng.standard_normal(xs), rng.standard_normal(ws)
    b = rng.standard_normal(ws[0]) if bias else None
    return x, w, b


def _torch_conv(torch, nd):
    import torch.nn.functional as TF

    f = TF.conv2d if nd == 2 else TF.conv1d

    def conv(*args, **kw):
        with warnings.catch_warnings():  # even kernels with 'same' warn about a padded copy
            warnings.simplefilter("ignore", UserWarning)
            return f(*args, **kw)

    return conv


def _tg_conv(nd):
    return F.conv2d if nd == 2 else F.conv1d


# ----- gradients ------------------------------------------------------------------------------
@pytest.mark.parametrize("nd,xs,ws,kw", GEOMS, ids=IDS)
def test_gradcheck(nd, xs, ws, kw):
    x, w, b = (tg.tensor(a, dtype=tg.float64, requires_grad=True) for a in _inputs(xs, ws))
    conv = _tg_conv(nd)
    assert tg.gradcheck(lambda x, w, b: conv(x, w, b, **kw), [x, w, b])


@pytest.mark.parametrize("nd,xs,ws,kw", GEOMS, ids=IDS)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matches_torch(nd, xs, ws, kw, dtype):
    torch = pytest.importorskip("torch")
    tol = 1e-9 if dtype == "float64" else 1e-5
    x, w, b = _inputs(xs, ws, seed=1)
    td, gd = getattr(torch, dtype), getattr(tg, dtype)
    tx, tw, tb = (torch.tensor(a, dtype=td, requires_grad=True) for a in (x, w, b))
    gx, gw, gb = (tg.tensor(a, dtype=gd, requires_grad=True) for a in (x, w, b))
    ty = _torch_conv(torch, nd)(tx, tw, tb, **kw)
    y = _tg_conv(nd)(gx, gw, gb, **kw)
    assert tuple(y.shape) == tuple(ty.shape) and y.dtype == gd
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=tol, atol=tol)
    go = np.random.default_rng(2).standard_normal(tuple(ty.shape))
    ty.backward(torch.tensor(go, dtype=td))
    y.backward(tg.tensor(go, dtype=gd))
    for mine, theirs in [(gx, tx), (gw, tw), (gb, tb)]:
        np.testing.assert_allclose(mine.grad.numpy(), theirs.grad.numpy(), rtol=tol, atol=tol)


# Images large enough for the implicit GEMM (one image's im2col ≥ 2^17 values, more than 8
# output channels: Notes [implicit or explicit], [unpacked panels], [NHWC weight gradient]),
# with each path it takes: widths a multiple of the vector (unpacked panels), other widths
# (packed panels), too narrow to plan (general packer), height stride, dilation, groups,
# 'same' with an even kernel, padding beyond the kernel's reach (the input gradient's explicit
# path). PyTorch parity of the forward and the three gradients; one thread and two give the same
# bits.
IMPLICIT_2D = [
    ((2, 16, 32, 32), (24, 16, 3, 3), {"padding": 1}),
    ((2, 13, 37, 45), (19, 13, 3, 3), {"padding": 1}),
    ((2, 10, 40, 33), (17, 10, 3, 3), {"padding": 2, "dilation": 2}),
    ((2, 20, 41, 36), (18, 20, 3, 3), {"padding": 1, "stride": (2, 1)}),
    ((2, 24, 40, 40), (36, 8, 3, 3), {"groups": 3}),
    ((1, 600, 11, 5), (16, 600, 3, 3), {}),
    ((2, 16, 50, 50), (20, 16, 4, 4), {"padding": "same"}),
    ((2, 16, 36, 36), (20, 16, 3, 3), {"padding": 3}),
]


@pytest.mark.parametrize("xs,ws,kw", IMPLICIT_2D,
                         ids=[f"{xs}-{ws}-{kw}" for xs, ws, kw in IMPLICIT_2D])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_implicit_gemm_matches_torch(xs, ws, kw, dtype):
    torch = pytest.importorskip("torch")
    tol = 1e-9 if dtype == "float64" else 1e-5
    x, w, b = _inputs(xs, ws, seed=3)
    go = np.random.default_rng(4).standard_normal(
        tuple(_torch_conv(torch, 2)(torch.tensor(x), torch.tensor(w), None, **kw).shape))
    td, gd = getattr(torch, dtype), getattr(tg, dtype)
    tx, tw, tb = (torch.tensor(a, dtype=td, requires_grad=True) for a in (x, w, b))
    _torch_conv(torch, 2)(tx, tw, tb, **kw).backward(torch.tensor(go, dtype=td))
    runs = []
    for threads in (1, 2):
        with _threads(threads):
            gx, gw, gb = (tg.tensor(a, dtype=gd, requires_grad=True) for a in (x, w, b))
            y = F.conv2d(gx, gw, gb, **kw)
            y.backward(tg.tensor(go, dtype=gd))
            runs.append([t.numpy().copy() for t in (y.detach(), gx.grad, gw.grad, gb.grad)])
    theirs = [a.detach().numpy() for a in (_torch_conv(torch, 2)(tx, tw, tb, **kw), tx.grad,
                                            tw.grad, tb.grad)]
    for mine, other, two in zip(runs[0], theirs, runs[1]):
        # Each array to tol of its largest value (sums of up to 5400 terms of unit normals).
        scale = max(1.0, float(np.abs(other).max()))
        np.testing.assert_allclose(mine, other, rtol=tol, atol=tol * scale)
        assert mine.tobytes() == two.tobytes()


class _threads:
    """tg.set_num_threads(n) for a block, restoring the previous count."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        self.old = tg.get_num_threads()
        tg.set_num_threads(self.n)

    def __exit__(self, *exc):
        tg.set_num_threads(self.old)


# Double backward: the gradients of (dL/dx, dL/dw) with respect to x, w and the output
# gradient itself, against PyTorch's (create_graph through conv and its two gradient ops).
@pytest.mark.parametrize("nd,xs,ws,kw", [GEOMS[0], GEOMS[4], GEOMS[5], GEOMS[9], GEOMS[16]],
                         ids=[IDS[i] for i in (0, 4, 5, 9, 16)])
def test_double_backward_matches_torch(nd, xs, ws, kw):
    torch = pytest.importorskip("torch")
    x, w, b = _inputs(xs, ws, seed=3)

    def second(lib, conv, t):
        X, W, B = (t(a) for a in (x, w, b))
        y = conv(X, W, B, **kw)
        rng = np.random.default_rng(4)
        G = t(rng.standard_normal(tuple(y.shape)))
        gx, gw = lib.autograd.grad([y], [X, W], grad_outputs=[G], create_graph=True)
        u = t(rng.standard_normal(tuple(gx.shape)), grad=False)
        v = t(rng.standard_normal(tuple(gw.shape)), grad=False)
        s = (gx * u).sum() + (gw * v).sum() + (gw * gw).sum()
        return [r.detach().numpy() for r in lib.autograd.grad([s], [X, W, G])]

    mine = second(tg, _tg_conv(nd),
                  lambda a, grad=True: tg.tensor(a, dtype=tg.float64, requires_grad=grad))
    theirs = second(torch, _torch_conv(torch, nd),
                    lambda a, grad=True: torch.tensor(a, dtype=torch.float64, requires_grad=grad))
    for m, t in zip(mine, theirs):
        np.testing.assert_allclose(m, t, rtol=1e-9, atol=1e-9)


def test_gradgradcheck_through_both_gradient_ops():
    rng = np.random.default_rng(5)
    x = tg.tensor(rng.standard_normal((2, 4, 5, 4)), requires_grad=True)
    w = tg.tensor(rng.standard_normal((4, 2, 2, 3)), requires_grad=True)
    v = tg.tensor(rng.standard_normal((2, 4, 4, 2)))

    @tg.enable_grad()
    def grads(x, w):
        y = F.conv2d(x, w, stride=(1, 2), padding=(0, 1), groups=2)
        return tg.autograd.grad([y], [x, w], grad_outputs=[v], create_graph=True)

    assert tg.gradcheck(grads, [x, w])


def test_grad_fn_names_and_no_record_without_grad():
    x, w = tg.randn(1, 2, 4, 4, requires_grad=True), tg.randn(3, 2, 3, 3)
    assert F.conv2d(x, w).grad_fn == "ConvolutionBackward0"
    assert F.pad(x, (1, 1)).grad_fn == "ConstantPadNdBackward0"
    with tg.no_grad():
        assert F.conv2d(x, w).grad_fn is None
    assert not F.conv2d(x.detach(), w).requires_grad


# ----- F.pad ----------------------------------------------------------------------------------
PADS = [
    ((2, 3, 4), (1, 2), "constant", 0.5),
    ((2, 3, 4), (-1, 2, 1, -2), "constant", None),  # negative pads crop
    ((2, 3, 4), (1, 0, 0, 1, 2, 2), "constant", -1.0),  # three dims
    ((1, 2, 3, 4, 2), (1, 1, 0, 0, 1, 0, 0, 2, 1, 1), "constant", None),  # every dim
    ((2, 5), (3, 4), "reflect", None),
    ((2, 3, 5, 4), (2, 1, 3, 4), "reflect", None),
    ((3, 4, 5), (1, 3, 2, 0), "replicate", None),  # unbatched 2-D
    ((2, 3, 4), (0, 5), "replicate", None),
    ((2, 3, 4, 5), (3, 5, 4, 1), "circular", None),
    ((2, 3, 4), (-1, 2), "circular", None),  # wraps around the cropped part
    ((2, 3, 5), (2, -1), "circular", None),
    ((2, 3, 5), (-1, 2), "reflect", None),
    ((2, 3, 5), (2, -2), "replicate", None),
]


@pytest.mark.parametrize("shape,pads,mode,value", PADS, ids=[f"{m}-{p}" for _, p, m, _ in PADS])
def test_pad_matches_torch_and_gradcheck(shape, pads, mode, value):
    torch = pytest.importorskip("torch")
    import torch.nn.functional as TF

    x = np.random.default_rng(6).standard_normal(shape)
    gx, tx = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y, ty = F.pad(gx, pads, mode, value), TF.pad(tx, pads, mode, value)
    np.testing.assert_array_equal(y.detach().numpy(), ty.detach().numpy())
    go = np.random.default_rng(7).standard_normal(tuple(ty.shape))
    y.backward(tg.tensor(go))
    ty.backward(torch.tensor(go))
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-12, atol=1e-12)
    assert tg.gradcheck(lambda t: F.pad(t, pads, mode, value), [tg.tensor(x, requires_grad=True)])


def test_pad_keeps_integer_dtypes():
    y = F.pad(tg.tensor([[1, 2]]), (1, 0), value=7)
    assert y.dtype == tg.int64 and y.tolist() == [[7, 1, 2]]


# ----- modules --------------------------------------------------------------------------------
MODULES = [
    ("Conv2d", (3, 4, 3), {}),
    ("Conv2d", (3, 4, (3, 5)), {"stride": 2, "padding": 1, "dilation": 2, "bias": False}),
    ("Conv2d", (4, 6, 3), {"groups": 2, "padding": (1, 2)}),
    ("Conv2d", (2, 3, 4), {"padding": "same"}),
    ("Conv2d", (2, 3, 3), {"padding": 2, "padding_mode": "reflect"}),
    ("Conv2d", (2, 3, 2), {"padding": "same", "padding_mode": "replicate"}),
    ("Conv2d", (2, 3, 3), {"padding": 1, "stride": 2, "padding_mode": "circular"}),
    ("Conv1d", (2, 4, 3), {"padding": "same", "dilation": 2}),
    ("Conv1d", (4, 4, 5), {"groups": 4, "stride": 2, "padding_mode": "reflect", "padding": 2}),
]


@pytest.mark.parametrize("name,args,kw", MODULES, ids=[f"{n}{a}{k}" for n, a, k in MODULES])
def test_module_matches_torch(name, args, kw):
    torch = pytest.importorskip("torch")
    mine = getattr(tg.nn, name)(*args, dtype=tg.float64, **kw)
    theirs = getattr(torch.nn, name)(*args, dtype=torch.float64, **kw)
    assert repr(mine) == repr(theirs)
    with torch.no_grad():
        theirs.weight.copy_(torch.tensor(mine.weight.detach().numpy()))
        if theirs.bias is not None:
            theirs.bias.copy_(torch.tensor(mine.bias.detach().numpy()))
    shape = (2, args[0], 9, 8) if name == "Conv2d" else (2, args[0], 11)
    x = np.random.default_rng(8).standard_normal(shape)
    gx, tx = tg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    y = mine(gx)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ty = theirs(tx)
    np.testing.assert_allclose(y.detach().numpy(), ty.detach().numpy(), rtol=1e-9, atol=1e-9)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    np.testing.assert_allclose(gx.grad.numpy(), tx.grad.numpy(), rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(mine.weight.grad.numpy(), theirs.weight.grad.numpy(),
                               rtol=1e-9, atol=1e-9)
    assert [n for n, _ in mine.named_parameters()] == [n for n, _ in theirs.named_parameters()]


@pytest.mark.parametrize("cls,args", [("Conv2d", (6, 8, (3, 5), {"groups": 2})),
                                      ("Conv1d", (4, 50, 7, {}))])
def test_module_init_is_pytorchs(cls, args):
    *pos, kw = args
    tg.manual_seed(0)
    m = getattr(tg.nn, cls)(*pos, **kw)
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    fan_in = w.shape[1] * int(np.prod(w.shape[2:]))
    bound = 1 / math.sqrt(fan_in)  # kaiming_uniform(a=√5): gain·√(3/fan_in) = 1/√fan_in
    assert w.shape == (pos[1], pos[0] // kw.get("groups", 1), *np.atleast_1d(pos[2]))
    assert w.dtype == np.float32 and np.abs(w).max() <= bound and np.abs(b).max() <= bound
    # U(−bound, bound): mean 0, variance bound²/3 (n = 480 and 1400 draws)
    assert abs(w.mean()) < 4 * bound / math.sqrt(3 * w.size)
    assert abs(w.var() / (bound**2 / 3) - 1) < 0.15
    assert np.abs(w).max() > 0.9 * bound
    assert len(np.unique(b)) == b.size


def test_module_state_dict_and_unbatched_input():
    m = tg.nn.Conv2d(2, 3, 3, padding=1, bias=False)
    assert list(m.state_dict()) == ["weight"] and m.bias is None
    x = tg.randn(2, 5, 5)
    np.testing.assert_allclose(m(x).detach().numpy(), m(x.unsqueeze(0))[0].detach().numpy())


# ----- bad input ------------------------------------------------------------------------------
def _x(*shape, dtype=tg.float32):
    return tg.zeros(*shape, dtype=dtype)


@pytest.mark.parametrize("call,exc,match", [
    (lambda: F.conv2d(_x(2, 4, 5, 5), _x(6, 3, 3, 3)), RuntimeError,
     r"conv2d.*weight of size \[6, 3, 3, 3\].*input\[2, 4, 5, 5\] to have 3 channels.*got 4"),
    (lambda: F.conv2d(_x(2, 4, 5, 5), _x(6, 4, 7, 7)), RuntimeError,
     r"conv2d.*padded input size per channel: \(5 x 5\).*Kernel size: \(7 x 7\)"),
    (lambda: F.conv2d(_x(2, 4, 5, 5), _x(6, 4, 3, 3), padding=1, dilation=4), RuntimeError,
     r"Kernel size: \(9 x 9\)"),
    (lambda: F.conv2d(_x(2, 4, 5, 5), _x(6, 2, 3, 3), groups=3), RuntimeError,
     r"conv2d.*groups=3"),
    (lambda: F.conv2d(_x(2, 4, 5, 5), _x(5, 2, 3, 3), groups=2), RuntimeError,
     r"conv2d.*divisible by 2.*\[5, 2, 3, 3\]"),
    (lambda: F.conv2d(_x(2, 4, 5, 5), _x(6, 4, 3, 3), groups=0), RuntimeError, "groups"),
    (lambda: F.conv2d(_x(2, 4, 5, 5), _x(6, 4, 3, 3), padding=-1), RuntimeError,
     "conv2d: negative padding"),
    (lambda: F.conv2d(_x(2, 4, 5, 5), _x(6, 4, 3, 3), stride=0), RuntimeError,
     "conv2d: non-positive stride"),
    (lambda: F.conv2d(_x(2, 4, 5, 5), _x(6, 4, 3, 3), dilation=(1, 0)), RuntimeError,
     "non-positive dilation"),
    (lambda: F.conv2d(_x(2, 4, 5, 5), _x(6, 4, 3, 3), padding=(1, 2, 3)), RuntimeError,
     "padding to be a single integer value or a list of 2"),
    (lambda: F.conv2d(_x(2, 4, 5, 5), _x(6, 4, 3, 3), padding="full"), ValueError,
     "conv2d: invalid padding string 'full'"),
    (lambda: F.conv2d(_x(2, 4, 5, 5), _x(6, 4, 3, 3), padding="same", stride=2), ValueError,
     "not supported for strided"),
    (lambda: F.conv2d(_x(2, 4, 5, 5), _x(6, 4, 3, 3), _x(5)), RuntimeError,
     r"bias.*6 elements.*\[5\]"),
    (lambda: F.conv2d(_x(5, 5), _x(6, 4, 3, 3)), RuntimeError,
     r"conv2d: expected 3D \(unbatched\) or 4D \(batched\) input.*\[5, 5\]"),
    (lambda: F.conv2d(_x(2, 4, 5, 5), _x(6, 4, 3)), RuntimeError, r"4-D weight.*\[6, 4, 3\]"),
    (lambda: F.conv1d(_x(2, 4, 5, 5), _x(6, 4, 3)), RuntimeError, r"conv1d: expected 2D"),
    (lambda: F.conv2d(_x(2, 4, 5, 5, dtype=tg.int64), _x(6, 4, 3, 3, dtype=tg.int64)),
     TypeError, r"conv2d: expected floating-point.*int64"),
    (lambda: F.conv2d(_x(2, 4, 5, 5), _x(6, 4, 3, 3, dtype=tg.float64)), TypeError,
     r"conv2d: expected input and weight.*float32.*float64"),
    (lambda: F.conv2d(None, _x(6, 4, 3, 3)), TypeError, "conv2d"),
    (lambda: F.conv2d(_x(2, 4, 5, 5), _x(6, 4, 3, 3), stride="2"), TypeError, "stride"),
    (lambda: F.pad(_x(2, 3), (1, 2, 3)), RuntimeError, "pad: padding length must be divisible"),
    (lambda: F.pad(_x(2, 3), (1, 1, 1, 1, 1, 1)), RuntimeError, "pad: padding length should"),
    (lambda: F.pad(_x(2, 3), (-2, -2)), RuntimeError, r"pad:.*\[2, 3\].*negative size"),
    (lambda: F.pad(_x(2, 3), (1, 1), mode="mirror"), NotImplementedError, "mirror"),
    (lambda: F.pad(_x(2, 3), (1, 1), mode="reflect", value=2.0), RuntimeError,
     "doesn't take in value"),
    (lambda: F.pad(_x(2, 3, 4), (4, 0), mode="reflect"), RuntimeError,
     r"pad: padding \(4, 0\).*\[2, 3, 4\]"),
    (lambda: F.pad(_x(2, 3, 4), (0, 5), mode="circular"), RuntimeError, "circular"),
    (lambda: F.pad(_x(2, 3, 4, 5), (1, 1), mode="reflect"), NotImplementedError,
     r"\[2, 3, 4, 5\]"),
    (lambda: F.pad(_x(5), (1, 1), mode="reflect"), NotImplementedError, r"\[5\]"),
    (lambda: F.pad(_x(2, 3, 4), (1, 1, 1), mode="reflect"), RuntimeError, "divisible by 2"),
    (lambda: tg.nn.Conv2d(3, 4, 3, groups=2), ValueError, "in_channels must be divisible"),
    (lambda: tg.nn.Conv2d(4, 5, 3, groups=2), ValueError, "out_channels must be divisible"),
    (lambda: tg.nn.Conv2d(3, 4, 3, padding="full"), ValueError, "Invalid padding string"),
    (lambda: tg.nn.Conv2d(3, 4, 3, padding="same", stride=2), ValueError, "strided"),
    (lambda: tg.nn.Conv2d(3, 4, 3, padding_mode="mirror"), ValueError, "padding_mode"),
    (lambda: tg.nn.Conv2d(3, 4, (3, 3, 3)), ValueError, "kernel_size"),
])
def test_bad_input_raises(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_module_names_wrong_channels():
    m = tg.nn.Conv2d(3, 4, 3)
    with pytest.raises(RuntimeError, match=r"input\[2, 5, 8, 8\] to have 3 channels"):
        m(tg.zeros(2, 5, 8, 8))
