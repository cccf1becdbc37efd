"""``out=`` (Note [out= arguments] in cpp/src/bindings/out.cpp): every function of the one
registry (``tapegrad._out.OUT_FUNCTIONS``) against PyTorch — the value written, the returned
object being ``out`` itself, the dtype rules, resizing (or its refusal) and the autograd error."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import tapegrad as tg
from tapegrad._out import OUT_FUNCTIONS

torch = pytest.importorskip("torch")

RNG = np.random.default_rng(7)
DATA = {
    "x": RNG.uniform(0.1, 0.9, (3, 4)).astype(np.float32),
    "y": RNG.uniform(0.1, 0.9, (3, 4)).astype(np.float32),
    "v": RNG.uniform(0.1, 0.9, (4,)).astype(np.float32),
    "u": RNG.uniform(0.1, 0.9, (3,)).astype(np.float32),
    "w": RNG.uniform(0.1, 0.9, (4, 5)).astype(np.float32),
    "bx": RNG.uniform(0.1, 0.9, (2, 3, 4)).astype(np.float32),
    "by": RNG.uniform(0.1, 0.9, (2, 4, 5)).astype(np.float32),
    "i": RNG.integers(-5, 6, (3, 4)).astype(np.int64),
    "j": RNG.integers(1, 6, (3, 4)).astype(np.int64),
    "k": RNG.integers(0, 4, (3, 2)).astype(np.int64),
    "s": np.array([2, 0, 3], dtype=np.int64),
    "b": RNG.uniform(size=(3, 4)) > 0.5,
    "c": RNG.uniform(size=(3, 4)) > 0.5,
}


class Args:
    """DATA as tensors of one library (fresh copies on every access)."""

    def __init__(self, lib):
        self.lib = lib

    def __getattr__(self, name):
        return self.lib.from_numpy(DATA[name].copy())


# Each registered function called in both libraries the same way (m: tapegrad or torch).
# `random`: draws (compared by dtype and shape, and against the same draw without out=).
def on(*fields):
    """The call of function `name` on DATA's `fields` (m: tapegrad or torch)."""
    def of(name):
        return lambda m, a, **kw: getattr(m, name)(*(getattr(a, f) for f in fields), **kw)
    return of


CALLS = {
    **{n: on("x")(n) for n in [
        "abs", "neg", "exp", "expm1", "log", "log1p", "log2", "log10", "sqrt", "rsqrt",
        "reciprocal", "square", "sin", "cos", "tanh", "sinh", "cosh", "asin", "acos", "atan",
        "asinh", "atanh", "sigmoid", "erf", "sign", "floor", "ceil", "trunc", "frac", "round",
        "msort"]},
    "acosh": lambda m, a, **kw: m.acosh(a.x + 1, **kw),
    "logical_not": lambda m, a, **kw: m.logical_not(a.b, **kw),
    "bitwise_not": lambda m, a, **kw: m.bitwise_not(a.i, **kw),
    **{n: on("x", "y")(n) for n in [
        "add", "sub", "mul", "div", "pow", "maximum", "minimum", "atan2", "eq"]},
    **{n: on("b", "c")(n) for n in ["logical_and", "logical_or", "logical_xor"]},
    **{n: on("i", "j")(n) for n in ["bitwise_and", "bitwise_or", "bitwise_xor"]},
    "clamp": lambda m, a, **kw: m.clamp(a.x, 0.3, 0.6, **kw),
    "where": lambda m, a, **kw: m.where(a.b, a.x, a.y, **kw),
    "matmul": lambda m, a, **kw: m.matmul(a.x, a.w, **kw),
    "mm": lambda m, a, **kw: m.mm(a.x, a.w, **kw),
    "bmm": lambda m, a, **kw: m.bmm(a.bx, a.by, **kw),
    "dot": lambda m, a, **kw: m.dot(a.v, a.v, **kw),
    "mv": lambda m, a, **kw: m.mv(a.x, a.v, **kw),
    "outer": lambda m, a, **kw: m.outer(a.u, a.v, **kw),
    "sum": lambda m, a, **kw: m.sum(a.x, 1, **kw),
    "prod": lambda m, a, **kw: m.prod(a.x, 0, **kw),
    "mean": lambda m, a, **kw: m.mean(a.x, 1, **kw),
    "amax": lambda m, a, **kw: m.amax(a.x, 0, **kw),
    "amin": lambda m, a, **kw: m.amin(a.x, 1, **kw),
    "max": lambda m, a, **kw: m.max(a.x, 1, **kw),
    "min": lambda m, a, **kw: m.min(a.x, 0, **kw),
    "argmax": lambda m, a, **kw: m.argmax(a.x, 1, **kw),
    "argmin": lambda m, a, **kw: m.argmin(a.x, 0, **kw),
    "logsumexp": lambda m, a, **kw: m.logsumexp(a.x, 1, **kw),
    "cumsum": lambda m, a, **kw: m.cumsum(a.x, 1, **kw),
    "cumprod": lambda m, a, **kw: m.cumprod(a.x, 0, **kw),
    "all": lambda m, a, **kw: m.all(a.b, 1, **kw),
    "any": lambda m, a, **kw: m.any(a.b, 0, **kw),
    "std": lambda m, a, **kw: m.std(a.x, 1, **kw),
    "var": lambda m, a, **kw: m.var(a.x, 0, **kw),
    "norm": lambda m, a, **kw: m.norm(a.x, 2, 1, **kw),
    "softmax": lambda m, a, **kw: m.softmax(a.x, 1, **kw),
    "log_softmax": lambda m, a, **kw: m.log_softmax(a.x, 0, **kw),
    "gather": lambda m, a, **kw: m.gather(a.x, 1, a.k, **kw),
    "index_select": lambda m, a, **kw: m.index_select(a.x, 1, a.s, **kw),
    "scatter": lambda m, a, **kw: m.scatter(a.x, 1, a.k, a.y, **kw),
    "scatter_add": lambda m, a, **kw: m.scatter_add(a.x, 1, a.k, a.y, **kw),
    "nonzero": lambda m, a, **kw: m.nonzero(a.b, **kw),
    "cat": lambda m, a, **kw: m.cat([a.x, a.y], 1, **kw),
    "stack": lambda m, a, **kw: m.stack([a.x, a.y], 0, **kw),
    "sort": lambda m, a, **kw: m.sort(a.x, 1, **kw),
    "topk": lambda m, a, **kw: m.topk(a.x, 2, **kw),
    "kthvalue": lambda m, a, **kw: m.kthvalue(a.x, 2, 1, **kw),
    "zeros": lambda m, a, **kw: m.zeros(2, 3, **kw),
    "ones": lambda m, a, **kw: m.ones((4,), **kw),
    "full": lambda m, a, **kw: m.full((2, 2), 3, **kw),
    "empty": lambda m, a, **kw: m.empty(2, 3, **kw),
    "arange": lambda m, a, **kw: m.arange(1, 7, 2, **kw),
    "linspace": lambda m, a, **kw: m.linspace(0, 4, 5, **kw),
    "eye": lambda m, a, **kw: m.eye(3, **kw),
    "rand": lambda m, a, **kw: m.rand(2, 3, **kw),
    "randn": lambda m, a, **kw: m.randn(5, **kw),
    "randint": lambda m, a, **kw: m.randint(0, 9, (6,), **kw),
    "randperm": lambda m, a, **kw: m.randperm(6, **kw),
    "bernoulli": lambda m, a, **kw: m.bernoulli(a.x, **kw),
    "normal": lambda m, a, **kw: m.normal(a.x, a.y, **kw),
    "multinomial": lambda m, a, **kw: m.multinomial(a.x, 2, **kw),
}
# values not compared with torch
RANDOM = {"empty", "rand", "randn", "randint", "randperm", "bernoulli", "multinomial", "normal"}
CREATION = {"zeros", "ones", "full", "empty", "arange", "linspace", "eye", "rand", "randn",
            "randint", "randperm"}
DTYPES = {tg.float32: torch.float32, tg.float64: torch.float64, tg.int64: torch.int64,
          tg.bool: torch.bool}
NAMES = sorted(OUT_FUNCTIONS)


def as_list(r):
    return list(r) if isinstance(r, tuple) else [r]


def run(name, lib, out_maker=None, **kw):
    """(result, out) of CALLS[name] in `lib`, out= made by out_maker(plain result)."""
    call = CALLS[name]
    plain = call(lib, Args(lib), **kw)
    if out_maker is None:
        return plain, None
    out = out_maker(plain)
    if lib is tg:
        tg.manual_seed(3)
    return call(lib, Args(lib), out=out, **kw), out


def empty_like_result(lib, dtype=None, shape=None):
    def make(plain):
        outs = [lib.empty(0 if shape is None else shape, dtype=dtype or p.dtype)
                for p in as_list(plain)]
        return tuple(outs) if isinstance(plain, tuple) else outs[0]
    return make


def test_every_registered_function_is_swept():
    assert set(CALLS) == set(OUT_FUNCTIONS)
    for name in OUT_FUNCTIONS:  # each is a module-level function of tapegrad and torch
        assert callable(getattr(tg, name)) and callable(getattr(torch, name))


@pytest.mark.parametrize("name", NAMES)
def test_result_is_written_into_out_and_out_is_returned(name):
    r, out = run(name, tg, empty_like_result(tg))
    expect, _ = run(name, torch, empty_like_result(torch))
    assert isinstance(r, tuple) == isinstance(out, tuple)
    for got, o, e in zip(as_list(r), as_list(out), as_list(expect)):
        assert got is o
        assert tuple(got.shape) == tuple(e.shape) and DTYPES[got.dtype] == e.dtype
        if name not in RANDOM:
            np.testing.assert_allclose(got.numpy(), e.numpy(), rtol=1e-5, atol=1e-6)
    if isinstance(out, tuple):
        assert type(r) is type(run(name, tg)[0])  # the same named tuple, over the outs
        assert r.values is out[0] and r.indices is out[1]
    if name in RANDOM - {"empty"}:  # the draw without out= from the same seed
        tg.manual_seed(3)
        np.testing.assert_array_equal(run(name, tg)[0].numpy(), r.numpy())


def outcome(fn):
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return fn()
    except Exception as e:  # noqa: BLE001 - the type is what is compared
        return e


@pytest.mark.parametrize("out_dtype", list(DTYPES), ids=str)
@pytest.mark.parametrize("name", NAMES)
def test_dtype_rules_match_pytorch(name, out_dtype):
    """Each out dtype: tapegrad raises exactly when PyTorch does (the same exception type), and
    otherwise writes PyTorch's values in out's dtype."""
    def maker(lib, dt):
        def make(plain):
            outs = [lib.empty(0, dtype=dt if k == 0 else p.dtype)
                    for k, p in enumerate(as_list(plain))]
            return tuple(outs) if isinstance(plain, tuple) else outs[0]
        return make

    got = outcome(lambda: run(name, tg, maker(tg, out_dtype))[0])
    expect = outcome(lambda: run(name, torch, maker(torch, DTYPES[out_dtype]))[0])
    if isinstance(expect, Exception):
        if isinstance(expect, NotImplementedError) or (name, out_dtype) == ("randint", tg.bool):
            # PyTorch has no kernel for this op in out's dtype (arange into bool, cumsum into
            # bool, a draw of 0..8 into bool): what tapegrad computes in that dtype is the
            # op's own business (its dtype= behaves the same), not out='s
            return
        assert type(got) is type(expect), f"{name}: PyTorch raised {expect!r}, tapegrad {got!r}"
        if "can't be cast to the desired output type" in str(expect):
            assert "can't be cast to the desired output type" in str(got)
        return
    assert not isinstance(got, Exception), f"{name}: PyTorch wrote {expect!r}; tapegrad {got!r}"
    for g, e in zip(as_list(got), as_list(expect)):
        assert DTYPES[g.dtype] == e.dtype
        if name not in RANDOM:
            np.testing.assert_allclose(g.numpy().astype(np.float64),
                                       e.numpy().astype(np.float64), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("name", NAMES)
def test_an_out_with_elements_is_resized_with_pytorchs_warning(name):
    with pytest.warns(UserWarning, match="An output with one or more elements was resized"):
        r, out = run(name, tg, empty_like_result(tg, shape=(7,)))
    expect, _ = run(name, torch, empty_like_result(torch))
    for got, o, e in zip(as_list(r), as_list(out), as_list(expect)):
        assert got is o and tuple(got.shape) == tuple(e.shape)
        if name not in RANDOM:
            np.testing.assert_allclose(got.numpy(), e.numpy(), rtol=1e-5, atol=1e-6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zero elements: resized silently, as in PyTorch
        run(name, tg, empty_like_result(tg, shape=(0,)))


@pytest.mark.parametrize("name", NAMES)
def test_an_out_sharing_its_memory_is_not_resized(name):
    """tapegrad cannot resize a buffer under the other tensors that see it: a clear error."""
    bases = []

    def shared(plain):
        outs = []
        for p in as_list(plain):
            bases.append(tg.empty(7, dtype=p.dtype))
            outs.append(bases[-1].detach())  # shares its base's memory
        return tuple(outs) if isinstance(plain, tuple) else outs[0]

    with pytest.raises(RuntimeError, match=rf"{name}\(\): out= has shape \[7\] but the result "
                                           r"has shape .* cannot be resized"):
        run(name, tg, shared)


def float_inputs(name):
    return name not in CREATION and name not in {
        "logical_not", "logical_and", "logical_or", "logical_xor", "bitwise_not", "bitwise_and",
        "bitwise_or", "bitwise_xor"}


@pytest.mark.parametrize("name", [n for n in NAMES if float_inputs(n)])
def test_out_with_an_input_that_requires_grad_is_pytorchs_error(name):
    def grad_args(lib):
        class Grad(Args):
            def __getattr__(self, n):
                t = super().__getattr__(n)
                return t.requires_grad_() if t.is_floating_point() else t
        return Grad(lib)

    results = {}
    for lib in (tg, torch):
        out = empty_like_result(lib)(CALLS[name](lib, Args(lib)))
        results[lib] = outcome(lambda lib=lib, out=out: CALLS[name](lib, grad_args(lib), out=out))
        with lib.no_grad():  # without grad mode it is an ordinary write
            assert as_list(CALLS[name](lib, grad_args(lib), out=out))[0] is as_list(out)[0]
    expect, got = results[torch], results[tg]
    assert isinstance(got, Exception) == isinstance(expect, Exception), (expect, got)
    if isinstance(expect, Exception):
        assert type(got) is RuntimeError
        assert str(got) == (f"{name}(): functions with out=... arguments don't support "
                            "automatic differentiation, but one of the arguments requires grad.")


@pytest.mark.parametrize("name", ["add", "exp", "matmul", "cumsum", "sum"])
def test_an_out_that_requires_grad_is_refused_too(name):
    plain = CALLS[name](tg, Args(tg))
    out = tg.zeros(plain.shape, requires_grad=True)
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        CALLS[name](tg, Args(tg), out=out)
    expect = CALLS[name](torch, Args(torch))
    with pytest.raises(RuntimeError, match="don't support automatic differentiation"):
        CALLS[name](torch, Args(torch), out=torch.zeros(expect.shape, requires_grad=True))


@pytest.mark.parametrize("lib", [tg, torch], ids=["tapegrad", "torch"])
def test_out_may_alias_an_input(lib):
    a = Args(lib)
    x, y = a.x, a.y
    assert lib.add(x, y, out=x) is x
    assert lib.mul(x, x, out=x) is x
    sq = lib.mm(a.x, a.x.T)
    assert lib.matmul(sq, sq, out=sq) is sq
    assert lib.sub(x, 1, alpha=2, out=x) is x


def test_aliasing_matches_pytorch():
    results = []
    for lib in (tg, torch):
        a = Args(lib)
        x, y = a.x, a.y
        lib.add(x, y, out=x)
        lib.mul(x, x, out=x)
        lib.sub(x, y, alpha=2, out=x)
        results.append(x.numpy().copy())
    np.testing.assert_allclose(results[0], results[1], rtol=1e-6)
    # A product into one of its operands reads the operands first (PyTorch's GEMM would
    # overwrite what it still reads: its result is not defined there).
    sq = tg.mm(Args(tg).x, Args(tg).x.T)
    expect = tg.matmul(sq, sq)
    tg.matmul(sq, sq, out=sq)
    np.testing.assert_allclose(sq.numpy(), expect.numpy(), rtol=1e-6)


def test_none_is_no_out():
    x = tg.ones(2)
    r = tg.add(x, 1, out=None)
    assert r is not x and r.tolist() == [2.0, 2.0]
    assert tg.cumprod(x, 0, out=None).tolist() == [1.0, 1.0]


def test_tuple_out_errors_are_pytorchs():
    x, xt = tg.rand(3, 4), torch.rand(3, 4)
    v, i = tg.empty(0), tg.empty(0, dtype=tg.int64)
    assert tg.sort(x, out=[v, i]).values is v  # a list works as a tuple
    for lib, xx, mk in [(tg, x, tg.empty), (torch, xt, torch.empty)]:
        with pytest.raises(TypeError):
            lib.sort(xx, out=mk(0))
        with pytest.raises(TypeError, match="expected tuple of 2 elements but got 1"):
            lib.max(xx, 1, out=(mk(0),))
    with pytest.raises(TypeError, match=r"add\(\): argument 'out' must be Tensor, not int"):
        tg.add(x, 1, out=5)
    with pytest.raises(TypeError, match="out= is accepted only with dim"):
        tg.sum(x, out=tg.empty(()))  # sum(input, *, dtype) has no out=, as in PyTorch
    with pytest.raises(TypeError):
        torch.sum(xt, out=torch.empty(()))


def test_a_form_without_out_refuses_it():
    with pytest.raises(TypeError, match="unexpected keyword argument 'out'"):
        tg.where(tg.tensor([True, False]), out=tg.empty(0, dtype=tg.int64))
    with pytest.raises(TypeError):
        torch.where(torch.tensor([True, False]), out=torch.empty(0, dtype=torch.int64))


def test_creation_takes_out_dtype_and_requires_grad():
    o = tg.empty(0, dtype=tg.float64)
    assert tg.arange(4, out=o) is o and o.dtype == tg.float64
    with pytest.raises(RuntimeError, match=r"dtype Float does not match dtype of out parameter "
                                           r"\(Double\)"):
        tg.zeros(3, dtype=tg.float32, out=o)
    z = tg.empty(3)
    assert tg.zeros(3, out=z, requires_grad=True) is z
    t = torch.empty(3)
    torch.zeros(3, out=t, requires_grad=True)
    assert z.requires_grad == t.requires_grad and z.is_leaf == t.is_leaf


def test_the_write_is_an_in_place_op_autograd_sees():
    w = tg.ones(3, requires_grad=True)
    o = tg.zeros(3)
    y = (w * o).sum()  # saves o
    before = o._version
    tg.add(tg.ones(3), 1, out=o)
    assert o._version > before
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_a_resize_continues_the_version_counter():
    w = tg.ones(3, requires_grad=True)
    o = tg.zeros(2)
    y = (w.sum() * o).sum()  # saves o
    with pytest.warns(UserWarning, match="was resized"):
        tg.exp(tg.ones(3), out=o)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.backward()


def test_compiled_function_with_out_replays_into_out():
    buf = tg.empty(3)

    def step(x):
        tg.mul(x, 2, out=buf)
        return buf + 1

    f = tg.compile(step, fullgraph=True)
    for k in range(3):
        x = tg.full((3,), float(k))
        assert f(x).tolist() == [2.0 * k + 1] * 3
        assert buf.tolist() == [2.0 * k] * 3
    assert f._stats["replays"] == 2  # the write into buf is a recorded copy_
