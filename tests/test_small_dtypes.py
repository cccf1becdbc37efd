"""The storage dtypes int32, int16, int8, uint8 and float16 against PyTorch (Note [storage
dtypes] in cpp/src/tensor.cpp): creation, conversion in both directions (wrap-around,
truncation, float16 rounding with subnormals, inf and NaN), NumPy interop, views and in-place
writes, repr, the promotion table over all nine dtypes, elementwise arithmetic (overflow wraps,
float16 rounds once), and a sweep of every public function and Tensor method on a tensor of
each new dtype: the result matches PyTorch's (values and dtype) or the call raises."""

from __future__ import annotations

import math
import operator
import warnings

import numpy as np
import pytest
import tapegrad as tg

torch = pytest.importorskip("torch")

NEW = ["int32", "int16", "int8", "uint8", "float16"]
ALL = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
INTS = ["int32", "int16", "int8", "uint8"]


def op2(name):
    """tapegrad's function `name`, or the operator (eq, lt, …)."""
    return getattr(tg, name, None) or getattr(operator, name)


def tgd(name):
    return getattr(tg, name)


def thd(name):
    return getattr(torch, name)


def same(a, b, ulps=0):
    """a (tapegrad) equals b (torch): dtype, shape and values bit for bit (NaN equals NaN), or
    within `ulps` units in the last place (transcendental float kernels differ by an ulp)."""
    assert repr(a.dtype).split(".")[1] == repr(b.dtype).split(".")[1]
    x, y = a.numpy(), b.numpy()
    assert x.shape == y.shape
    if x.dtype.kind == "f":
        assert np.array_equal(np.isnan(x), np.isnan(y))
        x, y = np.where(np.isnan(x), 0, x), np.where(np.isnan(y), 0, y)
        if ulps:
            x, y = np.where(np.isinf(y), 0, x), np.where(np.isinf(y), 0, y)
            gap = np.abs(x.astype(np.float64) - y.astype(np.float64))
            tiny = np.finfo(y.dtype).tiny  # subnormal results: flushed or not
            with np.errstate(over="ignore"):
                ulp = np.spacing(np.abs(y)).astype(np.float64)
            assert np.all((gap <= ulps * ulp) | (x == y) | (gap < tiny)), (x, y)
        else:
            assert np.array_equal(x.view(f"u{x.itemsize}"), y.view(f"u{y.itemsize}")), (x, y)
    else:
        assert np.array_equal(x, y), (x, y)


# Values at the edges of every type: wrap-around, truncation toward zero, float16 rounding ties,
# subnormals, overflow to inf, NaN.
EDGE = [0.0, -0.0, 1.5, -1.5, 2.5, 127.9, 128.0, -128.7, -129.0, 255.5, 256.0, 300.7, -300.7,
        32767.0, 32768.0, -32769.0, 65504.0, 65519.9, 65520.0, 1e5, 0.1, 1 / 3, 6e-8, 3e-8,
        2.9802322387695312e-08, 5.96e-8, 6.1e-5, 1e-10, 2147483520.0]
SPECIAL = [math.inf, -math.inf, math.nan, 1e10, -1e10]


@pytest.mark.parametrize("src,dst", [(a, b) for a in ALL for b in ALL if a in NEW or b in NEW])
def test_conversion_matrix(src, dst):
    vals = EDGE + [-v for v in EDGE]
    base64 = torch.tensor(vals, dtype=torch.float64)
    # In-range values of the source type (a float source holds all of them).
    if src in ("float16", "float32", "float64"):
        src_t = base64.to(thd(src))
    elif src == "bool":
        src_t = torch.tensor([True, False, True])
    else:  # the type's extremes and values across its range (wrap-around into narrower ones)
        info = np.iinfo(src)
        ints = np.random.default_rng(4).integers(info.min, info.max, 64, endpoint=True)
        src_t = torch.from_numpy(np.concatenate([[info.min, info.max, 0, -1 if info.min else 1],
                                                 ints]).astype(src))
    x = tg.from_numpy(src_t.numpy().copy())
    same(x, src_t)
    same(x.to(tgd(dst)), src_t.to(thd(dst)))


@pytest.mark.parametrize("dst", NEW)
def test_float_specials_convert_as_pytorch(dst):
    # NaN, ±inf and values beyond int32: PyTorch's CPU gives what x86's truncation gives.
    for src in ("float32", "float64"):
        t = torch.tensor(SPECIAL, dtype=thd(src))
        same(tg.tensor(SPECIAL, dtype=tgd(src)).to(tgd(dst)), t.to(thd(dst)))


def test_float16_rounding_every_pattern():
    # Every float16 bit pattern round-trips, and the float32 values halfway between neighbours
    # round to even as PyTorch's conversion does.
    bits = np.arange(1 << 16, dtype=np.uint16)
    h = bits.view(np.float16)
    f32 = h.astype(np.float32)
    same(tg.from_numpy(f32.copy()).half(), torch.from_numpy(f32.copy()).half())
    fin = f32[np.isfinite(f32)].astype(np.float64)
    fin = np.unique(fin)
    mids = ((fin[:-1] + fin[1:]) / 2).astype(np.float32)
    rng = np.random.default_rng(0)
    noise = rng.standard_normal(4096).astype(np.float32) * np.float32(1e-3)
    for a in (mids, noise, mids * np.float32(1.0000001)):
        same(tg.from_numpy(a.copy()).half(), torch.from_numpy(a.copy()).half())


@pytest.mark.parametrize("name", NEW)
def test_creation(name):
    d, td = tgd(name), thd(name)
    same(tg.tensor([1, 2, 3], dtype=d), torch.tensor([1, 2, 3], dtype=td))
    same(tg.tensor([1.7, 2.2], dtype=d), torch.tensor([1.7, 2.2], dtype=td))
    if name != "uint8":
        same(tg.tensor([-1.7, -2], dtype=d), torch.tensor([-1.7, -2], dtype=td))
    same(tg.zeros(2, 3, dtype=d), torch.zeros(2, 3, dtype=td))
    same(tg.ones(4, dtype=d), torch.ones(4, dtype=td))
    same(tg.full((2,), 7, dtype=d), torch.full((2,), 7, dtype=td))
    same(tg.arange(5, dtype=d), torch.arange(5, dtype=td))
    if name == "float16":
        same(tg.arange(0, 3, 0.5, dtype=d), torch.arange(0, 3, 0.5, dtype=td))
    same(tg.eye(3, dtype=d), torch.eye(3, dtype=td))
    x = tg.ones(3, dtype=tg.float32)
    for fn in ("zeros_like", "ones_like"):
        same(getattr(tg, fn)(x, dtype=d), getattr(torch, fn)(torch.ones(3), dtype=td))
    same(tg.full_like(x, 3, dtype=d), torch.full_like(torch.ones(3), 3, dtype=td))
    assert tg.empty(2, dtype=d).dtype == d
    r = tg.randint(0, 5, (50,), dtype=d)
    assert r.dtype == d and 0 <= r.min().item() and r.max().item() < 5
    assert d.itemsize == td.itemsize and d.is_floating_point == td.is_floating_point
    assert tg.ones(1, dtype=d).element_size() == td.itemsize
    assert tg.ones(1, dtype=d).is_floating_point() == (name == "float16")
    if name != "float16":
        with pytest.raises(RuntimeError, match="overflow"):
            tg.full((1,), 1 << 40, dtype=d)
        with pytest.raises(RuntimeError, match="overflow"):
            torch.full((1,), 1 << 40, dtype=td)


def test_method_names_and_legacy_constructors():
    x = tg.tensor([1.7, -2.5, 300.0])
    tx = torch.tensor([1.7, -2.5, 300.0])
    for m in ("int", "short", "char", "byte", "half", "long", "float", "double", "bool"):
        same(getattr(x, m)(), getattr(tx, m)())
    for m in NEW:
        same(x.to(tgd(m)), tx.to(thd(m)))
        same(x.type(tgd(m)), tx.type(thd(m)))
    assert tg.half is tg.float16 and tg.int is tg.int32 and tg.short is tg.int16
    for cls in ("IntTensor", "ShortTensor", "CharTensor", "ByteTensor", "HalfTensor"):
        same(getattr(tg, cls)([1, 2]), getattr(torch, cls)([1, 2]))
        assert getattr(tg, cls)(2, 3).shape == (2, 3)


@pytest.mark.parametrize("name", NEW)
def test_numpy_both_ways_share_memory(name):
    a = np.arange(6, dtype=name).reshape(2, 3)
    t = tg.from_numpy(a)
    assert t.dtype == tgd(name)
    a[0, 0] = 5
    assert t[0, 0].item() == 5
    n = t.numpy()
    n[1, 1] = 9
    assert t[1, 1].item() == 9 and n.dtype == np.dtype(name)
    assert tg.tensor(a).dtype == tgd(name)  # tensor() keeps the dtype and copies
    assert tg.as_tensor(a).numpy().ctypes.data == a.ctypes.data
    same(tg.tensor(np.array(3, dtype=name)), torch.tensor(np.array(3, dtype=name)))


@pytest.mark.parametrize("name", NEW)
def test_tolist_item_repr(name):
    vals = [[0, 1, -2], [100, 3, 7]] if name != "float16" else [[0.1, -1e-7, 65504], [1e5, 2.5, 1e-3]]
    x, tx = tg.tensor(vals, dtype=tgd(name)), torch.tensor(vals, dtype=thd(name))
    assert x.tolist() == tx.tolist()
    assert x[0, 1].item() == tx[0, 1].item() and type(x[0, 1].item()) is type(tx[0, 1].item())
    for a, b in ((x, tx), (x[0], tx[0]), (x[1, 2], tx[1, 2]), (x[:0], tx[:0])):
        assert repr(a).replace("tapegrad.", "torch.") == repr(b)


@pytest.mark.parametrize("name", NEW)
def test_views_inplace_and_copies(name):
    d, td = tgd(name), thd(name)
    x, tx = tg.arange(12, dtype=d).reshape(3, 4), torch.arange(12, dtype=td).reshape(3, 4)
    v, tv = x.T, tx.T
    v[0, 1] = 11
    tv[0, 1] = 11
    same(x, tx)
    row, trow = x[1], tx[1]
    row.fill_(3)
    trow.fill_(3)
    same(x, tx)
    x[:, 2] = tg.tensor([5, 6, 7])
    tx[:, 2] = torch.tensor([5, 6, 7])
    same(x, tx)
    x[0].copy_(tg.tensor([1.9, 2.2, 3.0, 4.0]))
    tx[0].copy_(torch.tensor([1.9, 2.2, 3.0, 4.0]))
    same(x, tx)
    x += 2
    tx += 2
    same(x, tx)
    x[1:] *= 3
    tx[1:] *= 3
    same(x, tx)
    same(x.clone(), tx.clone())
    same(x.T.contiguous(), tx.T.contiguous())
    same(tg.cat([x, x[:1]]), torch.cat([tx, tx[:1]]))
    same(tg.stack([x[0], x[1]]), torch.stack([tx[0], tx[1]]))
    same(x[tg.tensor([2, 0])], tx[torch.tensor([2, 0])])
    same(x[x > 7], tx[tx > 7])
    same(x.reshape(-1)[::3], tx.reshape(-1)[::3])
    if name == "float16":  # a float32 value rounds into the float16 tensor
        x[1, 1:3] = tg.tensor([1.7, 2.6])
        tx[1, 1:3] = torch.tensor([1.7, 2.6])
        same(x, tx)


def test_int32_indices_as_pytorch():
    x, tx = tg.arange(12.0).reshape(3, 4), torch.arange(12.0).reshape(3, 4)
    i, ti = tg.tensor([2, 0], dtype=tg.int32), torch.tensor([2, 0], dtype=torch.int32)
    same(x[i], tx[ti])
    same(x.index_select(1, i), tx.index_select(1, ti))
    g, tgi = tg.tensor([[0, 3], [1, 1], [2, 0]], dtype=tg.int32), torch.tensor([[0, 3], [1, 1], [2, 0]], dtype=torch.int32)
    same(x.gather(1, g), tx.gather(1, tgi))
    x[i] = 7.0
    tx[ti] = 7.0
    same(x, tx)
    with pytest.raises(IndexError, match="int8"):
        x[tg.tensor([1], dtype=tg.int8)]


@pytest.mark.parametrize("name", NEW)
def test_save_load(name, tmp_path):
    x = tg.tensor([1, 2, 3], dtype=tgd(name))
    tg.save({"x": x}, tmp_path / "s.npz")
    same(tg.load(tmp_path / "s.npz")["x"], torch.tensor([1, 2, 3], dtype=thd(name)))


def test_promotion_table():
    for a in ALL:
        for b in ALL:
            want = torch.promote_types(thd(a), thd(b))
            got = (tg.zeros(2, dtype=tgd(a)) + tg.zeros(2, dtype=tgd(b))).dtype
            assert repr(got).split(".")[1] == repr(want).split(".")[1], (a, b)
            if hasattr(tg, "promote_types"):
                assert tg.promote_types(tgd(a), tgd(b)) == got
            # A 0-d operand or a Python number decides only from a higher category.
            for z in (torch.tensor(3, dtype=thd(b)), True, 3, 2.5):
                tz = z
                gz = tg.tensor(z.item(), dtype=tgd(b)) if isinstance(z, torch.Tensor) else z
                if isinstance(tz, bool) and a == "bool" or b == "bool" and isinstance(z, torch.Tensor):
                    continue
                if a not in NEW and not (isinstance(z, torch.Tensor) and b in NEW):
                    continue
                try:
                    want_t = torch.ones(2, dtype=thd(a)) * tz
                except RuntimeError:
                    continue
                same(tg.ones(2, dtype=tgd(a)) * gz, want_t)


def _ints(name, n, rng):
    info = np.iinfo(name)
    return rng.integers(info.min, info.max, n, endpoint=True).astype(name)


BINARY = ["add", "sub", "mul", "div", "maximum", "minimum", "eq", "ne", "lt", "le", "gt", "ge",
          "bitwise_and", "bitwise_or", "bitwise_xor", "pow"]


@pytest.mark.parametrize("name", INTS)
def test_integer_arithmetic_wraps_as_pytorch(name):
    rng = np.random.default_rng(1)
    a, b = _ints(name, 257, rng), _ints(name, 257, rng)
    b[b == 0] = 1
    x, y = tg.from_numpy(a.copy()), tg.from_numpy(b.copy())
    tx, ty = torch.from_numpy(a.copy()), torch.from_numpy(b.copy())
    for op in BINARY:
        if op == "pow":
            same(tg.pow(x, 3), torch.pow(tx, 3))
            continue
        same(op2(op)(x, y), getattr(torch, op)(tx, ty))
        for s in (3, -7, 200, 300, 1 << 40, 2.5, True):
            if op.startswith("bitwise") and isinstance(s, float):
                continue
            try:
                want = getattr(torch, op)(tx, s)
            except (RuntimeError, TypeError):
                continue
            same(op2(op)(x, s), want)
        same(op2(op)(x, tg.from_numpy(b[:1].copy().reshape(()))),
             getattr(torch, op)(tx, torch.from_numpy(b[:1].copy().reshape(()))))
    for other in ("int64", "uint8", "int8", "float32", "float16", "bool"):
        yo, tyo = tg.tensor(b).to(tgd(other)), torch.tensor(b).to(thd(other))
        for op in ("add", "mul", "sub", "lt"):
            if other == "bool" and op == "sub":
                continue
            same(op2(op)(x, yo), getattr(torch, op)(tx, tyo))
    for op in ("neg", "abs", "bitwise_not", "exp", "sqrt", "sin", "tanh", "sigmoid", "relu"):
        if name == "uint8" and op in ("neg",):
            continue
        f = getattr(tg, op, None) or getattr(tg.nn.functional, op)
        # float32 results: tapegrad's float32 kernels are within 2 ulp of PyTorch's
        same(f(x), getattr(torch, op)(tx), ulps=2)
    same(-x if name != "uint8" else ~x, -tx if name != "uint8" else ~tx)
    same(x.sum(), tx.sum())
    same(x.reshape(-1, 1).sum(0), tx.reshape(-1, 1).sum(0))
    same(x.max(), tx.max())
    same(x.argmax(), tx.argmax())
    same(x.clamp(-5, 9), tx.clamp(-5, 9))
    same(tg.where(x > 0, x, y), torch.where(tx > 0, tx, ty))
    z, tz = x.clone(), tx.clone()
    z += y
    tz += ty
    same(z, tz)
    z *= 3
    tz *= 3
    same(z, tz)


def test_float16_arithmetic_rounds_once_as_pytorch():
    rng = np.random.default_rng(2)
    a = (rng.standard_normal(500) * 50).astype(np.float16)
    b = (rng.standard_normal(500) * 0.01).astype(np.float16)
    a[:6] = [np.inf, -np.inf, np.nan, 65504, 6e-8, -0.0]
    x, y = tg.from_numpy(a.copy()), tg.from_numpy(b.copy())
    tx, ty = torch.from_numpy(a.copy()), torch.from_numpy(b.copy())
    for op in ("add", "sub", "mul", "div", "maximum", "minimum", "eq", "lt", "ge"):
        same(op2(op)(x, y), getattr(torch, op)(tx, ty))
        for s in (0.1, 3, 1e-6, 70000.0, -2.5):
            if op not in ("maximum", "minimum"):  # tensors only, in PyTorch
                same(op2(op)(x, s), getattr(torch, op)(tx, s))
        same(op2(op)(x, tg.tensor(0.3)), getattr(torch, op)(tx, torch.tensor(0.3)))
        same(op2(op)(tg.tensor(0.3), x), getattr(torch, op)(torch.tensor(0.3), tx))
    for s in (0.1, 3, 1e-6, 70000.0, -2.5):
        same(s / x, s / tx)
        same(s * x, s * tx)
        same(s - x, s - tx)
    for other in ("float32", "float64", "int64", "int8"):
        yo, tyo = tg.from_numpy(b.copy()).to(tgd(other)), torch.from_numpy(b.copy()).to(thd(other))
        same(x + yo, tx + tyo)
    for op in ("neg", "abs", "sqrt"):  # correctly rounded in float32: exact
        f = getattr(tg, op, None) or getattr(tg.nn.functional, op)
        same(f(x), getattr(torch, op)(tx))
    # float32 kernels within 2 ulp (relu: −0 gives +0, as tapegrad's float32 relu):
    for op in ("exp", "log", "sin", "cos", "tanh", "sigmoid", "relu"):
        f = getattr(tg, op, None) or getattr(tg.nn.functional, op)
        same(f(x), getattr(torch, op)(tx), ulps=1)  # float16 within 1 ulp
    same(tg.pow(x, 2), torch.pow(tx, 2))
    same(x.max(), tx.max())
    same(x.isnan(), tx.isnan())
    same(x.clamp(-1, 1), tx.clamp(-1, 1))
    z, tz = x.clone(), tx.clone()
    z += tg.from_numpy(b.astype(np.float32))
    tz += torch.from_numpy(b.astype(np.float32))
    same(z, tz)
    small = tg.from_numpy(b[6:40].copy())
    assert abs(small.sum().item() - torch.from_numpy(b[6:40].copy()).sum().item()) <= 2 ** -10


# ----- every public op on a tensor of each new dtype: PyTorch's answer or an exception --------
def _public_functions():
    names = [n for n in getattr(tg, "__all__", dir(tg)) if not n.startswith("_")]
    out = []
    for n in sorted(set(names)):
        f = getattr(tg, n, None)
        if callable(f) and not isinstance(f, type) and hasattr(torch, n) and n not in SWEEP_SKIP:
            out.append(n)
    return out


def _methods():
    return sorted(n for n in dir(tg.Tensor)
                  if not n.startswith("_") and callable(getattr(tg.Tensor, n, None))
                  and hasattr(torch.Tensor, n) and n not in SWEEP_SKIP)


# Calls that take no tensor or mutate global state.
SWEEP_SKIP = {"manual_seed", "set_num_threads", "set_default_dtype", "set_default_device",
              "load", "save", "from_numpy", "set_grad_enabled", "seed", "compile", "Generator",
              "register_hook", "register_post_accumulate_grad_hook", "backward", "numpy", "data_ptr",
              "tolist", "item", "share_memory_", "storage", "untyped_storage", "requires_grad_",
              "retain_grad", "new_empty", "empty_like", "normal_", "uniform_", "random_",
              "bernoulli", "bernoulli_", "exponential_", "multinomial", "rand_like", "randn_like",
              "dropout", "set_", "resize_", "resize_as_", "detect_anomaly", "is_tensor",
              "get_default_dtype", "use_deterministic_algorithms", "typename",
              "normal", "poisson"}  # random draws differ by design
ALLOWED = (TypeError, RuntimeError, ValueError, IndexError, NotImplementedError)


def _compare(got, want):
    if isinstance(want, torch.Tensor):
        assert isinstance(got, tg.Tensor)
        same(got, want.detach(), ulps=2)
    elif isinstance(want, (tuple, list)):
        assert len(got) == len(want)
        for g, w in zip(got, want):
            _compare(g, w)
    elif isinstance(want, (bool, int, float)):
        assert got == want or (isinstance(want, float) and math.isnan(want) and math.isnan(got))


def _sweep_one(call_tg, call_torch):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            got = call_tg()
        except ALLOWED:
            return "raised"
        try:
            want = call_torch()
        except Exception:  # noqa: BLE001 - PyTorch refusing is PyTorch's business
            return "torch refused"
    if isinstance(want, torch.Tensor) or isinstance(want, (tuple, list)) and want and \
            all(isinstance(w, torch.Tensor) for w in want):
        _compare(got, want)
    return "ok"


@pytest.mark.parametrize("name", NEW)
def test_api_sweep_matches_pytorch_or_raises(name):
    vals = [[3, 1, 2], [0, 5, 4]] if name != "float16" else [[0.5, -1.25, 2.0], [0.1, 3.0, -0.0]]
    outcomes, wrong = {}, {}

    def run(key, name_tg, name_t, method, with_x):
        x, tx = tg.tensor(vals, dtype=tgd(name)), torch.tensor(vals, dtype=thd(name))
        f_tg = getattr(x, name_tg) if method else getattr(tg, name_tg)
        f_t = getattr(tx, name_t) if method else getattr(torch, name_t)
        args_tg = ((x,) if with_x else ()) if method else (x,)
        args_t = ((tx,) if with_x else ()) if method else (tx,)
        try:
            outcomes[key] = _sweep_one(lambda: f_tg(*args_tg), lambda: f_t(*args_t))
        except AssertionError as e:
            wrong[key] = str(e)[:300]

    for fn in _public_functions():
        run(fn, fn, fn, False, True)
    for m in _methods():
        run("." + m, m, m, True, False)
        run(".(x)" + m, m, m, True, True)
    assert not wrong, (sorted(wrong), wrong)
    assert sum(v == "ok" for v in outcomes.values()) > 30  # the sweep reached real work


@pytest.mark.parametrize("name", NEW)
def test_matmul_sort_and_refusals(name):
    rng = np.random.default_rng(3)
    a = (rng.standard_normal((2, 5, 7)) * 20).astype(name)
    b = (rng.standard_normal((2, 7, 3)) * 20).astype(name)
    x, y, tx, ty = tg.from_numpy(a), tg.from_numpy(b), torch.from_numpy(a), torch.from_numpy(b)
    # integers wrap exactly; float16 accumulates in float32 and rounds once (1 ulp: order)
    ulps = 1 if name == "float16" else 0
    same(x @ y, tx @ ty, ulps=ulps)
    same(x[0] @ y[0], tx[0] @ ty[0], ulps=ulps)
    same(x[0, 0] @ y[0, :, 0], tx[0, 0] @ ty[0, :, 0], ulps=ulps)
    v, i = x.sort(dim=-1)
    tv, ti = tx.sort(dim=-1, stable=True)
    same(v, tv)
    same(i, ti)
    # what has no path for the dtype says so, naming the op and PyTorch's type name
    torch_name = {"int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte",
                  "float16": "Half"}[name]
    F = tg.nn.functional
    for op, call in (("conv2d", lambda: F.conv2d(x[None], x[None])),
                     ("max_pool2d", lambda: F.max_pool2d(x, 2)),
                     ("embedding", lambda: F.embedding(tg.tensor([0]), x[0]))):
        with pytest.raises(TypeError, match=f"{op}.*({name}|'{torch_name}')"):
            call()
    if name == "float16":
        with pytest.raises(TypeError, match="requires_grad_.*'Half'"):
            x.requires_grad_()
        with pytest.raises(TypeError, match="'Half'"):
            tg.ones(2, requires_grad=True).half()
