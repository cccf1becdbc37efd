"""Float64 gradcheck (central differences + a random direction) of every op in the table of
optable.py over docs/architecture.md, "Tests"'s shape matrix."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from optable import CASES, OP_SET, TG


def test_table_covers_the_op_set():
    covered = {c.op for c in CASES}
    assert set(OP_SET) <= covered, sorted(set(OP_SET) - covered)
    # ...over the whole shape matrix, somewhere in the table:
    shapes = [s for c in CASES for s in c.shapes]
    assert () in shapes and (7,) in shapes and (3, 4) in shapes
    assert any(0 in s for s in shapes)
    assert {(45, 65), (64, 99)} <= set(shapes)
    assert ((1, 5), (4, 1)) in [c.shapes for c in CASES]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_gradcheck(case):
    xs = [tg.tensor(a, dtype=tg.float64, requires_grad=True) for a in case.inputs()]
    assert tg.gradcheck(lambda *t: case.fn(TG, *t), xs, **case.gradcheck)


def test_gradcheck_catches_a_wrong_gradient():
    # A function whose backward is wrong on purpose: d/dx of (x.detach() * x) is x, not 2x.
    x = tg.tensor(np.array([0.5, -1.0, 2.0]), dtype=tg.float64, requires_grad=True)
    with pytest.raises(tg.GradcheckError, match="input 0"):
        tg.gradcheck(lambda t: t.detach() * t, [x])
    assert tg.gradcheck(lambda t: t.detach() * t, [x], raise_exception=False) is False


def test_gradcheck_catches_an_op_that_did_not_record():
    x = tg.tensor(np.array([0.5, -1.0]), dtype=tg.float64, requires_grad=True)
    with pytest.raises(tg.GradcheckError, match="does not require grad"):
        tg.gradcheck(lambda t: t.detach().exp(), [x])
    assert tg.gradcheck(lambda t: t.detach() * 0 + 1, [x])  # truly constant: fine


def test_gradcheck_wants_float64():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(TypeError, match="float64"):
        tg.gradcheck(lambda t: t * 2, [x])


# Second order: the backward formulas are written with differentiable ops, so under
# create_graph=True the gradient itself must pass gradcheck (gradients of gradients).
SECOND = [c for c in CASES if max((int(np.prod(s)) for s in c.shapes), default=0) <= 200
          and c.op != "to"]


@pytest.mark.parametrize("case", SECOND, ids=[c.id for c in SECOND])
def test_gradgradcheck(case):
    xs = [tg.tensor(a, dtype=tg.float64, requires_grad=True) for a in case.inputs()]
    rng = np.random.default_rng(1)
    outs = case.fn(TG, *xs)
    outs = list(outs) if isinstance(outs, tuple) else [outs]
    vs = [tg.tensor(rng.standard_normal(tuple(o.shape))) for o in outs
          if o.dtype == tg.float64 and o.requires_grad]

    @tg.enable_grad()  # gradcheck evaluates the function under no_grad too
    def first_grads(*ts):
        o = case.fn(TG, *ts)
        o = list(o) if isinstance(o, tuple) else [o]
        o = [t for t in o if t.dtype == tg.float64 and t.requires_grad]
        gs = tg.grad(o, list(ts), grad_outputs=vs, create_graph=True, allow_unused=True)
        return tuple(g for g in gs if g is not None)

    assert tg.gradcheck(first_grads, xs, **case.gradcheck)
