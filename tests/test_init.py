"""nn.init: PyTorch's fan and gain computations, the bounds and statistics of every
initialiser, and PyTorch's errors."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import init

torch = pytest.importorskip("torch")

SHAPES = [(3, 5), (8, 4, 3, 3), (6, 2, 7), (1, 1)]


@pytest.mark.parametrize("shape", SHAPES)
def test_fans_match_torch(shape):
    ours = init.calculate_fan_in_and_fan_out(tg.empty(*shape))
    assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.empty(shape))


@pytest.mark.parametrize("name,param", [("linear", None), ("conv2d", None), ("sigmoid", None),
                                        ("tanh", None), ("relu", None), ("leaky_relu", None),
                                        ("leaky_relu", 0.2), ("leaky_relu", 3), ("selu", None)])
def test_gains_match_torch(name, param):
    assert init.calculate_gain(name, param) == torch.nn.init.calculate_gain(name, param)


@pytest.mark.parametrize("call,exc,msg", [
    (lambda: init.calculate_gain("swish"), ValueError, "Unsupported nonlinearity swish"),
    (lambda: init.calculate_gain("leaky_relu", True), ValueError, "not a valid number"),
    (lambda: init.kaiming_uniform_(tg.empty(3)), ValueError, "fewer than 2 dimensions"),
    (lambda: init.xavier_normal_(tg.empty(3)), ValueError, "fewer than 2 dimensions"),
    (lambda: init.kaiming_normal_(tg.empty(3, 2), mode="fan_avg"), ValueError,
     "Mode fan_avg not supported"),
    (lambda: init.eye_(tg.empty(2, 2, 2)), ValueError, "Only tensors with 2 dimensions"),
    (lambda: init.orthogonal_(tg.empty(4)), ValueError, "2 or more dimensions"),
])
def test_errors_as_torch(call, exc, msg):
    with pytest.raises(exc, match=msg):
        call()


def _bound_and_std(name, shape, **kw):
    """PyTorch's bound (uniform) or std (normal) for this initialiser, from its formulas."""
    t = torch.empty(shape)
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(t)
    if name.startswith("kaiming"):
        fan = fan_in if kw.get("mode", "fan_in") == "fan_in" else fan_out
        std = torch.nn.init.calculate_gain(kw.get("nonlinearity", "leaky_relu"),
                                           kw.get("a", 0)) / math.sqrt(fan)
    else:
        std = kw.get("gain", 1.0) * math.sqrt(2.0 / (fan_in + fan_out))
    return math.sqrt(3.0) * std, std


@pytest.mark.parametrize("name,kw", [
    ("kaiming_uniform_", dict()), ("kaiming_uniform_", dict(a=math.sqrt(5))),
    ("kaiming_uniform_", dict(mode="fan_out", nonlinearity="relu")),
    ("kaiming_normal_", dict()), ("kaiming_normal_", dict(mode="fan_out", nonlinearity="tanh")),
    ("xavier_uniform_", dict()), ("xavier_uniform_", dict(gain=2.0)),
    ("xavier_normal_", dict(gain=0.5)),
])
def test_bounds_and_statistics(name, kw):
    tg.manual_seed(0)
    shape = (400, 50, 3)
    w = getattr(init, name)(nn.Parameter(tg.empty(*shape)), **kw)
    assert w.is_leaf and w.requires_grad and tuple(w.shape) == shape
    a = w.detach().numpy().astype(np.float64)
    bound, std = _bound_and_std(name, shape, **kw)
    if name.endswith("uniform_"):
        assert a.min() >= -bound and a.max() <= bound
        assert a.max() > 0.99 * bound and a.min() < -0.99 * bound
        np.testing.assert_allclose(a.std(), bound / math.sqrt(3), rtol=0.02)
    else:
        np.testing.assert_allclose(a.std(), std, rtol=0.02)
    assert abs(a.mean()) < 0.05 * std


def test_linear_default_init_bound_is_torchs():
    tg.manual_seed(1)
    lin = nn.Linear(37, 11)
    a = lin.weight.detach().numpy()
    bound = _bound_and_std("kaiming_uniform_", (11, 37), a=math.sqrt(5))[0]
    assert np.float32(bound) == np.float32(1 / math.sqrt(37)) or abs(bound - 1 / 37 ** 0.5) < 1e-9
    assert np.abs(a).max() <= bound


def test_trunc_normal_statistics():
    tg.manual_seed(2)
    w = init.trunc_normal_(tg.empty(20000), mean=0.5, std=1.0, a=0.0, b=2.0)
    a = w.numpy().astype(np.float64)
    assert a.min() >= 0.0 and a.max() <= 2.0
    ref = torch.nn.init.trunc_normal_(torch.empty(200000, dtype=torch.float64), 0.5, 1.0, 0.0,
                                      2.0).numpy()
    np.testing.assert_allclose([a.mean(), a.std()], [ref.mean(), ref.std()], atol=0.02)
    with pytest.warns(UserWarning, match="more than 2 std"):
        init.trunc_normal_(tg.empty(10), mean=10.0, std=1.0, a=-2.0, b=2.0)


@pytest.mark.parametrize("shape", [(3, 5), (5, 3), (4, 2, 3), (6, 6)])
def test_orthogonal(shape):
    tg.manual_seed(3)
    w = init.orthogonal_(tg.empty(*shape, dtype=tg.float64), gain=2.0)
    m = w.numpy().reshape(shape[0], -1)
    rows, cols = m.shape
    gram = m @ m.T if rows <= cols else m.T @ m
    np.testing.assert_allclose(gram, 4.0 * np.eye(min(rows, cols)), atol=1e-12)


def test_constant_eye_and_zero_size():
    assert init.eye_(tg.empty(3, 2)).tolist() == torch.nn.init.eye_(torch.empty(3, 2)).tolist()
    assert init.ones_(tg.empty(2)).tolist() == [1.0, 1.0]
    assert init.constant_(tg.empty(2), 0.25).tolist() == [0.25, 0.25]
    assert init.zeros_(tg.ones(2)).tolist() == [0.0, 0.0]
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        init.kaiming_uniform_(tg.empty(0, 3))
    with pytest.warns(UserWarning, match="zero-element tensors is a no-op"):
        torch.nn.init.kaiming_uniform_(torch.empty(0, 3))
