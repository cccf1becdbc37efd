"""Numerical edge cases follow PyTorch: inf/nan where it gives them, finite where it stays
finite — forward values and gradients. Fused, stable softmax/log-softmax/cross-entropy/
logsumexp (max shift, −inf logits handled) are what keep ±1e4 logits finite."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.nn import functional as F

torch = pytest.importorskip("torch")

INF = float("inf")
NAN = float("nan")

BIG = [[1e4, -1e4, 0.0], [-1e4, 1e4, 0.0], [1e4, 1e4, -1e4]]
NEG_INF = [[0.0, -INF, 1.0], [-INF, 2.0, -INF], [3.0, 1.0, -INF]]
ALL_NEG_INF = [[-INF, -INF, -INF], [0.0, 1.0, 2.0]]

# (id, tapegrad fn, torch fn, inputs: list of (values, requires_grad), extra non-grad args)
CASES = [
    ("cross_entropy-big", lambda x, y: F.cross_entropy(x, y),
     lambda x, y: torch.nn.functional.cross_entropy(x, y), [BIG], [[0, 2, 1]]),
    ("cross_entropy-big-none", lambda x, y: F.cross_entropy(x, y, reduction="none"),
     lambda x, y: torch.nn.functional.cross_entropy(x, y, reduction="none"), [BIG], [[1, 1, 2]]),
    ("cross_entropy-neg-inf-other", lambda x, y: F.cross_entropy(x, y, reduction="none"),
     lambda x, y: torch.nn.functional.cross_entropy(x, y, reduction="none"), [NEG_INF], [[0, 1, 1]]),
    ("cross_entropy-neg-inf-target", lambda x, y: F.cross_entropy(x, y, reduction="none"),
     lambda x, y: torch.nn.functional.cross_entropy(x, y, reduction="none"), [NEG_INF], [[1, 1, 0]]),
    ("log_softmax-big", lambda x: F.log_softmax(x, dim=1),
     lambda x: torch.log_softmax(x, dim=1), [BIG], []),
    ("log_softmax-neg-inf", lambda x: F.log_softmax(x, dim=1),
     lambda x: torch.log_softmax(x, dim=1), [NEG_INF], []),
    ("log_softmax-all-neg-inf", lambda x: F.log_softmax(x, dim=1),
     lambda x: torch.log_softmax(x, dim=1), [ALL_NEG_INF], []),
    ("softmax-big", lambda x: F.softmax(x, dim=1), lambda x: torch.softmax(x, dim=1), [BIG], []),
    ("softmax-neg-inf", lambda x: F.softmax(x, dim=0), lambda x: torch.softmax(x, dim=0),
     [NEG_INF], []),
    ("logsumexp-big", lambda x: tg.logsumexp(x, dim=1), lambda x: torch.logsumexp(x, dim=1),
     [BIG], []),
    ("logsumexp-neg-inf", lambda x: tg.logsumexp(x, dim=1), lambda x: torch.logsumexp(x, dim=1),
     [NEG_INF], []),
    ("logsumexp-all-neg-inf", lambda x: tg.logsumexp(x, dim=1),
     lambda x: torch.logsumexp(x, dim=1), [ALL_NEG_INF], []),
    ("sigmoid-100", tg.sigmoid, torch.sigmoid, [[-100.0, -50.0, 0.0, 50.0, 100.0]], []),
    ("tanh-100", tg.tanh, torch.tanh, [[-100.0, -20.0, 0.0, 20.0, 100.0]], []),
    ("log-0", tg.log, torch.log, [[0.0, 1.0, -0.0]], []),
    ("log-negative", tg.log, torch.log, [[-1.0, 2.0]], []),
    ("div-0-0", lambda a, b: a / b, lambda a, b: a / b, [[0.0, 1.0, -1.0], [0.0, 0.0, 0.0]], []),
    ("sqrt-0", tg.sqrt, torch.sqrt, [[0.0, 4.0]], []),
    ("exp-overflow", tg.exp, torch.exp, [[100.0, 1000.0, -1000.0]], []),
    ("pow-0-0.5", lambda x: x**0.5, lambda x: x**0.5, [[0.0, 1.0]], []),
    ("relu-nan", tg.relu, torch.relu, [[NAN, -1.0, 2.0]], []),
    ("maximum-nan", lambda a, b: tg.maximum(a, b), torch.maximum, [[NAN, 1.0, 2.0], [0.0, NAN, 1.0]], []),
    ("minimum-nan", lambda a, b: tg.minimum(a, b), torch.minimum, [[NAN, 1.0, 2.0], [0.0, NAN, 3.0]], []),
    ("abs-inf", tg.abs, torch.abs, [[-INF, INF, 0.0]], []),
    ("mse-inf", lambda a, b: F.mse_loss(a, b), torch.nn.functional.mse_loss,
     [[1.0, INF], [1.0, 2.0]], []),
    ("bce-logits-big", lambda a, b: F.binary_cross_entropy_with_logits(a, b),
     torch.nn.functional.binary_cross_entropy_with_logits, [[1e4, -1e4, 100.0], [0.0, 1.0, 1.0]], []),
]


def _check(got: np.ndarray, want: np.ndarray, what: str, dtype: str) -> None:
    # float32: 1e-5 relative (a few ulps after the ops chained here); float64: 1e-12.
    rtol, atol = (1e-5, 1e-6) if dtype == "float32" else (1e-12, 1e-14)
    assert got.shape == want.shape, what
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what}: nan pattern")
    np.testing.assert_array_equal(np.isposinf(got), np.isposinf(want), err_msg=f"{what}: +inf")
    np.testing.assert_array_equal(np.isneginf(got), np.isneginf(want), err_msg=f"{what}: -inf")
    fin = np.isfinite(want)
    np.testing.assert_allclose(got[fin], want[fin], rtol=rtol, atol=atol, err_msg=what)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("fn,tfn,inputs,extra", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_edge_values_match_torch(fn, tfn, inputs, extra, dtype):
    tdt = getattr(torch, dtype)
    xs = [tg.tensor(np.array(v, dtype=dtype), requires_grad=True) for v in inputs]
    ts = [torch.tensor(np.array(v, dtype=dtype), requires_grad=True) for v in inputs]
    ex_tg = [tg.tensor(v) for v in extra]
    ex_t = [torch.tensor(v) for v in extra]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # NumPy's divide/invalid warnings in comparisons
        out = fn(*xs, *ex_tg)
        tout = tfn(*ts, *ex_t)
        assert tout.dtype == tdt
        _check(out.detach().numpy().astype(np.float64), tout.detach().numpy().astype(np.float64),
               "forward", dtype)
        gw = np.linspace(0.5, 1.5, max(out.numel(), 1)).reshape(tuple(out.shape)).astype(dtype)
        out.backward(gradient=tg.tensor(gw))
        tout.backward(gradient=torch.tensor(gw))
        for i, (x, t) in enumerate(zip(xs, ts)):
            _check(x.grad.numpy().astype(np.float64), t.grad.numpy().astype(np.float64),
                   f"gradient of input {i}", dtype)


def test_detect_anomaly_names_the_op_that_made_nan_in_forward():
    x = tg.tensor([0.0, 1.0], requires_grad=True)
    with pytest.raises(RuntimeError) as info:
        with tg.detect_anomaly():
            y = tg.exp(x)  # fine
            z = tg.log(y - 1)  # log(0) = -inf: not NaN yet
            w = z * tg.zeros(2)  # -inf * 0 = NaN: mul is the op that first produced NaN
            tg.exp(w)  # would propagate it; never reached
    message = str(info.value)
    assert "'mul'" in message and "NaN" in message and "[2]" in message
    # outside anomaly mode the same program runs, and the library keeps working
    w = tg.log(tg.exp(x) - 1) * tg.zeros(2)
    assert np.isnan(w.detach().numpy()[0])


def test_detect_anomaly_names_the_backward_that_made_nan():
    x = tg.tensor([0.0, 4.0], requires_grad=True)
    with pytest.raises(RuntimeError) as info:
        with tg.detect_anomaly():
            y = tg.sqrt(x)  # finite forward; backward 1/(2·sqrt(0)) = inf
            (y * 0).sum().backward()  # inf * 0 = nan in SqrtBackward0
    assert "SqrtBackward0" in str(info.value)
    # the library keeps working afterwards
    x.grad = None
    tg.sqrt(x[1:]).sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [0.0, 0.25])
