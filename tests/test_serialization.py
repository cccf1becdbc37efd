"""tg.save / tg.load: .npz state dicts, exact round trips, and never unpickling."""

from __future__ import annotations

import io
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


def test_save_refuses_non_state_dicts():
    with pytest.raises(TypeError, match="state dict"):
        tg.save([tg.ones(1)], io.BytesIO())
    with pytest.raises(TypeError, match="only tensors"):
        tg.save({"opt": {"lr": 0.1}}, io.BytesIO())
    with pytest.raises(TypeError, match="keys must be str"):
        tg.save({1: tg.ones(1)}, io.BytesIO())
    with pytest.raises(TypeError, match="not numeric"):
        tg.save({"x": np.array([object()])}, io.BytesIO())


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
    np.savez(p, h=np.ones(2, np.float16), u=np.arange(3, dtype=np.uint8))
    got = tg.load(p)
    assert got["h"].dtype == tg.float32 and got["u"].dtype == tg.int64
