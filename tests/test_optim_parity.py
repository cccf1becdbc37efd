"""tapegrad.optim against torch.optim, step for step: the same gradients are fed to both over many
steps and the parameters and every state tensor are compared (float64 to 1e-12, float32 to
1e-6; SGD, which has no square root, bit for bit — Note [optimizer arithmetic])."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import optim

torch = pytest.importorskip("torch")

SHAPES = [(7,), (5, 3), (65,), (1,), (2, 0)]
STEPS = 25

CASES = [
    ("SGD", dict(lr=0.05)),
    ("SGD", dict(lr=0.05, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.3, weight_decay=1e-2)),
    ("SGD", dict(lr=0.05, momentum=0.8, nesterov=True, weight_decay=1e-2, maximize=True)),
    ("SGD", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.01, weight_decay=1e-2, amsgrad=True)),
    ("Adam", dict(lr=0.02, betas=(0.3, 0.9), eps=1e-6, maximize=True)),
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.01, weight_decay=0.1, amsgrad=True, maximize=True)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.005, alpha=0.9, centered=True)),
    ("RMSprop", dict(lr=0.005, momentum=0.9, weight_decay=1e-2)),
    ("RMSprop", dict(lr=0.005, alpha=0.3, momentum=0.5, centered=True, maximize=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01, weight_decay=1e-2, initial_accumulator_value=0.1)),
    ("Adagrad", dict(lr=0.1, maximize=True, eps=1e-6)),
]


def _drive(name, kw, dtype, steps=STEPS, seed=0):
    """Run both optimizers on the same random gradients; a parameter sometimes has none."""
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in SHAPES]
    ours = [tg.tensor(a, requires_grad=True) for a in init]
    theirs = [torch.tensor(a, requires_grad=True) for a in init]
    opt, topt = getattr(optim, name)(ours, **kw), getattr(torch.optim, name)(theirs, **kw)
    for step in range(steps):
        for i, (p, t) in enumerate(zip(ours, theirs)):
            if i == 0 and step % 4 == 1:  # skipped: its state and step count must not move
                p.grad, t.grad = None, None
                continue
            g = rng.standard_normal(SHAPES[i]).astype(dtype)
            p.grad, t.grad = tg.tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
    return ours, theirs, opt, topt


def _close(got, want, dtype, exact):
    if exact:
        np.testing.assert_array_equal(got, want)
    elif dtype == np.float64:
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
@pytest.mark.parametrize("name,kw", CASES, ids=[f"{n}-{i}" for i, (n, _) in enumerate(CASES)])
def test_parameters_and_state_match_torch(name, kw, dtype):
    ours, theirs, opt, topt = _drive(name, kw, dtype)
    exact = name == "SGD"
    for p, t in zip(ours, theirs):
        _close(p.detach().numpy(), t.detach().numpy(), dtype, exact)
        mine, ref = opt.state.get(p, {}), topt.state.get(t, {})
        assert list(mine) == list(ref), (name, list(mine), list(ref))
        for key, want in ref.items():
            got = mine[key]
            if key == "step":
                assert got.dtype == tg.float32 and got.ndim == 0
                assert got.item() == want.item()
            else:
                assert got.dtype == p.dtype and got.shape == p.shape
                _close(got.numpy(), want.numpy(), dtype, exact)


def test_defaults_and_group_keys_match_torch():
    for name in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad"):
        ours = getattr(optim, name)([tg.zeros(2, requires_grad=True)])
        theirs = getattr(torch.optim, name)([torch.zeros(2, requires_grad=True)])
        assert ours.defaults == theirs.defaults, name
        assert list(ours.param_groups[0]) == list(theirs.param_groups[0]), name
        assert repr(ours).splitlines()[2:] == repr(theirs).splitlines()[2:], name


def test_groups_and_lr_written_between_steps_match_torch():
    """Per-group hyper-parameters, and an lr changed in the group (what schedulers do)."""
    rng = np.random.default_rng(1)
    a0, b0 = rng.standard_normal(6), rng.standard_normal((3, 2))
    a, b = tg.tensor(a0, requires_grad=True), tg.tensor(b0, requires_grad=True)
    ta, tb = torch.tensor(a0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    def groups(x, y):
        return [{"params": [x]}, {"params": y, "lr": 0.3, "betas": (0.5, 0.9)}]

    opt = optim.Adam(groups(a, b), lr=0.1, amsgrad=True)
    topt = torch.optim.Adam(groups(ta, tb), lr=0.1, amsgrad=True)
    for step in range(10):
        for p, t in ((a, ta), (b, tb)):
            g = rng.standard_normal(tuple(p.shape))
            p.grad, t.grad = tg.tensor(g), torch.tensor(g)
        opt.step()
        topt.step()
        for o in (opt, topt):
            o.param_groups[step % 2]["lr"] *= 0.7
    for p, t in ((a, ta), (b, tb)):
        np.testing.assert_allclose(p.detach().numpy(), t.detach().numpy(), rtol=1e-12)


def test_state_dict_layout_matches_torch():
    ours, theirs, opt, topt = _drive("Adam", dict(lr=0.01, amsgrad=True), np.float64, steps=3)
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert list(sd) == list(tsd) == ["state", "param_groups"]
    assert sorted(sd["state"]) == sorted(tsd["state"])
    for k in tsd["state"]:
        assert list(sd["state"][k]) == list(tsd["state"][k])
    assert sd["param_groups"] == tsd["param_groups"]
