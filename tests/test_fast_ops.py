"""Tensor's arithmetic operators run as CPython number slots (Note [operator fast path] in
cpp/src/bindings/fast_ops.cpp). Every operator, forward and reflected and in place, over every
operand kind (tensors of each dtype, strided views, Python and NumPy numbers, arrays, lists,
unsupported objects) gives exactly what the bindings behind the generic slots give: the same
values, dtype, history, gradients, identity of in-place results, and the same exception type
and message."""
import operator

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import _core

BINARY = {"+": operator.add, "-": operator.sub, "*": operator.mul, "/": operator.truediv,
          "**": operator.pow}
INPLACE = {"+=": operator.iadd, "-=": operator.isub, "*=": operator.imul, "/=": operator.itruediv}


def operands():
    """(name, factory): a fresh operand each call."""
    def t(dtype, rg=False):
        def make():
            x = tg.tensor([1.5, -2.0, 3.0], dtype=dtype) if dtype.is_floating_point else \
                tg.tensor([1, -2, 3], dtype=dtype)
            return x.requires_grad_() if rg else x
        return make
    return [
        ("f32", t(tg.float32)), ("f32_rg", t(tg.float32, True)), ("f64", t(tg.float64)),
        ("f64_rg", t(tg.float64, True)), ("f16", t(tg.float16)), ("i64", t(tg.int64)),
        ("bool", lambda: tg.tensor([True, False, True])),
        ("f32_view", lambda: tg.arange(6, dtype=tg.float32)[::2]),
        ("f32_0d", lambda: tg.tensor(2.5)), ("f32_wide", lambda: tg.ones(2, 3)),
        ("float", lambda: 0.75), ("int", lambda: 3), ("neg_int", lambda: -2), ("zero", lambda: 0),
        ("true", lambda: True), ("big_int", lambda: 2 ** 70), ("np_f32", lambda: np.float32(1.25)),
        ("np_arr", lambda: np.array([1.0, 2.0, 3.0])), ("list", lambda: [1.0, 2.0, 3.0]),
        ("none", lambda: None), ("str", lambda: "x"),
    ]


def outcome(f, make_a, make_b, inplace=False):
    a, b = make_a(), make_b()
    try:
        r = f(a, b)
    except Exception as e:  # noqa: BLE001 - the comparison is the point
        return ("raises", type(e).__name__, str(e))
    if not isinstance(r, tg.Tensor):
        return ("value", repr(r))
    out = ("tensor", r.dtype, tuple(r.shape), r.grad_fn, r.requires_grad,
           r.detach().numpy().tobytes(), r is a if inplace else None)
    if r.requires_grad and r.dtype.is_floating_point and not inplace:
        r.sum().backward()
        out += tuple(x.grad.numpy().tobytes() if isinstance(x, tg.Tensor) and x.grad is not None
                     else None for x in (a, b))
    return out


def both(f, make_a, make_b, inplace=False):
    _core._set_fast_operators(False)
    try:
        generic = outcome(f, make_a, make_b, inplace)
    finally:
        _core._set_fast_operators(True)
    return generic, outcome(f, make_a, make_b, inplace)


OPS = operands()
TENSORS = [o for o in OPS if o[0][0] in "fib" and not o[0].startswith(("float", "int", "big"))]


@pytest.mark.parametrize("op", sorted(BINARY))
@pytest.mark.parametrize("left", OPS, ids=[o[0] for o in OPS])
def test_binary_operators_match_the_bindings(op, left):
    f = BINARY[op]
    for right in OPS:
        if not (isinstance(left[1](), tg.Tensor) or isinstance(right[1](), tg.Tensor)):
            continue
        generic, fast = both(f, left[1], right[1])
        assert fast == generic, (left[0], op, right[0])


@pytest.mark.parametrize("op", sorted(INPLACE))
@pytest.mark.parametrize("left", TENSORS, ids=[o[0] for o in TENSORS])
def test_inplace_operators_match_the_bindings(op, left):
    f = INPLACE[op]
    for right in OPS:
        generic, fast = both(f, left[1], right[1], inplace=True)
        assert fast == generic, (left[0], op, right[0])
        with tg.no_grad():
            generic, fast = both(f, left[1], right[1], inplace=True)
        assert fast == generic, ("no_grad", left[0], op, right[0])


def test_three_argument_pow_and_capture_take_the_bindings():
    x = tg.ones(2)
    with pytest.raises(TypeError):
        pow(x, 2, 3)
    w = tg.ones(2, requires_grad=True)

    @tg.compile(fullgraph=True)
    def step(v):
        loss = ((w * v + 1.0) ** 2 / 2 - 0.5).sum()
        loss.backward()
        with tg.no_grad():
            w.sub_(0.1 * w.grad)
            w.grad.zero_()
        return loss
    losses = [step(tg.full((2,), 0.5)).item() for _ in range(3)]
    assert step._stats["replays"] == 2 and losses[0] > losses[1] > losses[2]
