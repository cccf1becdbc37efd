"""Optimizer parameter groups, per-parameter state and state dicts (PyTorch's semantics), and the
checks that keep a wrong-shaped state tensor away from the update kernels."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn, optim

ALL = [
    lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
    lambda ps: optim.Adam(ps, lr=0.01, amsgrad=True),
    lambda ps: optim.AdamW(ps, lr=0.01),
    lambda ps: optim.RMSprop(ps, momentum=0.5, centered=True),
    lambda ps: optim.Adagrad(ps),
]


def _params(dtype=tg.float64):
    return [tg.tensor(np.linspace(-1, 1, 6).reshape(2, 3), dtype=dtype, requires_grad=True),
            tg.tensor([0.5, -0.25], dtype=dtype, requires_grad=True)]


def _grads(params, k):
    for i, p in enumerate(params):
        p.grad = tg.full(list(p.shape), 0.1 * (k + 1) * (i + 1) - 0.3, dtype=p.dtype)


def _run(opt, params, steps, start=0):
    for k in range(start, start + steps):
        _grads(params, k)
        opt.step()


@pytest.mark.parametrize("make", ALL)
def test_state_dict_round_trip_continues_identically(make):
    a, b = _params(), _params()
    oa, ob = make(a), make(b)
    _run(oa, a, 3)
    for p, q in zip(a, b):
        with tg.no_grad():
            q.copy_(p)
    ob.load_state_dict(oa.state_dict())
    _run(oa, a, 4, start=3)
    _run(ob, b, 4, start=3)
    for p, q in zip(a, b):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())
    # Loading copies: the two optimizers never share a buffer.
    for p, q in zip(a, b):
        for key, t in oa.state[p].items():
            assert ob.state[q][key] is not t


@pytest.mark.parametrize("make", ALL)
def test_load_rejects_wrong_shapes_and_counts(make):
    ps = _params()
    opt = make(ps)
    _run(opt, ps, 1)
    sd = opt.state_dict()
    key = next(k for k in sd["state"][0] if k != "step")
    bad = {"state": {0: dict(sd["state"][0], **{key: tg.zeros(5, dtype=tg.float64)})},
           "param_groups": sd["param_groups"]}
    with pytest.raises(ValueError, match=rf"state '{key}' of parameter 0 has shape \[5\]"):
        make(_params()).load_state_dict(bad)
    with pytest.raises(ValueError, match="different number of parameter groups"):
        make(_params()).load_state_dict({"state": {}, "param_groups": []})
    one = make(_params()[:1])
    with pytest.raises(ValueError, match="doesn't match the size"):
        one.load_state_dict(sd)


def test_load_converts_dtypes_and_steps():
    src = _params(tg.float64)
    a = optim.Adam(src, lr=0.1)
    _run(a, src, 2)
    dst = _params(tg.float32)
    b = optim.Adam(dst, lr=0.1)
    sd = a.state_dict()
    sd["state"][1]["step"] = 2  # an int step, as old checkpoints hold
    b.load_state_dict(sd)
    assert b.state[dst[0]]["exp_avg"].dtype == tg.float32
    assert b.state[dst[1]]["step"].dtype == tg.float32 and b.state[dst[1]]["step"].item() == 2


@pytest.mark.parametrize("bad", [tg.zeros(5, dtype=tg.float64), tg.zeros(2, 3),
                                 tg.zeros(3, 2, dtype=tg.float64)])
def test_replaced_state_of_wrong_shape_or_dtype_raises(bad):
    ps = _params()
    opt = optim.SGD(ps, lr=0.1, momentum=0.9)
    _run(opt, ps, 1)
    before = ps[0].detach().numpy().copy()
    opt.state[ps[0]]["momentum_buffer"] = bad
    with pytest.raises(ValueError, match=r"SGD.step: state 'momentum_buffer' of parameter 0"):
        _run(opt, ps, 1)
    np.testing.assert_array_equal(ps[0].detach().numpy(), before)
    for make, key in [(lambda p: optim.Adam(p, amsgrad=True), "max_exp_avg_sq"),
                      (lambda p: optim.RMSprop(p, centered=True), "grad_avg"),
                      (optim.Adagrad, "sum")]:
        ps = _params()
        opt = make(ps)
        _run(opt, ps, 1)
        opt.state[ps[1]][key] = bad
        with pytest.raises(ValueError, match=f"state '{key}' of parameter 1"):
            _run(opt, ps, 1)
    opt.state[ps[1]]["sum"] = tg.zeros(2, dtype=tg.float64)
    opt.state[ps[1]]["step"] = tg.zeros(3)
    with pytest.raises(ValueError, match="state 'step' of parameter 1"):
        _run(opt, ps, 1)


def test_gradient_of_wrong_dtype_raises():
    p = tg.zeros(3, dtype=tg.float64, requires_grad=True)
    opt = optim.Adam([p])
    p.grad = tg.zeros(3, dtype=tg.float64)
    opt.step()
    try:
        p.grad = tg.zeros(3)
    except (TypeError, RuntimeError, ValueError):
        return  # refused already at assignment
    with pytest.raises(ValueError, match="the gradient of parameter 0"):
        opt.step()


def test_in_place_state_edits_take_effect():
    p = tg.zeros(2, dtype=tg.float64, requires_grad=True)
    opt = optim.SGD([p], lr=1.0, momentum=0.5)
    p.grad = tg.ones(2, dtype=tg.float64)
    opt.step()  # buffer = g = 1, p = -1
    opt.state[p]["momentum_buffer"].fill_(4.0)
    opt.step()  # buffer = 0.5·4 + 1 = 3, p = -4
    assert p.tolist() == [-4.0, -4.0]
    assert opt.state[p]["momentum_buffer"].tolist() == [3.0, 3.0]


def test_replaced_state_objects_are_seen_on_the_next_step():
    # The step looks the state up afresh each time (nothing cached from earlier steps): a new
    # tensor, a new entry dict and a new state dict all take effect.
    p = tg.zeros(2, dtype=tg.float64, requires_grad=True)
    opt = optim.SGD([p], lr=1.0, momentum=0.5)
    p.grad = tg.ones(2, dtype=tg.float64)
    opt.step()  # buffer = 1, p = -1
    opt.state[p]["momentum_buffer"] = tg.full([2], 2.0, dtype=tg.float64)
    opt.step()  # buffer = 0.5·2 + 1 = 2, p = -3
    assert p.tolist() == [-3.0, -3.0]
    opt.state[p] = {"momentum_buffer": tg.full([2], 6.0, dtype=tg.float64)}
    opt.step()  # buffer = 4, p = -7
    assert p.tolist() == [-7.0, -7.0] and opt.state[p]["momentum_buffer"].tolist() == [4.0, 4.0]
    opt.state = {}  # a plain dict works too; the buffer starts again as the gradient
    opt.step()
    assert p.tolist() == [-8.0, -8.0] and opt.state[p]["momentum_buffer"].tolist() == [1.0, 1.0]
    opt.state[p]["momentum_buffer"] = 3.0
    with pytest.raises(TypeError, match="state 'momentum_buffer' of parameter 0 must be a Tensor"):
        opt.step()
    opt.state[p] = [1.0]
    with pytest.raises(TypeError, match="state of parameter 0 must be a dict"):
        opt.step()
    a = optim.Adam([p])
    a.state[p]["exp_avg"] = None  # None means "missing": created again
    a.step()
    assert sorted(a.state[p]) == ["exp_avg", "exp_avg_sq", "step"]
    assert list(a.state[p]) == ["exp_avg", "step", "exp_avg_sq"]  # existing keys keep their place


def test_groups_construction_and_errors():
    lin = nn.Linear(3, 2)
    opt = optim.SGD([{"params": [lin.weight]}, {"params": lin.bias, "lr": 0.5}], lr=0.1,
                    momentum=0.9)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert all(g["momentum"] == 0.9 for g in opt.param_groups)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [lin.weight]})
    with pytest.raises(TypeError, match="ordered collections"):
        opt.add_param_group({"params": {tg.zeros(1, requires_grad=True)}})
    with pytest.raises(TypeError, match="param_group must be a dict"):
        opt.add_param_group([tg.zeros(1, requires_grad=True)])  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([{"params": [1.0]}])
    extra = tg.zeros(4, requires_grad=True)
    opt.add_param_group({"params": extra, "momentum": 0.0})
    assert opt.param_groups[2]["lr"] == 0.1 and opt.param_groups[2]["momentum"] == 0.0
    with pytest.warns(UserWarning, match="duplicate parameters"):
        dup = optim.SGD([extra, extra], lr=0.1)
    assert len(dup.param_groups[0]["params"]) == 1


def test_required_hyper_parameter():
    class Plain(optim.Optimizer):
        def __init__(self, params, lr=optim.optimizer.required):
            super().__init__(params, dict(lr=lr))

    with pytest.raises(ValueError, match="didn't specify a value of required optimization "
                                         "parameter lr"):
        Plain([tg.zeros(1, requires_grad=True)])
    assert Plain([{"params": [tg.zeros(1, requires_grad=True)], "lr": 0.1}]).param_groups


def test_step_reads_each_groups_hyper_parameters_every_step():
    a, b = tg.ones(1, requires_grad=True), tg.ones(1, requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.0}], lr=0.5)
    for p in (a, b):
        p.grad = tg.ones(1)
    opt.step()
    assert (a.item(), b.item()) == (0.5, 1.0)
    opt.param_groups[1]["lr"] = 0.25
    opt.param_groups[0]["maximize"] = True
    opt.step()
    assert (a.item(), b.item()) == (1.0, 0.75)


def test_closure_and_zero_grad_over_groups():
    a, b = tg.ones(2, requires_grad=True), tg.ones(3, requires_grad=True)
    opt = optim.Adam([{"params": [a]}, {"params": [b], "lr": 0.1}])

    def closure():
        opt.zero_grad()
        loss = (a * a).sum() + (b * b).sum()
        loss.backward()
        return loss

    with tg.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 5.0 and a.grad is not None and b.grad is not None
    opt.zero_grad(set_to_none=False)
    assert a.grad.tolist() == [0.0, 0.0] and b.grad.tolist() == [0.0] * 3
    opt.zero_grad()
    assert a.grad is None and b.grad is None


def test_no_state_for_parameters_without_gradients():
    a, b = tg.ones(2, requires_grad=True), tg.ones(2, requires_grad=True)
    opt = optim.Adam([a, b])
    a.grad = tg.ones(2)
    opt.step()
    assert b not in opt.state and sorted(opt.state[a]) == ["exp_avg", "exp_avg_sq", "step"]
    assert list(opt.state_dict()["state"]) == [0]


def test_unsupported_options_and_validation():
    p = [tg.zeros(1, requires_grad=True)]
    with pytest.raises(NotImplementedError, match="differentiable"):
        optim.Adam(p, differentiable=True)
    for make, msg in [(lambda: optim.RMSprop(p, alpha=-1), "Invalid alpha value: -1"),
                      (lambda: optim.RMSprop(p, momentum=-1), "Invalid momentum value"),
                      (lambda: optim.Adagrad(p, lr_decay=-1), "Invalid lr_decay value"),
                      (lambda: optim.Adagrad(p, initial_accumulator_value=-1),
                       "Invalid initial_accumulator_value value"),
                      (lambda: optim.AdamW(p, betas=(0.9, 1.0)), "beta parameter at index 1")]:
        with pytest.raises(ValueError, match=msg):
            make()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        optim.SGD(p, lr=0.1, foreach=True, fused=True).step()  # accepted: always one call
