"""The activations of torch.nn.functional (gelu, silu, leaky_relu, elu, softplus, logsigmoid,
hardtanh) beyond the op table's gradcheck/parity rows (tests/optable.py): their modules, the
gradients exactly at the kinks and in the far tails against PyTorch, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F

torch = pytest.importorskip("torch")
TF = torch.nn.functional

# (tapegrad F call, torch F call) with non-default parameters where the op has them
PAIRS = {
    "gelu": (lambda x: F.gelu(x), lambda x: TF.gelu(x)),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), lambda x: TF.gelu(x, approximate="tanh")),
    "silu": (F.silu, TF.silu),
    "leaky_relu": (lambda x: F.leaky_relu(x, 0.2), lambda x: TF.leaky_relu(x, 0.2)),
    "elu": (lambda x: F.elu(x, 0.7), lambda x: TF.elu(x, 0.7)),
    "softplus": (lambda x: F.softplus(x, 2.0, 3.0), lambda x: TF.softplus(x, 2.0, 3.0)),
    "logsigmoid": (F.logsigmoid, TF.logsigmoid),
    "hardtanh": (lambda x: F.hardtanh(x, -0.5, 1.5), lambda x: TF.hardtanh(x, -0.5, 1.5)),
}

# the kinks and thresholds themselves, far tails (overflow of the naive forms), NaN and ±inf
SPECIAL = [0.0, -0.0, 1.0, -1.0, 1.5, -0.5, 0.5, 1e-12, -1e-12, 40.0, -40.0, 800.0, -800.0,
           1e5, -1e5]


@pytest.mark.parametrize("name", sorted(PAIRS))
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_values_and_gradients_at_kinks_and_tails_match_torch(name, dtype):
    f, tf = PAIRS[name]
    x = tg.tensor(SPECIAL, dtype=getattr(tg, dtype), requires_grad=True)
    xt = torch.tensor(SPECIAL, dtype=getattr(torch, dtype), requires_grad=True)
    y, yt = f(x), tf(xt)
    y.sum().backward()
    yt.sum().backward()
    tol = 1e-12 if dtype == "float64" else 1e-6
    np.testing.assert_allclose(y.detach().numpy(), yt.detach().numpy(), rtol=tol, atol=tol)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=tol, atol=tol)


@pytest.mark.parametrize("name", sorted(PAIRS))
def test_nan_and_inf_propagate_as_torch(name):
    f, tf = PAIRS[name]
    vals = [float("nan"), float("inf"), -float("inf")]
    y = f(tg.tensor(vals, dtype=tg.float64)).numpy()
    yt = tf(torch.tensor(vals, dtype=torch.float64)).numpy()
    np.testing.assert_array_equal(y, yt)


def test_softplus_and_logsigmoid_are_stable_in_the_tails():
    x = tg.tensor([-1000.0, 1000.0], dtype=tg.float32)
    assert F.softplus(x).tolist() == [0.0, 1000.0]
    assert F.logsigmoid(x).tolist() == [-1000.0, 0.0]


def test_each_grad_fn_is_one_entry_named_as_torch():
    x = tg.tensor([0.5, -0.5], requires_grad=True)
    names = {"gelu": "GeluBackward0", "gelu_tanh": "GeluBackward0", "silu": "SiluBackward0",
             "leaky_relu": "LeakyReluBackward0", "elu": "EluBackward0",
             "softplus": "SoftplusBackward0", "logsigmoid": "LogSigmoidBackward0",
             "hardtanh": "HardtanhBackward0"}
    for name, (f, _) in PAIRS.items():
        assert f(x).grad_fn == names[name], name  # a str in tapegrad


MODULES = [
    (nn.GELU(), "GELU(approximate='none')", lambda x: F.gelu(x)),
    (nn.GELU("tanh"), "GELU(approximate='tanh')", lambda x: F.gelu(x, approximate="tanh")),
    (nn.SiLU(), "SiLU()", F.silu),
    (nn.LeakyReLU(), "LeakyReLU(negative_slope=0.01)", F.leaky_relu),
    (nn.LeakyReLU(0.2), "LeakyReLU(negative_slope=0.2)", lambda x: F.leaky_relu(x, 0.2)),
    (nn.ELU(), "ELU(alpha=1.0)", F.elu),
    (nn.ELU(alpha=0.5), "ELU(alpha=0.5)", lambda x: F.elu(x, 0.5)),
    (nn.Softplus(), "Softplus(beta=1.0, threshold=20.0)", F.softplus),
    (nn.Softplus(2, 5), "Softplus(beta=2, threshold=5)", lambda x: F.softplus(x, 2, 5)),
    (nn.LogSigmoid(), "LogSigmoid()", F.logsigmoid),
    (nn.Hardtanh(), "Hardtanh(min_val=-1.0, max_val=1.0)", F.hardtanh),
    (nn.Hardtanh(-2.0, 3.0), "Hardtanh(min_val=-2.0, max_val=3.0)", lambda x: F.hardtanh(x, -2.0, 3.0)),
]


@pytest.mark.parametrize("module,text,f", MODULES, ids=[m[1] for m in MODULES])
def test_module_repr_and_forward_equals_functional(module, text, f):
    assert repr(module) == text
    x = tg.tensor(np.random.default_rng(0).standard_normal((3, 5)) * 3)
    assert module(x).tolist() == f(x).tolist()
    assert list(module.parameters()) == []


def test_module_reprs_match_torch():
    for mine, theirs in [(nn.GELU(), torch.nn.GELU()), (nn.SiLU(), torch.nn.SiLU()),
                         (nn.LeakyReLU(), torch.nn.LeakyReLU()), (nn.ELU(), torch.nn.ELU()),
                         (nn.Softplus(), torch.nn.Softplus()),
                         (nn.LogSigmoid(), torch.nn.LogSigmoid()),
                         (nn.Hardtanh(), torch.nn.Hardtanh())]:
        assert repr(mine) == repr(theirs)


def test_modules_in_a_network_train():
    tg.manual_seed(0)
    net = nn.Sequential(nn.Linear(3, 4), nn.GELU(), nn.Linear(4, 4), nn.SiLU(), nn.Linear(4, 1))
    loss = F.mse_loss(net(tg.randn(8, 3)), tg.zeros(8, 1))
    loss.backward()
    assert all(p.grad is not None for p in net.parameters())


@pytest.mark.parametrize("name", ["gelu", "gelu_tanh", "silu", "leaky_relu", "elu", "softplus",
                                  "logsigmoid"])
def test_integer_and_bool_inputs_are_refused_as_torch(name):
    f, _ = PAIRS[name]
    op = {"gelu_tanh": "gelu", "logsigmoid": "log_sigmoid"}.get(name, name)
    for x in [tg.tensor([1, 2]), tg.tensor([True, False])]:
        with pytest.raises(TypeError, match=rf"{op}: expected a floating-point tensor.*\[2\]"):
            f(x)


def test_hardtanh_takes_integers_but_not_bools_as_torch():
    assert F.hardtanh(tg.tensor([-3, 0, 3])).tolist() == [-1, 0, 1]
    with pytest.raises(TypeError, match="hardtanh: not supported for bool"):
        F.hardtanh(tg.tensor([True]))


def test_bad_arguments_raise_clearly():
    x = tg.tensor([1.0])
    with pytest.raises(ValueError, match="gelu: approximate must be 'none' or 'tanh', got 'fast'"):
        F.gelu(x, approximate="fast")
    with pytest.raises(ValueError, match="GELU: approximate"):
        nn.GELU("fast")
    with pytest.raises(ValueError, match="hardtanh: min_val .* cannot be greater than max_val"):
        F.hardtanh(x, 1.0, -1.0)
    with pytest.raises(ValueError, match="Hardtanh: min_val"):
        nn.Hardtanh(1.0, -1.0)
    with pytest.raises(TypeError):
        F.silu([1.0, 2.0])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="leaky_relu"):
        F.leaky_relu(x, "big")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="elu"):
        F.elu(None)  # type: ignore[arg-type]


def test_not_in_torch_top_level_namespace_either():
    # PyTorch exposes these only in torch.nn.functional; tapegrad mirrors that surface.
    for name in ["gelu", "silu", "leaky_relu", "elu", "softplus", "logsigmoid", "hardtanh"]:
        assert hasattr(F, name) and not hasattr(tg, name) and not hasattr(tg.Tensor, name)
        assert not hasattr(torch, name) and not hasattr(torch.Tensor, name)
    assert hasattr(tg, "erf") and hasattr(tg.Tensor, "erf")
