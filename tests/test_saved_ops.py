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


def strided(base):
    """A non-contiguous view of `base` holding the case's input (base_of makes base)."""
    if base.dim() >= 2:
        return base.transpose(0, base.dim() - 1)
    return base[::2] if base.dim() == 1 else base


def base_of(a):
    if a.ndim == 0:
        return a
    return np.repeat(a, 2) if a.ndim == 1 else np.ascontiguousarray(np.swapaxes(a, 0, a.ndim - 1))


def inputs(case, k, layout):
    """The case's inputs, float ones moved a little for k > 0 (a saved program must read its
    inputs, not the capture's data), as given or as strided views' bases."""
    rng = np.random.default_rng(k)
    xs = []
    for x in case.inputs():
        if k and np.issubdtype(x.dtype, np.floating):
            x = (x + 0.01 * k * rng.standard_normal(x.shape)).astype(x.dtype)
        xs.append(tg.tensor(base_of(x) if layout == "strided" else x, requires_grad=True))
    return xs


def run_case(step, ts):
    out = step(*ts)
    return [bits(o) for o in (out if isinstance(out, tuple) else (out,))], [bits(t.grad) for t in ts]


@pytest.mark.parametrize("layout", ["contiguous", "strided"])
@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_op_table_case_saved(case, layout, tmp_path):
    def step(*ts):
        if layout == "strided":
            ts = [strided(t) for t in ts]
        out = case.fn(TG, *ts)
        outs = out if isinstance(out, tuple) else (out,)
        loss = sum((o * (i + 1)).sum() for i, o in enumerate(outs) if o.dtype.is_floating_point)
        if isinstance(loss, tg.Tensor) and loss.requires_grad:
            loss.backward()
        return out
    try:
        eager = run_case(step, inputs(case, 1, layout))
    except Exception as e:  # (a view of a strided input): not a step to save
        assert layout == "strided", e
        pytest.skip(f"eager raises on strided inputs: {e}")
    c = tg.compile(step)
    run_case(c, inputs(case, 0, layout))
    if c.fallback_reasons:  # a case that builds a tensor from Python data, or masks by data
        assert all("makes a tensor from Python data" in r or "depends on the data" in r
                   for r in c.fallback_reasons), c.fallback_reasons
        pytest.skip(f"not captured: {c.fallback_reasons}")
    assert c._stats["programs"] == 1 and c._stats["eager_calls"] == 0
    path = os.path.join(tmp_path, "case.tgp")
    c.save(path)
    assert c._stats["cpp_form"] == 1  # and the compiled step replays that form
    saved = tg.load_program(path)
    ts = inputs(case, 1, layout)
    out = saved(*ts)
    outs = tuple(out) if isinstance(out, list) else (out,)
    assert ([bits(o) for o in outs], [bits(t.grad) for t in ts]) == eager
