"""Dropout: the fraction zeroed is p within a binomial bound, kept values are scaled by
1/(1 − p), eval mode is the identity, masks are reproducible under tg.manual_seed, and the
backward multiplies by the forward's mask; channel-wise dropout1d/2d; in-place; errors as
PyTorch's. (Float64 gradcheck of seeded masks is in optable.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import tapegrad as tg
import tapegrad.nn.functional as F


@pytest.mark.parametrize("p", [0.1, 0.5, 0.9])
@pytest.mark.parametrize("dtype", [tg.float32, tg.float64])
def test_fraction_zeroed_and_scaling(p, dtype):
    n = 200_000
    x = tg.rand(n, dtype=dtype) + 0.5  # no zeros of its own
    y = F.dropout(x, p).numpy()
    frac = float((y == 0).mean())
    assert abs(frac - p) <= 5 * np.sqrt(p * (1 - p) / n), frac  # 5σ binomial bound
    kept = y != 0
    want = x.numpy()[kept] * np.asarray(1 / (1 - p), x.numpy().dtype)
    np.testing.assert_allclose(y[kept], want, rtol=1e-6 if dtype == tg.float32 else 1e-15)


def test_eval_is_the_identity_and_p0_p1():
    x = tg.randn(4, 5)
    assert F.dropout(x, 0.5, training=False) is x
    drop = tg.nn.Dropout(0.3).eval()
    assert drop(x) is x
    np.testing.assert_array_equal(F.dropout(x, 0.0).numpy(), x.numpy())
    x = tg.randn(4, 5, requires_grad=True)
    y = F.dropout(x, 1.0)
    assert not y.detach().numpy().any()
    y.sum().backward()
    assert not x.grad.numpy().any()


def test_masks_are_reproducible_under_manual_seed():
    x = tg.ones(1000)
    tg.manual_seed(123)
    a = F.dropout(x, 0.5).numpy()
    tg.manual_seed(123)
    b = tg.nn.Dropout(0.5)(x).numpy()
    tg.manual_seed(124)
    c = F.dropout(x, 0.5).numpy()
    np.testing.assert_array_equal(a, b)
    assert (a != c).any()


def test_backward_uses_the_forward_mask():
    x = tg.rand(3, 1000, dtype=tg.float64, requires_grad=True)
    y = F.dropout(x, 0.3)
    assert y.grad_fn == "DropoutBackward0"
    v = tg.randn(3, 1000, dtype=tg.float64)
    (y * v).sum().backward()
    mask = (y.detach().numpy() != 0) / 0.7
    np.testing.assert_allclose(x.grad.numpy(), v.numpy() * mask, rtol=1e-15)
    # create_graph: the gradient is linear in v through the same mask
    x2 = tg.rand(50, dtype=tg.float64, requires_grad=True)
    y2 = F.dropout(x2, 0.5)
    (g,) = tg.grad([(y2 * y2).sum()], [x2], create_graph=True)
    (h,) = tg.grad([g.sum()], [x2])
    m = (y2.detach().numpy() != 0) * 2.0
    np.testing.assert_allclose(h.numpy(), 2 * m * m, rtol=1e-15)


@pytest.mark.parametrize("fn,shape,batched", [
    (F.dropout1d, (4, 6, 9), True), (F.dropout1d, (6, 9), False), (F.dropout2d, (4, 6, 3, 5), True),
])
def test_channel_dropout_zeroes_whole_channels(fn, shape, batched):
    tg.manual_seed(0)
    x = (tg.rand(*shape, dtype=tg.float64) + 1).requires_grad_()
    y = fn(x, 0.5)
    ch = y.detach().numpy().reshape(shape[: 2 if batched else 1] + (-1,))
    zero = (ch == 0).all(-1)
    assert ((ch != 0).all(-1) | zero).all()  # each channel all kept or all dropped
    assert 0 < zero.mean() < 1
    y.sum().backward()
    g = x.grad.numpy().reshape(ch.shape)
    np.testing.assert_array_equal(g, np.where(zero, 0.0, 2.0)[..., None] * np.ones_like(g))
    assert fn(x, 0.5, training=False) is x


def test_channel_dropout_shape_rules():
    with pytest.raises(ValueError, match="dropout1d: Expected 2D or 3D input, but received a 4D"):
        F.dropout1d(tg.ones(2, 3, 4, 5))
    with pytest.warns(UserWarning, match="Received a 3D input to dropout2d"):
        y = F.dropout2d(tg.ones(2, 3, 4), 0.5)
    assert tuple(y.shape) == (2, 3, 4)
    assert tuple(tg.nn.Dropout2d(0.5)(tg.ones(2, 3, 4, 4)).shape) == (2, 3, 4, 4)
    assert tuple(tg.nn.Dropout1d(0.5)(tg.ones(3, 4)).shape) == (3, 4)


def test_inplace():
    x = (tg.rand(100, dtype=tg.float64) + 1).requires_grad_()
    h = x * 1
    out = F.dropout(h, 0.5, inplace=True)
    assert out is h and ((h.detach().numpy() == 0) | (h.detach().numpy() > 1)).all()
    h.sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), (h.detach().numpy() != 0) * 2.0)
    leaf = tg.ones(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="dropout_: a leaf Variable that requires grad"):
        F.dropout(leaf, 0.5, inplace=True)
    z = tg.ones(1000)
    assert tg.nn.Dropout(0.5, inplace=True)(z) is z and (z.numpy() == 0).any()


def test_errors_and_modules():
    for p in (-0.1, 1.5):
        with pytest.raises(ValueError, match=f"dropout probability has to be between 0 and 1, "
                                             f"but got {p}"):
            F.dropout(tg.ones(2), p)
        with pytest.raises(ValueError, match="dropout probability has to be between 0 and 1"):
            tg.nn.Dropout(p)
    with pytest.raises(TypeError, match="dropout"):
        F.dropout(tg.ones(3, dtype=tg.int64), 0.5)
    assert repr(tg.nn.Dropout()) == "Dropout(p=0.5, inplace=False)"
    assert repr(tg.nn.Dropout2d(0.2, True)) == "Dropout2d(p=0.2, inplace=True)"
    assert list(tg.nn.Dropout().state_dict()) == []


def test_matches_torch_where_masks_do_not_matter():
    torch = pytest.importorskip("torch")
    for cls in ("Dropout", "Dropout1d", "Dropout2d"):
        assert repr(getattr(tg.nn, cls)(0.25)) == repr(getattr(torch.nn, cls)(0.25))
    with pytest.raises(ValueError) as ours:
        F.dropout(tg.ones(2), 2.0)
    with pytest.raises(ValueError) as theirs:
        torch.nn.functional.dropout(torch.ones(2), 2.0)
    assert str(ours.value) == str(theirs.value)
