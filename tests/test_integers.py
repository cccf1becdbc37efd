"""Integers are exact: Python ints reach int64 tensors without a round trip through float64,
integer arithmetic wraps and ``**`` is exact as in PyTorch, NaN and infinity stored into int64
raise where PyTorch raises, ``& | ^ ~`` are bitwise on int64, and clamp promotes with float
bounds. Every expected value comes from PyTorch (Note [exact scalars] in cpp/src/tensor.cpp)."""

from __future__ import annotations

import math
import operator

import numpy as np
import pytest
import tapegrad as tg
from hypothesis import given, settings
from hypothesis import strategies as st

torch = pytest.importorskip("torch")

I64_MIN, I64_MAX = -(2**63), 2**63 - 1
# Near 0, near 2^53 (where float64 stops holding every int), near 2^62 and the int64 ends.
EDGE = [0, 1, -1, 2, -3, 7, 2**31 + 5, 2**53 - 1, 2**53, 2**53 + 1, -(2**53) - 1,
        2**62 + 1, -(2**62) - 3, 12345678901234567, I64_MAX - 1, I64_MAX, I64_MIN, I64_MIN + 1]
ints = st.one_of(st.sampled_from(EDGE), st.integers(I64_MIN, I64_MAX),
                 st.integers(-(2**54), 2**54))
fast = settings(derandomize=True, max_examples=40, deadline=None)
# Floats an int64 cannot hold, and floats it can (truncated toward zero).
BAD_FLOATS = [math.nan, math.inf, -math.inf, 1e30, -1e30, 9.3e18, -9.3e18]
OK_FLOATS = [2.7, -2.7, 0.5, -(2.0**63), 2.0**62]


def same(a, b) -> None:
    """tapegrad tensor `a` equals PyTorch tensor `b`: dtype, shape and every bit."""
    assert str(a.dtype).split(".")[-1] == str(b.dtype).split(".")[-1], (a.dtype, b.dtype)
    assert tuple(a.shape) == tuple(b.shape)
    np.testing.assert_array_equal(a.numpy(), b.numpy())


def outcome(fn):
    """fn()'s tensor, or the exception type it raised."""
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - the type is what we compare
        return type(e)


def parity(tg_fn, torch_fn) -> None:
    """Both raise (tapegrad the same exception type as PyTorch), or both give the same tensor."""
    want, got = outcome(torch_fn), outcome(tg_fn)
    if isinstance(want, type):
        assert isinstance(got, type) and issubclass(got, want), (got, want)
    else:
        assert not isinstance(got, type), f"raised {got}"
        same(got, want)


# ----- Python ints reach int64 tensors exactly -------------------------------------------------
@fast
@given(ints)
def test_creation_and_reading_back_are_exact(v):
    same(tg.full((3,), v), torch.full((3,), v))
    same(tg.full_like(tg.zeros(2, dtype=tg.int64), v), torch.full_like(torch.zeros(2, dtype=torch.int64), v))
    same(tg.zeros(3, dtype=tg.int64).fill_(v), torch.zeros(3, dtype=torch.int64).fill_(v))
    same(tg.tensor([v, -1, 0]), torch.tensor([v, -1, 0]))
    same(tg.tensor(v), torch.tensor(v))
    a, b = tg.zeros(4, dtype=tg.int64), torch.zeros(4, dtype=torch.int64)
    a[1] = v
    b[1] = v
    a[2:] = v
    b[2:] = v
    same(a, b)
    t = tg.tensor(v)
    assert int(t) == v and t.item() == v and type(t.item()) is int
    assert t.tolist() == v and tg.tensor([v]).tolist() == [v]
    assert float(t) == float(v)


@fast
@given(ints, ints)
def test_python_int_operands_are_exact_and_wrap(v, s):
    x, y = tg.tensor([v, 0, -1]), torch.tensor([v, 0, -1])
    for op in (operator.add, operator.sub, operator.mul):
        same(op(x, s), op(y, s))
        same(op(s, x), op(s, y))
    same(x + tg.tensor(s), y + torch.tensor(s))
    same(tg.maximum(x, tg.tensor(s)), torch.maximum(y, torch.tensor(s)))
    same(-x, -y)
    same(x == s, y == s)
    x += s
    y += s
    x *= s
    y *= s
    same(x, y)


@pytest.mark.parametrize("a,b", [(2**62 + 1, 0), (1.5, 0), (True, False), (True, 2), (2**62 + 1, 0.5),
                                 (I64_MIN, I64_MAX), (False, 2.5)])
def test_where_between_two_python_numbers_takes_their_result_type(a, b):
    same(tg.where(tg.tensor([True, False]), a, b), torch.where(torch.tensor([True, False]), a, b))
    v = 2**62 + 1
    same(tg.where(tg.tensor([True, False]), tg.tensor([v, v]), v + 2),
         torch.where(torch.tensor([True, False]), torch.tensor([v, v]), v + 2))


def test_ints_beyond_int64_next_to_an_int_tensor():
    x, y = tg.tensor([1, -5]), torch.tensor([1, -5])
    # [2^63, 2^64) is taken as the uint64 bit pattern, as PyTorch does.
    for s in (2**63, 2**64 - 1, 2**63 + 12345):
        same(x + s, y + s)
    for s in (2**64, -(2**63) - 1, 10**30):
        with pytest.raises(OverflowError):
            torch.tensor([1]) + s
        with pytest.raises(OverflowError, match="int too big to convert"):
            x + s
    # Next to a float tensor a huge int is a float, as before.
    assert (tg.tensor([1.0]) + 2**64).dtype == tg.float32


@pytest.mark.parametrize("start,end,step", [
    (2**62, 2**62 + 3, 1), (2**62 + 1, 2**62 + 10, 3), (I64_MIN, I64_MIN + 3, 1),
    (I64_MAX - 3, I64_MAX, 1), (I64_MAX, I64_MAX - 7, -2), (2**53, 2**53 + 5, 1),
    (-(2**60), -(2**60) + 10, 4), (5, -5, -3), (0, 10, 3), (3, 3, 1),
    (-(2**53) - 7, -(2**53) + 7, 3)])
def test_arange_with_large_integer_bounds(start, end, step):
    same(tg.arange(start, end, step), torch.arange(start, end, step))
    assert tg.arange(start, end, step).tolist() == list(range(start, end, step))


@pytest.mark.parametrize("start,end,step", [(I64_MIN, I64_MAX, 2**62), (I64_MAX, I64_MIN, -(2**62)),
                                            (-7, 7, 2**63 - 1), (I64_MIN, I64_MAX, I64_MAX)])
def test_arange_spanning_more_than_int64(start, end, step):
    # end - start overflows int64 here (PyTorch 2.13 returns an empty tensor); Python's range
    # is the reference.
    assert tg.arange(start, end, step).tolist() == list(range(start, end, step))


def test_arange_forms_and_errors():
    same(tg.arange(7), torch.arange(7))
    same(tg.arange(2**60 + 1, 2**60 + 4), torch.arange(2**60 + 1, 2**60 + 4))
    # A float dtype or a float argument computes in double, as PyTorch does.
    same(tg.arange(2**60, 2**60 + 3, dtype=tg.float64), torch.arange(2**60, 2**60 + 3, dtype=torch.float64))
    same(tg.arange(0, 5, 1.5), torch.arange(0, 5, 1.5))
    with pytest.raises((ValueError, RuntimeError), match="too many elements"):
        tg.arange(I64_MIN, I64_MAX)
    with pytest.raises(ValueError, match="step must be nonzero"):
        tg.arange(0, 2**62, 0)
    with pytest.raises(ValueError, match="int64"):
        tg.arange(0, 2**63)


@pytest.mark.parametrize("lo,hi", [(2**62, 2**62 + 2), (I64_MIN, I64_MIN + 2), (I64_MAX - 2, I64_MAX),
                                   (I64_MIN, I64_MAX), (-(2**53) - 2, -(2**53) + 1), (0, 1)])
def test_randint_bounds_are_exact(lo, hi):
    r = tg.randint(lo, hi, (200,))
    assert r.dtype == tg.int64
    vals = r.tolist()
    assert all(lo <= v < hi for v in vals)
    if hi - lo <= 3:
        assert set(vals) == set(range(lo, hi))  # every value in the range shows up in 200 draws


def test_randint_refuses_bounds_beyond_int64():
    for call in (lambda: tg.randint(0, 2**63, (2,)), lambda: tg.randint(-(2**63) - 1, 0, (2,))):
        with pytest.raises(ValueError, match="randint"):
            call()
    with pytest.raises(TypeError, match="randint"):
        tg.randint(0, 2.5, (2,))


def test_ints_round_to_float32_once_like_pytorch():
    # 2^60 + 2^36 + 1 rounds up to float32 directly but to 2^60 through float64 (a tie).
    n = 2**60 + 2**36 + 1
    for form in (lambda m: m.full((2,), n, dtype=m.float32), lambda m: m.zeros(2).fill_(n),
                 lambda m: m.zeros(2) + n, lambda m: n * m.ones(2), lambda m: m.tensor([n, 1]).float(),
                 lambda m: m.tensor([n, 1], dtype=m.float32), lambda m: m.tensor([n, 1], dtype=m.float64)):
        same(form(tg), form(torch))


# ----- NaN, infinity and out-of-range floats stored into int64 ----------------------------------
def _forms(mod, v, dt):
    def setitem(key):
        def f():
            t = mod.zeros(3, dtype=dt)
            t[key] = v
            return t
        return f
    return {
        "full": lambda: mod.full((2,), v, dtype=dt),
        "full_like": lambda: mod.full_like(mod.zeros(2, dtype=dt), v),
        "fill_": lambda: mod.zeros(2, dtype=dt).fill_(v),
        "setitem int": setitem(0),
        "setitem slice": setitem(slice(0, 2)),
        "tensor": lambda: mod.tensor([v, 1.0], dtype=dt),
        "tensor 0-d": lambda: mod.tensor(v, dtype=dt),
    }


@pytest.mark.parametrize("v", BAD_FLOATS + OK_FLOATS)
@pytest.mark.parametrize("form", list(_forms(tg, 0, tg.int64)))
def test_storing_floats_into_int64_follows_pytorch(form, v):
    parity(_forms(tg, v, tg.int64)[form], _forms(torch, v, torch.int64)[form])


@pytest.mark.parametrize("form", ["full", "fill_", "setitem int", "tensor"])
def test_nan_into_int64_raises_with_the_op_and_value(form):
    with pytest.raises(RuntimeError, match=r"value nan cannot be converted to type int64 without overflow"):
        _forms(tg, math.nan, tg.int64)[form]()


@pytest.mark.parametrize("form", list(_forms(tg, 0, tg.int64)))
def test_two_to_the_63_does_not_fit_int64(form):
    # 2.0**63 is one past INT64_MAX: PyTorch 2.13's range check lets exactly this value through
    # and stores INT64_MIN; tapegrad refuses it like every other value beyond int64.
    with pytest.raises(RuntimeError, match="cannot be converted to type int64"):
        _forms(tg, 2.0**63, tg.int64)[form]()


@pytest.mark.parametrize("v", [math.nan, math.inf, 1e300, -1e300, 3.5e38, 1e30, 2**62 + 1, -(2**63)])
@pytest.mark.parametrize("dt", ["float32", "float64", "bool"])
def test_storing_into_float_and_bool_follows_pytorch(v, dt):
    for form in ("full", "fill_", "setitem int"):
        parity(_forms(tg, v, getattr(tg, dt))[form], _forms(torch, v, getattr(torch, dt))[form])


def test_float_operands_beyond_float32_round_to_infinity():
    # Only stores check float32's range; an operand rounds (PyTorch's wrapped scalars).
    for v in (1e300, -1e300):
        same(tg.ones(2) + v, torch.ones(2) + v)
        same(tg.ones(2) * v, torch.ones(2) * v)
        same(tg.tensor([1, 2]) + v, torch.tensor([1, 2]) + v)


def test_fill_with_a_tensor_converts_like_a_cast():
    for v in ([2.7], [-2.7], [2**62 + 1]):
        src_t, src_p = tg.tensor(v[0]), torch.tensor(v[0])
        same(tg.zeros(3, dtype=tg.int64).fill_(src_t), torch.zeros(3, dtype=torch.int64).fill_(src_p))


def test_int_of_a_tensor_is_pythons_int():
    for v in (2.7, -2.7, 1e20, -0.5):
        assert int(tg.tensor(v, dtype=tg.float64)) == int(torch.tensor(v, dtype=torch.float64)) == int(v)
    for v, err in ((math.nan, ValueError), (math.inf, OverflowError), (-math.inf, OverflowError)):
        with pytest.raises(err):
            int(torch.tensor(v))
        with pytest.raises(err):
            int(tg.tensor(v))
    assert int(tg.tensor(True)) == 1 and int(tg.tensor([I64_MIN])) == I64_MIN


# ----- integer ** -------------------------------------------------------------------------------
BASES = [0, 1, -1, 2, -2, 3, -3, 7, 10, 2**31 + 5, -(2**40) + 3, 2**62 + 1, I64_MAX, I64_MIN]
EXPS = [0, 1, 2, 3, 5, 31, 32, 62, 63, 64, 65, 127, 2**40, I64_MAX]


def test_integer_pow_is_exact_and_wraps():
    b = np.array(BASES)[:, None]
    e = np.array(EXPS + [-1, -2, -3, -(2**40), I64_MIN])[None, :]
    same(tg.tensor(b) ** tg.tensor(e), torch.tensor(b) ** torch.tensor(e))
    same(tg.pow(tg.tensor(b), tg.tensor(e)), torch.pow(torch.tensor(b), torch.tensor(e)))
    for k in EXPS:
        same(tg.tensor(BASES) ** k, torch.tensor(BASES) ** k)
        same(tg.pow(tg.tensor(BASES), k), torch.pow(torch.tensor(BASES), k))
    for base in (2, -2, 3, 0, 1, -1, 2**62 + 1):
        ex = [0, 3, 62, 63, 64, -1, -2]
        same(base ** tg.tensor(ex), base ** torch.tensor(ex))
        same(tg.pow(base, tg.tensor(ex)), torch.pow(base, torch.tensor(ex)))


@fast
@given(ints, st.integers(0, 200))
def test_integer_pow_sweep(v, k):
    x, y = tg.tensor([v, -v if v != I64_MIN else v, 3]), torch.tensor([v, -v if v != I64_MIN else v, 3])
    same(x ** k, y ** k)
    same(x ** tg.tensor([k, k + 1, k]), y ** torch.tensor([k, k + 1, k]))


def test_negative_integer_exponent_raises_like_pytorch():
    msg = "Integers to negative integer powers are not allowed."
    for dt in ("int64", "bool"):
        for call in (lambda m, dt=dt: m.tensor([2, 3], dtype=getattr(m, dt)) ** -1,
                     lambda m, dt=dt: m.pow(m.tensor([2, 3], dtype=getattr(m, dt)), -2),
                     lambda m, dt=dt: m.tensor([2], dtype=getattr(m, dt)).pow(I64_MIN)):
            with pytest.raises(RuntimeError, match=msg):
                call(torch)
            with pytest.raises(RuntimeError, match=msg):
                call(tg)
        with pytest.raises(RuntimeError, match=msg):  # beyond int64, still a negative int
            tg.tensor([2], dtype=getattr(tg, dt)) ** -(2**70)
    # A 0-d exponent tensor, a float exponent or a float base do not raise (PyTorch's rule).
    same(tg.tensor([2, 1, -1]) ** tg.tensor(-1), torch.tensor([2, 1, -1]) ** torch.tensor(-1))
    same(tg.tensor([2, 4]) ** -1.0, torch.tensor([2, 4]) ** -1.0)
    same(tg.tensor([2.0, 4.0]) ** -1, torch.tensor([2.0, 4.0]) ** -1)
    same(tg.tensor([True, False]) ** 2, torch.tensor([True, False]) ** 2)
    same(tg.tensor([True, False]) ** tg.tensor([2, -1]), torch.tensor([True, False]) ** torch.tensor([2, -1]))


# ----- & | ^ ~ ----------------------------------------------------------------------------------
BITOPS = [(operator.and_, "bitwise_and"), (operator.or_, "bitwise_or"), (operator.xor, "bitwise_xor")]


@fast
@given(st.lists(ints, min_size=1, max_size=6), st.lists(ints, min_size=1, max_size=6))
def test_bitwise_ops_on_int64(xs, ys):
    a, b = np.array(xs, dtype=np.int64)[:, None], np.array(ys, dtype=np.int64)[None, :]
    ta, tb, pa, pb = tg.tensor(a), tg.tensor(b), torch.tensor(a), torch.tensor(b)
    for op, name in BITOPS:
        same(op(ta, tb), op(pa, pb))
        same(getattr(tg, name)(ta, tb), getattr(torch, name)(pa, pb))
        same(getattr(ta, name)(tb), getattr(pa, name)(pb))
        same(op(ta, xs[0]), op(pa, xs[0]))
        same(op(ys[0], ta), op(ys[0], pa))
        same(getattr(tg, name)(ta, ys[0]), getattr(torch, name)(pa, ys[0]))
    same(~ta, ~pa)
    same(tg.bitwise_not(ta), torch.bitwise_not(pa))
    same(ta.bitwise_not(), pa.bitwise_not())


def test_bitwise_in_place_keeps_the_tensor():
    for iop, name in ((operator.iand, "bitwise_and_"), (operator.ior, "bitwise_or_"), (operator.ixor, "bitwise_xor_")):
        x, y = tg.tensor([12, -1, 2**62 + 1]), torch.tensor([12, -1, 2**62 + 1])
        alias = x
        x = iop(x, tg.tensor([10, 6, 3]))
        y = iop(y, torch.tensor([10, 6, 3]))
        assert x is alias
        same(x, y)
        same(getattr(tg.tensor([5, 9]), name)(3), getattr(torch.tensor([5, 9]), name)(3))
    b = tg.tensor([True, False])
    b &= tg.tensor([True, True])
    same(b, torch.tensor([True, False]))
    with pytest.raises(RuntimeError):
        torch.tensor([True]).__iand__(torch.tensor([3]))
    with pytest.raises(TypeError, match="can't be cast to the desired output type bool"):
        tg.tensor([True]).__iand__(tg.tensor([3]))


def test_bitwise_on_bool_stays_logical_and_promotes_with_int():
    bools = [[True, False, True, False], [True, True, False, False]]
    for op, name in BITOPS:
        same(op(tg.tensor(bools[0]), tg.tensor(bools[1])), op(torch.tensor(bools[0]), torch.tensor(bools[1])))
        same(op(tg.tensor(bools[0]), True), op(torch.tensor(bools[0]), True))
        same(op(tg.tensor(bools[0]), 3), op(torch.tensor(bools[0]), 3))
        same(op(tg.tensor(bools[0]), tg.tensor([3, 2, 1, 0])), op(torch.tensor(bools[0]), torch.tensor([3, 2, 1, 0])))
        same(op(tg.tensor([5, -6]), True), op(torch.tensor([5, -6]), True))
    same(~tg.tensor(bools[0]), ~torch.tensor(bools[0]))
    # The logical functions stay logical on ints.
    same(tg.logical_and(tg.tensor([2, 0]), tg.tensor([1, 1])), torch.logical_and(torch.tensor([2, 0]), torch.tensor([1, 1])))
    same(tg.logical_xor(tg.tensor([2, 0]), tg.tensor([1, 1])), torch.logical_xor(torch.tensor([2, 0]), torch.tensor([1, 1])))


def test_bitwise_on_floats_raises_like_pytorch():
    f = [1.0, 2.0]
    for op, name in BITOPS:
        for a, b in ((f, f), (f, [1, 2])):
            with pytest.raises(NotImplementedError):
                op(torch.tensor(a), torch.tensor(b))
            with pytest.raises(NotImplementedError, match=name):
                op(tg.tensor(a), tg.tensor(b))
        with pytest.raises(NotImplementedError, match=name):
            op(tg.tensor(f), 1)
    with pytest.raises(TypeError):
        ~torch.tensor(f)
    with pytest.raises(TypeError, match="bitwise_not"):
        ~tg.tensor(f)


# ----- clamp -----------------------------------------------------------------------------------
@pytest.mark.parametrize("lo,hi", [(2.5, 7.5), (2.5, None), (None, 7.5), (2, 7), (2, None),
                                   (2**62 + 1, 2**62 + 3), (None, -(2**62)), (I64_MIN, I64_MAX),
                                   (7, 2), (2, 7.5), (-1.5, 2**62 + 3), (0.5, 0.5)])
@pytest.mark.parametrize("data,dt", [([1, 5, 9, -3, 2**62 + 2, 2**62 + 9, I64_MIN], "int64"),
                                     ([True, False], "bool"), ([1.5, -2.0, 9.0], "float32"),
                                     ([1.5, -2.0, 9.0], "float64")])
def test_clamp_promotes_like_pytorch(data, dt, lo, hi):
    x, y = tg.tensor(data, dtype=getattr(tg, dt)), torch.tensor(data, dtype=getattr(torch, dt))
    same(tg.clamp(x, lo, hi), torch.clamp(y, lo, hi))
    same(x.clamp(min=lo, max=hi), y.clamp(min=lo, max=hi))
    same(x.clip(lo, hi), y.clip(lo, hi))


def test_clamp_with_one_element_tensor_bounds():
    x, y = tg.tensor([1, 5, 9]), torch.tensor([1, 5, 9])
    same(tg.clamp(x, tg.tensor(2.5), tg.tensor(7.5)), torch.clamp(y, torch.tensor(2.5), torch.tensor(7.5)))
    same(tg.clamp(x, tg.tensor(2**62 + 1)), torch.clamp(y, torch.tensor(2**62 + 1)))
