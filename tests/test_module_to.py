"""Module.to / .cpu / .float / .double / .type as PyTorch: floating parameters converted in place
(same Parameter objects, so optimizers built before see the change), floating buffers converted,
integer buffers left alone; compared with what torch does to the same module."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg


def _net(mod):
    return mod.nn.Sequential(mod.nn.Linear(3, 4), mod.nn.BatchNorm1d(4), mod.nn.Linear(4, 2))


def _dtypes(m):
    return {k: str(v.dtype).split(".")[-1] for k, v in [*m.named_parameters(),
                                                       *m.named_buffers()]}


@pytest.mark.parametrize("call", [
    lambda m, t: m.to(t.float64), lambda m, t: m.to(dtype=t.float64),
    lambda m, t: m.to("cpu", t.float64), lambda m, t: m.to(device="cpu", dtype=t.float64),
    lambda m, t: m.to(t.zeros(1, dtype=t.float64)), lambda m, t: m.double(),
    lambda m, t: m.double().float(), lambda m, t: m.cpu(), lambda m, t: m.to("cpu"),
    lambda m, t: m.type(t.float64),
])
def test_module_to_matches_torch(call):
    torch = pytest.importorskip("torch")
    tm, gm = _net(torch), _net(tg)
    params = list(gm.parameters())
    opt = tg.optim.SGD(gm.parameters(), lr=0.1)
    assert call(gm, tg) is gm and call(tm, torch) is tm
    assert _dtypes(gm) == _dtypes(tm)
    assert all(a is b for a, b in zip(gm.parameters(), params))
    assert all(isinstance(p, tg.nn.Parameter) and p.requires_grad for p in gm.parameters())
    assert opt.param_groups[0]["params"][0] is params[0]
    # still trains: forward, backward, step, in the converted dtype
    dt = gm[0].weight.dtype
    gm(tg.ones(5, 3, dtype=dt)).sum().backward()
    assert gm[0].weight.grad.dtype == dt
    opt.step()


def test_module_to_converts_values_and_grads():
    m = tg.nn.Linear(2, 3)
    w = m.weight
    before = w.detach().numpy().copy()
    m(tg.ones(1, 2)).sum().backward()
    g = w.grad.numpy().copy()
    m.double()
    assert w.dtype == tg.float64 and w.grad.dtype == tg.float64
    np.testing.assert_array_equal(w.detach().numpy(), before.astype(np.float64))
    np.testing.assert_array_equal(w.grad.numpy(), g.astype(np.float64))


def test_module_to_type_converts_integer_buffers_and_rejects_integer_to():
    torch = pytest.importorskip("torch")
    gm, tm = tg.nn.BatchNorm1d(2), torch.nn.BatchNorm1d(2)
    with pytest.raises(TypeError, match="floating point"):
        gm.to(tg.int64)
    with pytest.raises(TypeError):
        tm.to(torch.int64)
    gm.type(tg.float64), tm.type(torch.float64)
    assert _dtypes(gm) == _dtypes(tm)
    with pytest.raises(AssertionError, match="CUDA"):
        gm.cuda()
    with pytest.raises(AssertionError, match="CUDA"):
        gm.to("cuda:0")
