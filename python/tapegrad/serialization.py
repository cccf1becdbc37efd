"""``tg.save`` / ``tg.load`` of state dicts as NumPy ``.npz`` archives — never pickle.

A state dict is a mapping of string keys to tensors (or arrays). Each entry becomes one ``.npy``
member of an uncompressed zip; dtypes float32, float64, int64 and bool round-trip exactly.
Loading uses ``numpy.load(allow_pickle=False)``, so a file that holds Python objects is refused
instead of executed.

>>> import os, tempfile
>>> import tapegrad as tg
>>> p = os.path.join(tempfile.mkdtemp(), "line.npz")
>>> tg.save({"m": tg.tensor([0.9]), "b": tg.tensor([0.1])}, p)
>>> sorted(tg.load(p))
['b', 'm']
"""

from __future__ import annotations

import os
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, BinaryIO

import numpy as np

from . import _core

Tensor = _core.Tensor

__all__ = ["load", "save"]

_KINDS = {np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_)}


def _c(a: np.ndarray) -> np.ndarray:
    # C-contiguous without np.ascontiguousarray, which turns 0-d arrays into 1-d ones.
    return np.require(a, requirements="C")


def _to_array(key: str, value: Any) -> np.ndarray:
    if isinstance(value, Tensor):
        return _c(value.detach().numpy())
    if isinstance(value, (np.ndarray, np.generic, int, float, bool, list, tuple)):
        arr = np.asarray(value)
        if arr.dtype == object:
            raise TypeError(f"tapegrad.save: entry {key!r} is not numeric (dtype object)")
        return _c(arr)
    raise TypeError(f"tapegrad.save: entry {key!r} is a {type(value).__name__}; only tensors, "
                    "arrays and numbers can be saved (state dicts: name -> tensor)")


def save(obj: Mapping[str, Any], f: str | os.PathLike[str] | BinaryIO) -> None:
    """Write the state dict ``obj`` (str → Tensor/array) to ``f`` (a path or binary file) as
    ``.npz``. Nothing is pickled; nested objects are refused with ``TypeError``.

    >>> import io, tapegrad as tg
    >>> buf = io.BytesIO(); tg.save({"w": tg.ones(2)}, buf); buf.seek(0)
    0
    >>> tg.load(buf)["w"].tolist()
    [1.0, 1.0]
    """
    if not isinstance(obj, Mapping):
        raise TypeError(f"tapegrad.save: expected a state dict (mapping of str -> tensor), got "
                        f"{type(obj).__name__}; for a model, save model.state_dict()")
    arrays: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise TypeError(f"tapegrad.save: keys must be str, got {type(key).__name__} {key!r}")
        if "/" in key or key.startswith("__"):
            raise ValueError(f"tapegrad.save: key {key!r} may not contain '/' or start with '__'")
        arrays[key] = _to_array(key, value)
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:  # exact path: np.savez would append ".npz" to a str path
            np.savez(fh, **arrays)
    else:
        np.savez(f, **arrays)


def load(f: str | os.PathLike[str] | BinaryIO) -> OrderedDict[str, Tensor]:
    """Read a state dict written by :func:`save` (or any ``.npz`` of numeric arrays) as an
    ordered dict of tensors. Files holding pickled Python objects are refused (``ValueError``);
    files that are not ``.npz`` archives raise ``ValueError`` naming the path.

    >>> import io, tapegrad as tg
    >>> buf = io.BytesIO(); tg.save({"step": tg.tensor(3)}, buf); buf.seek(0)
    0
    >>> tg.load(buf)["step"].item()
    3
    """
    if not isinstance(f, (str, os.PathLike)) and not hasattr(f, "read"):
        raise TypeError(f"tapegrad.load: expected a path or a binary file object, got "
                        f"{type(f).__name__}")
    name = os.fspath(f) if isinstance(f, (str, os.PathLike)) else getattr(f, "name", "<file>")
    if isinstance(f, (str, os.PathLike)) and not os.path.exists(f):
        raise FileNotFoundError(f"tapegrad.load: no such file: {name}")
    head = _peek(f)
    if head is not None and not head.startswith((b"PK\x03\x04", b"PK\x05\x06", b"\x93NUMPY")):
        kind = "pickled Python objects, which tapegrad never loads" if head[:1] == b"\x80" \
            else "unrecognised data"
        raise ValueError(f"tapegrad.load: {name} is not a .npz archive written by tapegrad.save "
                         f"(it holds {kind})")
    # numpy leaves a file it opened itself unclosed when the archive is corrupt: open it here.
    fh = open(f, "rb") if isinstance(f, (str, os.PathLike)) else f
    try:
        return _read_npz(fh, name)
    finally:
        if fh is not f:
            fh.close()


def _read_npz(f: Any, name: str) -> OrderedDict[str, Tensor]:
    try:
        npz = np.load(f, allow_pickle=False)
    except ValueError as exc:
        raise ValueError(f"tapegrad.load: {name} holds pickled Python objects, which tapegrad "
                         f"never loads (only .npz archives of numeric arrays): {exc}") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"tapegrad.load: {name} is not a tapegrad/NumPy .npz archive "
                         f"({exc})") from None
    if not isinstance(npz, np.lib.npyio.NpzFile):
        raise ValueError(f"tapegrad.load: {name} is a single .npy array, not a state dict (.npz)")
    out: OrderedDict[str, Tensor] = OrderedDict()
    with npz:
        # A zip that is not an .npz (a PyTorch .pt file is a zip of pickles) has members that
        # are not .npy arrays: refuse it before reading any of them.
        foreign = [m for m in npz.zip.namelist() if not m.endswith(".npy")]
        if foreign:
            raise ValueError(f"tapegrad.load: {name} is not a tapegrad checkpoint (a zip whose "
                             f"members are not .npy arrays, e.g. {foreign[0]!r}; a PyTorch .pt "
                             "file is read with torch.load)")
        for key in npz.files:
            try:
                arr = npz[key]
            except ValueError as exc:
                if "pickle" not in str(exc):  # numpy's words for an array cut short
                    raise ValueError(f"tapegrad.load: entry {key!r} of {name} is truncated or "
                                     f"corrupt ({exc})") from None
                raise ValueError(f"tapegrad.load: entry {key!r} of {name} holds pickled Python "
                                 "objects, which tapegrad never loads") from exc
            except (zipfile.BadZipFile, OSError, EOFError) as exc:
                raise ValueError(f"tapegrad.load: entry {key!r} of {name} is corrupt "
                                 f"({exc})") from None
            if arr.dtype not in _KINDS:
                arr = _convert(key, name, arr)
            out[key] = _core.tensor(_c(arr))
    return out


def _peek(f: Any) -> bytes | None:
    if isinstance(f, (str, os.PathLike)):
        with open(f, "rb") as fh:
            return fh.read(6)
    if hasattr(f, "peek"):
        return f.peek(6)[:6]
    if hasattr(f, "seek") and hasattr(f, "tell"):
        pos = f.tell()
        head = f.read(6)
        f.seek(pos)
        return head
    return None


def _convert(key: str, name: str, arr: np.ndarray) -> np.ndarray:
    if arr.dtype.kind == "f":
        return arr.astype(np.float64 if arr.dtype.itemsize > 4 else np.float32)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64)
    raise ValueError(f"tapegrad.load: entry {key!r} of {name} has dtype {arr.dtype}, which has "
                     "no tapegrad equivalent")

