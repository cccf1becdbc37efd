"""tapegrad.optim.lr_scheduler against torch.optim.lr_scheduler: both driven in the same loop,
the learning rates (and cycled momenta) must be equal step for step — exactly, since the
recursive forms are evaluated in the same order."""

from __future__ import annotations

import math

import pytest

import tapegrad as tg
from tapegrad import optim
from tapegrad.optim import lr_scheduler as S

torch = pytest.importorskip("torch")
TS = torch.optim.lr_scheduler


def _pair(opt_name="SGD", **kw):
    """Twin optimizers with two parameter groups (different learning rates)."""
    kw = dict(kw) or dict(lr=0.1, momentum=0.9)
    ours = getattr(optim, opt_name)([{"params": [tg.zeros(2, requires_grad=True)]},
                                     {"params": [tg.zeros(3, requires_grad=True)], "lr": 0.03}],
                                    **kw)
    theirs = getattr(torch.optim, opt_name)(
        [{"params": [torch.zeros(2, requires_grad=True)]},
         {"params": [torch.zeros(3, requires_grad=True)], "lr": 0.03}], **kw)
    return ours, theirs


def _keys(group):
    return {k: v for k, v in group.items() if k in ("lr", "momentum", "betas")}


def _drive(make, steps=40, opt_name="SGD", metrics=None, **kw):
    ours, theirs = _pair(opt_name, **kw)
    s, t = make(S, ours), make(TS, theirs)
    assert s.get_last_lr() == t.get_last_lr()
    for k in range(steps):
        ours.step()
        theirs.step()
        if metrics is None:
            s.step()
            t.step()
        else:
            s.step(metrics[k])
            t.step(metrics[k])
        assert s.get_last_lr() == t.get_last_lr(), (k, s.get_last_lr(), t.get_last_lr())
        assert [_keys(g) for g in ours.param_groups] == [_keys(g) for g in theirs.param_groups]
        assert getattr(s, "last_epoch", None) == getattr(t, "last_epoch", None)
    return s, t


CASES = {
    "step": lambda m, o: m.StepLR(o, step_size=3, gamma=0.5),
    "multistep": lambda m, o: m.MultiStepLR(o, milestones=[2, 5, 5, 11], gamma=0.3),
    "exponential": lambda m, o: m.ExponentialLR(o, gamma=0.9),
    "cosine": lambda m, o: m.CosineAnnealingLR(o, T_max=7, eta_min=1e-3),
    "cosine-zero": lambda m, o: m.CosineAnnealingLR(o, T_max=10),
    "lambda": lambda m, o: m.LambdaLR(o, lambda e: 1 / (1 + e)),
    "lambda-per-group": lambda m, o: m.LambdaLR(o, [lambda e: 0.95 ** e, lambda e: e % 3 + 1]),
    "multiplicative": lambda m, o: m.MultiplicativeLR(o, lambda e: 0.97),
    "linear": lambda m, o: m.LinearLR(o, start_factor=0.25, end_factor=0.9, total_iters=6),
    "linear-default": lambda m, o: m.LinearLR(o),
    "constant": lambda m, o: m.ConstantLR(o, factor=0.5, total_iters=4),
    "onecycle": lambda m, o: m.OneCycleLR(o, max_lr=[1.0, 0.5], total_steps=40),
    "onecycle-linear-3": lambda m, o: m.OneCycleLR(o, max_lr=0.8, epochs=4, steps_per_epoch=10,
                                                   anneal_strategy="linear", three_phase=True,
                                                   pct_start=0.25, div_factor=10.0),
    "onecycle-no-momentum": lambda m, o: m.OneCycleLR(o, max_lr=0.5, total_steps=41,
                                                      cycle_momentum=False),
    "sequential": lambda m, o: m.SequentialLR(
        o, [m.LinearLR(o, start_factor=0.1, total_iters=5),
            m.CosineAnnealingLR(o, T_max=20), m.ExponentialLR(o, 0.9)], milestones=[5, 25]),
    "chained": lambda m, o: m.ChainedScheduler([m.ConstantLR(o, factor=0.5, total_iters=5),
                                                m.ExponentialLR(o, gamma=0.9)]),
}


@pytest.mark.parametrize("name", list(CASES))
def test_sequence_matches_torch(name):
    _drive(CASES[name])


@pytest.mark.parametrize("three_phase", [False, True])
def test_onecycle_cycles_adam_beta1(three_phase):
    _drive(lambda m, o: m.OneCycleLR(o, max_lr=0.01, total_steps=30, three_phase=three_phase,
                                     base_momentum=0.8, max_momentum=0.9),
           steps=30, opt_name="Adam", lr=1e-3, betas=(0.9, 0.99))


@pytest.mark.parametrize("kw", [
    dict(),
    dict(mode="max", factor=0.5, patience=2, threshold=0.1, threshold_mode="abs"),
    dict(patience=1, cooldown=2, min_lr=[0.02, 0.01], factor=0.3),
    dict(patience=0, threshold_mode="rel", eps=0.05, factor=0.5),
])
def test_reduce_on_plateau_matches_torch(kw):
    metrics = [5, 4, 4, 4.0001, 4, 3.9, 3.9, 3.9, 3.9, 3.9, 2, 2, 2, 2, 2, 2, 2, 2, 1,
               1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1]
    metrics = [m if kw.get("mode") != "max" else -m for m in metrics]
    s, t = _drive(lambda m, o: m.ReduceLROnPlateau(o, **kw), metrics=metrics)
    assert (s.best, s.num_bad_epochs, s.cooldown_counter) == \
        (t.best, t.num_bad_epochs, t.cooldown_counter)


def test_state_dict_round_trip_and_resume():
    ours, _ = _pair()
    s = S.CosineAnnealingLR(ours, T_max=10)
    for _ in range(4):
        ours.step()
        s.step()
    sd = s.state_dict()
    assert "optimizer" not in sd and sd["last_epoch"] == 4
    other, _ = _pair()
    other.load_state_dict(ours.state_dict())
    r = S.CosineAnnealingLR(other, T_max=10)
    r.load_state_dict(sd)
    for _ in range(6):
        ours.step()
        s.step()
        other.step()
        r.step()
        assert r.get_last_lr() == s.get_last_lr()


def test_lambda_state_dict_keeps_callable_objects_state():
    class Decay:
        def __init__(self, rate):
            self.rate = rate

        def __call__(self, epoch):
            return self.rate ** epoch

    ours, _ = _pair()
    s = S.LambdaLR(ours, [Decay(0.5), lambda e: 1.0])
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [{"rate": 0.5}, None]
    s2 = S.LambdaLR(_pair()[0], [Decay(0.9), lambda e: 1.0])
    s2.load_state_dict(sd)
    assert s2.lr_lambdas[0].rate == 0.5


def test_resume_needs_initial_lr_and_epoch_argument_warns():
    ours, theirs = _pair()
    with pytest.raises(KeyError, match="initial_lr"):
        S.StepLR(ours, step_size=2, last_epoch=3)
    with pytest.raises(KeyError, match="initial_lr"):
        TS.StepLR(theirs, step_size=2, last_epoch=3)
    s = S.StepLR(ours, step_size=2)
    t = TS.StepLR(theirs, step_size=2)
    ours.step()
    theirs.step()
    with pytest.warns(UserWarning, match="epoch parameter"):
        s.step(5)
    with pytest.warns(UserWarning, match="epoch parameter"):
        t.step(5)
    assert s.get_last_lr() == t.get_last_lr() and s.last_epoch == 5


def test_warns_when_stepped_before_the_optimizer():
    ours, _ = _pair()
    s = S.ExponentialLR(ours, gamma=0.5)
    with pytest.warns(UserWarning, match=r"before `optimizer.step\(\)`"):
        s.step()
    with pytest.warns(UserWarning, match="get_last_lr"):
        s.get_lr()


@pytest.mark.parametrize("make,exc,msg", [
    (lambda o: S.StepLR(object(), 2), TypeError, "is not an Optimizer"),
    (lambda o: S.LambdaLR(o, [lambda e: 1.0]), ValueError, "Expected 2 lr_lambdas, but got 1"),
    (lambda o: S.MultiplicativeLR(o, [1, 2]), TypeError, "lr_lambda should be a function"),
    (lambda o: S.ConstantLR(o, factor=1.5), ValueError, "between 0 and 1"),
    (lambda o: S.LinearLR(o, start_factor=0), ValueError, "Starting multiplicative factor"),
    (lambda o: S.LinearLR(o, end_factor=2), ValueError, "Ending multiplicative factor"),
    (lambda o: S.ReduceLROnPlateau(o, factor=1.0), ValueError, "Factor should be < 1.0"),
    (lambda o: S.ReduceLROnPlateau(o, mode="up"), ValueError, "mode up is unknown"),
    (lambda o: S.ReduceLROnPlateau(o, threshold_mode="x"), ValueError, "threshold mode x"),
    (lambda o: S.ReduceLROnPlateau(o, min_lr=[0.1]), ValueError, "expected 2 min_lrs, got 1"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0), ValueError, "either total_steps OR"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=0), ValueError, "positive integer"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=5, pct_start=1), ValueError,
     "Expected float between 0 and 1 pct_start"),
    (lambda o: S.OneCycleLR(o, max_lr=1.0, total_steps=5, anneal_strategy="exp"), ValueError,
     "anneal_strategy must be one of"),
    (lambda o: S.OneCycleLR(o, max_lr=[1.0], total_steps=5), ValueError,
     "max_lr must have the same length"),
    (lambda o: S.SequentialLR(o, [S.StepLR(o, 2)], milestones=[3]), ValueError,
     "one more than the number of milestone points"),
    (lambda o: S.SequentialLR(o, [S.ReduceLROnPlateau(o), S.StepLR(o, 2)], milestones=[3]),
     ValueError, "does not support `ReduceLROnPlateau`"),
])
def test_bad_arguments(make, exc, msg):
    ours, _ = _pair()
    with pytest.raises(exc, match=msg):
        make(ours)


def test_onecycle_past_total_steps_raises_and_momentumless_optimizer():
    ours, _ = _pair()
    s = S.OneCycleLR(ours, max_lr=1.0, total_steps=2)
    for _ in range(2):
        ours.step()
        s.step()
    with pytest.raises(ValueError, match="Tried to step 3 times"):
        s.step()
    rms = optim.Adagrad([tg.zeros(1, requires_grad=True)])
    with pytest.raises(ValueError, match="must support momentum or beta1"):
        S.OneCycleLR(rms, max_lr=1.0, total_steps=5)


def test_cosine_closed_form_agrees_with_recursion():
    ours, _ = _pair(lr=1.0)
    s = S.CosineAnnealingLR(ours, T_max=8, eta_min=0.1)
    for e in range(1, 9):
        ours.step()
        s.step()
        want = 0.1 + 0.9 * (1 + math.cos(math.pi * e / 8)) / 2
        assert s.get_last_lr()[0] == pytest.approx(want, abs=1e-12)
