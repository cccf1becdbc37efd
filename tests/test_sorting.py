"""sort, argsort, msort, topk, kthvalue, unique, nonzero and where(condition) against PyTorch:
ties (stable order), NaN placement, integer and bool inputs, return types, errors, and what
tapegrad.compile does with them (gradients and float parity on distinct values are swept by
the op table, tests/optable.py)."""

from __future__ import annotations

import numpy as np
import pytest
import tapegrad as tg

torch = pytest.importorskip("torch")


def _both(a):
    return tg.tensor(a), torch.tensor(a)


def _eq(t, r):
    np.testing.assert_array_equal(t.numpy(), r.numpy())
    assert tuple(t.shape) == tuple(r.shape)


def _ties(shape, seed, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.integers(-2, 3, shape).astype(dtype)


@pytest.mark.parametrize("shape,dim", [((9,), 0), ((4, 6), 1), ((4, 6), 0), ((2, 3, 5), 1),
                                       ((), 0), ((0, 3), 0)])
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("dtype", [np.float64, np.int64, np.float32])
def test_stable_sort_with_ties_matches_torch(shape, dim, descending, dtype):
    x, tx = _both(_ties(shape, len(shape) + dim, dtype))
    v, i = tg.sort(x, dim, descending, stable=True)
    tv, ti = torch.sort(tx, dim=dim, descending=descending, stable=True)
    _eq(v, tv)
    _eq(i, ti)
    _eq(x.argsort(dim, descending, stable=True),
        tx.argsort(dim=dim, descending=descending, stable=True))
    if x.dim():
        _eq(tg.msort(x), torch.msort(tx))


def test_nan_and_bool_order_as_torch():
    a = np.array([1.0, np.nan, -np.inf, 0.0, np.nan, np.inf, -1.0])
    x, tx = _both(a)
    for desc in (False, True):
        v, i = x.sort(descending=desc, stable=True)
        tv, ti = tx.sort(descending=desc, stable=True)
        _eq(v, tv)
        _eq(i, ti)
    for largest in (False, True):
        _eq(x.topk(3, largest=largest).values, tx.topk(3, largest=largest).values)
    b, tb = _both(np.array([True, False, True, False]))
    _eq(b.sort(stable=True).indices, tb.sort(stable=True).indices)


@pytest.mark.parametrize("shape,k,dim", [((9,), 4, -1), ((4, 6), 6, 1), ((5, 3), 2, 0),
                                         ((2, 3, 4), 1, 1)])
def test_topk_and_kthvalue_values_with_ties(shape, k, dim):
    x, tx = _both(_ties(shape, k))
    for largest in (True, False):
        v, i = tg.topk(x, k, dim=dim, largest=largest)
        tv, _ = torch.topk(tx, k, dim=dim, largest=largest)
        _eq(v, tv)
        np.testing.assert_array_equal(np.take_along_axis(x.numpy(), i.numpy(), dim), tv.numpy())
    for keepdim in (False, True):
        v, i = x.kthvalue(k, dim, keepdim)
        tv, ti = tx.kthvalue(k, dim, keepdim)
        _eq(v, tv)
        assert tuple(i.shape) == tuple(ti.shape)
        picked = np.take_along_axis(x.numpy(), i.numpy() if keepdim else
                                    np.expand_dims(i.numpy(), dim), dim)
        np.testing.assert_array_equal(picked.reshape(v.shape), v.numpy())


def test_return_types_and_signatures():
    x = tg.tensor([[3.0, 1.0, 2.0]])
    for r, name in [(x.sort(), "sort"), (x.topk(2), "topk"), (x.kthvalue(1), "kthvalue")]:
        assert type(r).__name__ == name and r._fields == ("values", "indices")
        values, indices = r
        assert values is r.values and indices.dtype == tg.int64 and not indices.requires_grad
    assert tg.topk(x, k=1, dim=None, largest=False, sorted=True).values.tolist() == [[1.0]]
    assert tg.kthvalue(x, k=3, dim=None, keepdim=True).values.tolist() == [[3.0]]
    w = tg.tensor([3.0, 1.0, 2.0], requires_grad=True)
    w.topk(2).values.sum().backward()
    assert w.grad.tolist() == [1.0, 0.0, 1.0]
    assert not tg.argsort(w).requires_grad


def test_errors_as_torch():
    x = tg.tensor([1.0, 2.0, 3.0])
    with pytest.raises(RuntimeError, match="topk: selected index k = 4 is out of range"):
        x.topk(4)
    with pytest.raises(RuntimeError, match="topk"):
        x.topk(-1)
    for k in (0, 4):
        with pytest.raises(RuntimeError, match="kthvalue: selected number"):
            x.kthvalue(k)
    with pytest.raises(IndexError, match="sort: dimension 1 is out of range"):
        x.sort(1)
    with pytest.raises(TypeError):
        tg.sort([1, 2])
    s, ts = _both(3.0)
    for k in (0, 1):
        _eq(s.topk(k).values, ts.topk(k).values)
        _eq(s.topk(k).indices, ts.topk(k).indices)


@pytest.mark.parametrize("shape", [(), (7,), (3, 4), (2, 3, 4), (0, 3)])
def test_nonzero_and_where_condition_match_torch(shape):
    a = _ties(shape, 3) * (np.random.default_rng(1).random(shape) < 0.6)
    for arr in (a, a != 0):
        x, tx = _both(arr)
        _eq(tg.nonzero(x), torch.nonzero(tx))
        got, want = x.nonzero(as_tuple=True), torch.nonzero(tx, as_tuple=True)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _eq(g, w)
        if x.dim():
            for g, w in zip(tg.where(x), torch.where(tx)):
                _eq(g, w)
    with pytest.raises(TypeError, match="both input and other"):
        tg.where(tg.tensor([True]), 1.0)


@pytest.mark.parametrize("shape", [(), (9,), (4, 5), (2, 3, 4), (0,)])
@pytest.mark.parametrize("dtype", [np.int64, np.float64, np.bool_])
def test_unique_matches_torch(shape, dtype):
    a = _ties(shape, 5).astype(dtype)
    x, tx = _both(a)
    for inv in (False, True):
        for cnt in (False, True):
            got = tg.unique(x, return_inverse=inv, return_counts=cnt)
            want = torch.unique(tx, return_inverse=inv, return_counts=cnt)
            got = got if isinstance(got, tuple) else (got,)
            want = want if isinstance(want, tuple) else (want,)
            assert len(got) == len(want)
            for g, w in zip(got, want):
                _eq(g, w)
    if len(shape) >= 2:
        for d in range(-len(shape), len(shape)):
            got = x.unique(dim=d, return_inverse=True, return_counts=True)
            want = tx.unique(dim=d, return_inverse=True, return_counts=True)
            for g, w in zip(got, want):
                _eq(g, w)


def test_unique_keeps_nans_apart_and_has_no_gradient():
    x, tx = _both(np.array([2.0, np.nan, 1.0, np.nan, 2.0]))
    _eq(tg.unique(x), torch.unique(tx))
    w = tg.tensor([1.0, 1.0, 2.0], requires_grad=True)
    assert not tg.unique(w).requires_grad


def test_compile_replays_sorting_and_refuses_data_dependent_sizes():
    def step(x):
        i = x.topk(2).indices
        k = tg.kthvalue(x, 2, dim=0).values
        return tg.sort(x, descending=True).values * 2 + i.float().sum() + k.sum()

    f = tg.compile(step, fullgraph=True)
    rng = np.random.default_rng(0)
    for _ in range(3):
        x = tg.tensor(rng.standard_normal((3, 5)))
        np.testing.assert_array_equal(f(x).numpy(), step(x).numpy())
    x = tg.tensor([[0.0, 1.0], [2.0, 0.0]])
    for fn in (lambda t: tg.nonzero(t), lambda t: t.nonzero(as_tuple=True)[0] * 1,
               lambda t: tg.where(t)[0] + 1, lambda t: tg.unique(t)):
        with pytest.raises(RuntimeError):
            tg.compile(fn, fullgraph=True)(x)
        eager = tg.compile(fn)(x)  # without fullgraph: falls back to eager
        assert isinstance(eager, (tg.Tensor, tuple))
