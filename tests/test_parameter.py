"""tapegrad.nn.Parameter is a flag on the tensor (Note [Parameter is a marked Tensor]): what
carries it, what does not, and that it cannot leak to other tensors through reused ids."""

from __future__ import annotations

import gc

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn


def test_flag_is_set_by_parameter_and_read_by_isinstance():
    t = tg.zeros(2)
    assert t._is_parameter is False and not isinstance(t, nn.Parameter)
    p = nn.Parameter(t)
    assert p._is_parameter is True and isinstance(p, nn.Parameter)
    assert p is not t and not isinstance(t, nn.Parameter)  # the argument stays a plain tensor
    # the metaclass asks the flag and nothing else
    t._is_parameter = True
    assert isinstance(t, nn.Parameter)
    t._is_parameter = False
    assert not isinstance(t, nn.Parameter)
    for not_a_tensor in (None, 1.0, np.zeros(2), [p]):
        assert not isinstance(not_a_tensor, nn.Parameter)


def test_only_the_parameter_object_itself_is_a_parameter():
    p = nn.Parameter(tg.randn(3, 4))
    q = nn.Parameter(tg.randn(3, 4), requires_grad=False)
    assert p.requires_grad_(True) is p and isinstance(p, nn.Parameter)
    derived = {
        "detach": p.detach(), "clone": p.clone(), "reshape": p.reshape(12), "view": p.view(4, 3),
        "T": p.T, "index": p[0], "slice": p[1:], "add": p + 0, "mul": p * 1, "neg": -p,
        "sum": p.sum(), "to float64": p.to(tg.float64), "numpy round trip": tg.from_numpy(
            p.detach().numpy()), "frozen detach": q.detach(), "frozen add": q + 0,
    }
    for name, t in derived.items():
        assert not isinstance(t, nn.Parameter), name
        assert not t._is_parameter, name
    # a Parameter of a Parameter is a new Parameter sharing storage; the old one stays one
    r = nn.Parameter(p)
    assert r is not p and isinstance(r, nn.Parameter) and isinstance(p, nn.Parameter)
    with tg.no_grad():
        r.fill_(5.0)
    assert p.tolist() == [[5.0] * 4] * 3


def test_in_place_updates_keep_the_flag():
    p = nn.Parameter(tg.ones(3))
    (p * p).sum().backward()
    with tg.no_grad():
        p -= 0.1 * p.grad
        p *= 2.0
        p.zero_()
        p.copy_(tg.ones(3))
    assert isinstance(p, nn.Parameter) and p.is_leaf and p.requires_grad
    opt = tg.optim.SGD([p], lr=0.1, momentum=0.9)
    for _ in range(3):
        opt.zero_grad()
        (p * p).sum().backward()
        opt.step()
    assert isinstance(p, nn.Parameter)


def test_parameters_survive_garbage_collection_of_everything_else():
    net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 2))
    ids = [id(p) for p in net.parameters()]
    # churn: many short-lived tensors and Parameters, results of steps, dropped modules
    for _ in range(50):
        nn.Parameter(tg.randn(8, 4))
        nn.Linear(3, 3)
        loss = net(tg.randn(5, 4)).sum()
        loss.backward()
        del loss
    gc.collect()
    params = list(net.parameters())
    assert [id(p) for p in params] == ids
    assert all(isinstance(p, nn.Parameter) for p in params)
    # registration still recognises them after the churn
    m = nn.Module()
    m.w = params[0]
    assert [n for n, _ in m.named_parameters()] == ["w"]


def test_a_tensor_reusing_a_dead_parameters_id_is_not_a_parameter():
    # An id-keyed registry is one stale entry away from calling a new tensor at the same
    # address a Parameter. The flag is on the tensor, so a reused id carries nothing over.
    hits = 0
    for _ in range(20):
        p = nn.Parameter(tg.zeros(2))
        dead_id = id(p)
        del p  # freed here by reference counting; the allocator tends to hand its block out next
        fresh = []
        for _ in range(1000):
            t = tg.zeros(2)
            fresh.append(t)
            if id(t) == dead_id:
                hits += 1
                assert not isinstance(t, nn.Parameter)
                m = nn.Module()
                m.t = t  # a plain tensor: an ordinary attribute, not a parameter
                assert list(m.parameters()) == []
                break
        assert not any(isinstance(t, nn.Parameter) for t in fresh)
    if hits == 0:  # the allocator never reused an address; the property is still checked above
        pytest.skip("no id was reused in this run")


def test_state_dict_serialization_and_load_keep_parameters_parameters(tmp_path):
    a, b = nn.Linear(3, 2), nn.Linear(3, 2)
    sd = a.state_dict()
    assert not any(isinstance(t, nn.Parameter) for t in sd.values())
    tg.save(sd, tmp_path / "a.npz")
    loaded = tg.load(tmp_path / "a.npz")
    assert not any(isinstance(t, nn.Parameter) for t in loaded.values())
    w_before = b.weight
    b.load_state_dict(loaded)
    assert b.weight is w_before and isinstance(b.weight, nn.Parameter)
    assert b.weight.tolist() == a.weight.tolist()
