"""The datasets of the examples: the embedded UCI digits and Fashion-MNIST (IDX files).

Digits data: "Optical Recognition of Handwritten Digits" by E. Alpaydin and C. Kaynak, UCI
Machine Learning Repository (1998), https://doi.org/10.24432/C50P49, licensed CC BY 4.0. The file
``digits.npz`` holds the 1797-image copy distributed with scikit-learn
(``sklearn/datasets/data/digits.csv.gz``) re-encoded as uint8 arrays: ``images`` (1797, 8, 8)
with values 0..16 and ``target`` (1797,).
"""

from __future__ import annotations

import gzip
import hashlib
import math
import os
import shutil
import tempfile
import urllib.error
import urllib.request
import zlib
from collections.abc import Sequence
from importlib import resources
from pathlib import Path
from typing import BinaryIO

import numpy as np

from .. import _core

Tensor = _core.Tensor

__all__ = [
    "FASHION_MNIST_CLASSES",
    "FASHION_MNIST_FILES",
    "FASHION_MNIST_MIRRORS",
    "FASHION_MNIST_DIRS",
    "default_fashion_mnist_dir",
    "load_digits",
    "load_fashion_mnist",
    "read_idx",
]


def load_digits(flatten: bool = False) -> tuple[Tensor, Tensor]:
    """The 1797 UCI optical-recognition digits shipped inside tapegrad (no download).

    Returns ``(images, labels)``: float32 pixels scaled from 0..16 to [0, 1], shape
    (1797, 8, 8) (or (1797, 64) with ``flatten=True``), and int64 labels 0..9.

    >>> X, y = load_digits()
    >>> X.shape, y.shape, y.dtype
    (tapegrad.Size([1797, 8, 8]), tapegrad.Size([1797]), tapegrad.int64)
    """
    with resources.files(__package__).joinpath("digits.npz").open("rb") as f:
        with np.load(f, allow_pickle=False) as z:
            images = z["images"].astype(np.float32) / np.float32(16.0)
            target = z["target"].astype(np.int64)
    if flatten:
        images = images.reshape(len(images), -1)
    return _core.from_numpy(np.ascontiguousarray(images)), _core.from_numpy(target)


# ----- IDX (MNIST / Fashion-MNIST) ----------------------------------------------------------
_IDX_IMAGES, _IDX_LABELS = 2051, 2049


_CHUNK = 1 << 20


def _open_idx(path: Path) -> BinaryIO:
    """The file's bytes as a stream (gzip decompressed on the fly, never all at once)."""
    if path.is_dir():
        raise IsADirectoryError(f"read_idx: {path} is a directory, not an IDX file")
    if not path.is_file():
        raise FileNotFoundError(f"read_idx: no such file: {path}")
    with open(path, "rb") as f:
        gzipped = f.read(2) == b"\x1f\x8b"
    # returned to the caller, who closes it (gzip.open closes the file it opened itself)
    return gzip.open(path, "rb") if gzipped else open(path, "rb")  # type: ignore[return-value]


def _read_exactly(f: BinaryIO, n: int, path: Path) -> bytearray:
    """Up to n bytes in chunks: memory grows with what the file holds, not with what its
    header claims (a 2 MB file may announce gigabytes)."""
    out = bytearray()
    try:
        while len(out) < n:
            chunk = f.read(min(_CHUNK, n - len(out)))
            if not chunk:
                break
            out += chunk
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"read_idx: {path} is a corrupt or truncated gzip file ({exc})") from None
    return out


def _count_rest(f: BinaryIO, path: Path) -> int:
    n = 0
    try:
        while chunk := f.read(_CHUNK):
            n += len(chunk)
    except (OSError, EOFError, zlib.error) as exc:
        raise ValueError(f"read_idx: {path} is a corrupt or truncated gzip file ({exc})") from None
    return n


def read_idx(path: str | os.PathLike[str]) -> Tensor:
    """Read an IDX file (gzip-compressed or raw) as used by MNIST and Fashion-MNIST.

    Image files (magic 2051, header: 4 big-endian int32 = magic, count, rows, cols) become
    float32 pixels / 255 of shape (count, rows, cols); label files (magic 2049, header: magic,
    count) become int64 labels of shape (count,). Missing files raise ``FileNotFoundError``;
    a wrong magic number, a short file or a broken gzip stream raise ``ValueError``.

    >>> import gzip, os, tempfile, numpy as np
    >>> p = os.path.join(tempfile.mkdtemp(), "labels-idx1-ubyte.gz")
    >>> with gzip.open(p, "wb") as f:
    ...     _ = f.write(np.array([2049, 3], ">i4").tobytes() + bytes([7, 0, 9]))
    >>> read_idx(p).tolist()
    [7, 0, 9]
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError(f"read_idx: path must be a str or os.PathLike, got {type(path).__name__}")
    path = Path(path)
    with _open_idx(path) as f:
        head = _read_exactly(f, 8, path)
        if len(head) < 8:
            raise ValueError(f"read_idx: {path} is truncated: {len(head)} bytes, shorter than an "
                             "IDX header")
        magic, count = (int(v) for v in np.frombuffer(bytes(head), ">i4", 2))
        if magic == _IDX_IMAGES:
            more = _read_exactly(f, 8, path)
            if len(more) < 8:
                raise ValueError(f"read_idx: {path} is truncated: {8 + len(more)} bytes, shorter "
                                 "than the 16-byte image header")
            rows, cols = (int(v) for v in np.frombuffer(bytes(more), ">i4", 2))
            shape: tuple[int, ...] = (count, rows, cols)
        elif magic == _IDX_LABELS:
            shape = (count,)
        else:
            raise ValueError(f"read_idx: {path} is not an IDX image (magic 2051) or label (magic "
                             f"2049) file: magic number is {magic}")
        if any(s < 0 for s in shape):
            raise ValueError(f"read_idx: {path} has a corrupt header: shape {list(shape)}")
        expected = math.prod(shape)  # exact: a corrupt header must not wrap around int64
        data = _read_exactly(f, expected, path)  # stops at the size the header declares
        have = len(data)
        if have < expected:
            dims = " x ".join(map(str, shape))
            raise ValueError(f"read_idx: {path} is truncated: header says {dims} "
                             f"= {expected} bytes of data, the file has {have}")
        extra = _count_rest(f, path)
    if extra:
        raise ValueError(f"read_idx: {path} is corrupt: {extra} bytes after the "
                         f"{' x '.join(map(str, shape))} data the header announces")
    arr = np.frombuffer(data, np.uint8, expected).reshape(shape)
    if magic == _IDX_IMAGES:
        out = arr.astype(np.float32) / np.float32(255.0)
    else:
        out = arr.astype(np.int64)
    return _core.from_numpy(np.ascontiguousarray(out))


# ----- Fashion-MNIST ------------------------------------------------------------------------
FASHION_MNIST_CLASSES = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt",
                         "sneaker", "bag", "ankle boot")
#: Official mirror first (Zalando Research), then the copy in the dataset's GitHub repository.
FASHION_MNIST_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
#: File name → MD5 of the official gzip files.
FASHION_MNIST_FILES = {
    "train-images-idx3-ubyte.gz": "8d4fb7e6c68d591d4c3dfef9ec88bf0d",
    "train-labels-idx1-ubyte.gz": "25c81989df183df01b3e8a0aad5dffbe",
    "t10k-images-idx3-ubyte.gz": "bef4ecab320f06d8554ea6380940ec79",
    "t10k-labels-idx1-ubyte.gz": "bb300cfdad3c16e7a12a480ee83cd310",
}


# Where Fashion-MNIST is looked for when no directory is given: tapegrad's own download
# directory, then Debian's and Ubuntu's dataset-fashion-mnist package
# (`apt install dataset-fashion-mnist`).
FASHION_MNIST_DIRS = ("~/.tapegrad/fashion-mnist", "/usr/share/datasets/fashion-mnist")


def default_fashion_mnist_dir(candidates: Sequence[str] = FASHION_MNIST_DIRS) -> Path:
    """The first of ``candidates`` that holds Fashion-MNIST's training images (packed or
    unpacked, in any layout load_fashion_mnist reads), else the first candidate (where
    ``--download`` puts the files).

    >>> default_fashion_mnist_dir(["/nonexistent/a", "/nonexistent/b"])
    PosixPath('/nonexistent/a')
    """
    if isinstance(candidates, (str, bytes, os.PathLike)) or not isinstance(candidates, Sequence) \
            or not candidates or not all(isinstance(c, (str, os.PathLike)) for c in candidates):
        raise TypeError("default_fashion_mnist_dir(): candidates must be a non-empty sequence "
                        f"of paths, got {type(candidates).__name__}")
    dirs = [Path(c).expanduser() for c in candidates]
    for d in dirs:
        if _find(d, "train-images-idx3-ubyte.gz") is not None:
            return d
    return dirs[0]


def _md5(path: Path) -> str:
    h = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _find(root: Path, name: str) -> Path | None:
    stem = name[:-3]  # without ".gz"
    for d in (root, root / "FashionMNIST" / "raw", root / "fashion-mnist"):
        for n in (name, stem):
            if (d / n).is_file():
                return d / n
    return None


def _download(name: str, md5: str, root: Path, mirrors: Sequence[str], timeout: float) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    dest = root / name
    errors = []
    for base in mirrors:
        url = base + name
        fd, tmp_name = tempfile.mkstemp(dir=root, prefix=name + ".", suffix=".part")
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
                shutil.copyfileobj(resp, out)
            got = _md5(tmp)
            if got != md5:
                errors.append(f"{url}: MD5 mismatch (expected {md5}, got {got})")
                continue
            os.replace(tmp, dest)
            return dest
        except (urllib.error.URLError, OSError, ValueError) as exc:
            errors.append(f"{url}: {exc}")
        finally:
            if tmp.exists():
                tmp.unlink()
    raise RuntimeError(f"load_fashion_mnist: could not download {name}: " + "; ".join(errors))


def load_fashion_mnist(root: str | os.PathLike[str], train: bool = True, download: bool = False,
                       *, mirrors: Sequence[str] = FASHION_MNIST_MIRRORS,
                       timeout: float = 60.0) -> tuple[Tensor, Tensor]:
    """Fashion-MNIST (Zalando, MIT licence) from the four IDX files in ``root``.

    Returns ``(images, labels)``: float32 (N, 28, 28) in [0, 1] and int64 (N,), N = 60000 for
    ``train=True`` and 10000 otherwise. Files are looked up as ``root/<name>.gz`` or unpacked,
    also under ``root/FashionMNIST/raw`` (torchvision's layout). With ``download=True`` missing
    files are fetched from the official mirror (then the GitHub copy) and checked against their
    MD5; a file that does not match is deleted and reported.

    >>> import tempfile
    >>> load_fashion_mnist(tempfile.mkdtemp())  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    FileNotFoundError: load_fashion_mnist: train-images-idx3-ubyte.gz not found in ...
    """
    root = Path(root).expanduser()
    prefix = "train" if train else "t10k"
    names = [f"{prefix}-images-idx3-ubyte.gz", f"{prefix}-labels-idx1-ubyte.gz"]
    paths = []
    for name in names:
        path = _find(root, name)
        if path is None:
            if not download:
                raise FileNotFoundError(
                    f"load_fashion_mnist: {name} not found in {root} (pass download=True, or "
                    "--download on the command line, to fetch it; on Debian or Ubuntu, `apt "
                    "install dataset-fashion-mnist` puts the files in "
                    "/usr/share/datasets/fashion-mnist, found without --data-dir)")
            path = _download(name, FASHION_MNIST_FILES[name], root, mirrors, timeout)
        paths.append(path)
    images, labels = read_idx(paths[0]), read_idx(paths[1])
    if images.ndim != 3 or labels.ndim != 1:
        raise ValueError(f"load_fashion_mnist: {paths[0].name} must hold images and "
                         f"{paths[1].name} labels")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"load_fashion_mnist: {images.shape[0]} images but "
                         f"{labels.shape[0]} labels")
    return images, labels
