"""tapegrad.data: synthetic data, TensorDataset, DataLoader, the embedded digits, IDX files and
Fashion-MNIST loading/downloading (with small files the tests write; no network)."""

from __future__ import annotations

import gzip
import hashlib
import http.server
import threading
import urllib.error

import numpy as np
import pytest

import tapegrad as tg
from tapegrad import data as D
from tapegrad.data import datasets as dsmod
from tapegrad.utils.data import DataLoader as UDataLoader
from tapegrad.utils.data import TensorDataset as UTensorDataset


# ----- synthetic_data -----------------------------------------------------------------------
def test_synthetic_data_shapes_dtype_and_fit():
    X, y = D.synthetic_data(tg.tensor([2, -3.4]), 4.2, 1000)
    assert X.shape == (1000, 2) and y.shape == (1000, 1)
    assert X.dtype == tg.float32 and y.dtype == tg.float32
    Xn, yn = X.numpy(), y.numpy()[:, 0]
    resid = yn - (Xn @ np.array([2, -3.4]) + 4.2)
    assert abs(resid.std() - 0.01) < 2e-3 and abs(resid.mean()) < 2e-3
    assert abs(Xn.mean()) < 0.1 and abs(Xn.std() - 1) < 0.1


def test_synthetic_data_seeds():
    a = D.synthetic_data([1.0], 0.0, 50, seed=7)
    b = D.synthetic_data([1.0], 0.0, 50, seed=7)
    np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
    tg.manual_seed(3)
    c = D.synthetic_data([1.0], 0.0, 50)
    tg.manual_seed(3)
    d = D.synthetic_data([1.0], 0.0, 50)
    np.testing.assert_array_equal(c[1].numpy(), d[1].numpy())
    X, y = D.synthetic_data([1.0, 2.0, 3.0], 1.0, 5, noise=0.0, seed=1)
    np.testing.assert_allclose(y.numpy()[:, 0], X.numpy() @ [1, 2, 3] + 1, rtol=1e-5)


def test_synthetic_data_errors():
    with pytest.raises(ValueError, match="vector"):
        D.synthetic_data([[1.0]], 0.0, 5)
    with pytest.raises(ValueError, match="num_examples"):
        D.synthetic_data([1.0], 0.0, -1)
    with pytest.raises(ValueError, match="noise"):
        D.synthetic_data([1.0], 0.0, 5, noise=-1)


# ----- TensorDataset / DataLoader -----------------------------------------------------------
def test_tensor_dataset():
    ds = D.TensorDataset(tg.arange(12).reshape(6, 2), tg.arange(6))
    assert len(ds) == 6
    x, y = ds[4]
    assert x.tolist() == [8, 9] and y.item() == 4
    xb, yb = ds[tg.tensor([5, 0])]
    assert xb.tolist() == [[10, 11], [0, 1]] and yb.tolist() == [5, 0]
    with pytest.raises(ValueError, match="Size mismatch"):
        D.TensorDataset(tg.zeros(3), tg.zeros(4))
    with pytest.raises(ValueError, match="at least one"):
        D.TensorDataset()
    assert D.TensorDataset(np.zeros((3, 2))).tensors[0].shape == (3, 2)
    assert UTensorDataset is D.TensorDataset and UDataLoader is D.DataLoader


def test_dataloader_sequential_batches_and_drop_last():
    ds = D.TensorDataset(tg.arange(10).float(), tg.arange(10))
    batches = [y.tolist() for _, y in D.DataLoader(ds, batch_size=4)]
    assert batches == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9]]
    assert len(D.DataLoader(ds, batch_size=4)) == 3
    dl = D.DataLoader(ds, batch_size=4, drop_last=True)
    assert len(dl) == 2 and [len(y) for _, y in dl] == [4, 4]
    assert [y.tolist() for _, y in D.DataLoader(ds)][:2] == [[0], [1]]


def test_dataloader_shuffle_covers_every_example_and_reshuffles():
    ds = D.TensorDataset(tg.arange(100).float(), tg.arange(100))
    dl = D.DataLoader(ds, batch_size=7, shuffle=True, seed=1)
    e1 = np.concatenate([y.numpy() for _, y in dl])
    e2 = np.concatenate([y.numpy() for _, y in dl])
    assert sorted(e1.tolist()) == list(range(100)) and sorted(e2.tolist()) == list(range(100))
    assert not np.array_equal(e1, e2)
    for x, y in dl:  # rows stay aligned across tensors
        np.testing.assert_array_equal(x.numpy(), y.numpy().astype(np.float32))
    again = np.concatenate([y.numpy() for _, y in D.DataLoader(ds, 7, shuffle=True, seed=1)])
    np.testing.assert_array_equal(e1, again)
    tg.manual_seed(5)
    a = np.concatenate([y.numpy() for _, y in D.DataLoader(ds, 7, shuffle=True)])
    tg.manual_seed(5)
    b = np.concatenate([y.numpy() for _, y in D.DataLoader(ds, 7, shuffle=True)])
    np.testing.assert_array_equal(a, b)


def test_dataloader_gathers_each_batch_with_one_index_call(monkeypatch):
    calls = []
    orig = D.TensorDataset.__getitem__

    def spy(self, index):
        calls.append(index)
        return orig(self, index)

    monkeypatch.setattr(D.TensorDataset, "__getitem__", spy)
    ds = D.TensorDataset(tg.zeros(1000, 3), tg.arange(1000))
    n = sum(1 for _ in D.DataLoader(ds, batch_size=100, shuffle=True, seed=0))
    assert n == 10 and len(calls) == 10
    assert all(isinstance(c, tg.Tensor) and c.dtype == tg.int64 for c in calls)


def test_dataloader_first_batch_of_8m_examples():
    ds = D.TensorDataset(tg.zeros(8_000_000))
    (xb,) = next(iter(D.DataLoader(ds, batch_size=256, shuffle=True)))
    assert xb.shape == (256,)
    (xb,) = next(iter(D.DataLoader(ds, batch_size=256, shuffle=True, seed=0)))
    assert xb.shape == (256,)


def test_dataloader_generic_dataset_and_errors():
    class Squares:
        def __len__(self):
            return 5

        def __getitem__(self, i):
            return tg.tensor([float(i)]), i * i

    xs, ys = next(iter(D.DataLoader(Squares(), batch_size=3)))
    assert xs.shape == (3, 1) and ys.tolist() == [0, 1, 4]
    with pytest.raises(ValueError, match="batch_size"):
        D.DataLoader(Squares(), batch_size=0)
    with pytest.raises(TypeError, match="__len__"):
        D.DataLoader(object())


def test_train_test_split():
    X, y = tg.arange(20).reshape(10, 2), tg.arange(10)
    X_tr, X_te, y_tr, y_te = D.train_test_split(X, y, test_size=0.3, seed=0)
    assert X_tr.shape == (7, 2) and X_te.shape == (3, 2)
    assert sorted(y_tr.tolist() + y_te.tolist()) == list(range(10))
    np.testing.assert_array_equal(X_te.numpy()[:, 0] // 2, y_te.numpy())
    with pytest.raises(ValueError, match="test_size"):
        D.train_test_split(X, test_size=1.5)


# ----- digits -------------------------------------------------------------------------------
def test_load_digits():
    X, y = D.load_digits()
    assert X.shape == (1797, 8, 8) and X.dtype == tg.float32
    assert y.shape == (1797,) and y.dtype == tg.int64
    a = X.numpy()
    assert a.min() == 0.0 and a.max() == 1.0
    np.testing.assert_array_equal(np.unique(a * 16), np.arange(17))
    assert np.bincount(y.numpy()).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    assert y[:10].tolist() == list(range(10))
    Xf, _ = D.load_digits(flatten=True)
    assert Xf.shape == (1797, 64)


# ----- IDX ----------------------------------------------------------------------------------
def _idx_images(n, rows=4, cols=3, seed=0):
    pix = np.random.default_rng(seed).integers(0, 256, (n, rows, cols), dtype=np.uint8)
    return np.array([2051, n, rows, cols], ">i4").tobytes() + pix.tobytes(), pix


def _idx_labels(n, seed=0):
    lab = np.random.default_rng(seed).integers(0, 10, n, dtype=np.uint8)
    return np.array([2049, n], ">i4").tobytes() + lab.tobytes(), lab


@pytest.mark.parametrize("compress", [True, False])
def test_read_idx_images_and_labels(tmp_path, compress):
    raw_i, pix = _idx_images(5)
    raw_l, lab = _idx_labels(5)
    pi, pl = tmp_path / "img", tmp_path / "lab"
    pi.write_bytes(gzip.compress(raw_i) if compress else raw_i)
    pl.write_bytes(gzip.compress(raw_l) if compress else raw_l)
    imgs, labels = D.read_idx(pi), D.read_idx(pl)
    assert imgs.shape == (5, 4, 3) and imgs.dtype == tg.float32
    np.testing.assert_allclose(imgs.numpy(), pix / 255.0, rtol=1e-6)
    assert labels.dtype == tg.int64 and labels.tolist() == lab.tolist()


def test_read_idx_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="no such file"):
        D.read_idx(tmp_path / "nope.gz")
    raw_i, _ = _idx_images(5)
    p = tmp_path / "t"
    p.write_bytes(raw_i[:-7])
    with pytest.raises(ValueError, match="truncated.*5 x 4 x 3 = 60 bytes.*53"):
        D.read_idx(p)
    p.write_bytes(gzip.compress(raw_i)[:-20])
    with pytest.raises(ValueError, match="corrupt or truncated gzip"):
        D.read_idx(p)
    p.write_bytes(raw_i + b"xx")
    with pytest.raises(ValueError, match="corrupt: 2 bytes after"):
        D.read_idx(p)
    p.write_bytes(np.array([1234, 1], ">i4").tobytes() + b"\0")
    with pytest.raises(ValueError, match="magic number is 1234"):
        D.read_idx(p)
    p.write_bytes(b"\0\0")
    with pytest.raises(ValueError, match="shorter than an IDX header"):
        D.read_idx(p)
    p.write_bytes(np.array([2051, 1], ">i4").tobytes())
    with pytest.raises(ValueError, match="16-byte image header"):
        D.read_idx(p)


# ----- Fashion-MNIST ------------------------------------------------------------------------
def _write_fashion(root, n_train=6, n_test=4, layout="flat", compress=True):
    files = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        files[f"{prefix}-images-idx3-ubyte.gz"] = _idx_images(n, 28, 28, seed=n)[0]
        files[f"{prefix}-labels-idx1-ubyte.gz"] = _idx_labels(n, seed=n)[0]
    d = root if layout == "flat" else root / "FashionMNIST" / "raw"
    d.mkdir(parents=True, exist_ok=True)
    for name, raw in files.items():
        if compress:
            (d / name).write_bytes(gzip.compress(raw))
        else:
            (d / name[:-3]).write_bytes(raw)
    return {k: gzip.compress(v, mtime=0) for k, v in files.items()}


@pytest.mark.parametrize("layout,compress", [("flat", True), ("torchvision", True),
                                             ("flat", False)])
def test_load_fashion_mnist_from_local_files(tmp_path, layout, compress):
    _write_fashion(tmp_path, layout=layout, compress=compress)
    X, y = D.load_fashion_mnist(tmp_path)
    assert X.shape == (6, 28, 28) and y.shape == (6,)
    assert X.dtype == tg.float32 and y.dtype == tg.int64
    # contents: the train files' pixels / 255 and labels (not the test split's)
    pix, lab = _idx_images(6, 28, 28, seed=6)[1], _idx_labels(6, seed=6)[1]
    np.testing.assert_array_equal(X.numpy(), (pix / 255.0).astype(np.float32))
    np.testing.assert_array_equal(y.numpy(), lab.astype(np.int64))
    Xt, yt = D.load_fashion_mnist(tmp_path, train=False)
    assert Xt.shape == (4, 28, 28) and yt.shape == (4,)
    pix, lab = _idx_images(4, 28, 28, seed=4)[1], _idx_labels(4, seed=4)[1]
    np.testing.assert_array_equal(Xt.numpy(), (pix / 255.0).astype(np.float32))
    np.testing.assert_array_equal(yt.numpy(), lab.astype(np.int64))


def test_load_fashion_mnist_missing_and_mismatched(tmp_path):
    with pytest.raises(FileNotFoundError, match="train-images-idx3-ubyte.gz not found.*download"):
        D.load_fashion_mnist(tmp_path)
    _write_fashion(tmp_path)
    raw, _ = _idx_labels(3)
    (tmp_path / "train-labels-idx1-ubyte.gz").write_bytes(gzip.compress(raw))
    with pytest.raises(ValueError, match="6 images but 3 labels"):
        D.load_fashion_mnist(tmp_path)


@pytest.mark.parametrize("layout,compress", [("flat", True), ("torchvision", False)])
def test_default_fashion_mnist_dir_finds_the_first_that_has_the_files(tmp_path, layout, compress):
    """The first candidate holding the training images (any layout load_fashion_mnist reads),
    else the first candidate; the lessons use it when no --data-dir is given."""
    own, system = tmp_path / "own", tmp_path / "system"
    cands = [str(own), str(system)]
    assert D.default_fashion_mnist_dir(cands) == own  # neither has them: where --download goes
    _write_fashion(system, layout=layout, compress=compress)
    assert D.default_fashion_mnist_dir(cands) == system
    _write_fashion(own)
    assert D.default_fashion_mnist_dir(cands) == own
    assert D.FASHION_MNIST_DIRS[-1] == "/usr/share/datasets/fashion-mnist"  # Debian's package


class _Handler(http.server.BaseHTTPRequestHandler):
    files: dict = {}

    def do_GET(self):  # noqa: N802
        name = self.path.rsplit("/", 1)[-1]
        body = self.files.get(name)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def fake_mirror():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield server, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    t.join()


def test_download_from_a_local_mirror_with_md5(tmp_path, fake_mirror, monkeypatch):
    server, url = fake_mirror
    src = tmp_path / "src"
    files = _write_fashion(src)
    _Handler.files = files
    monkeypatch.setattr(dsmod, "FASHION_MNIST_FILES",
                        {k: hashlib.md5(v).hexdigest() for k, v in files.items()})
    root = tmp_path / "dl"
    X, y = D.load_fashion_mnist(root, download=True, mirrors=[url + "missing/", url])
    assert X.shape == (6, 28, 28) and y.shape == (6,)
    assert sorted(p.name for p in root.iterdir()) == ["train-images-idx3-ubyte.gz",
                                                      "train-labels-idx1-ubyte.gz"]


def test_download_md5_mismatch_is_refused_and_removed(tmp_path, fake_mirror):
    server, url = fake_mirror
    _Handler.files = _write_fashion(tmp_path / "src")  # not the real files: wrong MD5
    root = tmp_path / "dl"
    with pytest.raises(RuntimeError, match="MD5 mismatch"):
        D.load_fashion_mnist(root, download=True, mirrors=[url])
    assert list(root.iterdir()) == []


def test_download_network_error_is_reported(tmp_path, monkeypatch):
    def offline(url, timeout=None):
        raise urllib.error.URLError("no route to host")

    monkeypatch.setattr(dsmod.urllib.request, "urlopen", offline)
    with pytest.raises(RuntimeError, match="could not download train-images.*no route to host"):
        D.load_fashion_mnist(tmp_path, download=True)


def test_official_checksums_and_mirror():
    assert D.FASHION_MNIST_FILES["train-images-idx3-ubyte.gz"] == "8d4fb7e6c68d591d4c3dfef9ec88bf0d"
    assert D.FASHION_MNIST_FILES["t10k-labels-idx1-ubyte.gz"] == "bb300cfdad3c16e7a12a480ee83cd310"
    assert D.FASHION_MNIST_MIRRORS[0].startswith("http://fashion-mnist.s3-website")
