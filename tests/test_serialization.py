"""tg.save / tg.load: .npz state dicts, exact round trips, and never unpickling."""

from __future__ import annotations

import io
import json
import math
import pickle

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import nn


def test_round_trip_dtypes_shapes_and_order(tmp_path):
    sd = {
        "f32": tg.tensor([[1.5, -2.0]]),
        "f64": tg.tensor([1e-300, 3.0], dtype=tg.float64),
        "i64": tg.tensor([1, -(2 ** 40)]),
        "bool": tg.tensor([True, False]),
        "scalar": tg.tensor(3.25),
        "empty": tg.zeros(0, 4),
    }
    p = tmp_path / "ckpt.npz"
    tg.save(sd, p)
    got = tg.load(p)
    assert list(got) == list(sd)
    for k, v in sd.items():
        assert got[k].dtype == v.dtype and got[k].shape == v.shape, k
        np.testing.assert_array_equal(got[k].numpy(), v.numpy())
        assert not got[k].requires_grad


def test_path_is_used_exactly(tmp_path):
    p = tmp_path / "model.ckpt"
    tg.save({"w": tg.ones(2)}, str(p))
    assert p.exists() and not (tmp_path / "model.ckpt.npz").exists()
    assert tg.load(str(p))["w"].tolist() == [1.0, 1.0]


def test_model_state_dict_round_trip(tmp_path):
    net = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    tg.save(net.state_dict(), tmp_path / "net.npz")
    other = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))
    other.load_state_dict(tg.load(tmp_path / "net.npz"))
    x = tg.randn(5, 4)
    np.testing.assert_array_equal(net(x).detach().numpy(), other(x).detach().numpy())


def test_file_objects_and_arrays():
    buf = io.BytesIO()
    tg.save({"a": np.arange(3), "b": 2.5}, buf)
    buf.seek(0)
    got = tg.load(buf)
    assert got["a"].dtype == tg.int64 and got["a"].tolist() == [0, 1, 2]
    assert got["b"].item() == 2.5


def test_save_refuses_what_needs_pickle():
    # Checkpoint trees (Note [checkpoint trees]) hold containers and plain values; anything
    # else would need pickle and is refused, naming where it sits.
    with pytest.raises(TypeError, match=r"the object\['opt'\]\['f'\] is a function"):
        tg.save({"opt": {"f": lambda: 0}}, io.BytesIO())
    with pytest.raises(TypeError, match=r"the object\[1\] is a set"):
        tg.save([tg.ones(1), {1, 2}], io.BytesIO())
    with pytest.raises(TypeError, match="cannot be a dict key"):
        tg.save({tg.ones(1): 1}, io.BytesIO())
    with pytest.raises(TypeError, match="is a object"):
        tg.save(object(), io.BytesIO())
    with pytest.raises(TypeError, match="not numeric"):
        tg.save({"x": np.array([object()])}, io.BytesIO())
    with pytest.raises(TypeError, match="not numeric"):
        tg.save({"x": [np.array([object()])]}, io.BytesIO())
    with pytest.raises(ValueError, match="key 'a/b' may not contain '/'"):
        tg.save({"a/b": tg.ones(1)}, io.BytesIO())


def _same(a, b):
    """Exact equality of checkpoint trees: types, dtypes, bits, nan included."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, tg.Tensor):
        assert a.dtype == b.dtype and a.shape == b.shape and a.requires_grad == b.requires_grad
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    elif isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _same(x, y)
    elif isinstance(a, float):
        assert a.hex() == b.hex() or (math.isnan(a) and math.isnan(b))
    else:
        assert a == b


def test_checkpoint_trees_round_trip_exactly(tmp_path):
    shared = tg.arange(4.0)
    obj = {
        "model": {"w": tg.ones(2, 3, requires_grad=True), "i": tg.tensor([1, -(2 ** 40)])},
        "optim": {"state": {0: {"step": tg.tensor(3.0), "exp_avg": tg.zeros(0, 2)}},
                  "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), "params": [0],
                                    "foreach": None, "amsgrad": False, "name": "héad ✓"}]},
        "epoch": 7, "big": 2 ** 70, "floats": [0.1, -0.0, 5e-324, float("inf"), float("nan")],
        "keys": {(1, "a"): None, 2.5: True, None: "", False: [], "": ()},
        "same": [shared, shared], "empty": {}, "nested": [[[{"x": (1, [2.0])}]]],
    }
    p = tmp_path / "ckpt.pt"
    tg.save(obj, p)
    got = tg.load(p)
    _same(got, obj)
    assert got["same"][0] is got["same"][1]  # one tensor saved once, loaded once
    for top in ([], (), [tg.ones(1), 3], "text", None, 1.5):  # not only dicts
        buf = io.BytesIO()
        tg.save(top, buf)
        buf.seek(0)
        _same(tg.load(buf), top)


def _tree_file(tmp_path, tree, **members):
    p = tmp_path / "t.npz"
    raw = tree if isinstance(tree, np.ndarray) else np.frombuffer(
        tree if isinstance(tree, bytes) else json.dumps(tree).encode(), dtype=np.uint8)
    np.savez(p, __tree__=raw, **members)
    return p


@pytest.mark.parametrize("tree, why", [
    (b"{not json", "invalid JSON"),
    (b"\xff\xfe", "invalid JSON"),
    (b"[" * 100000 + b"]" * 100000, "malformed checkpoint tree"),
    ([1, 2], "a node is list"),
    ({"t": "pickle", "v": "cos\nsystem"}, "unknown or ill-typed node 'pickle'"),
    ({"t": "int", "v": 3}, "ill-typed node 'int'"),
    ({"t": "int", "v": "0x1"}, "int node"),
    ({"t": "float", "v": "nope"}, "float node"),
    ({"t": "tensor", "i": 5}, "missing member t5"),
    ({"t": "tensor", "i": "0"}, "missing member"),
    ({"t": "dict", "v": [[{"t": "list", "v": []}, {"t": "none"}]]}, "unhashable dict key"),
    ({"t": "dict", "v": [[{"t": "none"}]]}, "not a \\[key, value\\] pair"),
    ({"t": "tensor", "i": 0, "requires_grad": True}, "marked requires_grad"),
    (np.zeros(3), "not a byte string"),
])
def test_malformed_checkpoint_trees_raise(tmp_path, tree, why):
    p = _tree_file(tmp_path, tree, t0=np.arange(3))
    with pytest.raises(ValueError, match=why) as info:
        tg.load(p)
    assert "t.npz" in str(info.value)


def test_deep_trees_are_refused_both_ways(tmp_path):
    deep: list = []
    for _ in range(300):
        deep = [deep]
    with pytest.raises(ValueError, match="nested more than"):
        tg.save(deep, io.BytesIO())
    node: dict = {"t": "none"}
    for _ in range(300):
        node = {"t": "list", "v": [node]}
    with pytest.raises(ValueError, match="nested more than"):
        tg.load(_tree_file(tmp_path, node))
    pickled = tmp_path / "p.npz"  # a tree member holding objects is refused before parsing
    np.savez(pickled, __tree__=np.array([{"t": "none"}], dtype=object))
    with pytest.raises(ValueError, match="pickled Python objects"):
        tg.load(pickled)


@pytest.mark.parametrize("make", [
    lambda ps: tg.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    lambda ps: tg.optim.Adam(ps, lr=0.01, amsgrad=True),
    lambda ps: tg.optim.AdamW(ps, lr=0.01),
    lambda ps: tg.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    lambda ps: tg.optim.Adagrad(ps, lr=0.1),
])
def test_optimizer_checkpoint_resumes_identically(make):
    def model():
        tg.manual_seed(0)
        return nn.Sequential(nn.Linear(4, 3), nn.Tanh(), nn.Linear(3, 2))

    tg.manual_seed(1)
    data = [(tg.randn(5, 4), tg.randn(5, 2)) for _ in range(6)]

    def train(net, opt, batches):
        for x, y in batches:
            opt.zero_grad()
            ((net(x) - y) ** 2).mean().backward()
            opt.step()

    net = model()
    opt = make(net.parameters())
    train(net, opt, data[:3])
    buf = io.BytesIO()
    tg.save({"model": net.state_dict(), "optim": opt.state_dict(), "epoch": 3}, buf)
    train(net, opt, data[3:])  # the uninterrupted run
    buf.seek(0)
    ck = tg.load(buf)
    assert ck["epoch"] == 3
    net2 = model()
    opt2 = make(net2.parameters())
    net2.load_state_dict(ck["model"])
    opt2.load_state_dict(ck["optim"])
    train(net2, opt2, data[3:])
    for a, b in zip(net.parameters(), net2.parameters()):
        np.testing.assert_array_equal(a.detach().numpy(), b.detach().numpy())
    sa, sb = opt.state_dict(), opt2.state_dict()
    _same(sa["param_groups"], sb["param_groups"])
    _same(sa["state"], sb["state"])


def test_load_never_unpickles(tmp_path):
    evil = tmp_path / "evil.npz"
    np.savez(evil, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="pickled Python objects"):
        tg.load(evil)
    pk = tmp_path / "pickle.pt"
    pk.write_bytes(pickle.dumps({"a": 1}))
    with pytest.raises(ValueError, match="pickled Python objects, which tapegrad never loads"):
        tg.load(pk)


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        tg.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"hello world")
    with pytest.raises(ValueError, match="not a .npz archive"):
        tg.load(junk)
    single = tmp_path / "single.npy"
    np.save(single, np.zeros(3))
    with pytest.raises(ValueError, match="single .npy array"):
        tg.load(single)
    good = tmp_path / "good.npz"
    tg.save({"w": tg.ones(1000)}, good)
    good.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="good.npz"):
        tg.load(good)


def test_load_converts_other_numeric_dtypes(tmp_path):
    p = tmp_path / "mixed.npz"
    np.savez(p, h=np.ones(2, np.float16), u=np.arange(3, dtype=np.uint8),
             q=np.ones(2, np.float128 if hasattr(np, "float128") else np.float64),
             w=np.arange(3, dtype=np.uint16))
    got = tg.load(p)
    # float16 and uint8 are stored as they are (Note [storage dtypes]); others convert.
    assert got["h"].dtype == tg.float16 and got["u"].dtype == tg.uint8
    assert got["q"].dtype == tg.float64 and got["w"].dtype == tg.int64
