"""Every case of the op table (tests/optable.py) as a compiled step — the op, then backward —
saved and run by tapegrad.load_program: the loaded program's result and input gradients equal
eager tapegrad's bit for bit (Note [saved programs]). Cases whose step is not captured at all
(data-dependent shapes: masks, nonzero, unique) run eagerly and are skipped."""
import os

import numpy as np
import pytest

import tapegrad as tg
from optable import CASES, TG


def bits(t):
    return None if t is None else np.asarray(t.detach().numpy()).tobytes()


def run_case(case, step):
    ts = [tg.tensor(x, requires_grad=True) for x in case.inputs()]
    out = step(*ts)
    return [bits(o) for o in (out if isinstance(out, tuple) else (out,))], [bits(t.grad) for t in ts]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_op_table_case_saved(case, tmp_path):
    def step(*ts):
        out = case.fn(TG, *ts)
        outs = out if isinstance(out, tuple) else (out,)
        loss = sum((o * (i + 1)).sum() for i, o in enumerate(outs) if o.dtype.is_floating_point)
        if isinstance(loss, tg.Tensor) and loss.requires_grad:
            loss.backward()
        return out
    eager = run_case(case, step)
    c = tg.compile(step)
    run_case(case, c)
    if c.fallback_reasons:  # a case that builds a tensor from Python data, or masks by data
        assert all("makes a tensor from Python data" in r or "depends on the data" in r
                   for r in c.fallback_reasons), c.fallback_reasons
        pytest.skip(f"not captured: {c.fallback_reasons}")
    assert c._stats["programs"] == 1 and c._stats["eager_calls"] == 0
    path = os.path.join(tmp_path, "case.tgp")
    c.save(path)
    assert c._stats["cpp_form"] == 1  # and the compiled step replays that form
    saved = tg.load_program(path)
    ts = [tg.tensor(x, requires_grad=True) for x in case.inputs()]
    out = saved(*ts)
    outs = tuple(out) if isinstance(out, list) else (out,)
    assert ([bits(o) for o in outs], [bits(t.grad) for t in ts]) == eager
