"""nn.utils: gradient clipping against torch.nn.utils (norms of every order, the returned total
norm, non-finite handling) and the parameter-vector conversions."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn

torch = pytest.importorskip("torch")

SHAPES = [(7,), (5, 3), (65,), (1,), (0,)]


def _twins(dtype, seed=0, with_none=True, shapes=SHAPES):
    rng = np.random.default_rng(seed)
    ours, theirs = [], []
    for i, s in enumerate(shapes):
        p, t = tg.zeros(*s, dtype=dtype, requires_grad=True), torch.zeros(
            s, dtype=getattr(torch, str(dtype).split(".")[-1]), requires_grad=True)
        if not (with_none and i == 3):
            g = rng.standard_normal(s) * 3
            p.grad, t.grad = tg.tensor(g, dtype=dtype), torch.tensor(g, dtype=t.dtype)
        ours.append(p)
        theirs.append(t)
    return ours, theirs


@pytest.mark.parametrize("dtype", [tg.float32, tg.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("norm_type", [2.0, 1, 3.5, math.inf, "inf", 0.5])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])
def test_clip_grad_norm_matches_torch(dtype, norm_type, max_norm):
    # PyTorch has no ∞-norm of an empty gradient (no identity for max); see below.
    ours, theirs = _twins(dtype, shapes=SHAPES[:-1] if float(norm_type) == math.inf else SHAPES)
    total = nn.utils.clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    want = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    tol = 1e-12 if dtype == tg.float64 else 1e-6
    assert total.dtype == dtype and total.ndim == 0
    np.testing.assert_allclose(total.item(), want.item(), rtol=tol)
    for p, t in zip(ours, theirs):
        if t.grad is None:
            assert p.grad is None
        else:
            np.testing.assert_allclose(p.grad.numpy(), t.grad.numpy(), rtol=tol, atol=tol)


def test_single_tensor_generator_and_no_grads():
    w = tg.ones(4, requires_grad=True)
    (2 * w).sum().backward()
    assert nn.utils.clip_grad_norm_(w, 1.0).item() == pytest.approx(4.0)
    assert float((w.grad * w.grad).sum()) == pytest.approx(1.0, rel=1e-5)
    lin = nn.Linear(3, 2)
    assert nn.utils.clip_grad_norm_(lin.parameters(), 1.0).item() == 0.0  # no grads yet
    lin(tg.ones(4, 3)).sum().backward()
    total = nn.utils.clip_grad_norm_(lin.parameters(), 0.1)  # a generator, as PyTorch takes
    norm = math.sqrt(sum(float((p.grad * p.grad).sum()) for p in lin.parameters()))
    assert total.item() > 0.1 and norm == pytest.approx(0.1, rel=1e-4)


def test_inf_norm_of_an_empty_gradient_raises_as_torch():
    ours, theirs = _twins(tg.float32)
    with pytest.raises(RuntimeError, match="identity"):
        nn.utils.clip_grad_norm_(ours, 1.0, norm_type="inf")
    with pytest.raises(RuntimeError, match="identity"):
        torch.nn.utils.clip_grad_norm_(theirs, 1.0, norm_type="inf")


def test_non_finite_norm():
    w = tg.ones(2, requires_grad=True)
    w.grad = tg.tensor([1.0, math.inf])
    with pytest.raises(RuntimeError, match="non-finite"):
        nn.utils.clip_grad_norm_([w], 1.0, error_if_nonfinite=True)
    assert math.isinf(nn.utils.clip_grad_norm_([w], 1.0).item())
    t = torch.ones(2, requires_grad=True)
    t.grad = torch.tensor([1.0, math.inf])
    torch.nn.utils.clip_grad_norm_([t], 1.0)
    np.testing.assert_array_equal(w.grad.numpy(), t.grad.numpy())  # inf norm: nan/0 as torch


def test_deprecated_alias_warns():
    with pytest.warns(FutureWarning, match="clip_grad_norm_"):
        nn.utils.clip_grad_norm([tg.ones(1, requires_grad=True)], 1.0)


@pytest.mark.parametrize("clip", [0.5, 2, 100.0])
def test_clip_grad_value_matches_torch(clip):
    ours, theirs = _twins(tg.float32)
    assert nn.utils.clip_grad_value_(ours, clip) is None
    torch.nn.utils.clip_grad_value_(theirs, clip)
    for p, t in zip(ours, theirs):
        if t.grad is not None:
            np.testing.assert_array_equal(p.grad.numpy(), t.grad.numpy())


def test_parameters_to_vector_round_trip_and_grad():
    net = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Linear(4, 2))
    vec = nn.utils.parameters_to_vector(net.parameters())
    tnet = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
    torch.nn.utils.vector_to_parameters(torch.tensor(vec.detach().numpy()), tnet.parameters())
    for p, t in zip(net.parameters(), tnet.parameters()):
        np.testing.assert_array_equal(p.detach().numpy(), t.detach().numpy())
    assert vec.shape == (sum(p.numel() for p in net.parameters()),)
    (vec * vec).sum().backward()  # differentiable, as torch's cat of views
    for p in net.parameters():
        np.testing.assert_allclose(p.grad.numpy(), 2 * p.detach().numpy(), rtol=1e-6)
    new = tg.arange(vec.shape[0], dtype=tg.float32)
    nn.utils.vector_to_parameters(new, net.parameters())
    np.testing.assert_array_equal(nn.utils.parameters_to_vector(net.parameters()).detach()
                                  .numpy(), new.numpy())
    assert net[0].weight.is_leaf and net[0].weight.requires_grad
    with pytest.raises(TypeError, match="expected torch.Tensor"):
        nn.utils.vector_to_parameters([1.0], net.parameters())
    with pytest.raises(ValueError, match=r"expected a 1-D vector of 26 elements.*got shape \[3\]"):
        nn.utils.vector_to_parameters(tg.zeros(3), net.parameters())
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        nn.utils.vector_to_parameters(new.double(), net.parameters())  # converted to float32
