"""In-place forms of the out-of-place ops (x.relu_(), x.clamp_(0, 1), F.relu(x, inplace=True),
nn.ReLU(inplace=True)): every form the package installs, swept for value, gradient and the
in-place rules, against the out-of-place op, float64 finite differences and PyTorch."""

import numpy as np
import pytest

import tapegrad as tg
import tapegrad.nn as nn
import tapegrad.nn.functional as F
from tapegrad import _inplace

# Arguments of each method beyond self, and the interval its input is drawn from (inside the
# domain of every op, away from kinks: 0.2 … 0.8, acosh above 1).
_ARGS = {
    "clamp": (0.35, 0.65), "clip": (0.35, 0.65), "pow": (2.5,), "cumsum": (0,), "cumprod": (0,),
    "masked_fill": ("mask", 0.25), "atan2": ("other",), "arctan2": ("other",),
}
_LOW_HIGH = {"acosh": (1.5, 3.0)}
# no gradient through these (integer/bool results), and zero almost everywhere through these
_NO_GRAD = {"bitwise_not", "logical_not"}
_STEPS = {"sign", "floor", "ceil", "round", "trunc"}
_INT_ONLY = {"bitwise_not"}


def _input(name, dtype=tg.float64, shape=(3, 4)):
    rng = np.random.default_rng(len(name))
    if name in _INT_ONLY:
        return tg.tensor(rng.integers(-5, 5, shape))
    lo, hi = _LOW_HIGH.get(name, (0.2, 0.8))
    return tg.tensor(rng.uniform(lo, hi, shape), dtype=dtype)


def _args(name, x):
    out = []
    for a in _ARGS.get(name, ()):
        if a == "mask":
            out.append(tg.tensor(np.arange(x.numel()).reshape(tuple(x.shape)) % 3 == 0))
        elif a == "other":
            out.append(tg.tensor(np.linspace(0.3, 0.9, x.numel()).reshape(tuple(x.shape)),
                                 dtype=x.dtype))
        else:
            out.append(a)
    return out


def _bits(t):
    return t.detach().numpy().tobytes()


@pytest.mark.parametrize("name", _inplace.METHODS)
def test_value_is_the_out_of_place_op_written_into_self(name):
    for dtype in ([tg.int64] if name in _INT_ONLY else [tg.float32, tg.float64]):
        x = _input(name, dtype)
        args = _args(name, x)
        expect = getattr(x, name)(*args)
        y = x.clone()
        r = getattr(y, name + "_")(*args)
        assert r is y
        assert y.dtype == x.dtype and y.shape == x.shape
        assert _bits(y) == _bits(expect.to(x.dtype))


@pytest.mark.parametrize("name", sorted(set(_inplace.METHODS) - _NO_GRAD))
def test_gradient_through_a_non_leaf_equals_the_out_of_place_one(name):
    """y = a·1; y.op_(); backward gives a.grad as y.op() does, to the bit, and as float64
    finite differences."""
    a0 = _input(name)
    args = _args(name, a0)

    def grads(inplace):
        a = a0.clone().requires_grad_(True)
        y = a * 1.0
        z = getattr(y, name + "_")(*args) if inplace else getattr(y, name)(*args)
        (z * tg.arange(1, z.numel() + 1, dtype=z.dtype).reshape(z.shape)).sum().backward()
        return a.grad

    g = grads(True)
    if name in _STEPS:  # piecewise constant: a zero gradient, as PyTorch's
        assert not g.numpy().any()
        return
    assert _bits(g) == _bits(grads(False))
    w = np.arange(1, a0.numel() + 1).reshape(tuple(a0.shape))
    base = a0.numpy()
    fd = np.zeros_like(base)
    eps = 1e-6
    for i in np.ndindex(base.shape):
        hi, lo = base.copy(), base.copy()
        hi[i] += eps
        lo[i] -= eps
        f = [(getattr(tg.tensor(v), name)(*args).numpy() * w).sum() for v in (hi, lo)]
        fd[i] = (f[0] - f[1]) / (2 * eps)
    np.testing.assert_allclose(g.numpy(), fd, rtol=1e-6, atol=1e-6)


def test_gradient_reaches_a_tensor_argument_when_self_needs_none():
    """x.pow_(e) with only e requiring grad: pow's backward reads the old x (kept by a copy)."""
    x0 = _input("pow")
    e = tg.tensor([[1.5], [2.0], [2.5]], dtype=tg.float64, requires_grad=True)
    x = x0.clone()
    x.pow_(e)
    x.sum().backward()
    e2 = e.detach().clone().requires_grad_(True)
    x0.pow(e2).sum().backward()
    assert _bits(e.grad) == _bits(e2.grad)


@pytest.mark.parametrize("name", sorted(set(_inplace.METHODS) - _INT_ONLY))
def test_a_leaf_that_requires_grad_refuses_and_is_left_alone(name):
    x = _input(name).requires_grad_(True)
    before = _bits(x)
    with pytest.raises(RuntimeError, match=rf"{name}_: a leaf Variable that requires grad"):
        getattr(x, name + "_")(*_args(name, x))
    assert _bits(x) == before and x.grad is None
    with tg.no_grad():
        getattr(x, name + "_")(*_args(name, x))  # allowed, as PyTorch
    assert x.requires_grad and x.is_leaf


def test_overwriting_a_value_a_backward_needs_is_caught():
    a = tg.tensor([0.5, -1.0, 2.0], dtype=tg.float64, requires_grad=True)
    e = a.exp()  # exp's backward reads its output
    e.relu_()
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        e.sum().backward()
    # its version counter moved; a later op sees the new values
    y = a * 1
    y.sigmoid_()
    assert y._version > 0


def test_a_view_writes_through_to_its_base_and_differentiates():
    a = tg.tensor(np.linspace(-1, 1, 6).reshape(2, 3), requires_grad=True)
    x = a * 1
    x[:, 1].exp_()
    x.sum().backward()
    g = np.ones((2, 3))
    g[:, 1] = np.exp(a.detach().numpy()[:, 1])
    np.testing.assert_allclose(a.grad.numpy(), g, rtol=1e-6)
    z = tg.zeros(2, 3)
    z.t().relu_()  # a transposed view
    z[0].clamp_(min=0.5)
    assert z.tolist() == [[0.5, 0.5, 0.5], [0.0, 0.0, 0.0]]


def test_a_result_of_a_wider_kind_raises_naming_the_op():
    x = tg.arange(3)
    with pytest.raises(TypeError, match=r"sqrt_: result type float32 can't be cast to the "
                                        r"desired output type int64 \(shape \[3\]\)"):
        x.sqrt_()
    assert x.tolist() == [0, 1, 2]
    with pytest.raises(TypeError, match="cumsum_: result type int64 can't be cast"):
        tg.tensor([True, False]).cumsum_(0)
    x.relu_()  # same kind: fine
    f = tg.tensor([1.5, 0.0])
    f.logical_not_()  # bool into float: fine, as PyTorch
    assert f.tolist() == [0.0, 1.0]
    with pytest.raises(TypeError, match="relu_"):
        tg.Tensor.relu_(3.0)


def test_an_argument_that_would_widen_self_raises_as_add_does():
    x = tg.zeros(3)
    for call in (lambda: x.pow_(tg.ones(2, 3)),
                 lambda: x.masked_fill_(tg.ones(2, 3, dtype=tg.bool), 1.0),
                 lambda: x.add_(tg.ones(2, 3))):
        with pytest.raises(ValueError, match=r"_: output with shape \[3\] doesn't match the "
                                             r"broadcast shape \[2, 3\]"):
            call()
    assert x.tolist() == [0.0, 0.0, 0.0]


# torch.nn.functional's in-place activations: (function, its in-place twin, extra args)
_FUNCTIONAL = [
    (F.relu, F.relu_, ()), (F.leaky_relu, F.leaky_relu_, (0.1,)), (F.elu, F.elu_, (0.7,)),
    (F.hardtanh, F.hardtanh_, (-0.5, 0.5)), (F.silu, None, ()),
]


@pytest.mark.parametrize("fn,fn_,extra", _FUNCTIONAL, ids=lambda v: getattr(v, "__name__", ""))
def test_functional_inplace_equals_out_of_place(fn, fn_, extra):
    a0 = tg.tensor(np.linspace(-2, 2, 12).reshape(3, 4) + 0.05)
    expect_a = a0.clone().requires_grad_(True)
    expect = fn(expect_a * 1.0, *extra)
    expect.sum().backward()
    forms = [lambda t: fn(t, *extra, inplace=True)]
    if fn_ is not None:
        forms.append(lambda t: fn_(t, *extra))
    for form in forms:
        a = a0.clone().requires_grad_(True)
        y = a * 1.0
        r = form(y)
        assert r is y and _bits(y) == _bits(expect)
        y.sum().backward()
        assert _bits(a.grad) == _bits(expect_a.grad)
    x = a0.clone()
    assert _bits(fn(x, *extra)) == _bits(expect) and _bits(x) == _bits(a0)  # default: a new tensor


@pytest.mark.parametrize("make,text", [
    (lambda: nn.ReLU(inplace=True), "ReLU(inplace=True)"), (lambda: nn.ReLU(), "ReLU()"),
    (lambda: nn.SiLU(inplace=True), "SiLU(inplace=True)"),
    (lambda: nn.LeakyReLU(0.2, inplace=True), "LeakyReLU(negative_slope=0.2, inplace=True)"),
    (lambda: nn.ELU(inplace=True), "ELU(alpha=1.0, inplace=True)"),
    (lambda: nn.Hardtanh(inplace=True), "Hardtanh(min_val=-1.0, max_val=1.0, inplace=True)"),
])
def test_layers_take_inplace_as_torch_nn(make, text):
    layer = make()
    assert repr(layer) == text
    x = tg.tensor([-1.5, 0.25, 2.0])
    y = layer(x)
    assert (y is x) == layer.inplace


def _mlp_losses(inplace, steps, compiled=False):
    tg.manual_seed(5)
    net = nn.Sequential(nn.Linear(12, 16), nn.ReLU(inplace=inplace), nn.Linear(16, 8),
                        nn.LeakyReLU(0.1, inplace=inplace), nn.Linear(8, 3))
    opt = tg.optim.SGD(net.parameters(), lr=0.1, momentum=0.9)
    rng = np.random.default_rng(0)
    x = tg.tensor(rng.standard_normal((20, 12)), dtype=tg.float32)
    y = tg.tensor(rng.integers(0, 3, 20))

    def step(xb, yb):
        opt.zero_grad()
        loss = F.cross_entropy(net(xb), yb)
        loss.backward()
        opt.step()
        return loss.detach()
    fn = tg.compile(step, fullgraph=True) if compiled else step
    return [_bits(fn(x, y)) for _ in range(steps)], [_bits(p) for p in net.parameters()]


def test_a_training_step_with_inplace_layers_equals_the_out_of_place_one():
    assert _mlp_losses(True, 30) == _mlp_losses(False, 30)


def test_a_compiled_step_with_inplace_layers_replays_eager_to_the_bit():
    assert _mlp_losses(True, 30, compiled=True) == _mlp_losses(True, 30)


def test_the_inplace_forms_are_pytorchs():
    """Every out-of-place elementwise method of ours that has an in-place form in PyTorch has
    ours (the view-changing ones aside), and values and gradients match PyTorch's."""
    torch = pytest.importorskip("torch")
    view_changing = {"squeeze", "unsqueeze", "t", "transpose", "swapaxes", "swapdims"}
    missing = {m for m in dir(tg.Tensor) if not m.startswith("_") and not m.endswith("_")
               and hasattr(torch.Tensor, m + "_") and not hasattr(tg.Tensor, m + "_")}
    assert missing == view_changing
    assert all(hasattr(torch.Tensor, m + "_") for m in _inplace.METHODS)
    for name in _inplace.METHODS:
        x = _input(name)
        args = _args(name, x)
        targs = [torch.from_numpy(a.numpy()) if isinstance(a, tg.Tensor) else a for a in args]
        mine = getattr(x.clone(), name + "_")(*args)
        theirs = getattr(torch.from_numpy(x.numpy()).clone(), name + "_")(*targs)
        np.testing.assert_allclose(mine.numpy(), theirs.numpy(), rtol=1e-12, err_msg=name)
        if name in _NO_GRAD | _STEPS:
            continue
        a = x.clone().requires_grad_(True)
        y = a * 1.0
        getattr(y, name + "_")(*args).sum().backward()
        ta = torch.from_numpy(x.numpy()).clone().requires_grad_(True)
        ty = ta * 1.0
        getattr(ty, name)(*targs).sum().backward()  # (PyTorch's acosh_ has no backward)
        np.testing.assert_allclose(a.grad.numpy(), ta.grad.numpy(), rtol=1e-12, err_msg=name)


def test_vmap_batches_the_inplace_forms_of_its_unary_ops():
    """Under tapegrad.func.vmap an in-place form writes the batch at once, as a loop over the
    samples would (and, as PyTorch's vmap, into the tensor vmap was given)."""
    from tapegrad import func_vmap
    names = [n for n in _inplace.METHODS if n + "_" in func_vmap.BATCH_RULES]
    assert {"relu", "exp", "sigmoid", "clamp", "abs"} <= set(names)
    for name in names:
        x0 = _input(name)
        args = [0.35, 0.65] if name == "clamp" else []
        x = x0.clone()
        out = tg.func.vmap(lambda v: getattr(v, name + "_")(*args) * 2)(x)
        rows = [x0[i].clone() for i in range(x0.shape[0])]
        expect = tg.stack([getattr(r, name + "_")(*args) for r in rows])
        assert _bits(x) == _bits(expect), name
        assert _bits(out) == _bits(expect * 2), name
    x0 = tg.tensor([[-1.0, 2.0], [3.0, -4.0]])
    for fn, fn_, extra in _FUNCTIONAL:  # F.*(inplace=True), batched as the op then a copy
        x = x0.clone()
        out = tg.func.vmap(lambda v: fn(v, *extra, inplace=True))(x)
        assert _bits(x) == _bits(fn(x0, *extra)) and _bits(out) == _bits(x), fn.__name__
    x = x0.clone()
    tg.func.vmap(lambda v: nn.LeakyReLU(0.5, inplace=True)(v))(x)
    assert x.tolist() == [[-0.5, 2.0], [3.0, -2.0]]
    with pytest.raises(RuntimeError, match="vmap: no batch rule for 'Tensor.floor_'"):
        tg.func.vmap(lambda v: v.floor_())(x)


def test_cumsum_refuses_a_dim_out_of_range_and_pow_takes_exponent():
    for dim in (-3, 2, 2 ** 62):
        with pytest.raises(IndexError, match=r"cumsum: Dimension out of range \(expected to be "
                                              r"in range of \[-2, 1\]"):
            tg.ones(2, 2).cumsum_(dim)
    with pytest.raises(IndexError, match=r"range of \[-1, 0\], but got 1"):
        tg.tensor(3.0).cumsum(1)
    assert tg.ones(2, 2).cumsum(-2).tolist() == [[1.0, 1.0], [2.0, 2.0]]
    x = tg.tensor([2.0, 3.0])
    assert x.pow_(exponent=2) is x and x.tolist() == [4.0, 9.0]


def test_clamp_with_tensor_bounds_is_pytorchs_in_value_and_gradient():
    """clamp/clamp_ with tensor min/max (broadcast, NaN, lo > hi, ties, one side a number):
    values and the gradients of x and of each bound as PyTorch's."""
    torch = pytest.importorskip("torch")
    nan = float("nan")
    x = [0.1, 0.5, 0.9, nan, 0.5, 0.2, 0.3, 0.7]
    lo = [0.3, 0.3, 0.3, 0.3, nan, 0.6, 0.3, 0.5]
    hi = [0.7, 0.7, 0.7, 0.7, 0.7, 0.4, 0.3, 0.7]
    cases = [  # (x, min, max) as lists/numbers; None = not given
        (x, lo, hi), (x, lo, None), (x, None, hi), (x, 0.4, hi), (x, lo, 0.6),
        ([[0.1, 0.5], [0.9, 0.2]], [0.3, 0.15], None), ([0.2, 0.8], 0.5, 0.5),
    ]
    for xs, ls, hs in cases:
        def run(m, inplace):
            def t(v, dtype, grad):
                if isinstance(v, list):
                    return m.tensor(v, dtype=dtype, requires_grad=grad)
                # PyTorch's clamp takes a number beside a tensor bound only as a 0-d tensor
                return m.tensor(v, dtype=dtype) if m is torch and v is not None else v
            f64 = m.float64
            a, lt, ht = t(xs, f64, True), t(ls, f64, True), t(hs, f64, True)
            kw = {k: v for k, v in (("min", lt), ("max", ht)) if v is not None}
            y = (a * 1).clamp_(**kw) if inplace else m.clamp(a, **kw)
            (y * m.arange(1, y.numel() + 1, dtype=f64).reshape(y.shape)).sum().backward()
            grads = [None if g is None or isinstance(g, float) or g.grad is None
                     else g.grad.numpy() for g in (a, lt, ht)]
            return y.detach().numpy(), grads
        for inplace in (False, True):
            if inplace and np.shape(ls) not in ((), np.shape(xs)[-1:], np.shape(xs)):
                continue
            mine, theirs = run(tg, inplace), run(torch, inplace)
            np.testing.assert_array_equal(mine[0], theirs[0])
            for g, h in zip(mine[1], theirs[1]):
                assert (g is None) == (h is None)
                if g is not None:
                    np.testing.assert_array_equal(g, h)
    # dtypes: a float64 0-d bound keeps float32 x float32; a float bound makes int64 float32
    assert tg.clamp(tg.tensor([1.0, 2.0]), min=tg.tensor(1.5, dtype=tg.float64)).dtype == tg.float32
    assert tg.clamp(tg.tensor([1, 2]), min=tg.tensor(1.5)).tolist() == [1.5, 2.0]
    with pytest.raises(TypeError, match="clamp: not supported for bool"):
        tg.clamp(tg.tensor([True]), min=tg.tensor(0))
    with pytest.raises(TypeError, match="clamp: max must be a number or a tensor"):
        tg.clamp(tg.tensor([1.0]), min=tg.tensor(0.0), max="1")


def test_masked_fill_and_cumsum_refusals_are_pytorchs():
    x = tg.ones(3)
    with pytest.raises(TypeError, match="argument 'mask' must be Tensor, not NoneType"):
        x.masked_fill_(None, 1.0)
    with pytest.raises(RuntimeError, match="only supports a 0-dimensional value tensor, but got "
                                           r"tensor with 1 dimension\(s\)"):
        x.masked_fill_(tg.tensor([True, False, True]), tg.tensor([1.0, 2.0, 3.0]))
    for name in ("cumsum_", "cumprod_"):
        with pytest.raises(RuntimeError, match="Bad in-place call: input tensor dtype float32 and "
                                               "output tensor dtype float64 should match"):
            getattr(x, name)(0, dtype=tg.float64)
    assert x.tolist() == [1.0, 1.0, 1.0]
    assert x.cumsum_(0, dtype=tg.float32).tolist() == [1.0, 2.0, 3.0]
    m = tg.tensor([True, False, True])
    assert x.masked_fill_(m, tg.tensor(0.5)).tolist() == [0.5, 2.0, 0.5]
