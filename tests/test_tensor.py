"""Tensors: dtypes and promotion, NumPy interop (zero-copy both ways), construction from
Python data, repr like PyTorch's, creation functions, reductions' dim/axis aliases."""

from __future__ import annotations

import copy
import pickle

import numpy as np
import pytest

import tapegrad as tg


# ----- dtypes and promotion --------------------------------------------------------------------
def test_default_dtypes():
    assert tg.tensor([0, 1, 2, 3.0]).dtype == tg.float32
    assert tg.tensor([1, 2]).dtype == tg.int64
    assert tg.tensor([True, False]).dtype == tg.bool
    assert tg.tensor(2.5).dtype == tg.float32
    assert tg.tensor([]).dtype == tg.float32
    assert tg.tensor(np.array([1.0, 2.0])).dtype == tg.float64
    assert tg.tensor(np.array([1, 2], np.int32)).dtype == tg.int32  # as PyTorch
    assert tg.tensor(np.array([1, 2], np.uint32)).dtype == tg.int64  # no uint32 dtype
    assert tg.tensor([1, 2], dtype=tg.float64).dtype == tg.float64
    assert tg.tensor(np.array(1.5)).shape == ()
    assert tg.tensor(np.float64(1.5)).dtype == tg.float64  # NumPy scalars keep their dtype
    assert tg.tensor(np.int32(3)).dtype == tg.int32


@pytest.mark.parametrize(
    "a, b, expected",
    [
        (tg.float32, tg.float64, tg.float64),
        (tg.float64, tg.float32, tg.float64),
        (tg.int64, tg.float32, tg.float32),
        (tg.int64, tg.float64, tg.float64),
        (tg.bool, tg.int64, tg.int64),
        (tg.bool, tg.float32, tg.float32),
        (tg.int64, tg.int64, tg.int64),
    ],
)
def test_tensor_tensor_promotion(a, b, expected):
    x = tg.ones(2, dtype=a)
    y = tg.ones(2, dtype=b)
    assert (x + y).dtype == expected
    assert (x * y).dtype == expected


def test_python_scalars_do_not_widen():
    f32 = tg.ones(2)
    assert (f32 * 2.5).dtype == tg.float32
    assert (2.5 + f32).dtype == tg.float32
    assert (f32 ** 2).dtype == tg.float32
    assert (f32 + 1).dtype == tg.float32
    i = tg.tensor([1, 2])
    assert (i + 1).dtype == tg.int64
    assert (i + 1.5).dtype == tg.float32  # int + float scalar → default float
    assert (i / 2).dtype == tg.float32  # true division
    assert (tg.ones(2, dtype=tg.float64) * 2.0).dtype == tg.float64
    np.testing.assert_allclose((i + 1.5).numpy(), [2.5, 3.5])


def test_comparisons_give_bool_and_no_grad():
    x = tg.tensor([1.0, 2.0, 3.0], requires_grad=True)
    for r in [x > 2, x >= 2, x < 2, x <= 2, x == 2, x != 2]:
        assert r.dtype == tg.bool and not r.requires_grad
    np.testing.assert_array_equal((x > 1.5).numpy(), [False, True, True])


def test_casts():
    t = tg.tensor([1.7, -2.2])
    assert t.double().dtype == tg.float64
    assert t.to(tg.float64).dtype == tg.float64
    np.testing.assert_array_equal(t.long().numpy(), [1, -2])  # truncation, as PyTorch
    assert t.float() is t or t.float().dtype == tg.float32
    assert tg.tensor([0.0, 2.0]).bool().tolist() == [False, True]
    x = tg.tensor([1.0], requires_grad=True)
    y = x.double()
    assert y.requires_grad and y.dtype == tg.float64
    assert not x.long().requires_grad


# ----- NumPy interop ---------------------------------------------------------------------------
def test_from_numpy_shares_memory_both_ways():
    a = np.arange(6.0).reshape(2, 3)
    t = tg.from_numpy(a)
    assert t.dtype == tg.float64 and tuple(t.shape) == (2, 3)
    a[0, 0] = 9.0
    assert t[0, 0].item() == 9.0
    t.numpy()[1, 1] = -1.0
    assert a[1, 1] == -1.0
    with tg.no_grad():
        t += 1
    assert a[0, 0] == 10.0


def test_numpy_shares_memory_with_the_tensor():
    t = tg.zeros(3)
    n = t.numpy()
    n[0] = 5.0
    assert t[0].item() == 5.0
    t.fill_(2.0)
    assert n.tolist() == [2.0, 2.0, 2.0]
    assert n.dtype == np.float32


def test_numpy_view_outlives_the_tensor():
    n = tg.arange(4.0).numpy()
    import gc

    gc.collect()
    assert n.tolist() == [0.0, 1.0, 2.0, 3.0]


def test_tensor_copies():
    a = np.array([1.0, 2.0])
    t = tg.tensor(a)
    a[0] = 7.0
    assert t[0].item() == 1.0
    s = tg.tensor(t)
    t.fill_(0.0)
    assert s.tolist() == [1.0, 2.0]


def test_as_tensor_shares_when_it_can():
    a = np.array([1.0, 2.0])
    t = tg.as_tensor(a)
    a[0] = 3.0
    assert t[0].item() == 3.0


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_numpy_dtypes_round_trip(dtype):
    a = np.array([[1, 0], [0, 1]], dtype=dtype)
    t = tg.from_numpy(a)
    assert t.numpy().dtype == dtype
    np.testing.assert_array_equal(t.numpy(), a)


def test_from_numpy_refuses_what_it_cannot_share():
    with pytest.raises(ValueError, match="C-contiguous"):
        tg.from_numpy(np.ones((3, 2)).T)
    with pytest.raises(TypeError, match="uint16"):
        tg.from_numpy(np.ones(3, np.uint16))


def test_numpy_on_requires_grad_raises_and_array_protocol():
    x = tg.ones(2, requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        x.numpy()
    np.testing.assert_array_equal(x.detach().numpy(), [1.0, 1.0])
    np.testing.assert_array_equal(np.asarray(tg.tensor([1, 2])), [1, 2])


def test_zero_size_and_0d():
    e = tg.zeros(0, 3)
    assert e.numel() == 0 and e.numpy().shape == (0, 3)
    assert e.sum(0).tolist() == [0.0, 0.0, 0.0]
    s = tg.tensor(4.0)
    assert s.ndim == 0 and s.shape == () and s.item() == 4.0
    with pytest.raises(TypeError):
        len(s)


# ----- construction from Python data -------------------------------------------------------------
def test_tensor_from_nested_lists():
    t = tg.tensor([[1, 2, 3], [4, 5, 6]])
    assert tuple(t.shape) == (2, 3) and t.dtype == tg.int64
    assert t.tolist() == [[1, 2, 3], [4, 5, 6]]
    assert tg.tensor([[1, 2.5]]).dtype == tg.float32
    assert tg.tensor(((1.0,), (2.0,))).shape == (2, 1)
    assert tg.tensor([[], []]).shape == (2, 0)
    assert tg.tensor([tg.tensor(1.0), tg.tensor(2.0)]).tolist() == [1.0, 2.0]
    assert tg.tensor(np.float64(2.0)).item() == 2.0


@pytest.mark.parametrize("data", [[[1, 2], [3]], [1, [2]], [[1], 2], [[[1, 2]], [[3]]]])
def test_ragged_lists_raise_value_error(data):
    with pytest.raises(ValueError, match="ragged"):
        tg.tensor(data)


@pytest.mark.parametrize("data", ["abc", [1, "a"], {1: 2}, None, object(), [None]])
def test_non_numeric_data_raises_type_error(data):
    with pytest.raises(TypeError, match="tensor"):
        tg.tensor(data)


# ----- repr ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "make, text",
    [
        (lambda: tg.tensor([1.0, 2.0]), "tensor([1., 2.])"),
        (lambda: tg.tensor(36.3050), "tensor(36.3050)"),
        (lambda: tg.tensor([1.0, 2.0], requires_grad=True), "tensor([1., 2.], requires_grad=True)"),
        (lambda: tg.tensor([1.0, 2.0], requires_grad=True) * 2,
         "tensor([2., 4.], grad_fn=<MulBackward0>)"),
        (lambda: tg.tensor([1.0, 2.0], dtype=tg.float64),
         "tensor([1., 2.], dtype=tapegrad.float64)"),
        (lambda: tg.tensor([1, 2]), "tensor([1, 2])"),
        (lambda: tg.tensor([True, False]), "tensor([ True, False])"),
        (lambda: tg.tensor([[1.5, 2.25], [3.0, 4.0]]),
         "tensor([[1.5000, 2.2500],\n        [3.0000, 4.0000]])"),
        (lambda: tg.tensor([]), "tensor([])"),
        (lambda: tg.zeros(0, 3), "tensor([], size=(0, 3))"),
        (lambda: tg.tensor([1e-5, 1.0]), "tensor([1.0000e-05, 1.0000e+00])"),
        (lambda: tg.tensor(float("nan")), "tensor(nan)"),
    ],
)
def test_repr_like_pytorch(make, text):
    assert repr(make()) == text


def test_repr_matches_pytorch_when_installed():
    torch = pytest.importorskip("torch")
    for data in [[1.0, 2.0], 36.3050, [[0.1, -2.5], [3.0, 40.0]], [1, 2, 3], [0.5, float("inf")]]:
        assert repr(tg.tensor(data)) == repr(torch.tensor(data))
    assert repr(tg.tensor([1.0, 2.0], dtype=tg.float64)).replace("tapegrad", "torch") == repr(
        torch.tensor([1.0, 2.0], dtype=torch.float64))


def test_dtype_and_size_reprs():
    assert repr(tg.float64) == "tapegrad.float64"
    assert repr(tg.zeros(2, 3).shape) == "tapegrad.Size([2, 3])"
    assert tg.zeros(2, 3).shape == (2, 3)
    assert f"{tg.tensor(36.30504):.4f}" == "36.3050"


# ----- creation functions -----------------------------------------------------------------------
def test_creation_functions():
    assert tg.zeros(2, 3).tolist() == [[0.0] * 3] * 2
    assert tg.zeros((2, 3)).shape == (2, 3)
    assert tg.ones(2, dtype=tg.int64).tolist() == [1, 1]
    assert tg.full((2,), 7).dtype == tg.int64 and tg.full((2,), 7.0).tolist() == [7.0, 7.0]
    assert tg.zeros_like(tg.ones(2, 3, dtype=tg.float64)).dtype == tg.float64
    assert tg.ones_like(tg.ones(2, 3)).shape == (2, 3)
    assert tg.arange(5).tolist() == [0, 1, 2, 3, 4] and tg.arange(5).dtype == tg.int64
    assert tg.arange(0, 1, 0.25).tolist() == [0.0, 0.25, 0.5, 0.75]
    assert tg.arange(1.0, 4.0).dtype == tg.float32
    np.testing.assert_allclose(tg.linspace(0, 1, 5).numpy(), [0, 0.25, 0.5, 0.75, 1])
    assert tg.eye(2, 3).tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    assert tg.eye(3).shape == (3, 3)
    assert tg.zeros(0).shape == (0,)
    assert tg.ones(3, requires_grad=True).requires_grad


def test_random_creation_and_seed():
    tg.manual_seed(42)
    a = tg.randn(1000)
    b = tg.rand(1000)
    tg.manual_seed(42)
    assert np.array_equal(a.numpy(), tg.randn(1000).numpy())
    assert np.array_equal(b.numpy(), tg.rand(1000).numpy())
    assert abs(a.mean().item()) < 0.15 and 0.8 < a.numpy().std() < 1.2
    assert 0.0 <= b.numpy().min() and b.numpy().max() < 1.0
    n = tg.normal(3.0, 0.5, (2000,))
    assert abs(n.mean().item() - 3.0) < 0.1 and tuple(n.shape) == (2000,)
    r = tg.randint(2, 5, (100,))
    assert r.dtype == tg.int64 and set(r.tolist()) <= {2, 3, 4}
    assert sorted(tg.randperm(6).tolist()) == list(range(6))
    assert tg.randn(2, 3, dtype=tg.float64).dtype == tg.float64


# ----- tensor attributes and reductions -------------------------------------------------------
def test_attributes():
    t = tg.arange(24.0).reshape(2, 3, 4)
    assert (t.ndim, t.numel(), len(t), t.size(1), t.shape[2]) == (3, 24, 2, 3, 4)
    assert t.T.shape == (4, 3, 2)  # reverses dims
    assert tg.tensor(2).item() == 2 and isinstance(tg.tensor(2).item(), int)
    assert isinstance(tg.tensor(2.5).item(), float)
    assert t.tolist()[1][2][3] == 23.0
    assert tg.tensor(5.0).requires_grad_().is_leaf


def test_reductions_dim_axis_aliases():
    a = np.arange(24.0).reshape(2, 3, 4)
    t = tg.tensor(a)
    np.testing.assert_array_equal(t.sum(axis=1, keepdims=True).numpy(), a.sum(1, keepdims=True))
    np.testing.assert_array_equal(t.sum(dim=(0, 2)).numpy(), a.sum((0, 2)))
    np.testing.assert_allclose(t.mean(-1).numpy(), a.mean(-1))
    np.testing.assert_array_equal(t.amax(axis=(0, 1)).numpy(), a.max((0, 1)))
    np.testing.assert_array_equal(tg.amin(t, 2).numpy(), a.min(2))
    np.testing.assert_array_equal(tg.sum(t, 1).numpy(), a.sum(1))
    v, i = t.max(dim=2)
    np.testing.assert_array_equal(v.numpy(), a.max(2))
    assert i.dtype == tg.int64 and i.tolist() == a.argmax(2).tolist()
    r = t.min(1, keepdim=True)
    assert r.values.shape == (2, 1, 4) and r.indices.shape == (2, 1, 4)
    assert t.max().item() == 23.0 and t.min().item() == 0.0
    assert t.argmax().item() == 23 and t.argmin(dim=1).tolist() == a.argmin(1).tolist()
    np.testing.assert_allclose(t.logsumexp(1).numpy(), np.log(np.exp(a).sum(1)), rtol=1e-12)


def test_logsumexp_and_softmax_are_stable():
    x = tg.tensor([[1000.0, 1000.0], [-1000.0, float("-inf")]], dtype=tg.float64)
    np.testing.assert_allclose(x.logsumexp(1).numpy(), [1000 + np.log(2), -1000])
    np.testing.assert_allclose(x.softmax(1).numpy(), [[0.5, 0.5], [1.0, 0.0]])
    np.testing.assert_allclose(x.log_softmax(1).numpy(), [[-np.log(2)] * 2, [0.0, -np.inf]])
    assert tg.tensor([float("-inf")] * 2).logsumexp(0).item() == float("-inf")


def test_cross_entropy_seed_numbers():
    # docs/lessons.md (d2l): cross-entropy of probabilities [[0.1,0.3,0.6],[0.3,0.2,0.5]], y=[0,2]
    p = tg.tensor([[0.1, 0.3, 0.6], [0.3, 0.2, 0.5]])
    y = tg.tensor([0, 2])
    np.testing.assert_allclose((-p[tg.arange(2), y].log()).numpy(), [2.3026, 0.6931], atol=1e-4)
    logits = p.log()  # log-probabilities are logits whose softmax is p
    np.testing.assert_allclose(tg._core.cross_entropy(logits, y, reduction="none").numpy(),
                               [2.3026, 0.6931], atol=1e-4)


def test_copy_and_pickle():
    x = tg.tensor([1.0, 2.0], requires_grad=True)
    y = copy.deepcopy(x)
    assert y.requires_grad and y.tolist() == [1.0, 2.0]
    with tg.no_grad():
        y += 1
    assert x.tolist() == [1.0, 2.0]
    z = pickle.loads(pickle.dumps(tg.tensor([[1, 2]])))
    assert z.tolist() == [[1, 2]] and z.dtype == tg.int64


_PROMOTION_OPS = {
    "add": lambda m, a, b: a + b, "sub": lambda m, a, b: a - b, "mul": lambda m, a, b: a * b,
    "div": lambda m, a, b: a / b, "pow": lambda m, a, b: a ** b,
    "maximum": lambda m, a, b: m.maximum(a, b), "minimum": lambda m, a, b: m.minimum(a, b),
    "lt": lambda m, a, b: a < b, "eq": lambda m, a, b: a == b,
    "where": lambda m, a, b: m.where(a > 1, a, b),
    "add_": lambda m, a, b: a.clone().add_(b), "mul_": lambda m, a, b: a.clone().mul_(b),
}


@pytest.mark.parametrize("op", sorted(_PROMOTION_OPS))
def test_a_0d_tensor_operand_promotes_as_in_pytorch(op):
    """A 0-d tensor next to a dimensioned one decides the result dtype only from a higher
    category (bool < integer < float), as a Python number does: float32 [n] with a float64
    0-d tensor stays float32, computed in float32 (PyTorch's result_type)."""
    torch = pytest.importorskip("torch")
    fn = _PROMOTION_OPS[op]
    dts = ["float32", "float64", "int64", "bool"]
    vals = {"float32": [1.5, 2.25], "float64": [0.75, 3.0], "int64": [2, 3], "bool": [True, False]}
    for da in dts:
        for db in dts:
            for a_0d, b_0d in ((False, True), (True, False), (True, True), (False, False)):
                va = vals[da][0] if a_0d else vals[da]
                vb = vals[db][1] if b_0d else vals[db]
                ta = torch.tensor(va, dtype=getattr(torch, da))
                tb = torch.tensor(vb, dtype=getattr(torch, db))
                try:
                    expect = fn(torch, ta, tb)
                except RuntimeError:
                    continue  # combinations PyTorch refuses (bool - bool, int ** negative, ...)
                try:
                    got = fn(tg, tg.tensor(va, dtype=getattr(tg, da)),
                             tg.tensor(vb, dtype=getattr(tg, db)))
                except (TypeError, ValueError, RuntimeError, NotImplementedError) as e:
                    pytest.fail(f"{op} {da}{'' if a_0d else '[2]'} {db}{'' if b_0d else '[2]'}: {e}")
                where = f"{op} {da}{'' if a_0d else '[2]'} with {db}{'' if b_0d else '[2]'}"
                assert str(got.dtype).split(".")[-1] == str(expect.dtype).split(".")[-1], where
                np.testing.assert_array_equal(got.numpy(), expect.numpy(), err_msg=where)


def test_gradients_through_a_0d_float64_operand_keep_each_dtype():
    torch = pytest.importorskip("torch")
    x = tg.tensor([1.5, -2.0], requires_grad=True)
    s = tg.tensor(0.3, dtype=tg.float64, requires_grad=True)
    y = x * s + x / s
    assert y.dtype == tg.float32
    y.sum().backward()
    tx = torch.tensor([1.5, -2.0], requires_grad=True)
    ts = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
    (tx * ts + tx / ts).sum().backward()
    assert x.grad.dtype == tg.float32 and s.grad.dtype == tg.float64
    np.testing.assert_allclose(x.grad.numpy(), tx.grad.numpy(), rtol=1e-6)
    np.testing.assert_allclose(s.grad.numpy(), ts.grad.numpy(), rtol=1e-6)
