"""tapegrad.nn: Module bookkeeping, Parameter, layers, losses, functional, init."""

from __future__ import annotations

import math

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F


def _np(t):
    return t.detach().numpy()


# ----- Parameter ----------------------------------------------------------------------------
def test_parameter_is_a_leaf_tensor_that_requires_grad():
    p = nn.Parameter(tg.zeros(2, 3))
    assert isinstance(p, tg.Tensor)
    assert isinstance(p, nn.Parameter)
    assert p.is_leaf and p.requires_grad and p.grad_fn is None
    assert not isinstance(tg.zeros(2), nn.Parameter)
    assert not isinstance(tg.zeros(2, requires_grad=True), nn.Parameter)


def test_parameter_shares_storage_and_detaches():
    data = tg.ones(3, requires_grad=True) * 2  # non-leaf
    p = nn.Parameter(data)
    assert p.is_leaf and p.grad_fn is None
    np.testing.assert_array_equal(_np(p), [2, 2, 2])


def test_parameter_requires_grad_false_and_int_dtype():
    p = nn.Parameter(tg.zeros(2), requires_grad=False)
    assert not p.requires_grad and isinstance(p, nn.Parameter)
    with pytest.raises(RuntimeError, match="floating point"):
        nn.Parameter(tg.tensor([1, 2]))


# ----- Module -------------------------------------------------------------------------------
class Line(nn.Module):
    def __init__(self):
        super().__init__()
        self.m = nn.Parameter(tg.tensor([0.9]))
        self.b = nn.Parameter(tg.tensor([0.1]))
        self.not_a_param = tg.zeros(1)

    def forward(self, x):
        return self.m * x + self.b


def test_module_registers_parameters_in_order_and_calls_forward():
    line = Line()
    assert [n for n, _ in line.named_parameters()] == ["m", "b"]
    assert len(list(line.parameters())) == 2
    y = line(tg.tensor([0.0, 1.0]))
    np.testing.assert_allclose(_np(y), [0.1, 1.0], rtol=1e-6)
    y.sum().backward()
    assert line.m.grad is not None


def test_module_nested_names_and_shared_parameters_once():
    shared = nn.Linear(2, 2)
    net = nn.Sequential(shared, nn.ReLU(), shared)
    names = [n for n, _ in net.named_parameters()]
    assert names == ["0.weight", "0.bias"]
    outer = nn.Sequential(nn.Linear(2, 3), nn.Sequential(nn.Linear(3, 1)))
    assert [n for n, _ in outer.named_parameters()] == ["0.weight", "0.bias", "1.0.weight",
                                                        "1.0.bias"]
    assert len(list(outer.modules())) == 4


def test_module_without_init_call_and_forward():
    class Bad(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(tg.zeros(1))

    with pytest.raises(AttributeError, match="super\\(\\).__init__"):
        Bad()
    with pytest.raises(NotImplementedError, match="forward"):
        nn.Module()(tg.zeros(1))


def test_assigning_a_plain_tensor_over_a_parameter_is_refused():
    lin = nn.Linear(2, 1)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        lin.weight = tg.zeros(1, 2)
    lin.weight = nn.Parameter(tg.zeros(1, 2))
    assert lin.weight.tolist() == [[0.0, 0.0]]


def test_zero_grad_set_to_none_default_and_zeros():
    lin = nn.Linear(3, 2)
    lin(tg.ones(4, 3)).sum().backward()
    assert lin.weight.grad is not None
    lin.zero_grad(set_to_none=False)
    assert lin.weight.grad is not None and float(lin.weight.grad.abs().sum()) == 0.0
    lin.zero_grad()
    assert lin.weight.grad is None and lin.bias.grad is None


def test_train_eval_propagate():
    net = nn.Sequential(nn.Linear(2, 2), nn.Sequential(nn.ReLU()))
    assert all(m.training for m in net.modules())
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    net.train()
    assert all(m.training for m in net.modules())


def test_requires_grad_toggle_and_apply():
    net = nn.Sequential(nn.Linear(2, 2), nn.Linear(2, 1))
    net.requires_grad_(False)
    assert not any(p.requires_grad for p in net.parameters())
    seen = []
    net.apply(lambda m: seen.append(type(m).__name__))
    assert seen == ["Linear", "Linear", "Sequential"]


def test_buffers_are_in_state_dict_but_not_parameters():
    m = nn.Module()
    m.register_buffer("running", tg.zeros(3))
    m.w = nn.Parameter(tg.ones(2))
    assert list(m.state_dict()) == ["w", "running"]
    assert [n for n, _ in m.named_parameters()] == ["w"]


# ----- state dicts --------------------------------------------------------------------------
def test_state_dict_round_trip_copies_values():
    a, b = nn.Linear(4, 3), nn.Linear(4, 3)
    sd = a.state_dict()
    assert list(sd) == ["weight", "bias"]
    assert not sd["weight"].requires_grad
    assert b.load_state_dict(sd) == ([], [])
    np.testing.assert_array_equal(_np(a.weight), _np(b.weight))
    # b keeps its own storage: changing a does not change b
    with tg.no_grad():
        a.weight.fill_(7.0)
    assert float(b.weight.abs().max()) < 1.0
    assert b.weight.is_leaf and b.weight.requires_grad


def test_load_state_dict_accepts_numpy_arrays():
    lin = nn.Linear(2, 1)
    lin.load_state_dict({"weight": np.array([[1.0, 2.0]]), "bias": np.array([3.0])})
    assert lin.weight.tolist() == [[1.0, 2.0]] and lin.bias.tolist() == [3.0]
    assert lin.weight.dtype == tg.float32


def test_load_state_dict_missing_unexpected_and_shape_errors():
    lin = nn.Linear(3, 2)
    with pytest.raises(RuntimeError) as e:
        lin.load_state_dict({"weight": tg.zeros(2, 2), "extra": tg.zeros(1)})
    msg = str(e.value)
    assert "Error(s) in loading state_dict for Linear" in msg
    assert 'Missing key(s) in state_dict: "bias"' in msg
    assert 'Unexpected key(s) in state_dict: "extra"' in msg
    assert "size mismatch for weight" in msg and "[2, 2]" in msg and "[2, 3]" in msg
    before = _np(lin.weight).copy()
    np.testing.assert_array_equal(_np(lin.weight), before)  # nothing half-loaded


def test_load_state_dict_non_strict_reports_keys():
    lin = nn.Linear(3, 2)
    missing, unexpected = lin.load_state_dict({"weight": tg.zeros(2, 3), "x": tg.zeros(1)},
                                              strict=False)
    assert missing == ["bias"] and unexpected == ["x"]
    assert float(lin.weight.abs().sum()) == 0.0
    with pytest.raises(TypeError, match="dict-like"):
        lin.load_state_dict([("weight", tg.zeros(2, 3))])


# ----- layers -------------------------------------------------------------------------------
def test_linear_shapes_init_bounds_and_forward():
    tg.manual_seed(3)
    lin = nn.Linear(50, 20)
    assert lin.weight.shape == (20, 50) and lin.bias.shape == (20,)
    bound = 1 / math.sqrt(50)
    w, b = _np(lin.weight), _np(lin.bias)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.9 * bound  # uniform over the whole range
    assert abs(w.mean()) < 0.01
    x = tg.randn(7, 50)
    np.testing.assert_allclose(_np(lin(x)), _np(x) @ w.T + b, rtol=1e-5, atol=1e-5)
    assert nn.Linear(3, 2, bias=False).bias is None
    assert [n for n, _ in nn.Linear(3, 2, bias=False).named_parameters()] == ["weight"]


def test_linear_matches_torch_forward_and_backward():
    torch = pytest.importorskip("torch")
    lin = nn.Linear(5, 3)
    tl = torch.nn.Linear(5, 3)
    with torch.no_grad():
        tl.weight.copy_(torch.from_numpy(_np(lin.weight).copy()))
        tl.bias.copy_(torch.from_numpy(_np(lin.bias).copy()))
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(np.float32)
    out = lin(tg.tensor(x))
    tout = tl(torch.from_numpy(x))
    np.testing.assert_allclose(_np(out), tout.detach().numpy(), rtol=1e-5, atol=1e-6)
    (out * out).sum().backward()
    (tout * tout).sum().backward()
    np.testing.assert_allclose(_np(lin.weight.grad), tl.weight.grad.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(lin.bias.grad), tl.bias.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_sequential_indexing_slicing_len_iter_append_and_repr():
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    assert net[1].weight.shape == (3, 4)
    assert net[-1].out_features == 2
    assert len(net) == 4 and len(net[1:3]) == 2
    assert [type(m).__name__ for m in net] == ["Flatten", "Linear", "ReLU", "Linear"]
    with pytest.raises(IndexError, match="out of range"):
        net[4]
    net.append(nn.Sigmoid())
    assert len(net) == 5
    assert repr(net) == (
        "Sequential(\n"
        "  (0): Flatten(start_dim=1, end_dim=-1)\n"
        "  (1): Linear(in_features=4, out_features=3, bias=True)\n"
        "  (2): ReLU()\n"
        "  (3): Linear(in_features=3, out_features=2, bias=True)\n"
        "  (4): Sigmoid()\n"
        ")")
    assert net(tg.ones(5, 2, 2)).shape == (5, 2)


def test_flatten_and_activations():
    x = tg.tensor([[-1.0, 0.0, 2.0]])
    assert nn.Flatten()(tg.zeros(2, 3, 4)).shape == (2, 12)
    assert nn.Flatten(0)(tg.zeros(2, 3)).shape == (6,)
    np.testing.assert_allclose(_np(nn.ReLU()(x)), [[0, 0, 2]])
    np.testing.assert_allclose(_np(nn.Sigmoid()(x)), 1 / (1 + np.exp(-_np(x))), rtol=1e-6)
    np.testing.assert_allclose(_np(nn.Tanh()(x)), np.tanh(_np(x)), rtol=1e-6)


# ----- losses and functional ----------------------------------------------------------------
def test_cross_entropy_reference_numbers():
    p = tg.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    y = tg.tensor([0, 2])
    got = F.cross_entropy(p.log(), y, reduction="none")
    np.testing.assert_allclose(_np(got), [2.3026, 0.6931], atol=1e-4)
    mean = nn.CrossEntropyLoss()(p.log(), y).item()
    assert mean == pytest.approx((2.302585 + 0.693147) / 2, abs=1e-5)
    total = nn.CrossEntropyLoss(reduction="sum")(p.log(), y).item()
    assert total == pytest.approx(2.302585 + 0.693147, abs=1e-5)


def test_mse_loss_reductions_and_module():
    a, b = tg.tensor([1.0, 2.0, 3.0]), tg.tensor([0.0, 0.0, 1.0])
    assert F.mse_loss(a, b).item() == pytest.approx(3.0)
    assert F.mse_loss(a, b, reduction="sum").item() == pytest.approx(9.0)
    assert F.mse_loss(a, b, reduction="none").tolist() == [1.0, 4.0, 4.0]
    assert nn.MSELoss()(a, b).item() == pytest.approx(3.0)
    with pytest.raises(ValueError, match="reduction"):
        F.mse_loss(a, b, reduction="avg")
    with pytest.raises(ValueError, match="reduction"):
        nn.CrossEntropyLoss(reduction="avg")


def test_functional_matches_numpy():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((4, 5)).astype(np.float32)
    t = tg.tensor(x)
    e = np.exp(x - x.max(1, keepdims=True))
    sm = e / e.sum(1, keepdims=True)
    np.testing.assert_allclose(_np(F.softmax(t, dim=1)), sm, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(_np(F.log_softmax(t, dim=1)), np.log(sm), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(F.relu(t)), np.maximum(x, 0))
    np.testing.assert_allclose(_np(F.sigmoid(t)), 1 / (1 + np.exp(-x)), rtol=1e-5)
    w = rng.standard_normal((3, 5)).astype(np.float32)
    bias = rng.standard_normal(3).astype(np.float32)
    np.testing.assert_allclose(_np(F.linear(t, tg.tensor(w), tg.tensor(bias))), x @ w.T + bias,
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(_np(F.linear(t, tg.tensor(w))), x @ w.T, rtol=1e-5, atol=1e-5)
    z = tg.tensor([0.0, 2.0, -3.0])
    tgt = tg.tensor([1.0, 0.0, 1.0])
    zz, yy = _np(z), _np(tgt)
    ref = np.mean(np.maximum(zz, 0) - zz * yy + np.log1p(np.exp(-np.abs(zz))))
    assert F.binary_cross_entropy_with_logits(z, tgt).item() == pytest.approx(ref, rel=1e-5)
    assert nn.BCEWithLogitsLoss()(z, tgt).item() == pytest.approx(ref, rel=1e-5)


def test_losses_backprop_into_linear():
    lin = nn.Linear(3, 4)
    loss = nn.CrossEntropyLoss()(lin(tg.randn(6, 3)), tg.tensor([0, 1, 2, 3, 0, 1]))
    loss.backward()
    assert lin.weight.grad.shape == (4, 3) and lin.bias.grad.shape == (4,)


# ----- init ---------------------------------------------------------------------------------
def test_init_functions_fill_in_place_under_no_grad():
    w = nn.Parameter(tg.empty(200, 50))
    assert nn.init.normal_(w, mean=1.0, std=0.01) is not None
    a = _np(w)
    assert abs(a.mean() - 1.0) < 1e-3 and abs(a.std() - 0.01) < 1e-3
    nn.init.uniform_(w, -0.5, 0.5)
    a = _np(w)
    assert a.min() >= -0.5 and a.max() <= 0.5 and a.max() - a.min() > 0.99
    nn.init.zeros_(w)
    assert float(w.abs().sum()) == 0.0
    assert w.is_leaf and w.requires_grad  # still a trainable leaf
    with pytest.raises(ValueError, match="a <= b"):
        nn.init.uniform_(w, 1.0, 0.0)
    with pytest.raises(ValueError, match="fewer than 2"):
        nn.init.kaiming_uniform_(tg.empty(3))


def test_nn_namespace_mirrors_torch_nn_modules():
    assert set(nn.__all__) >= {"Module", "Parameter", "Linear", "Sequential", "Flatten",
                               "Identity", "ReLU", "Sigmoid", "Tanh", "MSELoss",
                               "CrossEntropyLoss", "BCEWithLogitsLoss", "functional", "init"}
    for name in nn.__all__:
        assert getattr(nn, name) is not None, name
    from tapegrad.nn.modules import activation, container, linear, loss, module
    from tapegrad.nn.parameter import Parameter
    assert (module.Module, linear.Linear, container.Sequential, activation.ReLU,
            loss.CrossEntropyLoss, Parameter) == (nn.Module, nn.Linear, nn.Sequential, nn.ReLU,
                                                  nn.CrossEntropyLoss, nn.Parameter)
    assert nn.functional is F and nn.init is tg.nn.init
