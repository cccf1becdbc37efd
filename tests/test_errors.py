"""Bad input gets a Python exception (ValueError/TypeError/IndexError/RuntimeError) whose
message names the op and the shapes or dtypes — never a crash, never a silent wrong answer —
and the library keeps working afterwards."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg

F = tg._core  # the engine's losses (tg.nn.functional wraps these)


def _leaf(*shape):
    return tg.ones(*shape, requires_grad=True)


def _backward_twice():
    y = (_leaf(3).exp() * 2).sum()
    y.backward()
    y.backward()


ERRORS = [
    # (id, thunk, exception, regex the message must match)
    ("add-shapes", lambda: _leaf(2, 3) + tg.ones(4), ValueError, r"add.*\[2, 3\].*\[4\]"),
    ("mul-shapes", lambda: tg.ones(2, 3) * tg.ones(3, 2), ValueError, r"mul.*\[2, 3\].*\[3, 2\]"),
    ("sub-shapes", lambda: tg.ones(5) - _leaf(4), ValueError, r"sub.*\[5\].*\[4\]"),
    ("pow-shapes", lambda: tg.ones(2) ** tg.ones(3), ValueError, r"pow.*\[2\].*\[3\]"),
    ("where-shapes", lambda: tg.where(tg.tensor([True, False]), tg.ones(3), tg.ones(3)),
     ValueError, r"where.*\[2\].*\[3\]"),
    ("matmul-shapes", lambda: _leaf(2, 3) @ tg.ones(4, 5), ValueError,
     r"matmul.*\[2, 3\].*\[4, 5\]"),
    ("matmul-vectors", lambda: tg.ones(3) @ tg.ones(4), ValueError, r"matmul.*\[3\].*\[4\]"),
    ("matmul-batch", lambda: tg.ones(2, 3, 4) @ tg.ones(3, 4, 5), ValueError,
     r"matmul.*\[2, 3, 4\].*\[3, 4, 5\]"),
    ("matmul-0d", lambda: tg.tensor(1.0) @ tg.ones(4), ValueError, r"matmul.*\[\].*\[4\]"),
    ("matmul-int-float", lambda: tg.ones(2, 3, dtype=tg.int64) @ tg.ones(3, 2), TypeError,
     r"matmul.*int64.*float32"),
    ("mm-3d", lambda: tg.mm(tg.ones(2, 3, 4), tg.ones(4, 5)), ValueError, r"mm.*\[2, 3, 4\]"),
    ("cat-shapes", lambda: tg.cat([tg.ones(2, 3), tg.ones(2, 4)]), ValueError,
     r"cat.*\[2, 3\].*\[2, 4\]"),
    ("cat-ndim", lambda: tg.cat([tg.ones(2, 3), tg.ones(3)]), ValueError, r"cat.*\[2, 3\].*\[3\]"),
    ("cat-empty", lambda: tg.cat([]), ValueError, r"cat"),
    ("cat-dim", lambda: tg.cat([tg.ones(2, 3)], dim=2), IndexError, r"cat.*2.*\[2, 3\]"),
    ("stack-shapes", lambda: tg.stack([tg.ones(2), tg.ones(3)]), ValueError,
     r"stack.*\[2\].*\[3\]"),
    ("ragged-list", lambda: tg.tensor([[1, 2], [3]]), ValueError, r"tensor.*ragged"),
    ("non-numeric", lambda: tg.tensor([1, "a"]), TypeError, r"tensor.*str"),
    ("sum-dim", lambda: _leaf(2, 3).sum(2), IndexError, r"sum.*2.*\[2, 3\]"),
    ("mean-dim", lambda: tg.ones(2, 3).mean(-3), IndexError, r"mean.*-3.*\[2, 3\]"),
    ("softmax-dim", lambda: tg.ones(2, 3).softmax(5), IndexError, r"softmax.*5.*\[2, 3\]"),
    ("max-dim", lambda: tg.ones(2, 3).max(dim=3), IndexError, r"max.*3.*\[2, 3\]"),
    ("transpose-dim", lambda: tg.ones(2, 3).transpose(0, 2), IndexError, r"transpose.*\[2, 3\]"),
    ("unsqueeze-dim", lambda: tg.ones(2, 3).unsqueeze(4), IndexError, r"unsqueeze.*4.*\[2, 3\]"),
    ("squeeze-dim", lambda: tg.ones(2, 3).squeeze(3), IndexError, r"squeeze.*3.*\[2, 3\]"),
    ("permute-repeat", lambda: tg.ones(2, 3).permute(0, 0), ValueError,
     r"permute.*repeated dim 0.*\[0, 0\].*\[2, 3\]"),
    ("permute-count", lambda: tg.ones(2, 3).permute(0), ValueError, r"permute.*\[2, 3\]"),
    ("reshape", lambda: _leaf(2, 3).reshape(4, 2), ValueError, r"reshape.*\[4, 2\].*6"),
    ("view", lambda: tg.ones(2, 3).view(5), ValueError, r"view.*\[5\].*6"),
    ("expand", lambda: tg.ones(2, 3).expand(3, 3), ValueError, r"expand.*\[3, 3\].*\[2, 3\]"),
    ("max-empty", lambda: tg.ones(0, 3).max(dim=0), ValueError, r"max.*\[0, 3\]"),
    ("amax-empty", lambda: tg.ones(0, 3).amax(), ValueError, r"amax.*\[0, 3\]"),
    ("index-range", lambda: tg.ones(2, 3)[2], IndexError, r"out of bounds.*size 2.*\[2, 3\]"),
    ("index-neg", lambda: _leaf(2, 3)[:, -4], IndexError, r"-4.*\[2, 3\]"),
    ("index-tensor-range", lambda: tg.ones(2, 3)[tg.tensor([0, 2])], IndexError, r"out of bounds"),
    ("too-many-indices", lambda: tg.ones(2, 3)[0, 0, 0], IndexError, r"too many.*\[2, 3\]"),
    ("backward-twice", _backward_twice, RuntimeError, r"retain_graph=True"),
    ("non-scalar-backward", lambda: (_leaf(3) * 2).backward(), RuntimeError, r"scalar.*\[3\]"),
    ("gradient-shape", lambda: (_leaf(3) * 2).backward(tg.ones(2)), ValueError, r"\[2\].*\[3\]"),
    ("backward-no-grad", lambda: tg.ones(2).sum().backward(), RuntimeError,
     r"does not require grad"),
    ("ce-label-range", lambda: F.cross_entropy(_leaf(2, 3), tg.tensor([0, 3])), IndexError,
     r"cross_entropy.*3.*\[2, 3\]"),
    ("ce-label-negative", lambda: F.cross_entropy(_leaf(2, 3), tg.tensor([-1, 0])), IndexError,
     r"cross_entropy.*-1"),
    ("ce-float-labels", lambda: F.cross_entropy(_leaf(2, 3), tg.tensor([0.0, 1.0])), TypeError,
     r"cross_entropy.*int64.*float32"),
    ("ce-batch", lambda: F.cross_entropy(_leaf(2, 3), tg.tensor([0, 1, 2])), ValueError,
     r"cross_entropy.*\[2, 3\].*\[3\]"),
    ("ce-reduction", lambda: F.cross_entropy(_leaf(2, 3), tg.tensor([0, 1]), reduction="avg"),
     ValueError, r"cross_entropy.*avg"),
    # tapegrad deliberately differs from PyTorch here: mismatched shapes raise instead of broadcasting.
    ("mse-shapes", lambda: F.mse_loss(_leaf(2, 3), tg.ones(3)), ValueError,
     r"mse_loss.*\[2, 3\].*\[3\]"),
    ("mse-shapes-2", lambda: F.mse_loss(_leaf(4, 1), tg.ones(4)), ValueError,
     r"mse_loss.*\[4, 1\].*\[4\]"),
    ("bce-shapes", lambda: F.binary_cross_entropy_with_logits(_leaf(2, 3), tg.ones(3)), ValueError,
     r"binary_cross_entropy_with_logits.*\[3\].*\[2, 3\]"),
    ("requires-grad-int", lambda: tg.tensor([1, 2]).requires_grad_(), TypeError, r"int64"),
    ("requires-grad-int-kw", lambda: tg.tensor([1, 2], requires_grad=True), TypeError, r"int64"),
    ("requires-grad-bool", lambda: tg.ones(2, dtype=tg.bool, requires_grad=True), TypeError,
     r"bool"),
    ("inplace-leaf", lambda: _leaf(3).add_(1.0), RuntimeError, r"leaf.*\[3\].*no_grad"),
    ("inplace-shape", lambda: tg.ones(3).add_(tg.ones(2, 3)), ValueError, r"add_.*\[3\].*\[2, 3\]"),
    ("inplace-dtype", lambda: tg.ones(3, dtype=tg.int64).add_(tg.ones(3)), TypeError,
     r"add_.*float32.*int64"),
    ("item-many", lambda: tg.ones(3).item(), ValueError, r"\[3\]"),
    ("bool-many", lambda: bool(tg.ones(3)), RuntimeError, r"ambiguous"),
    ("negative-size", lambda: tg.zeros(-1), ValueError, r"negative dimension -1"),
    ("bad-dtype", lambda: tg.ones(2, dtype="complex64"), TypeError, r"complex64"),
    ("where-cond-dtype", lambda: tg.where(tg.ones(3), tg.ones(3), tg.ones(3)), TypeError,
     r"where.*bool.*float32"),
    ("add-str", lambda: tg.ones(3) + "a", TypeError, r"str"),
    ("from-numpy-strided", lambda: tg.from_numpy(np.ones((3, 2)).T), ValueError,
     r"from_numpy.*\(2, 3\).*contiguous"),
    ("grad-unused", lambda: tg.grad((_leaf(1) * 2).sum(), [_leaf(1)]), RuntimeError,
     r"allow_unused"),
]


def _fresh_gradient_works():
    w = tg.tensor([1.0, 2.0], requires_grad=True)
    x = tg.tensor([[1.0, 0.5], [0.0, 3.0]])
    loss = ((x @ w - 1.0) ** 2).mean()
    loss.backward()
    np.testing.assert_allclose(w.grad.numpy(), [1.0, 15.5], rtol=1e-6)
    assert tg.is_grad_enabled()


@pytest.mark.parametrize("thunk, exc, pattern", [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS])
def test_bad_input_raises_a_clear_python_error(thunk, exc, pattern):
    live = tg.tape_stats()["live_entries"]
    with pytest.raises(exc, match=pattern):
        thunk()
    _fresh_gradient_works()
    assert tg.tape_stats()["live_entries"] <= live  # nothing half-recorded stays behind


def test_error_inside_backward_leaves_the_engine_usable():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    h = x * x
    y = (h * h).sum()
    with tg.no_grad():
        h.detach().add_(1.0)
    with pytest.raises(RuntimeError, match="inplace"):
        y.backward()
    _fresh_gradient_works()


def test_error_inside_no_grad_restores_grad_mode():
    with pytest.raises(ValueError):
        with tg.no_grad():
            tg.ones(2) + tg.ones(3)
    _fresh_gradient_works()


def test_nan_and_inf_are_values_not_errors():
    x = tg.tensor([0.0, -1.0, 1.0])
    r = x.log()
    assert np.isneginf(r.numpy()[0]) and np.isnan(r.numpy()[1])
    assert np.isinf((tg.ones(1) / tg.zeros(1)).item())
