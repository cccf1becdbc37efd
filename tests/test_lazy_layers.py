"""Lazy convolution and batch-norm layers (torch.nn.LazyConv1d/2d, LazyBatchNorm1d/2d/3d):
shapes from the first input, PyTorch's initialisation, the class they become, parameters an
optimizer built before the first call still holds, and state_dict round trips."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg

torch = pytest.importorskip("torch")

CONVS = [
    ("LazyConv2d", "Conv2d", dict(out_channels=6, kernel_size=5, padding=2), (2, 3, 9, 9)),
    ("LazyConv2d", "Conv2d", dict(out_channels=4, kernel_size=3, stride=2, groups=2, bias=False),
     (1, 4, 7, 8)),
    ("LazyConv2d", "Conv2d", dict(out_channels=2, kernel_size=(3, 1), padding="same"), (3, 5, 5)),
    ("LazyConv1d", "Conv1d", dict(out_channels=4, kernel_size=3, dilation=2), (2, 5, 11)),
]


@pytest.mark.parametrize("lazy, eager, kw, shape", CONVS)
def test_lazy_conv_matches_torch(lazy, eager, kw, shape):
    a, b = getattr(tg.nn, lazy)(**kw), getattr(torch.nn, lazy)(**kw)
    assert repr(a) == repr(b)
    opt = tg.optim.SGD(a.parameters(), lr=0.1)  # built before the parameters have shapes
    x = np.random.default_rng(0).normal(size=shape)
    ya = a(tg.tensor(x, dtype=tg.float32))
    yb = b(torch.tensor(x, dtype=torch.float32))
    assert type(a).__name__ == eager and repr(a) == repr(b)
    assert [tuple(p.shape) for p in a.parameters()] == [tuple(p.shape) for p in b.parameters()]
    assert tuple(ya.shape) == tuple(yb.shape)
    # PyTorch's init bound: every weight within 1/sqrt(fan_in)
    fan_in = np.prod(a.weight.shape[1:])
    assert np.abs(a.weight.detach().numpy()).max() <= 1 / np.sqrt(fan_in) + 1e-7
    with tg.no_grad():
        for p, q in zip(a.parameters(), b.parameters()):
            p.copy_(tg.tensor(q.detach().numpy()))
    np.testing.assert_allclose(a(tg.tensor(x, dtype=tg.float32)).detach().numpy(),
                               b(torch.tensor(x, dtype=torch.float32)).detach().numpy(),
                               rtol=1e-5, atol=1e-5)
    ya = a(tg.tensor(x, dtype=tg.float32))
    ya.sum().backward()
    opt.step()  # the optimizer holds the materialised parameters


@pytest.mark.parametrize("lazy, shape", [("LazyBatchNorm1d", (8, 3)), ("LazyBatchNorm1d", (4, 3, 5)),
                                         ("LazyBatchNorm2d", (2, 4, 3, 3)),
                                         ("LazyBatchNorm3d", (2, 2, 1, 3, 3))])
@pytest.mark.parametrize("kw", [{}, dict(affine=False), dict(track_running_stats=False, momentum=None)])
def test_lazy_batch_norm_matches_torch(lazy, shape, kw):
    a, b = getattr(tg.nn, lazy)(**kw), getattr(torch.nn, lazy)(**kw)
    x = np.random.default_rng(1).normal(size=shape).astype(np.float32)
    for _ in range(2):
        ya, yb = a(tg.tensor(x)), b(torch.tensor(x))
    np.testing.assert_allclose(ya.detach().numpy(), yb.detach().numpy(), rtol=1e-5, atol=1e-6)
    assert repr(a) == repr(b) and type(a).__name__ == type(b).__name__
    sa, sb = a.state_dict(), b.state_dict()
    assert list(sa) == list(sb)
    for k in sa:
        np.testing.assert_allclose(sa[k].numpy(), sb[k].numpy(), rtol=1e-5, atol=1e-6)


def test_lazy_layers_load_a_state_dict_before_the_first_call():
    src = tg.nn.Sequential(tg.nn.Conv2d(3, 4, 3), tg.nn.BatchNorm2d(4))
    dst = tg.nn.Sequential(tg.nn.LazyConv2d(4, 3), tg.nn.LazyBatchNorm2d())
    dst.load_state_dict(src.state_dict())
    x = tg.randn(2, 3, 6, 6)
    src.eval(), dst.eval()
    np.testing.assert_array_equal(dst(x).detach().numpy(), src(x).detach().numpy())
    assert dst[0].in_channels == 3 and dst[1].num_features == 4


def test_lazy_conv_errors_name_the_layer():
    with pytest.raises(ValueError, match="divisible by groups"):
        tg.nn.LazyConv2d(4, 3, groups=2)(tg.ones(1, 3, 5, 5))
    with pytest.raises(RuntimeError, match="LazyConv2d"):
        tg.nn.LazyConv2d(4, 3)(tg.ones(5, 5))
