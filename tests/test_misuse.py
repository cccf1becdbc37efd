"""Misuse of the public API, one table: every case must raise the documented exception type
with a message that names the op and the shapes/values involved (docs/architecture.md, "Tests"), and afterwards
the engine must still compute correct gradients (the tape is not left in a broken state).

tests/test_errors.py covers the engine's bad-input paths op by op; this table follows what a
learner does wrong, across tensors, autograd, nn, optim, data and serialization."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn
from tapegrad.nn import functional as F


def _leaf(*shape: int) -> tg.Tensor:
    return tg.ones(*shape, requires_grad=True)


def _backward_twice(tmp: Path) -> None:
    x = _leaf(3)
    y = tg.exp(x * 2).sum()
    y.backward()
    y.backward()


def _modified_inplace(tmp: Path) -> None:
    x = _leaf(2, 3)
    a = x * 1
    b = tg.exp(a)  # saves its output
    b += 1  # exp's saved result is modified
    b.sum().backward()


def _grad_of_unused(tmp: Path) -> None:
    x, unused = _leaf(4), _leaf(5)
    tg.grad((x * x).sum(), [x, unused])


def _idx_file(tmp: Path, payload: bytes, name: str = "f.idx") -> Path:
    p = tmp / name
    p.write_bytes(payload)
    return p


def _idx_images(n: int = 2, rows: int = 3, cols: int = 3) -> bytes:
    return struct.pack(">IIII", 2051, n, rows, cols) + bytes(range(n * rows * cols))


def _lsd(state: dict[str, Any]) -> None:
    nn.Linear(2, 3).load_state_dict(state)


# (id, action, exception type, substrings the message must contain)
CASES: list[tuple[str, Callable[[Path], Any], type[BaseException], tuple[str, ...]]] = [
    # --- shape mismatches ---------------------------------------------------------------------
    ("add-broadcast", lambda t: tg.ones(2, 3) + tg.ones(4), ValueError, ("add", "[2, 3]", "[4]")),
    ("mul-broadcast", lambda t: _leaf(2, 3) * tg.ones(3, 2), ValueError, ("mul", "[2, 3]", "[3, 2]")),
    ("where-broadcast", lambda t: tg.where(tg.ones(2) > 0, tg.ones(3), tg.ones(2)), ValueError,
     ("where", "[2]", "[3]")),
    ("matmul-inner", lambda t: tg.ones(2, 3) @ tg.ones(4, 5), ValueError,
     ("matmul", "[2, 3]", "[4, 5]")),
    ("matmul-vectors", lambda t: tg.ones(3) @ tg.ones(4), ValueError, ("matmul", "[3]", "[4]")),
    ("matmul-0d", lambda t: tg.tensor(2.0) @ tg.ones(3), ValueError, ("matmul", "[]", "[3]")),
    ("matmul-batch", lambda t: tg.ones(2, 3, 4) @ tg.ones(3, 4, 5), ValueError,
     ("matmul", "[2, 3, 4]", "[3, 4, 5]")),
    ("mse-shapes", lambda t: F.mse_loss(_leaf(3), tg.ones(4)), ValueError,
     ("mse_loss", "[3]", "[4]")),
    ("cross_entropy-batch", lambda t: F.cross_entropy(_leaf(4, 3), tg.tensor([0, 1, 2])),
     ValueError, ("cross_entropy", "[4, 3]", "[3]")),
    ("bce-shapes", lambda t: F.binary_cross_entropy_with_logits(_leaf(3), tg.ones(2)), ValueError,
     ("binary_cross_entropy_with_logits", "[2]", "[3]")),
    ("linear-width", lambda t: nn.Linear(4, 2)(tg.ones(5, 3)), ValueError,
     ("Linear", "in_features=4", "[5, 3]")),
    ("cat-shapes", lambda t: tg.cat([tg.ones(2, 3), tg.ones(2, 4)]), ValueError,
     ("cat", "[2, 3]", "[2, 4]")),
    ("stack-shapes", lambda t: tg.stack([tg.ones(2), tg.ones(3)]), ValueError,
     ("stack", "[2]", "[3]")),
    ("setitem-shape", lambda t: tg.zeros(3, 4).__setitem__(0, tg.ones(3)), ValueError,
     ("__setitem__", "[3]", "[4]")),
    ("reshape-size", lambda t: tg.ones(2, 3).reshape(4, 2), ValueError, ("reshape", "[4, 2]", "6")),
    ("expand-size", lambda t: tg.ones(2, 3).expand(4, 3), ValueError, ("expand", "[4, 3]", "[2, 3]")),
    ("backward-gradient-shape", lambda t: (_leaf(3) * 2).backward(gradient=tg.ones(4)), ValueError,
     ("backward", "[4]", "[3]")),
    ("assign-grad-shape", lambda t: setattr(_leaf(2), "grad", tg.ones(3)), ValueError,
     ("grad", "[3]", "[2]")),
    # --- dtypes -----------------------------------------------------------------------------------
    ("int-requires-grad", lambda t: tg.tensor([1, 2], requires_grad=True), TypeError,
     ("requires_grad", "int64")),
    ("bool-requires-grad", lambda t: (tg.ones(2) > 0).requires_grad_(), TypeError,
     ("requires_grad", "bool")),
    ("int-matmul-float", lambda t: tg.tensor([[1, 2]]) @ tg.ones(2, 2), TypeError,
     ("matmul", "int64", "float32", "[1, 2]", "[2, 2]")),
    ("float-class-labels", lambda t: F.cross_entropy(_leaf(2, 3), tg.tensor([0.0, 1.0])),
     TypeError, ("cross_entropy", "int64", "float32", "[2]")),
    ("float-index-tensor", lambda t: tg.ones(2, 3)[tg.tensor([0.0, 1.0])], IndexError,
     ("index", "float32", "[2]")),
    ("mean-of-ints", lambda t: tg.tensor([1, 2]).mean(), TypeError, ("mean", "int64", "[2]")),
    ("bad-dtype-name", lambda t: tg.ones(2).to("float17"), TypeError, ("float17",)),
    # --- out-of-range dims and indices -------------------------------------------------------------
    ("sum-dim", lambda t: _leaf(2, 3).sum(dim=2), IndexError, ("sum", "2", "[2, 3]")),
    ("softmax-dim", lambda t: F.softmax(_leaf(2, 3), dim=-3), IndexError,
     ("softmax", "-3", "[2, 3]")),
    ("cat-dim", lambda t: tg.cat([tg.ones(2, 3)] * 2, dim=2), IndexError, ("cat", "2", "[2, 3]")),
    ("index-int", lambda t: _leaf(2, 3)[2], IndexError, ("index 2", "size 2", "[2, 3]")),
    ("index-too-many", lambda t: tg.ones(2, 3)[0, 0, 0], IndexError, ("too many", "[2, 3]")),
    ("index-int-tensor", lambda t: _leaf(2, 3)[tg.tensor([0, 5])], IndexError,
     ("5", "size 2", "[2, 3]")),
    ("index-gather-pairs", lambda t: _leaf(3, 4)[tg.arange(3), tg.tensor([0, 1, 4])], IndexError,
     ("4", "size 4", "[3, 4]")),
    ("index-mask-shape", lambda t: tg.ones(2, 3)[tg.tensor([True, False, True])], IndexError,
     ("mask", "[3]", "[2, 3]")),
    ("cross_entropy-label-too-big", lambda t: F.cross_entropy(_leaf(2, 3), tg.tensor([0, 3])),
     IndexError, ("cross_entropy", "3", "3 classes", "[2, 3]")),
    ("cross_entropy-label-negative", lambda t: F.cross_entropy(_leaf(2, 3), tg.tensor([0, -1])),
     IndexError, ("cross_entropy", "-1", "[2, 3]")),
    # --- data that is not a tensor ---------------------------------------------------------------
    ("ragged-data", lambda t: tg.tensor([[1, 2], [3]]), ValueError, ("ragged", "length 2", "length 1")),
    ("non-numeric-data", lambda t: tg.tensor([[1.0, "a"]]), TypeError, ("tensor", "str")),
    ("none-in-data", lambda t: tg.tensor([1.0, None]), TypeError, ("tensor", "NoneType")),
    # --- sizes ------------------------------------------------------------------------------------
    ("negative-size", lambda t: tg.zeros(-1, 3), ValueError, ("zeros", "-1", "[-1, 3]")),
    ("absurd-size", lambda t: tg.zeros(2**40, 2**40), (ValueError, MemoryError),
     ("1099511627776",)),
    ("too-large-to-allocate", lambda t: tg.zeros(2**31, 2**20), MemoryError,
     ("[2147483648, 1048576]",)),
    ("randn-too-large", lambda t: tg.randn(2**62), MemoryError, ("4611686018427387904",)),
    ("negative-linspace", lambda t: tg.linspace(0, 1, -3), ValueError, ("linspace", "-3")),
    ("linear-negative-features", lambda t: nn.Linear(-1, 3), ValueError, ("Linear", "-1")),
    # --- autograd -----------------------------------------------------------------------------------
    ("item-many", lambda t: tg.ones(3).item(), ValueError, ("item", "3 elements", "[3]")),
    ("backward-non-scalar", lambda t: (_leaf(3) * 2).backward(), RuntimeError,
     ("scalar", "[3]", "gradient=")),
    ("backward-twice", _backward_twice, RuntimeError, ("second time", "retain_graph=True",
                                                        "Backward0")),
    ("backward-needs-no-grad", lambda t: tg.ones(3).sum().backward(), RuntimeError,
     ("does not require grad", "requires_grad=True")),
    ("grad-of-unused-input", _grad_of_unused, RuntimeError, ("input 1", "[5]", "allow_unused")),
    ("grad-non-scalar", lambda t: tg.grad(_leaf(2) * 2, [_leaf(2)]), RuntimeError,
     ("scalar", "[2]", "grad_outputs")),
    ("inplace-on-leaf", lambda t: _leaf(2).__iadd__(1), RuntimeError,
     ("leaf", "[2]", "in-place", "no_grad")),
    ("modified-by-inplace", _modified_inplace, RuntimeError,
     ("inplace operation", "[2, 3]", "ExpBackward0", "version")),
    ("numpy-of-requires-grad", lambda t: _leaf(2).numpy(), RuntimeError, ("numpy", "detach")),
    # --- optimizers and data loading ------------------------------------------------------------
    ("sgd-negative-lr", lambda t: tg.optim.SGD([_leaf(2)], lr=-0.1), ValueError, ("-0.1",)),
    ("sgd-negative-momentum", lambda t: tg.optim.SGD([_leaf(2)], lr=0.1, momentum=-1), ValueError,
     ("momentum", "-1")),
    ("adam-beta", lambda t: tg.optim.Adam([_leaf(2)], betas=(1.5, 0.9)), ValueError,
     ("beta", "1.5")),
    ("optimizer-non-leaf", lambda t: tg.optim.SGD([_leaf(2) * 2], lr=0.1), ValueError,
     ("non-leaf", "[2]")),
    ("optimizer-given-tensor", lambda t: tg.optim.SGD(_leaf(2), lr=0.1), TypeError,
     ("iterable", "Tensor")),
    ("dataloader-batch-size", lambda t: tg.data.DataLoader(tg.data.TensorDataset(tg.ones(4, 2)),
                                                           batch_size=0), ValueError,
     ("batch_size", "0")),
    ("dataloader-dataset", lambda t: tg.data.DataLoader(5, batch_size=2), TypeError,
     ("dataset", "int")),
    ("tensordataset-lengths", lambda t: tg.data.TensorDataset(tg.ones(4, 2), tg.ones(3)),
     ValueError, ("4", "3")),
    # --- state dicts and files ---------------------------------------------------------------------
    ("state-dict-missing-key", lambda t: _lsd({"weight": tg.ones(3, 2)}), RuntimeError,
     ("Missing", "bias")),
    ("state-dict-unexpected-key", lambda t: _lsd({"weight": tg.ones(3, 2), "bias": tg.ones(3),
                                                   "foo": tg.ones(1)}), RuntimeError,
     ("Unexpected", "foo")),
    ("state-dict-shape", lambda t: _lsd({"weight": tg.ones(2, 3), "bias": tg.ones(3)}),
     RuntimeError, ("weight", "[2, 3]", "[3, 2]")),
    ("idx-truncated", lambda t: tg.data.read_idx(_idx_file(t, _idx_images()[:-5])), ValueError,
     ("truncated", "f.idx")),
    ("idx-bad-magic", lambda t: tg.data.read_idx(_idx_file(t, b"\0\0\x0c\x01" + b"\0" * 12)),
     ValueError, ("f.idx", "magic")),
    ("idx-short-header", lambda t: tg.data.read_idx(_idx_file(t, b"\0\0\x08")), ValueError,
     ("truncated", "3 bytes")),
    ("idx-corrupt-gzip", lambda t: tg.data.read_idx(
        _idx_file(t, gzip.compress(_idx_images())[:-12], "f.idx.gz")), ValueError,
     ("gzip", "f.idx.gz")),
    ("idx-missing", lambda t: tg.data.read_idx(t / "nope.idx"), FileNotFoundError, ("nope.idx",)),
    ("load-not-npz", lambda t: tg.load(_idx_file(t, b"hello", "x.npz")), ValueError, ("x.npz",)),
]


def test_table_is_large_and_distinct():
    ids = [c[0] for c in CASES]
    assert len(ids) >= 40
    assert len(set(ids)) == len(ids)


def _still_works() -> None:
    """A fresh computation after the error: value and gradients are right, the tape is clean."""
    before = tg.tape_stats()["live_entries"]
    w = tg.tensor([[1.0, -2.0], [0.5, 3.0]], requires_grad=True)
    x = tg.tensor([[2.0, 1.0]])
    y = tg.tensor([1])
    loss = F.cross_entropy(x @ w, y) + (w**2).sum()
    loss.backward()
    z = np.array([[2.0, 1.0]]) @ w.detach().numpy()
    p = np.exp(z - z.max()) / np.exp(z - z.max()).sum()
    p[0, 1] -= 1
    expect = np.array([[2.0], [1.0]]) @ p + 2 * w.detach().numpy()
    np.testing.assert_allclose(w.grad.numpy(), expect, rtol=1e-5, atol=1e-6)
    del loss
    # (<=: a garbage collection during the check may free graphs an earlier error left behind)
    assert tg.tape_stats()["live_entries"] <= before


@pytest.mark.parametrize("action,exc,needles", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_misuse(action, exc, needles, tmp_path):
    with pytest.raises(exc) as info:
        action(tmp_path)
    message = str(info.value)
    missing = [n for n in needles if n not in message]
    assert not missing, f"message {message!r} does not mention {missing}"
    _still_works()
