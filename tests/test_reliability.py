"""Resource failures, validated arguments, NumPy memory tapegrad does not own, and messages
that say what is wrong (each checked against PyTorch where PyTorch has the same case)."""

from __future__ import annotations

import gzip
import math
import os
import subprocess
import sys
import zipfile

import numpy as np
import pytest
import tapegrad as tg
import tapegrad.optim
from tapegrad.data import read_idx

NAN = float("nan")


# ----- family 1: a non-tensor where a tensor is expected (the sweep covers every entry) -----
@pytest.mark.parametrize("call, text", [
    (lambda: tg.add(tg.ones(2), None), "add"),
    (lambda: tg.t(None), "t(): argument 'input' (position 1) must be Tensor, not NoneType"),
    (lambda: tg.ones(2).expand_as(None),
     "expand_as(): argument 'other' (position 1) must be Tensor, not NoneType"),
    (lambda: tg.mm(tg.ones(2, 2), "a"), "mm(): argument 'other' (position 2) must be Tensor, not str"),
    (lambda: tg.zeros_like(None), "zeros_like(): argument 'input' (position 1) must be Tensor"),
    (lambda: tg.ones(2).unsqueeze("a"), "unsqueeze"),
    (lambda: tg.ones(2).transpose(0), "transpose() missing required argument 'dim1'"),
])
def test_a_non_tensor_is_a_type_error_naming_function_and_argument(call, text):
    with pytest.raises(TypeError) as info:
        call()
    assert text in str(info.value)
    assert "incompatible function arguments" not in str(info.value)


def test_optional_tensors_still_take_none():
    x = tg.ones(2, 3)
    w = tg.ones(4, 3)
    assert tg.linear(x, w, None).shape == (2, 4)
    y = tg.ones(3, requires_grad=True)
    y.sum().backward(None)
    y.grad = None
    assert y.grad is None


# ----- family 2: NumPy memory tapegrad does not own -----
def test_read_only_arrays_are_copied_with_pytorchs_warning_and_never_written():
    a = np.frombuffer(np.arange(4, dtype=np.float32).tobytes(), dtype=np.float32)
    assert not a.flags.writeable
    with pytest.warns(UserWarning, match="not writable"):
        t = tg.from_numpy(a)
    t.add_(1)
    assert a.tolist() == [0, 1, 2, 3]
    assert tg.as_tensor(a).add_(1).tolist() == [1, 2, 3, 4] and a.tolist() == [0, 1, 2, 3]


def test_a_read_only_memory_map_is_never_written(tmp_path):
    p = tmp_path / "m.bin"
    np.arange(6, dtype=np.float64).tofile(p)
    m = np.memmap(p, dtype=np.float64, mode="r")
    with pytest.warns(UserWarning, match="not writable"):
        t = tg.from_numpy(m)
    t.mul_(2)  # would fault on the read-only pages if it shared them
    assert np.fromfile(p, dtype=np.float64).tolist() == list(range(6))


@pytest.mark.parametrize("code", ["f4", "f8", "i8", "i4", "u1", "u2", "u4"])
def test_other_byte_orders_and_unsigned_dtypes_convert_exactly(code):
    torch = pytest.importorskip("torch")
    for order in "<>":
        a = (np.arange(6) * 37 % 250).astype(order + code).reshape(2, 3)
        got = tg.tensor(a).numpy().astype(np.float64)
        assert np.array_equal(got, a.astype(np.float64))
        assert np.array_equal(tg.as_tensor(a).numpy().astype(np.float64), a.astype(np.float64))
        if np.dtype(order + code).isnative or code in ("u1",):
            continue
        with pytest.raises(ValueError, match="byte order"):
            tg.from_numpy(a)
        with pytest.raises((ValueError, TypeError)):
            torch.from_numpy(a)


def test_uint64_above_int64_is_refused():
    with pytest.raises(ValueError, match="uint64"):
        tg.tensor(np.array([2**63 + 5], dtype=np.uint64))
    assert tg.tensor(np.array([2**62], dtype=np.uint64)).tolist() == [2**62]


# ----- family 6: hyperparameters and fills -----
@pytest.mark.parametrize("opt, kwargs", [
    ("SGD", dict(lr=-1.0)), ("SGD", dict(lr=NAN)), ("SGD", dict(lr=0.1, momentum=-0.5)),
    ("SGD", dict(lr=0.1, weight_decay=NAN)), ("SGD", dict(lr=0.1, weight_decay=-1.0)),
    ("Adam", dict(lr=NAN)), ("Adam", dict(lr=-1e-3)), ("Adam", dict(eps=-1.0)), ("Adam", dict(eps=NAN)),
    ("Adam", dict(betas=(1.0, 0.999))), ("Adam", dict(betas=(0.9, NAN))),
    ("Adam", dict(betas=(-0.1, 0.999))), ("Adam", dict(weight_decay=NAN)),
])
def test_bad_hyperparameters_raise_pytorchs_value_error(opt, kwargs):
    # PyTorch lets some NaNs through (its checks read `lr < 0`); tapegrad refuses them in the
    # same words, and matches PyTorch's message wherever PyTorch refuses too.
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError, match="^Invalid ") as ours:
        getattr(tg.optim, opt)([tg.zeros(2, requires_grad=True)], **kwargs)
    try:
        getattr(torch.optim, opt)([torch.zeros(2, requires_grad=True)], **kwargs)
    except ValueError as theirs:
        assert str(ours.value) == str(theirs)


def test_non_number_hyperparameters_are_type_errors_naming_the_optimizer():
    with pytest.raises(TypeError, match="SGD: momentum"):
        tg.optim.SGD([tg.zeros(2, requires_grad=True)], lr=0.1, momentum="fast")
    with pytest.raises(TypeError, match="params argument"):
        tg.optim.Adam(None)


@pytest.mark.parametrize("lo, hi", [(1.0, 0.0), (NAN, 1.0), (0.0, NAN)])
def test_uniform_refuses_a_reversed_or_nan_range(lo, hi):
    with pytest.raises(ValueError, match="uniform_"):
        tg.zeros(3).uniform_(lo, hi)


@pytest.mark.parametrize("std", [-1.0, NAN])
def test_normal_refuses_a_negative_or_nan_std(std):
    with pytest.raises(ValueError, match="normal_"):
        tg.zeros(3).normal_(0.0, std)


def test_set_num_threads_has_a_sane_cap():
    n = tg.get_num_threads()
    for bad in (0, 10**6):
        with pytest.raises(ValueError, match="set_num_threads"):
            tg.set_num_threads(bad)
    assert tg.get_num_threads() == n


# ----- family 7: resource failures -----
def test_a_refused_thread_start_falls_back_to_fewer_threads():
    code = ("import tapegrad as tg; tg.set_num_threads(8); a = tg.ones(512, 512); "
            "print(float((a @ a).sum()))")
    env = dict(os.environ, TAPEGRAD_FAIL_THREAD_START="2")
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout) == 512.0**3
    env["TAPEGRAD_FAIL_THREAD_START"] = "0"  # not a single worker: the caller does it all
    r = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stderr
    assert float(r.stdout) == 512.0**3


def test_a_gzip_idx_file_cannot_ask_for_more_than_it_holds(tmp_path):
    # A header announcing 60000 x 10000 x 10000 bytes, followed by little data: reading stops
    # at what the stream holds (memory stays small) and says it is truncated.
    p = tmp_path / "bomb-idx3-ubyte.gz"
    with gzip.open(p, "wb") as f:
        f.write(np.array([2051, 60000, 10000, 10000], ">i4").tobytes() + bytes(1000))
    with pytest.raises(ValueError, match="truncated"):
        read_idx(p)


def test_a_gzip_idx_file_with_trailing_data_is_corrupt(tmp_path):
    p = tmp_path / "labels-idx1-ubyte.gz"
    with gzip.open(p, "wb") as f:
        f.write(np.array([2049, 2], ">i4").tobytes() + bytes([1, 2, 3]))
    with pytest.raises(ValueError, match="1 bytes after"):
        read_idx(p)


# ----- family 8: messages -----
def test_read_idx_of_a_directory_says_so(tmp_path):
    with pytest.raises(IsADirectoryError, match="is a directory"):
        read_idx(tmp_path)


def test_load_of_a_pytorch_file_is_not_a_tapegrad_checkpoint(tmp_path):
    torch = pytest.importorskip("torch")
    p = tmp_path / "m.pt"
    torch.save({"w": torch.ones(2)}, p)
    with pytest.raises(ValueError, match="not a tapegrad checkpoint"):
        tg.load(p)
    z = tmp_path / "z.zip"
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("a.txt", "hi")
    with pytest.raises(ValueError, match="not a tapegrad checkpoint"):
        tg.load(z)


def test_load_of_a_truncated_member_says_truncated(tmp_path):
    ok = tmp_path / "ok.npz"
    tg.save({"w": tg.ones(1000)}, ok)
    with zipfile.ZipFile(ok) as f:
        data = f.read("w.npy")
    bad = tmp_path / "bad.npz"
    with zipfile.ZipFile(bad, "w") as f:
        f.writestr("w.npy", data[:500])
    with pytest.raises(ValueError, match="truncated"):
        tg.load(bad)


def test_arange_with_a_nan_step_or_too_many_elements_says_so():
    with pytest.raises(ValueError, match="arange: step must not be NaN"):
        tg.arange(0, 1, NAN)
    with pytest.raises(ValueError, match="arange: .*too many elements"):
        tg.arange(0.0, 1e300, 1.0)


def test_grad_with_the_same_input_twice_matches_pytorch():
    torch = pytest.importorskip("torch")
    x = tg.tensor([1.0, 2.0], dtype=tg.float64, requires_grad=True)
    xt = torch.tensor([1.0, 2.0], dtype=torch.float64, requires_grad=True)
    ours = tg.grad((x * x).sum(), [x, x])
    theirs = torch.autograd.grad((xt * xt).sum(), [xt, xt])
    assert len(ours) == len(theirs) == 2
    for a, b in zip(ours, theirs):
        assert a.tolist() == b.tolist()
    assert math.isclose(ours[0].sum().item(), 6.0)
