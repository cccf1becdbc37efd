"""Indexing semantics against NumPy (and PyTorch where the two differ: PyTorch's rules win),
reads and writes, with gradients (the gradients themselves are in the op table)."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg

A = np.arange(120.0).reshape(4, 5, 6)

# Keys compared with NumPy (PyTorch agrees on all but the negative-step slices, which it
# rejects and tapegrad accepts as NumPy does); `I` marks an int64 index array, `M` a bool mask.
KEYS = [
    "1", "-1", "(1, 2)", "(-1, -2, -3)", "slice(1, 3)", "slice(None, None, 2)",
    "slice(-3, -1)", "slice(None, None, -1)", "(slice(None), slice(4, 1, -2))",
    "slice(10, 20)", "slice(3, 1)", "None", "(None, 1)", "(slice(None), None, 2)",
    "Ellipsis", "(Ellipsis, 1)", "(1, Ellipsis, None)", "(Ellipsis, None, slice(1, 3))",
    "I([0, 2, 2])", "I([-1, 0])", "(I([0, 1, 3]), I([1, 0, 4]))", "(slice(None), I([4, 0]))",
    "(I([[0, 1], [2, 3]]),)", "(I([0, 1]), slice(None), I([2, 5]))",
    "(slice(None), I([1, 2]), I([0, 5]))", "(Ellipsis, I([0, 5]))", "(1, I([0, 2]))",
    "(I([[0], [3]]), I([1, 2, 3]))", "M(A[:, 0, 0] > 30)", "M(A[..., 0] > 50)", "M(A > 100)",
    "(slice(None), M(np.array([True, False, True, False, True])))", "I([])",
]
ARRAY_KEYS = [k for k in KEYS if "I(" in k or "M(" in k]


def _key(expr, wrap):
    return eval(expr, {"I": lambda v: wrap(np.array(v, dtype=np.int64)), "M": wrap,
                       "A": A, "np": np, "Ellipsis": Ellipsis})


@pytest.mark.parametrize("expr", KEYS)
def test_getitem_matches_numpy(expr):
    got = tg.tensor(A)[_key(expr, tg.tensor)]
    want = A[_key(expr, lambda a: a)]
    assert tuple(got.shape) == want.shape
    np.testing.assert_array_equal(got.numpy(), want)


@pytest.mark.parametrize("expr", ARRAY_KEYS)
def test_getitem_with_plain_lists_and_arrays(expr):
    got = tg.tensor(A)[_key(expr, lambda a: a.tolist())]
    want = A[_key(expr, lambda a: a)]
    np.testing.assert_array_equal(got.numpy(), want)


def test_int_next_to_an_index_tensor_follows_pytorch():
    # NumPy moves the broadcast dims first when an int separates them from the tensor index
    # ((2, 5)); PyTorch selects the int first and keeps the dims in place ((5, 2)).
    t = tg.tensor(A)
    r = t[0, :, tg.tensor([1, 2])]
    assert tuple(r.shape) == (5, 2)
    np.testing.assert_array_equal(r.numpy(), A[0][:, [1, 2]])
    mask = np.array([True, False] * 3)
    m = t[1, :, tg.tensor(mask)]
    assert tuple(m.shape) == (5, 3)
    np.testing.assert_array_equal(m.numpy(), A[1][:, mask])
    torch = pytest.importorskip("torch")
    assert tuple(torch.tensor(A)[0, :, [1, 2]].shape) == (5, 2)
    assert tuple(torch.tensor(A)[1, :, torch.tensor(mask)].shape) == (5, 3)


def test_p_arange_y_picks_one_per_row():
    p = tg.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    y = tg.tensor([0, 2])
    np.testing.assert_allclose(p[tg.arange(2), y].numpy(), [0.1, 0.5])


def test_indexing_a_0d_and_with_a_0d_tensor():
    s = tg.tensor(3.0)
    assert s[...].item() == 3.0 and s[None].shape == (1,)
    t = tg.tensor(A)
    assert t[tg.tensor(2)].shape == (5, 6)
    assert t[np.int64(1), 2].shape == (6,)


def test_getitem_returns_a_copy_or_view_consistently_for_reading():
    t = tg.tensor(A)
    row = t[1]
    np.testing.assert_array_equal(row.numpy(), A[1])


# ----- __setitem__ -------------------------------------------------------------------------------
SET_KEYS = [
    "1", "(1, 2)", "slice(1, 3)", "(slice(None), slice(None, None, 2))", "(Ellipsis, 0)",
    "I([0, 3])", "(I([0, 1]), I([2, 4]))", "M(A > 60)", "(None, 2)", "(slice(None), -1, 1)",
]


@pytest.mark.parametrize("expr", SET_KEYS)
@pytest.mark.parametrize("value", ["scalar", "broadcast", "full"])
def test_setitem_matches_numpy(expr, value):
    want = A.copy()
    target_shape = want[_key(expr, lambda a: a)].shape
    if value == "scalar":
        v = -7.0
        tv = v
    elif value == "broadcast":
        v = np.arange(target_shape[-1] if target_shape else 1, dtype=float) - 100
        if not target_shape:
            v = v[0]
        tv = tg.tensor(v, dtype=tg.float64)
    else:
        v = np.arange(int(np.prod(target_shape)), dtype=float).reshape(target_shape) - 1000
        tv = tg.tensor(v, dtype=tg.float64)
    want[_key(expr, lambda a: a)] = v
    got = tg.tensor(A)
    got[_key(expr, tg.tensor)] = tv
    np.testing.assert_array_equal(got.numpy(), want)


def test_setitem_casts_and_refuses_float_into_int():
    t = tg.zeros(3, dtype=tg.int64)
    t[0] = 5
    t[1] = True
    assert t.tolist() == [5, 1, 0]
    with pytest.raises(TypeError):
        t[2] = tg.tensor(1.5)
    f = tg.zeros(2)
    f[0] = tg.tensor(3)
    assert f.tolist() == [3.0, 0.0]


def test_setitem_shape_mismatch_raises():
    t = tg.zeros(3, 4)
    with pytest.raises(ValueError, match=r"\[3\].*\[4\]|\[4\].*\[3\]"):
        t[0] = tg.ones(3)


def test_setitem_shares_memory_with_numpy():
    a = np.zeros(4)
    t = tg.from_numpy(a)
    t[1:3] = 2.0
    assert a.tolist() == [0.0, 2.0, 2.0, 0.0]


def test_setitem_with_grad_on_a_clone():
    x = tg.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    w = tg.tensor([10.0, 20.0], requires_grad=True)
    y = x.clone()
    y[tg.tensor([True, False, True, False])] = w * w
    assert y.grad_fn is not None
    y.sum().backward()
    assert x.grad.tolist() == [0.0, 1.0, 0.0, 1.0]
    assert w.grad.tolist() == [20.0, 40.0]


def test_index_errors():
    t = tg.tensor(A)
    with pytest.raises(IndexError, match="out of bounds.*5"):
        t[0, 5]
    with pytest.raises(IndexError, match="too many indices"):
        t[0, 0, 0, 0]
    with pytest.raises(IndexError, match="out of bounds"):
        t[tg.tensor([0, 4])]
    with pytest.raises(IndexError):
        t[tg.tensor([True, False])]  # mask of the wrong length
    with pytest.raises(IndexError):
        t[1.5]
    with pytest.raises(IndexError, match="ellipsis"):
        t[..., ...]
    with pytest.raises(ValueError, match="step"):
        t[::0]
    with pytest.raises(IndexError):
        t[tg.tensor([0.0, 1.0])]  # float index tensors are not indices


def test_row_gather_with_an_index_tensor_matches_numpy():
    # x[idx] without history copies whole rows (the DataLoader's mini-batch gather).
    a = np.arange(24, dtype=np.float32).reshape(6, 4)
    idx = np.array([5, 0, -1, 2, 2], dtype=np.int64)
    for x in (tg.tensor(a), tg.tensor(a[:, 0]), tg.tensor(a.astype(np.int64)), tg.zeros(6, 0)):
        ref = x.numpy()[idx]
        got = x[tg.tensor(idx)]
        assert got.shape == ref.shape and got.dtype == x.dtype
        np.testing.assert_array_equal(got.numpy(), ref)
    with pytest.raises(IndexError, match="out of bounds for dimension 0 with size 6"):
        tg.tensor(a)[tg.tensor([0, 6])]
    assert tg.tensor(a)[tg.tensor(np.zeros(0, np.int64))].shape == (0, 4)
