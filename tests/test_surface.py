"""PyTorch's everyday surface: devices as a CPU build has them, creation keywords, legacy typed
constructors, named-but-unstored dtypes, ``.data``, ``new_*``, Dataset classes, DataLoader worker
options and the composite functions (meshgrid, sinh, cosh, cumsum, dot, mv, norm)."""

from __future__ import annotations

import numpy as np
import pytest

import tapegrad as tg
from tapegrad.utils.data import (
    ConcatDataset,
    DataLoader,
    Dataset,
    IterableDataset,
    Subset,
    TensorDataset,
    random_split,
)


def test_devices_as_cpu_build():
    assert tg.device("cpu") == tg.device("cpu") == "cpu"
    assert str(tg.device("cpu", 0)) == "cpu:0" and tg.device("cuda:1").index == 1
    x = tg.ones(2)
    assert x.device == tg.device("cpu") and x.cpu() is x and x.to("cpu") is x
    assert x.to("cpu", tg.float64).dtype == tg.float64
    assert x.to(device="cpu", dtype=tg.int64).dtype == tg.int64
    assert x.to(tg.zeros(1, dtype=tg.float64)).dtype == tg.float64
    assert not tg.cuda.is_available() and tg.cuda.device_count() == 0
    assert not tg.backends.mps.is_available()
    with pytest.raises(AssertionError, match="CUDA"):
        x.cuda()
    with pytest.raises(AssertionError, match="CUDA"):
        x.to("cuda")
    with pytest.raises(RuntimeError, match="device type"):
        tg.device("tpu")
    tg.set_default_device("cpu")
    with pytest.raises(AssertionError):
        tg.set_default_device("cuda")


@pytest.mark.parametrize("name,args", [
    ("tensor", ([1.0, 2.0],)), ("zeros", (2, 3)), ("ones", ((2,),)), ("empty", (2,)),
    ("full", ((2,), 1.5)), ("arange", (3.0,)), ("linspace", (0, 1, 4)), ("eye", (4, 5)),
    ("rand", (2,)), ("randn", (2,)), ("normal", (0.0, 1.0, (2,))),
])
def test_creation_takes_torch_keywords(name, args):
    fn = getattr(tg, name)
    out = fn(*args, device="cpu", pin_memory=False, requires_grad=True)
    assert out.requires_grad and out.is_leaf and out.device == tg.device("cpu")
    assert not fn(*args, device=tg.device("cpu")).requires_grad
    with pytest.raises(AssertionError, match="CUDA"):
        fn(*args, device="cuda")


def test_integer_creation_keywords():
    assert tg.randint(0, 5, (3,), device="cpu").shape == (3,)
    assert tg.randperm(4, device="cpu").shape == (4,)
    with pytest.raises((RuntimeError, TypeError), match="floating|float"):
        tg.randint(0, 5, (3,), requires_grad=True)  # as PyTorch: only floats can require grad


def test_legacy_constructors():
    t = tg.Tensor([[1, 2], [3, 4]])
    assert t.dtype == tg.float32 and t.tolist() == [[1.0, 2.0], [3.0, 4.0]]
    assert isinstance(t, tg.Tensor) and t.is_leaf and not t.requires_grad
    assert tg.Tensor(2, 3).shape == (2, 3) and tg.Tensor().shape == (0,)
    assert (tg.Tensor(np.arange(3.0)) + 1).tolist() == [1.0, 2.0, 3.0]
    assert tg.Tensor(3).shape == (3,)  # a single int is a size, as in PyTorch
    for cls, dt in [(tg.FloatTensor, tg.float32), (tg.DoubleTensor, tg.float64),
                    (tg.LongTensor, tg.int64), (tg.BoolTensor, tg.bool)]:
        t = cls([1, 0, 1])
        assert t.dtype == dt and t.tolist() == np.array([1, 0, 1]).astype(
            {tg.bool: bool, tg.int64: int}.get(dt, float)).tolist()
        assert cls(2, 3).shape == (2, 3) and cls((4,)).shape == (4,)
        assert isinstance(t, cls) and isinstance(t, tg.Tensor)
        assert cls(tg.ones(2)).dtype == dt
    assert not isinstance(tg.ones(2), tg.LongTensor)


@pytest.mark.parametrize("dt", ["bfloat16"])
def test_unstored_dtypes_raise_naming_op_and_dtype(dt):
    # int32, int16, int8, uint8 and float16 are stored (tests/test_small_dtypes.py).
    d = getattr(tg, dt)
    assert repr(d) == f"tapegrad.{dt}"
    with pytest.raises(TypeError, match=f"to: dtype tapegrad.{dt} is not supported"):
        tg.ones(2).to(d)
    with pytest.raises(TypeError, match=f"dtype tapegrad.{dt}"):
        tg.ones(2).new_zeros(2, dtype=d)


def test_default_dtype():
    assert tg.get_default_dtype() == tg.float32
    tg.set_default_dtype(tg.float32)
    with pytest.raises(NotImplementedError):
        tg.set_default_dtype(tg.float64)


def test_data_shares_storage_without_history():
    w = tg.zeros(3, requires_grad=True)
    d = w.data
    assert not d.requires_grad and d.is_leaf
    d.fill_(2.0)
    assert w.tolist() == [2.0, 2.0, 2.0]
    assert w.requires_grad


def test_new_factories():
    x = tg.ones(2, dtype=tg.float64)
    assert x.new_zeros(2, 3).dtype == tg.float64 and x.new_zeros((2, 3)).shape == (2, 3)
    assert x.new_ones(2).tolist() == [1.0, 1.0]
    assert x.new_full((2,), 7).tolist() == [7.0, 7.0]
    assert x.new_empty(4).shape == (4,)
    t = x.new_tensor([1, 2], requires_grad=True)
    assert t.dtype == tg.float64 and t.requires_grad
    assert x.new_zeros(2, dtype=tg.int64).dtype == tg.int64


# ----- composites: PyTorch parity and float64 gradcheck ------------------------------------------
def _rand(*shape):
    return tg.from_numpy(np.random.default_rng(len(shape)).standard_normal(shape))


@pytest.mark.parametrize("shape,dim", [((5,), 0), ((3, 4), 0), ((3, 4), 1), ((2, 3, 4), -1),
                                       ((2, 3, 4), 1)])
def test_cumsum(shape, dim):
    torch = pytest.importorskip("torch")
    x = _rand(*shape)
    ref = torch.cumsum(torch.from_numpy(x.numpy()), dim)
    np.testing.assert_allclose(tg.cumsum(x, dim).numpy(), ref.numpy(), rtol=1e-9, atol=1e-12)
    assert tg.gradcheck(lambda t: tg.cumsum(t, dim), (x.requires_grad_(),))
    xi = tg.arange(12).reshape(3, 4) if len(shape) == 2 else None
    if xi is not None:
        assert xi.cumsum(dim).tolist() == torch.arange(12).reshape(3, 4).cumsum(dim).tolist()


@pytest.mark.parametrize("fn", ["sinh", "cosh"])
def test_sinh_cosh(fn):
    torch = pytest.importorskip("torch")
    x = _rand(3, 4) * 3
    np.testing.assert_allclose(getattr(tg, fn)(x).numpy(),
                               getattr(torch, fn)(torch.from_numpy(x.numpy())).numpy(),
                               rtol=1e-9, atol=1e-12)
    assert tg.gradcheck(getattr(tg, fn), (x.requires_grad_(),))


def test_dot_mv_norm():
    torch = pytest.importorskip("torch")
    a, b, A = _rand(5), _rand(5) + 1, _rand(3, 5)
    ta, tb, tA = (torch.from_numpy(t.numpy()) for t in (a, b, A))
    np.testing.assert_allclose(tg.dot(a, b).item(), torch.dot(ta, tb).item(), rtol=1e-9)
    np.testing.assert_allclose(tg.mv(A, a).numpy(), torch.mv(tA, ta).numpy(), rtol=1e-9)
    for kw in [{}, {"p": 1}, {"p": 3}, {"p": float("inf")}, {"dim": 1}, {"dim": 0, "keepdim": True},
               {"p": 1, "dim": 1}]:
        np.testing.assert_allclose(tg.norm(A, **kw).numpy(), torch.norm(tA, **kw).numpy(),
                                   rtol=1e-9)
        assert tg.gradcheck(lambda t: tg.norm(t, **kw), (A.detach().requires_grad_(),))
    assert tg.gradcheck(tg.dot, (a.requires_grad_(), b.requires_grad_()))
    assert tg.gradcheck(tg.mv, (A.detach().requires_grad_(), a))
    with pytest.raises(RuntimeError, match="1D tensors expected"):
        tg.dot(A, a)


@pytest.mark.parametrize("indexing", ["ij", "xy"])
def test_meshgrid(indexing):
    torch = pytest.importorskip("torch")
    xs = [_rand(2), _rand(3), _rand(4)]
    for n in (1, 2, 3):
        got = tg.meshgrid(*xs[:n], indexing=indexing)
        ref = torch.meshgrid(*[torch.from_numpy(t.numpy()) for t in xs[:n]], indexing=indexing)
        for g, r in zip(got, ref):
            np.testing.assert_array_equal(g.numpy(), r.numpy())
    assert tg.gradcheck(lambda a, b: tg.meshgrid(a, b, indexing=indexing)[0] * 2,
                        (xs[0].requires_grad_(), xs[1].requires_grad_()))


# ----- datasets and loaders -------------------------------------------------------------------
class _Squares(Dataset):
    def __len__(self):
        return 7

    def __getitem__(self, i):
        if not 0 <= i < 7:
            raise IndexError(i)
        return tg.tensor(float(i * i))


class _Stream(IterableDataset):
    def __iter__(self):
        return iter(tg.tensor(float(i)) for i in range(5))


def test_dataset_classes():
    ds = _Squares()
    assert isinstance(TensorDataset(tg.ones(2)), Dataset)
    sub = Subset(ds, [3, 1])
    assert len(sub) == 2 and sub[0].item() == 9.0
    cat = ConcatDataset([ds, sub])
    assert len(cat) == 9 and cat[7].item() == 9.0 and cat[-1].item() == 1.0
    assert len(ds + sub) == 9
    with pytest.raises(IndexError):
        cat[9]
    tg.manual_seed(0)
    parts = random_split(ds, [4, 3])
    assert sorted(i for p in parts for i in p.indices) == list(range(7))
    assert [len(p) for p in random_split(ds, [0.5, 0.5])] == [4, 3]
    with pytest.raises(ValueError):
        random_split(ds, [3, 3])
    batches = [b.tolist() for b in DataLoader(ds, batch_size=3)]
    assert batches == [[0.0, 1.0, 4.0], [9.0, 16.0, 25.0], [36.0]]


def test_iterable_dataset_loader():
    assert [b.tolist() for b in DataLoader(_Stream(), batch_size=2)] == \
        [[0.0, 1.0], [2.0, 3.0], [4.0]]
    assert len(list(DataLoader(_Stream(), batch_size=2, drop_last=True))) == 2
    with pytest.raises(ValueError):
        DataLoader(_Stream(), shuffle=True)


def test_loader_worker_options_single_process():
    ds = TensorDataset(tg.arange(10).float())
    seen = []
    loader = DataLoader(ds, batch_size=4, num_workers=2, worker_init_fn=seen.append,
                        pin_memory=True, persistent_workers=True)
    ref = [b[0].tolist() for b in DataLoader(ds, batch_size=4)]
    assert [b[0].tolist() for b in loader] == ref and seen == [0, 1]
    assert [b[0].tolist() for b in loader] == ref and seen == [0, 1]  # persistent: once
    seen.clear()
    loader = DataLoader(ds, batch_size=4, num_workers=2, worker_init_fn=seen.append)
    list(loader), list(loader)
    assert seen == [0, 1, 0, 1]
    with pytest.raises(ValueError, match="persistent_workers"):
        DataLoader(ds, persistent_workers=True)
    with pytest.raises(TypeError, match="unexpected keyword"):
        DataLoader(ds, workers=2)


# ----- the composite ops: PyTorch parity (float64, 1e-9) and gradcheck -------------------------
_X = (3, 4)
COMPOSITES = [
    # (name, tapegrad call, torch call, differentiable)
    ("square", lambda m, x: m.square(x), True),
    ("reciprocal", lambda m, x: m.reciprocal(x + 3), True),
    ("rsqrt", lambda m, x: m.rsqrt(x.abs() + 0.5), True),
    ("log2", lambda m, x: m.log2(x.abs() + 0.5), True),
    ("log10", lambda m, x: m.log10(x.abs() + 0.5), True),
    ("outer", lambda m, x: m.outer(x[0], x[1]), True),
    ("narrow", lambda m, x: m.narrow(x, 1, 1, 2), True),
    ("narrow-neg", lambda m, x: x.narrow(-1, -3, 2), True),
    ("split", lambda m, x: m.cat(list(m.split(x, 3, 1))[::-1], 1), True),
    ("split-sizes", lambda m, x: m.split(x, [1, 2], 0)[1], True),
    ("chunk", lambda m, x: m.stack([c.sum() for c in m.chunk(x, 3, -1)]), True),
    ("chunk-method", lambda m, x: x.chunk(2)[1], True),
    ("unbind", lambda m, x: m.unbind(x, 1)[2], True),
    ("index_select", lambda m, x: m.index_select(x, 1, m.tensor([3, 0, 3])), True),
    ("flip", lambda m, x: m.flip(x, [0, 1]), True),
    ("flip-method", lambda m, x: x.flip(1), True),
    ("roll", lambda m, x: m.roll(x, 1, 0), True),
    ("roll-2", lambda m, x: m.roll(x, (-1, 5), (0, 1)), True),
    ("roll-flat", lambda m, x: m.roll(x, 5), True),
    ("movedim", lambda m, x: m.movedim(x.reshape(3, 2, 2), 0, -1), True),
    ("movedim-many", lambda m, x: m.movedim(x.reshape(3, 2, 2), (0, 1), (2, 0)), True),
    ("masked_fill", lambda m, x: m.masked_fill(x, x > 0, -1.5), True),
    ("var", lambda m, x: m.var(x), True),
    ("var-dim", lambda m, x: m.var(x, 1, keepdim=True), True),
    ("var-c0", lambda m, x: x.var(0, correction=0), True),
    ("std", lambda m, x: m.std(x, 0), True),
    ("std-unbiased", lambda m, x: x.std(unbiased=False), True),
    ("normalize", lambda m, x: m.nn.functional.normalize(x, dim=1), True),
    ("normalize-p1", lambda m, x: m.nn.functional.normalize(x, p=1, dim=0), True),
    ("isfinite", lambda m, x: m.isfinite(m.log(x)), False),
    ("isclose", lambda m, x: m.isclose(x, x + 1e-6), False),
    ("one_hot", lambda m, x: m.nn.functional.one_hot(m.tensor([0, 3, 1]), 5), False),
    ("one_hot-auto", lambda m, x: m.nn.functional.one_hot(m.tensor([[0, 2], [1, 1]])), False),
]


@pytest.mark.parametrize("name,fn,diff", COMPOSITES, ids=[c[0] for c in COMPOSITES])
def test_composite_parity_and_gradcheck(name, fn, diff):
    torch = pytest.importorskip("torch")
    x = _rand(*_X)
    got = fn(tg, x)
    ref = fn(torch, torch.from_numpy(x.numpy()))
    np.testing.assert_allclose(got.numpy(), ref.numpy(), rtol=1e-9, atol=1e-12)
    assert str(got.dtype).split(".")[-1] == str(ref.dtype).split(".")[-1]
    if diff:
        assert tg.gradcheck(lambda t: fn(tg, t), (x.requires_grad_(),))


def test_composite_errors_and_allclose():
    x = tg.ones(2, 3)
    assert tg.allclose(x, x + 1e-9) and not tg.allclose(x, x + 1)
    with pytest.raises(IndexError, match="narrow"):
        tg.narrow(x, 1, 2, 2)
    with pytest.raises(RuntimeError, match="split_with_sizes"):
        tg.split(x, [1, 1], 1)
    with pytest.raises(TypeError, match="boolean"):
        tg.masked_fill(x, tg.ones(2, 3), 0.0)
    with pytest.raises(IndexError, match="flip"):
        tg.flip(x, [2])
    with pytest.raises(RuntimeError, match="one_hot"):
        tg.nn.functional.one_hot(tg.tensor([3]), 2)


def test_reprs_say_torch_when_tapegrad_is_imported_as_torch(tmp_path):
    """`import tapegrad as torch` prints PyTorch's names (torch.Size, torch.float64)."""
    import subprocess
    import sys
    script = tmp_path / "course.py"
    script.write_text("import tapegrad as torch\n"
                      "x = torch.zeros(2, 3, dtype=torch.float64)\n"
                      "print(x.shape, x.dtype, x.T.shape)\n"
                      "print(repr(torch.ones(2, dtype=torch.float64)))\n")
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         check=True).stdout
    assert out == ("torch.Size([2, 3]) torch.float64 torch.Size([3, 2])\n"
                   "tensor([1., 1.], dtype=torch.float64)\n")
    assert repr(tg.zeros(2).shape) == "tapegrad.Size([2])"  # here tapegrad is tapegrad
