"""The smaller differences from PyTorch that issue 17's family 8 lists, each checked against
PyTorch itself: tg.grad with an input listed twice, a DataLoader whose dataset changes or whose
sampler misbehaves, dtype promotion in the losses (Note [loss dtypes]), the repr of empty and
0-d tensors, squeeze with a tuple of dims."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import tapegrad as tg
import tapegrad.nn.functional as F
from tapegrad.utils.data import DataLoader, Dataset, Sampler, TensorDataset

torch = pytest.importorskip("torch")
import torch.nn.functional as TF
from torch.utils import data as tdata


def _outcome(fn):
    """("ok", value) or ("err", exception type, message)."""
    try:
        return ("ok", fn())
    except Exception as e:  # noqa: BLE001 - any exception is an outcome to compare
        return ("err", type(e), str(e))


def _same_error(ours, theirs):
    assert ours[0] == theirs[0] == "err", (ours, theirs)
    assert issubclass(ours[1], theirs[1]), (ours, theirs)


# ----- tg.grad with the same input listed more than once ---------------------------------------
def _grad_cases(ns):
    """Calls of autograd.grad in the namespace ns (tapegrad or torch), each returning grads."""
    grad = ns.autograd.grad

    def leaf():
        return ns.tensor([1.0, -2.0, 3.0], dtype=ns.float64, requires_grad=True)

    def twice(inputs_as=list):
        x = leaf()
        return grad((x * x * x).sum(), inputs_as([x, x]))

    def non_leaf_between():
        x = leaf()
        y = x.exp()
        return grad((y * x).sum(), [y, x, y])

    def create_graph():
        x = leaf()
        g = grad((x ** 3).sum(), [x, x], create_graph=True)
        return grad((g[0] * g[1]).sum(), [x, x])

    def unused_twice():
        x, u = leaf(), leaf()
        return grad((x * 2).sum(), [u, x, u], allow_unused=True)

    def grad_outputs():
        x = leaf()
        return grad(x * x, (x, x), grad_outputs=ns.tensor([1.0, 2.0, 3.0], dtype=ns.float64))

    def module_level():
        x = leaf()
        return (ns.autograd.grad if ns is torch else tg.grad)((x.sin()).sum(), [x, x, x])

    return [lambda: twice(list), lambda: twice(tuple), non_leaf_between, create_graph,
            unused_twice, grad_outputs, module_level]


@pytest.mark.parametrize("i", range(len(_grad_cases(tg))))
def test_grad_with_an_input_listed_twice_matches_pytorch(i):
    ours = _grad_cases(tg)[i]()
    theirs = _grad_cases(torch)[i]()
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs):
        assert (a is None) == (b is None)
        if a is not None:
            np.testing.assert_allclose(a.detach().numpy(), b.detach().numpy(), rtol=1e-12)
    # the same input gets the same gradient object each time it is listed, as in PyTorch
    assert [ours[j] is ours[k] for j, k in itertools.combinations(range(len(ours)), 2)] == \
        [theirs[j] is theirs[k] for j, k in itertools.combinations(range(len(theirs)), 2)]


def test_grad_with_an_unused_input_listed_twice_names_it():
    x, u = (tg.ones(2, requires_grad=True) for _ in range(2))
    with pytest.raises(RuntimeError, match="allow_unused=True"):
        tg.grad(x.sum(), [u, u])


# ----- DataLoader: datasets that change under it, samplers that misbehave -----------------------
def _loader_cases(ns, DL, DS, TDS, SMP):
    """Each case runs one epoch and returns the batches as lists (or raises)."""

    class Shrinking(DS):  # each read drops the last example
        def __init__(self, n):
            self.data = list(range(n))

        def __len__(self):
            return len(self.data)

        def __getitem__(self, i):
            v = self.data[i]
            del self.data[-1:]
            return v

    class Listed(DS):
        def __init__(self, n):
            self.data = list(range(n))

        def __len__(self):
            return len(self.data)

        def __getitem__(self, i):
            return self.data[i]

    class Fixed(SMP):
        def __init__(self, idx):
            self.idx = idx

        def __iter__(self):
            return iter(self.idx)

        def __len__(self):
            return len(self.idx)

    class Endless(SMP):  # would hang (or exhaust memory) if drawn to its end
        def __iter__(self):
            for i in itertools.count():
                assert i < 1000, "the sampler was drawn far past the batches taken"
                yield i % 5

        def __len__(self):
            return 10 ** 9

    def run(loader, shrink=None, take=None):
        out = []
        for b in loader:
            out.append(b)
            if shrink:
                shrink()
            if take is not None and len(out) == take:
                break
        return [[t.tolist() for t in b] if isinstance(b, (list, tuple)) else b.tolist()
                for b in out]

    def td(n=6):
        return TDS(ns.arange(n))

    cases = {}
    for kw in [{"batch_size": 2}, {"batch_size": 3, "drop_last": True}, {"batch_size": 1},
               {"batch_size": 2, "sampler": Fixed([0, 1, 2, 3, 4, 5])}]:
        cases[f"shrinking {sorted(kw)}"] = lambda kw=kw: run(DL(Shrinking(8), **kw))
    cases["shrinking shuffled"] = lambda: run(DL(Shrinking(8), batch_size=2, shuffle=True))
    ds = Listed(6)
    cases["popped between batches"] = lambda: run(DL(ds, batch_size=2), ds.data.pop)

    def shrunk_before_first_batch():
        d = Listed(6)
        it = iter(DL(d, batch_size=2))
        d.data[:] = d.data[:3]
        return run(it)
    cases["shrunk before the first batch"] = shrunk_before_first_batch
    for name, idx in [("past the end", [0, 1, 2, 7]), ("negative", [0, -1]),
                      ("negative past the start", [0, -5]), ("float", [0, 1.0]),
                      ("numpy ints", [np.int64(3), np.int64(1)])]:
        cases[f"list, sampler {name}"] = lambda idx=idx: run(DL(Listed(4), batch_size=2,
                                                               sampler=Fixed(idx)))
        cases[f"tensors, sampler {name}"] = lambda idx=idx: run(DL(td(4), batch_size=2,
                                                                  sampler=Fixed(idx)))
    cases["tensors, batch sampler past the end"] = lambda: run(DL(td(4), batch_sampler=[[0, 1], [9]]))
    cases["list, batch sampler past the end"] = lambda: run(DL(Listed(4), batch_sampler=[[0], [9]]))
    cases["tensors, batch sampler float"] = lambda: run(DL(td(4), batch_sampler=[[0, 1.0]]))
    cases["endless sampler, tensors"] = lambda: run(DL(td(8), batch_size=3, sampler=Endless()),
                                                    take=4)
    cases["endless sampler, list"] = lambda: run(DL(Listed(8), batch_size=3, sampler=Endless()),
                                                 take=4)
    cases["endless sampler, drop_last"] = lambda: run(
        DL(td(8), batch_size=3, sampler=Endless(), drop_last=True), take=2)

    def tensors_replaced(shuffle):
        d = td(6)
        return run(DL(d, batch_size=2, shuffle=shuffle),
                   lambda: setattr(d, "tensors", (d.tensors[0][:3],)))
    cases["tensors replaced by shorter ones"] = lambda: tensors_replaced(False)
    cases["tensors replaced, shuffled"] = lambda: tensors_replaced(True)
    return cases


LOADER_CASES = list(_loader_cases(tg, DataLoader, Dataset, TensorDataset, Sampler))


@pytest.mark.parametrize("name", LOADER_CASES)
def test_dataloader_over_a_changing_dataset_or_odd_sampler_as_pytorch(name):
    ours = _outcome(_loader_cases(tg, DataLoader, Dataset, TensorDataset, Sampler)[name])
    theirs = _outcome(_loader_cases(torch, tdata.DataLoader, tdata.Dataset, tdata.TensorDataset,
                                    tdata.Sampler)[name])
    if theirs[0] == "ok" and "shuffled" not in name:
        assert ours == theirs
    elif theirs[0] == "ok":  # another generator's order: the same sizes
        assert ours[0] == "ok" and [len(b[0]) for b in ours[1]] == [len(b[0]) for b in theirs[1]]
    else:
        _same_error(ours, theirs)
        if ("out of bounds" in theirs[2] or "out of range" in theirs[2]) \
                and "shuffled" not in name:
            assert theirs[2] in ours[2], (ours, theirs)


# ----- dtype promotion in the losses (Note [loss dtypes]) ---------------------------------------
_KINDS = {"float32": (tg.float32, torch.float32), "float64": (tg.float64, torch.float64),
          "int64": (tg.int64, torch.int64), "bool": (tg.bool, torch.bool)}


def _data(kind, shape, seed):
    rng = np.random.default_rng(seed)
    if kind.startswith("float"):
        return rng.uniform(0.1, 0.9, shape)
    return rng.integers(0, 2, shape).astype(bool if kind == "bool" else np.int64)


def _pair(a, kind, grad):
    t = tg.tensor(a).to(_KINDS[kind][0])
    p = torch.tensor(a).to(_KINDS[kind][1])
    if grad and kind.startswith("float"):
        t.requires_grad_()
        p.requires_grad_()
    return t, p


# name: f(F, x, y) with x, y of the swept dtypes; weights take y's dtype (x's for the data).
LOSSES = {
    "mse": lambda F, x, y: F.mse_loss(x, y),
    "mse-none": lambda F, x, y: F.mse_loss(x, y, reduction="none"),
    "mse-weight": lambda F, x, y: F.mse_loss(x, x.detach() * 0.5, weight=y),
    "l1": lambda F, x, y: F.l1_loss(x, y),
    "l1-none": lambda F, x, y: F.l1_loss(x, y, reduction="none"),
    "l1-weight": lambda F, x, y: F.l1_loss(x, x.detach() * 0.5, weight=y, reduction="sum"),
    "smooth_l1": lambda F, x, y: F.smooth_l1_loss(x, y),
    "smooth_l1-none": lambda F, x, y: F.smooth_l1_loss(x, y, reduction="none", beta=0.3),
    "smooth_l1-beta0": lambda F, x, y: F.smooth_l1_loss(x, y, beta=0.0),
    "huber": lambda F, x, y: F.huber_loss(x, y, reduction="none", delta=0.4),
    "huber-weight": lambda F, x, y: F.huber_loss(x, x.detach() * 0.5, weight=y),
    "bce": lambda F, x, y: F.binary_cross_entropy(x, y),
    "bce-weight": lambda F, x, y: F.binary_cross_entropy(x, x.detach() * 0.5, weight=y),
    "bce_logits": lambda F, x, y: F.binary_cross_entropy_with_logits(x, y),
    "bce_logits-none": lambda F, x, y: F.binary_cross_entropy_with_logits(x, y, reduction="none"),
    "bce_logits-weight": lambda F, x, y: F.binary_cross_entropy_with_logits(
        x, x.detach() * 0.5, weight=y),
    "bce_logits-pos_weight": lambda F, x, y: F.binary_cross_entropy_with_logits(
        x, x.detach() * 0.5, pos_weight=y[0]),
    "bce_logits-weight-and-target": lambda F, x, y: F.binary_cross_entropy_with_logits(
        x, y, weight=y, pos_weight=y[1]),
    "kl_div": lambda F, x, y: F.kl_div(x, y, reduction="batchmean"),
    "kl_div-log_target": lambda F, x, y: F.kl_div(x, y, reduction="sum", log_target=True),
    "cross_entropy-probs": lambda F, x, y: F.cross_entropy(x, y, label_smoothing=0.2),
    "cross_entropy-probs-weight": lambda F, x, y: F.cross_entropy(x, x.detach() * 0.5,
                                                                  weight=y[0]),
    "cross_entropy-weight": lambda F, x, y: F.cross_entropy(x, (x[:, 0] * 0).long() + 1,
                                                            weight=y[0]),
    "nll-weight": lambda F, x, y: F.nll_loss(x, (x[:, 0] * 0).long() + 2, weight=y[0]),
}
# PyTorch's own words, which tapegrad's messages carry too.
_PHRASES = ["Integral inputs not supported", "can't be cast to the desired output type",
            "with a bool tensor is not supported", "with two bool tensors is not supported",
            "not implemented for", "appears multiple times"]


def _name(dt):
    return str(dt).split(".")[-1]


@pytest.mark.parametrize("loss", LOSSES)
def test_loss_dtypes_values_and_errors_as_pytorch(loss):
    fn = LOSSES[loss]
    for i, (kx, ky) in enumerate(itertools.product(_KINDS, repeat=2)):
        a, b = _data(kx, (4, 3), i), _data(ky, (4, 3), 100 + i)
        # PyTorch has no gradient for these weights (tapegrad's is the true one): no grad
        (x, xp), (y, yp) = _pair(a, kx, True), _pair(b, ky, "weight" not in loss)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            theirs = _outcome(lambda xp=xp, yp=yp: fn(TF, xp, yp))
            ours = _outcome(lambda x=x, y=y: fn(F, x, y))
        case = (loss, kx, ky, ours[1:], theirs[1:])
        if theirs[0] == "err":
            assert ours[0] == "err", case
            # tapegrad refuses a non-floating input up front with its TypeError (DESIGN: a
            # wrong dtype is a TypeError naming the op); otherwise PyTorch's type and words
            if ours[1] is TypeError and kx in ("int64", "bool"):
                continue
            assert issubclass(ours[1], theirs[1]), case
            for p in _PHRASES:
                assert (p in ours[2]) == (p in theirs[2]) or p not in theirs[2], (p, case)
            continue
        assert ours[0] == "ok", case
        r, rp = ours[1], theirs[1]
        assert _name(r.dtype) == _name(rp.dtype) and tuple(r.shape) == tuple(rp.shape), case
        tol = 1e-5 if "float32" in (kx, ky, _name(rp.dtype)) else 1e-9
        np.testing.assert_allclose(r.detach().double().numpy(), rp.detach().double().numpy(),
                                   rtol=tol, atol=tol, err_msg=str(case))
        # gradients, each in its operand's dtype (PyTorch's huber backward fails on mixed
        # float dtypes; there tapegrad's gradients only have to exist in the right dtype)
        assert r.requires_grad == rp.requires_grad, case
        if not r.requires_grad:
            continue
        r.sum().backward()
        torch_backward = _outcome(lambda rp=rp: rp.sum().backward())
        for t, tp in ((x, xp), (y, yp)):
            if not tp.requires_grad:
                continue
            assert t.grad is not None and t.grad.dtype == t.dtype, case
            if torch_backward[0] == "ok":
                np.testing.assert_allclose(t.grad.double().numpy(), tp.grad.double().numpy(),
                                           rtol=tol, atol=tol, err_msg=str(case))


def test_class_targets_other_than_int64_are_refused_as_pytorch():
    x = tg.randn(4, 3)
    for ours, theirs in [(tg.tensor([0, 1, 2, 0]).float(), torch.tensor([0, 1, 2, 0]).float()),
                         (tg.tensor([0, 1, 0, 1]).bool(), torch.tensor([0, 1, 0, 1]).bool())]:
        for f, tf in [(F.cross_entropy, TF.cross_entropy), (F.nll_loss, TF.nll_loss)]:
            with pytest.raises(RuntimeError):
                tf(torch.randn(4, 3), theirs)
            with pytest.raises((TypeError, RuntimeError), match="int64"):
                f(x, ours)


# ----- repr of empty and 0-d tensors ------------------------------------------------------------
@pytest.mark.parametrize("kind", _KINDS)
@pytest.mark.parametrize("shape", [(0,), (0, 3), (3, 0), (2, 0, 3), (), (1,), (2, 2)])
def test_repr_of_empty_and_small_tensors_is_pytorchs(kind, shape):
    t, p = _KINDS[kind]
    for rg in ([False, True] if kind.startswith("float") else [False]):
        fill = 5 if kind == "int64" else (True if kind == "bool" else 2.5)
        ours = tg.full(shape, fill, dtype=t, requires_grad=rg)
        theirs = torch.full(shape, fill, dtype=p, requires_grad=rg)
        assert repr(ours) == repr(theirs).replace("torch.", "tapegrad."), (kind, shape, rg)
        assert str(ours) == str(theirs).replace("torch.", "tapegrad.")
        if rg:
            assert repr(ours * 2).split(", grad_fn")[0] == \
                repr(theirs * 2).replace("torch.", "tapegrad.").split(", grad_fn")[0]


def test_repr_of_empty_results_of_int_ops():
    for ours, theirs in [(tg.arange(0), torch.arange(0)),
                         (tg.arange(3)[tg.zeros(3).bool()], torch.arange(3)[torch.zeros(3).bool()]),
                         (tg.zeros(2, 3).argmax(1)[:0], torch.zeros(2, 3).argmax(1)[:0]),
                         (tg.tensor([], dtype=tg.int64), torch.tensor([], dtype=torch.int64))]:
        assert repr(ours) == repr(theirs).replace("torch.", "tapegrad.")


# ----- squeeze with a tuple of dims --------------------------------------------------------------
def _squeeze_dims(nd):
    ds = range(-nd - 1, nd + 1)
    yield from [(), []]
    yield from ((d,) for d in ds)
    yield from itertools.product(ds, repeat=2)
    yield from [tuple(range(nd)), tuple(range(-1, -nd - 1, -1)), [0, 0, 1]]


@pytest.mark.parametrize("shape", [(1, 3, 1, 2), (), (1,), (0, 1), (1, 1, 1), (2, 3)])
def test_squeeze_with_a_tuple_of_dims_as_pytorch(shape):
    x, xp = tg.zeros(shape), torch.zeros(shape)
    for dims in _squeeze_dims(len(shape)):
        for call in [lambda ns, t, d: t.squeeze(d), lambda ns, t, d: ns.squeeze(t, d),
                     lambda ns, t, d: t.squeeze(dim=d)]:
            ours = _outcome(lambda call=call, d=dims: call(tg, x, d))
            theirs = _outcome(lambda call=call, d=dims: call(torch, xp, d))
            if theirs[0] == "ok":
                assert ours[0] == "ok" and tuple(ours[1].shape) == tuple(theirs[1].shape), \
                    (shape, dims, ours)
            else:
                _same_error(ours, theirs)
                assert ("multiple times" in ours[2]) == ("multiple times" in theirs[2])


@pytest.mark.parametrize("dims", [(True,), (0.0,), ("a",), (0, None)])
def test_squeeze_refuses_non_integer_dims_as_pytorch(dims):
    with pytest.raises(TypeError):
        torch.zeros(1, 2).squeeze(dims)
    with pytest.raises(TypeError, match="squeeze"):
        tg.zeros(1, 2).squeeze(dims)


def test_squeeze_of_a_tuple_of_dims_has_pytorchs_gradient_and_writes_through():
    a = np.arange(6.0).reshape(1, 3, 1, 2)
    x = tg.tensor(a, requires_grad=True)
    xp = torch.tensor(a, requires_grad=True)
    w = np.linspace(-1, 1, 6).reshape(3, 2)
    (x.squeeze((0, -2, 1)) * tg.tensor(w)).sum().backward()
    (xp.squeeze((0, -2, 1)) * torch.tensor(w)).sum().backward()
    assert x.grad.shape == xp.grad.shape
    np.testing.assert_array_equal(x.grad.numpy(), xp.grad.numpy())
    z, zp = tg.zeros(1, 3, 1), torch.zeros(1, 3, 1)
    z.squeeze((0, 2)).add_(1)
    zp.squeeze((0, 2)).add_(1)
    assert z.tolist() == zp.tolist()


def test_squeeze_of_a_tuple_of_dims_under_vmap():
    from tapegrad.func import vmap
    x = tg.zeros(4, 1, 3, 1)
    assert vmap(lambda t: t.squeeze((0, 2)))(x).shape == (4, 3)
    assert vmap(lambda t: t.squeeze((1, -1)))(x).shape == (4, 1, 3)
    with pytest.raises(RuntimeError, match="multiple times"):
        vmap(lambda t: t.squeeze((0, -3)))(x)


# ----- family 8's size messages name the op ----------------------------------------------------
@pytest.mark.parametrize("call, name, exc", [
    (lambda: tg.zeros(2 ** 40, 2 ** 40), "zeros", ValueError),
    (lambda: tg.full((2 ** 40, 2 ** 40), 1.0), "full", ValueError),
    (lambda: tg.randn(2 ** 62, 4), "randn", ValueError),
    (lambda: tg.zeros(3).expand(2 ** 40, 2 ** 40, 3), "expand", ValueError),
    (lambda: tg.empty(2 ** 44), "empty", MemoryError),
    (lambda: tg.ones(2 ** 21, 1) * tg.ones(1, 2 ** 21), "__mul__", MemoryError),
])
def test_size_overflows_name_the_op(call, name, exc):
    with pytest.raises(exc, match=rf"^{name}\(\): .*(too many elements|out of memory)"):
        call()


@pytest.mark.parametrize("dtype", ["int64", "float64", "float32", "bool"])
@pytest.mark.parametrize("src", ["float32", "int64", "bool"])
def test_sum_with_dtype_converts_first_as_pytorch(dtype, src):
    a = np.array([[0.6, 0.7, -1.5, 2.5], [1e8, 1.0, -1e8, 0.3]])
    x, xt = tg.tensor(a).to(getattr(tg, src)), torch.tensor(a).to(getattr(torch, src))
    for args in [(), (1,)]:
        got = x.sum(*args, dtype=getattr(tg, dtype))
        want = xt.sum(*args, dtype=getattr(torch, dtype))
        np.testing.assert_array_equal(got.numpy(), want.numpy())
