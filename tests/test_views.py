"""Views share memory (Note [views] in cpp/src/ops/view.cpp): basic indexing, t/T/mT,
transpose, permute, narrow, select-like indexing, expand, squeeze/unsqueeze, view/reshape,
split/chunk/unbind, movedim and swapaxes return tensors over their base's storage, so writes
through them reach the base (and the base's writes reach them), with autograd as PyTorch's.

Every view kind is swept against every in-place write, comparing the base's values and the
gradients with PyTorch's; every op of the op table is run on strided inputs and compared with
the same op on contiguous ones.
"""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from optable import CASES, TG

torch = pytest.importorskip("torch")

# A view of a (4, 6) base, written the same way for both libraries.
VIEWS = {
    "int": lambda b: b[1],
    "slice": lambda b: b[1:3],
    "col": lambda b: b[:, 2],
    "step": lambda b: b[::2, 1::2],
    "ellipsis": lambda b: b[..., 1:4],
    "none": lambda b: b[None, 2],
    "neg_index": lambda b: b[-1, :-1],
    "T": lambda b: b.T,
    "t": lambda b: b.t(),
    "mT": lambda b: b.mT,
    "transpose": lambda b: b.transpose(0, 1),
    "permute": lambda b: b.permute(1, 0),
    "narrow": lambda b: b.narrow(1, 2, 3),
    "unsqueeze": lambda b: b.unsqueeze(1),
    "view": lambda b: b.view(2, 12),
    "reshape": lambda b: b.reshape(24),
    "flatten": lambda b: b.flatten(),
    "squeeze": lambda b: b[1:2].squeeze(0),
    "unbind": lambda b: b.unbind(1)[3],
    "split": lambda b: b.split(2, dim=1)[1],
    "chunk": lambda b: b.chunk(2)[1],
    "movedim": lambda b: b.movedim(0, 1),
    "swapaxes": lambda b: b.swapaxes(0, 1),
    "view_of_view": lambda b: b.T[1:5][::2],
    "T_then_view": lambda b: b.T.unsqueeze(0).squeeze(0)[2],
}

# PyTorch refuses in-place writes into the outputs of unbind/split/chunk (functions returning
# several views); tapegrad allows them. The gradient comparison writes through the same
# elements made by slicing on the PyTorch side.
TORCH_SINGLE = {
    "unbind": lambda b: b[:, 3],
    "split": lambda b: b[:, 2:4],
    "chunk": lambda b: b[2:4],
}

# In-place writes, each given the view and an operand of the view's shape.
WRITES = {
    "add_": lambda v, o: v.add_(o),
    "sub_alpha": lambda v, o: v.sub_(o, alpha=2),
    "mul_": lambda v, o: v.mul_(o),
    "div_": lambda v, o: v.div_(o),
    "iadd": lambda v, o: v.__iadd__(o),
    "imul_scalar": lambda v, o: v.__imul__(3.0),
    "copy_": lambda v, o: v.copy_(o),
    "fill_": lambda v, o: v.fill_(2.5),
    "zero_": lambda v, o: v.zero_(),
    "setitem": lambda v, o: v.__setitem__(..., o * 2),
    "setitem_part": lambda v, o: v.__setitem__((slice(None, 1),), o[:1] if o.dim() else o),
}


def _pair(seed=0, shape=(4, 6)):
    rng = np.random.default_rng(seed)
    a = rng.uniform(0.5, 2.0, size=shape)
    return tg.tensor(a), torch.tensor(a)


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("write", WRITES)
def test_write_through_view_reaches_base(view, write):
    b, bt = _pair()
    v, vt = VIEWS[view](b), VIEWS[view](bt)
    assert list(v.shape) == list(vt.shape)
    o, ot = _pair(1, tuple(vt.shape))
    WRITES[write](v, o)
    WRITES[write](vt, ot)
    np.testing.assert_array_equal(b.numpy(), bt.numpy())
    np.testing.assert_array_equal(v.numpy(), vt.numpy())
    assert b._version > 0


@pytest.mark.parametrize("view", VIEWS)
def test_base_write_reaches_view(view):
    b, bt = _pair()
    v, vt = VIEWS[view](b), VIEWS[view](bt)
    b.mul_(3)
    bt.mul_(3)
    b[0, 0] = -1.0
    bt[0, 0] = -1.0
    np.testing.assert_array_equal(v.numpy(), vt.numpy())


@pytest.mark.parametrize("view", VIEWS)
def test_view_metadata_matches_torch(view):
    b, bt = _pair()
    v, vt = VIEWS[view](b), VIEWS[view](bt)
    assert v.stride() == vt.stride()
    assert v.storage_offset() == vt.storage_offset()
    assert v.is_contiguous() == vt.is_contiguous()
    assert v._base is b
    np.testing.assert_array_equal(v.numpy(), vt.numpy())
    # numpy() of a view shares its memory, as PyTorch's does
    v.numpy()[...] = 7.0
    vt.numpy()[...] = 7.0
    np.testing.assert_array_equal(b.numpy(), bt.numpy())


@pytest.mark.parametrize("view", VIEWS)
@pytest.mark.parametrize("write", ["add_", "mul_", "div_", "copy_", "fill_", "setitem", "imul_scalar"])
def test_gradient_through_view_write(view, write):
    """base = x·1; a view of base written in place with an operand that requires grad; a loss
    reading base, the view and a view made before the write (its history is regenerated)."""
    rng = np.random.default_rng(3)
    xa = rng.uniform(0.5, 2.0, size=(4, 6))

    def run(lib, x):
        base = x * 1.0
        early = base[2:, 1:]  # made before the write: must see it, values and gradient
        v = (TORCH_SINGLE.get(view, VIEWS[view]) if lib is torch else VIEWS[view])(base)
        o = (x.sum() * 0.1 + lib.ones(tuple(v.shape), dtype=x.dtype)) if write != "fill_" else None
        WRITES[write](v, o)
        return (base * base).sum() + (v * v * v).sum() + (early.exp()).sum()

    x = tg.tensor(xa, requires_grad=True)
    xt = torch.tensor(xa, requires_grad=True)
    lt = run(torch, xt)
    lt.backward()
    l_ = run(tg, x)
    l_.backward()
    np.testing.assert_allclose(l_.item(), lt.item(), rtol=1e-12)
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_stale_views_after_base_write_follow_pytorch():
    rng = np.random.default_rng(4)
    xa = rng.normal(size=(3, 5))

    def run(lib, x):
        base = x * 2.0 + 1.0
        a, c = base[0], base.T[1:3]
        base.mul_(x)           # the base gets new history
        a2 = base[1:]           # a view of the new base
        a2[0].add_(x[2])        # and a write through it
        return (a * c.sum()).sum() + (a2 ** 2).sum() + base.sum()

    x = tg.tensor(xa, requires_grad=True)
    xt = torch.tensor(xa, requires_grad=True)
    run(tg, x).backward()
    run(torch, xt).backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-9)


def test_create_graph_through_view_write():
    xa = np.linspace(0.3, 1.7, 12).reshape(3, 4)

    def run(lib, x):
        b = x * x
        b[1:].mul_(x[:2])
        g, = (torch.autograd.grad if lib is torch else tg.autograd.grad)(
            b.pow(3).sum(), x, create_graph=True)
        return (g * g).sum()

    x = tg.tensor(xa, requires_grad=True)
    xt = torch.tensor(xa, requires_grad=True)
    run(tg, x).backward()
    run(torch, xt).backward()
    np.testing.assert_allclose(x.grad.numpy(), xt.grad.numpy(), rtol=1e-9)


def test_gradcheck_view_write():
    def f(x, w):
        b = x * 1.0
        b.T[1:3].mul_(w)
        b[:, 0] = w[0].exp()
        return b
    x = tg.randn(4, 3, dtype=tg.float64, requires_grad=True)
    w = tg.randn(2, 4, dtype=tg.float64, requires_grad=True)
    assert tg.autograd.gradcheck(f, (x, w))


def test_view_of_leaf_requiring_grad_refuses_inplace():
    w = tg.randn(3, 4, requires_grad=True)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        w[0].mul_(2)
    with pytest.raises(RuntimeError, match="a view of a leaf Variable that requires grad"):
        w.T.zero_()
    with tg.no_grad():  # parameter initialisation writes through views
        w[0].zero_()
        w.T[1].fill_(1.0)
    assert w[0, 0].item() == 0 and w[:, 1].sum().item() == 3.0
    assert w.grad is None and w.is_leaf


@pytest.mark.parametrize("shape", [(2, 0), (0, 3), (2, 0, 3), (0,), (3, 1, 0)])
def test_empty_tensor_strides_match_torch(shape):
    """A dim of size 0 counts as 1 in the row-major strides, as PyTorch's."""
    a, t = tg.zeros(*shape), torch.zeros(*shape)
    for f in (lambda x: x, lambda x: x[None], lambda x: x.unsqueeze(-1), lambda x: x.mT
              if x.dim() >= 2 else x, lambda x: x.reshape(-1)):
        assert f(a).stride() == f(t).stride()
        assert f(a).is_contiguous() == f(t).is_contiguous()


def test_expanded_view_refuses_writes_like_torch():
    x = tg.zeros(3)
    e = x.expand(4, 3)
    assert e.stride() == torch.zeros(3).expand(4, 3).stride()
    with pytest.raises(RuntimeError, match="more than one element of the written-to tensor"):
        e.add_(1)
    x.add_(1)  # the expanded view sees writes to its base
    np.testing.assert_array_equal(e.numpy(), np.ones((4, 3)))


def test_view_of_strided_needs_compatible_strides():
    x = tg.arange(12.).reshape(3, 4)
    with pytest.raises(RuntimeError, match="view size is not compatible"):
        x.T.view(12)
    r = x.T.reshape(12)  # a copy, as PyTorch's reshape
    np.testing.assert_array_equal(r.numpy(), np.arange(12.).reshape(3, 4).T.reshape(12))
    r.zero_()
    assert x.sum().item() == 66
    v = x.T.view(4, 1, 3)  # splitting a dim keeps a view
    v.zero_()
    assert x.sum().item() == 0


def test_matmul_with_transposed_weight_reads_the_view():
    rng = np.random.default_rng(5)
    xa, wa = rng.normal(size=(5, 3)), rng.normal(size=(4, 3))
    x = tg.tensor(xa, requires_grad=True)
    w = tg.tensor(wa, requires_grad=True)
    y = x @ w.T
    y.sum().backward()
    np.testing.assert_allclose(y.detach().numpy(), xa @ wa.T, rtol=1e-12)
    np.testing.assert_allclose(w.grad.numpy(), np.ones((5, 4)).T @ xa, rtol=1e-12)


@pytest.mark.parametrize("ta,tb", [(True, False), (True, True), (False, True)])
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_matmul_of_transposed_views_is_mm_on_the_bases(ta, tb, dtype):
    """A.T @ B, A.T @ B.T and A @ B.T of 2-D tensors: PyTorch's values, gradients and
    grad_fn (MmBackward0), computed with the GEMM's transpose flags on the tensors under the
    views (no transposed copy)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(7)
    a = rng.normal(size=(7, 5) if ta else (5, 7))
    b = rng.normal(size=(3, 7) if tb else (7, 3))
    outs = []
    for lib in (tg, torch):
        A = lib.tensor(a, dtype=getattr(lib, dtype), requires_grad=True)
        B = lib.tensor(b, dtype=getattr(lib, dtype), requires_grad=True)
        c = (A.T if ta else A) @ (B.T if tb else B)
        c.backward(lib.tensor(np.arange(15.0).reshape(5, 3), dtype=getattr(lib, dtype)))
        name = c.grad_fn if isinstance(c.grad_fn, str) else c.grad_fn.name()
        outs.append((c.detach().numpy(), A.grad.numpy(), B.grad.numpy(), name,
                     c.is_contiguous()))
    tol = 1e-12 if dtype == "float64" else 1e-5
    for mine, theirs in zip(outs[0][:3], outs[1][:3]):
        np.testing.assert_allclose(mine, theirs, rtol=tol, atol=tol)
    assert outs[0][3:] == outs[1][3:]


def _strided_copy(a: np.ndarray):
    """A tapegrad leaf holding `a` at every other element, and the strided view of it."""
    base = np.stack([a, np.full_like(a, np.nan)], axis=-1)  # NaN: reading the gap shows
    leaf = tg.tensor(base, requires_grad=True)
    return leaf, leaf[..., 0]


STRIDED_CASES = [c for c in CASES if any(len(s) >= 1 for s in c.shapes)]


@pytest.mark.parametrize("case", STRIDED_CASES, ids=lambda c: c.id)
def test_every_op_reads_strided_inputs(case):
    """Each op-table case on non-contiguous views gives what it gives on contiguous inputs,
    values and gradients bit for bit (the gap elements hold NaN and get zero gradient)."""
    xs = case.inputs()
    flat = [tg.tensor(x, requires_grad=True) for x in xs]
    pairs = [_strided_copy(x) for x in xs]
    strided = [p[1] for p in pairs]
    assert all(not s.is_contiguous() for s, x in zip(strided, xs) if x.size > 1)
    outs = [case.fn(TG, *ins) for ins in (flat, strided)]
    outs = [o if isinstance(o, tuple) else (o,) for o in outs]
    for a, b in zip(*outs):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    diff = [(a, b) for a, b in zip(*outs) if a.requires_grad]
    if not diff:
        return
    seeds = [tg.tensor(np.random.default_rng(1).normal(size=tuple(a.shape))) for a, _ in diff]
    need = [i for i, t in enumerate(flat) if t.requires_grad]
    ga = tg.autograd.grad([a for a, _ in diff], [flat[i] for i in need], seeds, allow_unused=True)
    gb = tg.autograd.grad([b for _, b in diff], [pairs[i][0] for i in need], seeds,
                          allow_unused=True)
    for g1, g2 in zip(ga, gb):
        if g1 is None:
            assert g2 is None or not g2.abs().sum().item()
            continue
        np.testing.assert_array_equal(g2.numpy()[..., 0], g1.numpy())
        assert not g2.numpy()[..., 1].any()


def test_compiled_step_writes_through_views():
    def step(x, w):
        y = x @ w.T
        y[:, 0].mul_(2)
        y.T[1].add_(1.0)
        return y.sum(dim=1)

    f = tg.compile(step)
    rng = np.random.default_rng(6)
    for _ in range(3):
        x = tg.tensor(rng.normal(size=(5, 3)))
        w = tg.tensor(rng.normal(size=(4, 3)))
        np.testing.assert_array_equal(f(x, w).numpy(), step(x, w).numpy())


INT_WRITES = {
    "add_": lambda v, o: v.add_(o),
    "mul_": lambda v, o: v.mul_(o),
    "iand": lambda v, o: v.__iand__(o),
    "ior": lambda v, o: v.__ior__(o),
    "ixor": lambda v, o: v.__ixor__(o),
    "copy_": lambda v, o: v.copy_(o),
    "fill_": lambda v, o: v.fill_(3),
    "setitem": lambda v, o: v.__setitem__(..., o),
}


@pytest.mark.parametrize("dtype", ["int64", "bool"])
@pytest.mark.parametrize("view", ["int", "step", "T", "unsqueeze", "narrow", "view_of_view"])
@pytest.mark.parametrize("write", INT_WRITES)
def test_integer_and_bool_writes_through_views(dtype, view, write):
    rng = np.random.default_rng(7)
    a = rng.integers(-2**62, 2**62, size=(4, 6)) if dtype == "int64" else rng.random((4, 6)) < 0.5
    b, bt = tg.tensor(a), torch.tensor(a)
    v, vt = VIEWS[view](b), VIEWS[view](bt)
    oa = rng.integers(-2**40, 2**40, size=tuple(vt.shape)) if dtype == "int64" else \
        rng.random(tuple(vt.shape)) < 0.5
    o, ot = tg.tensor(oa), torch.tensor(oa)
    if dtype == "bool" and write in ("add_", "mul_"):
        o, ot = o.long(), ot.long()  # bool += int64: both refuse the result type
        with pytest.raises(RuntimeError):
            INT_WRITES[write](vt, ot)
        with pytest.raises((RuntimeError, TypeError)):
            INT_WRITES[write](v, o)
        np.testing.assert_array_equal(b.numpy(), bt.numpy())
        return
    INT_WRITES[write](v, o)
    INT_WRITES[write](vt, ot)
    np.testing.assert_array_equal(b.numpy(), bt.numpy())


def test_inplace_dropout_writes_through_a_view():
    x = tg.ones(4, 6)
    v = x.T
    tg.manual_seed(0)
    out = tg.nn.functional.dropout(v, 0.5, training=True, inplace=True)
    assert out is v
    np.testing.assert_array_equal(x.numpy(), v.numpy().T)
    assert set(np.unique(x.numpy())) <= {0.0, 2.0} and (x.numpy() == 0).any()


# ----- entry points that take tensors by identity (a contiguous copy would be a silent no-op) ---
@pytest.mark.parametrize("view", ["T", "step", "one"])
def test_conversions_to_the_same_dtype_return_the_view(view):
    """x.float() of a float32 x is x (PyTorch's), a view too: writes through it reach the base."""
    mk = {"T": lambda b: b.T, "step": lambda b: b[:, ::2], "one": lambda b: b[1:2, 2:3]}[view]
    bases = []
    for lib in (tg, torch):
        b = lib.arange(12.).reshape(3, 4)
        v = mk(b)
        for same in (v.float(), v.to(lib.float32), v.type(lib.float32), +v, v.cpu(),
                     lib.as_tensor(v), lib.as_tensor(v, dtype=lib.float32)):
            assert same is v
        for other in (v.double(), v.to(lib.int64), lib.as_tensor(v, dtype=lib.float64)):
            np.testing.assert_array_equal(other.numpy(), v.numpy().astype(other.numpy().dtype))
        v.float().mul_(2)
        v.to(lib.float32).add_(1)
        bases.append(b.numpy())
    np.testing.assert_array_equal(*bases)


def test_zero_grad_clears_a_strided_parameter():
    w = tg.randn(4, 3)
    p = tg.nn.Parameter(w.T)  # a Parameter over w's memory, transposed (as PyTorch's)
    assert not p.is_contiguous()
    for zero in (lambda: tg.optim.SGD([p], lr=0.1).zero_grad(),
                 lambda: tg.nn.ParameterList([p]).zero_grad(),
                 lambda: tg.optim.Adam([p]).zero_grad(set_to_none=False)):
        (p * p).sum().backward()
        assert p.grad is not None and p.grad.abs().sum().item() > 0
        zero()
        assert p.grad is None or p.grad.abs().sum().item() == 0


def test_hooks_and_likes_see_a_strided_parameter_itself():
    p = tg.nn.Parameter(tg.randn(4, 3).T)
    seen = []
    p.register_post_accumulate_grad_hook(lambda t: seen.append(t is p))
    (p * p).sum().backward()
    assert seen == [True]
    before = tg.tape_stats()["entries"]
    for like in (tg.zeros_like, tg.ones_like, tg.rand_like, tg.randn_like):
        assert like(p).shape == p.shape  # read for its shape: no copy recorded
    assert tg.tape_stats()["entries"] == before


OPTIMIZERS = {
    "sgd": lambda lib, ps: lib.optim.SGD(ps, lr=0.1),
    "sgd_momentum": lambda lib, ps: lib.optim.SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.1),
    "adam": lambda lib, ps: lib.optim.Adam(ps, lr=0.1),
    "adamw_amsgrad": lambda lib, ps: lib.optim.AdamW(ps, lr=0.1, amsgrad=True),
    "rmsprop": lambda lib, ps: lib.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    "adagrad": lambda lib, ps: lib.optim.Adagrad(ps, lr=0.1),
}


@pytest.mark.parametrize("opt", OPTIMIZERS)
def test_optimizers_update_strided_parameters_like_torch(opt):
    """A Parameter over a transposed or stepped base is updated through its strides; its base
    sees the update, and the state is keyed by the Parameter (PyTorch's)."""
    rng = np.random.default_rng(8)
    wa, va, xa = rng.normal(size=(4, 3)), rng.normal(size=(3, 8)), rng.normal(size=(5, 3))
    res = []
    for lib in (tg, torch):
        w, v = lib.tensor(wa), lib.tensor(va)
        p, q = lib.nn.Parameter(w.T), lib.nn.Parameter(v[:, ::2])  # (3, 4) each, strided
        o = OPTIMIZERS[opt](lib, [p, q])
        for _ in range(3):
            o.zero_grad()
            (((lib.tensor(xa) @ p) * q.sum(0)) ** 2).mean().backward()
            o.step()
        assert not p.is_contiguous() and set(o.state) <= {p, q}
        res.append((w.numpy(), v.numpy(), p.detach().numpy()))
    for a, t in zip(*res):
        np.testing.assert_allclose(a, t, rtol=1e-9, atol=1e-12)


def test_data_assigned_a_view_shares_its_memory():
    for lib in (tg, torch):
        w = lib.arange(12.).reshape(4, 3)
        p = lib.nn.Parameter(lib.zeros(3, 4))
        p.data = w.T
        w.mul_(2)
        assert p.is_leaf and p.requires_grad and not p.is_contiguous()
        np.testing.assert_array_equal(p.detach().numpy(), w.numpy().T)
        p.data = lib.arange(6.).reshape(2, 3)  # a reshape view
        assert p.shape == (2, 3)


def test_detach_in_place_refuses_views_like_torch():
    for lib, err in ((tg, RuntimeError), (torch, RuntimeError)):
        b = lib.zeros(3, 4)
        with pytest.raises(err, match="Can't detach views in-place"):
            b.T.detach_()
        b.detach_()  # not a view


def _functions(lib):
    class Dirty(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.mark_dirty(x)
            return x.mul_(2)

        @staticmethod
        def backward(ctx, g):
            return g * 2

    class Square(lib.autograd.Function):
        @staticmethod
        def forward(ctx, x):
            ctx.save_for_backward(x)
            return x * x

        @staticmethod
        def backward(ctx, g):
            x, = ctx.saved_tensors
            return 2 * x * g

    return Dirty, Square


def test_custom_function_marks_a_view_dirty_like_torch():
    xa = np.linspace(0.3, 2.0, 12).reshape(3, 4)

    def run(lib):
        dirty, square = _functions(lib)
        x = lib.tensor(xa, requires_grad=True)
        b = x * 1.0
        early = b[:, 1]  # made before the write: regenerated from the rebased base
        z = dirty.apply(b.T[1:])
        s = square.apply(b[:, ::2])  # a saved view
        loss = (b * lib.tensor(xa)).sum() + (z ** 2).sum() + (early ** 3).sum() + s.sum()
        loss.backward()
        return b.detach().numpy(), x.grad.numpy()

    for a, t in zip(run(tg), run(torch)):
        np.testing.assert_allclose(a, t, rtol=1e-12)


def test_custom_function_saved_view_is_version_checked_like_torch():
    for lib in (tg, torch):
        _, square = _functions(lib)
        x = lib.ones(3, 4, dtype=lib.float64, requires_grad=True)
        b = x * 1.0
        y = square.apply(b.T)
        b.mul_(3)  # modifies the saved view's memory
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            y.sum().backward()


def test_gradcheck_perturbs_strided_inputs_in_place():
    a = tg.randn(3, 8, dtype=tg.float64)
    for x in (a.T, a[:, ::2], a[::-1, 1::3]):
        assert tg.autograd.gradcheck(lambda t: (t * t).sin(), (x.requires_grad_(),))
    e = tg.randn(1, 4, dtype=tg.float64).expand(3, 4).requires_grad_()
    with pytest.raises(RuntimeError, match="stride 0"):  # PyTorch's refusal
        tg.autograd.gradcheck(lambda t: t.sin(), (e,))


def test_stale_view_autograd_state_follows_its_base_like_torch():
    """A view made before its base was written: its requires_grad / is_leaf / grad_fn and a
    hook registered on it see the base's new history (PyTorch regenerates the view's grad_fn
    when it is read)."""
    xa = np.linspace(0.5, 2.0, 12).reshape(3, 4)
    res = []
    for lib in (tg, torch):
        x = lib.tensor(xa, requires_grad=True)
        b = lib.zeros(3, 4, dtype=lib.float64)
        v, w = b[:, 1], b.T[2:]
        b.add_(x * 2)  # b gains history after the views were made
        state = (v.requires_grad, v.is_leaf, v.grad_fn is not None)
        v.register_hook(lambda g: g * 10)
        ((v ** 3).sum() + (w ** 2).sum() + b.sum()).backward()
        res.append((state, x.grad.numpy()))
    assert res[0][0] == res[1][0] == (True, False, True)
    for a, t in zip(res[0][1:], res[1][1:]):
        np.testing.assert_allclose(a, t, rtol=1e-12)


def test_training_on_sliced_batches_holds_no_memory():
    """Batches sliced from one dataset tensor (views keeping it alive), written through in
    place, trained on: the tape stays empty between steps, resident memory flat, and a view
    keeps its base alive only as long as the view lives (no reference cycle)."""
    import gc
    import os
    import weakref

    from test_memory import UNDER_ASAN, rss

    tg.manual_seed(0)
    X, Y = tg.randn(256, 8), tg.randn(256, 1)
    net = tg.nn.Sequential(tg.nn.Linear(8, 16), tg.nn.ReLU(), tg.nn.Linear(16, 1))
    opt = tg.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)

    def epoch():
        for i in range(0, 256, 32):
            xb, yb = X[i:i + 32], Y[i:i + 32].T.T
            h = net(xb[:, ::1])
            h[:, 0].mul_(2)
            h.T[0].add_(xb[:, 0])
            loss = ((h - yb) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            net(X[i:i + 32].T.T).sum()  # an evaluation without no_grad

    gc.collect()
    live = tg.tape_stats()["live_entries"]  # what earlier tests keep alive
    for _ in range(30):
        epoch()
    gc.collect()
    start = rss()
    for _ in range(300):
        epoch()
    gc.collect()
    assert tg.tape_stats()["live_entries"] == live
    if os.path.exists("/proc/self/statm") and not UNDER_ASAN:
        assert rss() - start < 4 * 2**20

    x = tg.randn(64, 64, requires_grad=True)
    base = x * 2
    v = base.T[1:]
    v.mul_(3)  # base and v both rebased: entries referring to each other
    probe = weakref.ref(v)
    del base, v
    assert probe() is None and tg.tape_stats()["live_entries"] == live


def test_a_view_used_from_two_threads():
    import threading

    base = tg.arange(2 * 4096, dtype=tg.float64).reshape(2, 4096)
    v = base.T[::2]
    want = v.numpy().sum(0)
    sums, errors = [], []

    def read():
        for _ in range(20):
            sums.append(v.sum(0).numpy())

    def write(k):  # disjoint rows of one base, through views
        for _ in range(50):
            base[k].add_(1.0)
            base.T[:, k].sub_(1.0)

    threads = [threading.Thread(target=read) for _ in range(2)]
    threads += [threading.Thread(target=write, args=(k,)) for k in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in sums:  # the writes add and take away whole rows: reads see either state
        assert s.shape == want.shape
    np.testing.assert_array_equal(v.numpy().sum(0), want)
    assert base._version == 200

    # history recorded in one thread, the view used with grad in another: a clear error
    x = tg.randn(4, 4, requires_grad=True)
    w = (x * 2)[:, ::2]

    def use():
        try:
            (w * w).sum()
        except RuntimeError as e:
            errors.append(str(e))

    t = threading.Thread(target=use)
    t.start()
    t.join()
    assert len(errors) == 1 and "another thread" in errors[0]


# ----- write-through-view sequences against PyTorch: the same values, gradients or error -----
def _lin(lib, shape, start=0.3):
    return lib.tensor(np.linspace(start, 2.0, int(np.prod(shape))).reshape(shape),
                      dtype=lib.float64)


def _seq_hook_on_view(lib, x):
    b = x * 1.0
    v = b.T
    v.register_hook(lambda g: g * 10)
    return (v ** 2).sum() + b.sum()


def _seq_hook_on_base_then_view_written(lib, x):
    b = x * 1.0
    b.register_hook(lambda g: g * 10)
    b[0].mul_(2)
    return (b ** 2).sum()


def _seq_view_of_view_written(lib, x):
    b = x.sin()
    v = b.T[1:3][::2]
    v.mul_(x[:1, :3] + 1)
    return (b * x).sum()


def _seq_written_under_no_grad_then_used(lib, x):
    b = x * 1.0
    with lib.no_grad():
        b.T[0].mul_(2)
    return (b ** 2).sum()


def _seq_data_of_view_written(lib, x):
    b = x * 1.0
    y = b.exp()
    y.T.data.mul_(2)  # unseen by autograd, as in PyTorch
    return y.sum()


def _seq_plain_base_gets_history(lib, x):
    b = _lin(lib, (3, 4))
    b.T[1].copy_(x[:, 1] * 2)
    return (b ** 2).sum()


def _seq_view_of_stale_view(lib, x):
    b = x * 1.0
    v = b.T
    b.mul_(x)
    return (v[1:] ** 2).sum()


def _seq_setitem_from_own_view(lib, x):
    b = x * 1.0
    b[0] = b[1]
    return (b ** 2).sum()


def _seq_detached_view_written(lib, x):  # version error: ExpBackward's saved output
    y = (x * 1.0).exp()
    y.T.detach().mul_(2)
    return y.sum()


def _seq_saved_base_then_view_written(lib, x):  # version error
    y = (x * 1.0).exp()
    y[1].zero_()
    return y.sum()


def _seq_view_written_under_no_grad_saved(lib, x):  # version error: Mul's saved input
    b = x * 2.0
    y = b * b
    with lib.no_grad():
        b[0].zero_()
    return y.sum()


def _seq_transposed_weight_written(lib, x):  # version error: linear reads W through W.T
    w = _lin(lib, (5, 4)) * 1.0
    y = x @ w.T
    w.mul_(2)
    return y.sum()


SEQUENCES = {n[5:]: f for n, f in globals().items() if n.startswith("_seq_")}


@pytest.mark.parametrize("seq", SEQUENCES)
def test_write_through_view_sequences_match_torch(seq):
    out = []
    for lib in (tg, torch):
        x = _lin(lib, (3, 4)).requires_grad_()
        try:
            SEQUENCES[seq](lib, x).backward()
            out.append(x.grad.numpy())
        except RuntimeError as e:
            out.append(type(e))
            assert "modified by an inplace operation" in str(e)
    if isinstance(out[1], type):
        assert out[0] is out[1]
    else:
        np.testing.assert_allclose(out[0], out[1], rtol=1e-12)


def test_writes_reading_their_own_view_are_differentiated_correctly():
    """Where PyTorch refuses (its saved operand is the view being written), tapegrad's operand
    is the view's contiguous copy (Note [strided arguments]): the gradient is that of the values
    the write read, which gradcheck confirms."""
    def f(x):
        b = x.sin()
        v = b.T[1:3][::2]
        v.mul_(v)
        b[1:].add_(b[:-1])  # overlapping slices: NumPy's buffered semantics
        return b

    assert tg.autograd.gradcheck(f, (tg.randn(3, 4, dtype=tg.float64, requires_grad=True),))


GRAD_FN_EXPRS = ["x[0]", "x[1:3]", "x[:, 0]", "x[1:, 0]", "x[0, 1:]", "x[None]", "x[...]", "x[:]",
                 "x[::2]", "x[0, :]", "x[:, :]", "x.T", "x.t()", "x.mT", "x.transpose(0, 1)",
                 "x.permute(1, 0)", "x.unsqueeze(0)", "x.squeeze()", "x.squeeze(0)", "x.view(-1)",
                 "x.reshape(-1)", "x.flatten()", "x.expand(2, 3, 4)", "x.narrow(0, 1, 1)",
                 "x.movedim(0, 1)", "x.swapaxes(0, 1)", "x[[0, 1]]", "x[x > 0]",
                 "x.T.unsqueeze(0)", "x.T.reshape(-1)"]


@pytest.mark.parametrize("expr", GRAD_FN_EXPRS)
def test_view_grad_fn_names_are_pytorchs(expr):
    x = tg.randn(3, 4, requires_grad=True) * 1
    a = eval(expr)
    x = torch.randn(3, 4, requires_grad=True) * 1
    b = eval(expr)
    assert a.grad_fn == type(b.grad_fn).__name__

