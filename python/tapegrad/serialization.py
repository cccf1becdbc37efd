"""``tg.save`` / ``tg.load`` of state dicts and checkpoints as NumPy ``.npz`` archives — never
pickle.

A state dict is a mapping of string keys to tensors (or arrays). Each entry becomes one ``.npy``
member of an uncompressed zip; dtypes float32, float64, int64 and bool round-trip exactly.
Loading uses ``numpy.load(allow_pickle=False)``, so a file that holds Python objects is refused
instead of executed.

Note [checkpoint trees]
Anything else PyTorch checkpoints commonly hold — nested dicts, lists and tuples of tensors,
ints, floats, bools, strings and None (an optimizer's ``state_dict()`` with integer keys,
``{'model': ..., 'optim': ..., 'epoch': n}``) — is saved as a tree: each tensor becomes a member
``t0``, ``t1``, … and the structure is a JSON document in the member ``__tree__`` (UTF-8
bytes), in which every node names its kind, so tuples, integer keys and exact floats
(``float.hex``) come back as they were. Loading parses that JSON and checks every node; no code
is ever run. A tensor that appears twice is stored once and loads as one tensor.

>>> import os, tempfile
>>> import tapegrad as tg
>>> p = os.path.join(tempfile.mkdtemp(), "line.npz")
>>> tg.save({"m": tg.tensor([0.9]), "b": tg.tensor([0.1])}, p)
>>> sorted(tg.load(p))
['b', 'm']
"""

from __future__ import annotations

import json
import os
import zipfile
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any, BinaryIO

import numpy as np

from . import _core

Tensor = _core.Tensor

__all__ = ["load", "save"]

_KINDS = {np.dtype(np.float32), np.dtype(np.float64), np.dtype(np.int64), np.dtype(np.bool_),
          # the storage dtypes (Note [storage dtypes])
          np.dtype(np.int32), np.dtype(np.int16), np.dtype(np.int8), np.dtype(np.uint8),
          np.dtype(np.float16)}


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


def save(obj: Any, f: str | os.PathLike[str] | BinaryIO) -> None:
    """Write ``obj`` to ``f`` (a path or binary file) as ``.npz``: a state dict (str →
    Tensor/array/number), or a checkpoint of nested dicts, lists and tuples of tensors, ints,
    floats, bools, strings and None (Note [checkpoint trees]). Nothing is pickled; other objects
    are refused with ``TypeError``.

    >>> import io, tapegrad as tg
    >>> buf = io.BytesIO(); tg.save({"w": tg.ones(2)}, buf); buf.seek(0)
    0
    >>> tg.load(buf)["w"].tolist()
    [1.0, 1.0]
    >>> buf = io.BytesIO(); tg.save({"model": {"w": tg.ones(1)}, "epoch": 3}, buf); buf.seek(0)
    0
    >>> ck = tg.load(buf); ck["epoch"], ck["model"]["w"].tolist()
    (3, [1.0])
    """
    if not isinstance(f, (str, os.PathLike)) and not hasattr(f, "write"):
        raise TypeError(f"tapegrad.save: expected a path or a binary file object to write to, "
                        f"got {type(f).__name__}")
    if not _is_flat_state_dict(obj):
        _write(_tree_arrays(obj), f)
        return
    arrays: dict[str, np.ndarray] = {}
    for key, value in obj.items():
        if not isinstance(key, str):
            raise TypeError(f"tapegrad.save: keys must be str, got {type(key).__name__} {key!r}")
        if "/" in key or key.startswith("__"):
            raise ValueError(f"tapegrad.save: key {key!r} may not contain '/' or start with '__'")
        arrays[key] = _to_array(key, value)
    if type(obj) is dict:  # load gives back a dict (a state_dict stays an OrderedDict)
        arrays[_PLAIN] = np.zeros((), np.int8)
    _write(arrays, f)


def _write(arrays: dict[str, np.ndarray], f: str | os.PathLike[str] | BinaryIO) -> None:
    if isinstance(f, (str, os.PathLike)):
        with open(f, "wb") as fh:  # exact path: np.savez would append ".npz" to a str path
            np.savez(fh, **arrays)
    else:
        np.savez(f, **arrays)


def load(f: str | os.PathLike[str] | BinaryIO) -> Any:
    """Read a state dict written by :func:`save` (or any ``.npz`` of numeric arrays) as an
    ordered dict of tensors, or the checkpoint tree :func:`save` wrote (Note [checkpoint
    trees]). Files holding pickled Python objects are refused (``ValueError``); files that are
    not ``.npz`` archives, or whose tree is malformed, raise ``ValueError`` naming the path.

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
        arrays = _read_npz(fh, name)
    finally:
        if fh is not f:
            fh.close()
    if _TREE in arrays:
        return _tree_from(arrays, name)
    if arrays.pop(_PLAIN, None) is not None:
        return dict(arrays)
    return arrays


def _read_npz(f: Any, name: str) -> OrderedDict[str, Any]:
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
    out: OrderedDict[str, Any] = OrderedDict()
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
            if key == _PLAIN:  # the marker of a plain dict (no data)
                out[key] = arr
                continue
            if key == _TREE:
                out[key] = arr  # the JSON structure's bytes, decoded by _tree_from
                continue
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



# -- checkpoint trees (Note [checkpoint trees]) --

_TREE = "__tree__"
_PLAIN = "__dict__"  # a flat state dict that was a plain dict, not an OrderedDict
_MAX_DEPTH = 200  # deeper trees are refused on both sides (and keep json's recursion bounded)


def _is_flat_state_dict(obj: Any) -> bool:
    """A mapping of str keys to tensors, arrays and numbers: the original one-member-per-entry
    format (readable by plain NumPy, entries load as tensors)."""
    if not isinstance(obj, Mapping):
        return False
    flat = (Tensor, np.ndarray, np.generic, int, float)
    return all(isinstance(k, str) and isinstance(v, flat) for k, v in obj.items())


def _tree_arrays(obj: Any) -> dict[str, np.ndarray]:
    arrays: dict[str, np.ndarray] = {}
    ids: dict[int, int] = {}
    keep: list[Any] = []  # holds converted objects so their ids stay unique while encoding

    def tensor(path: str, value: Any) -> dict[str, Any]:
        i = ids.get(id(value))
        if i is None:
            i = ids[id(value)] = len(ids)
            keep.append(value)
            arrays[f"t{i}"] = _to_array(path, value)
        node: dict[str, Any] = {"t": "tensor", "i": i}
        if isinstance(value, Tensor) and value.requires_grad:
            node["requires_grad"] = True
        return node

    def enc(value: Any, path: str, depth: int, key: bool = False) -> dict[str, Any]:
        if depth > _MAX_DEPTH:
            raise ValueError(f"tapegrad.save: {path} is nested more than {_MAX_DEPTH} deep")
        if value is None:
            return {"t": "none"}
        if isinstance(value, bool):
            return {"t": "bool", "v": value}
        if isinstance(value, int):
            return {"t": "int", "v": str(int(value))}  # as text: JSON readers may round ints
        if isinstance(value, float):
            return {"t": "float", "v": float(value).hex()}
        if isinstance(value, str):
            return {"t": "str", "v": value}
        if isinstance(value, tuple):
            return {"t": "tuple", "v": [enc(v, f"{path}[{i}]", depth + 1, key)
                                        for i, v in enumerate(value)]}
        if not key:
            if isinstance(value, (Tensor, np.ndarray, np.generic)):
                return tensor(path, value)
            if isinstance(value, list):
                return {"t": "list", "v": [enc(v, f"{path}[{i}]", depth + 1)
                                           for i, v in enumerate(value)]}
            if isinstance(value, Mapping):
                return {"t": "dict", "v": [[enc(k, f"{path} key {k!r}", depth + 1, True),
                                            enc(v, f"{path}[{k!r}]", depth + 1)]
                                           for k, v in value.items()]}
        what = "a dict key" if key else "saved"
        raise TypeError(f"tapegrad.save: {path} is a {type(value).__name__}, which cannot be "
                        f"{what} without pickle (checkpoints hold dicts, lists and tuples of "
                        "tensors, ints, floats, bools, strings and None)")

    tree = enc(obj, "the object", 0)
    arrays[_TREE] = np.frombuffer(json.dumps(tree).encode("utf-8"), dtype=np.uint8)
    return arrays


def _tree_from(arrays: OrderedDict[str, Any], name: str) -> Any:
    def bad(why: str) -> ValueError:
        return ValueError(f"tapegrad.load: {name} has a malformed checkpoint tree ({why})")

    raw = arrays.pop(_TREE)
    if not isinstance(raw, np.ndarray) or raw.dtype != np.uint8 or raw.ndim != 1:
        raise bad("its structure is not a byte string")
    try:
        tree = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise bad(f"invalid JSON: {exc}") from None
    used: dict[int, Tensor] = {}

    def dec(node: Any, depth: int) -> Any:
        if depth > _MAX_DEPTH:
            raise bad(f"nested more than {_MAX_DEPTH} deep")
        if not isinstance(node, dict) or not isinstance(node.get("t"), str):
            raise bad(f"a node is {type(node).__name__}, not a tagged object")
        kind, v = node["t"], node.get("v")
        if kind == "none":
            return None
        if kind == "bool" and isinstance(v, bool):
            return v
        if kind == "int" and isinstance(v, str):
            try:
                return int(v)
            except ValueError:
                raise bad(f"int node {v[:40]!r}") from None
        if kind == "float" and isinstance(v, str):
            try:
                return float.fromhex(v)
            except ValueError:
                raise bad(f"float node {v[:40]!r}") from None
        if kind == "str" and isinstance(v, str):
            return v
        if kind in ("list", "tuple") and isinstance(v, list):
            items = [dec(x, depth + 1) for x in v]
            return items if kind == "list" else tuple(items)
        if kind == "dict" and isinstance(v, list):
            out: dict[Any, Any] = {}
            for pair in v:
                if not isinstance(pair, list) or len(pair) != 2:
                    raise bad("a dict item is not a [key, value] pair")
                k = dec(pair[0], depth + 1)
                try:
                    out[k] = dec(pair[1], depth + 1)
                except TypeError:
                    raise bad(f"unhashable dict key of type {type(k).__name__}") from None
            return out
        if kind == "tensor":
            i = node.get("i")
            if type(i) is not int or f"t{i}" not in arrays:
                raise bad(f"tensor node refers to a missing member t{i}")
            t = used.get(i)
            if t is None:
                t = used[i] = arrays[f"t{i}"]
                if node.get("requires_grad") is True:
                    if not t.is_floating_point():
                        raise bad(f"member t{i} of dtype {t.dtype} marked requires_grad")
                    t.requires_grad_(True)
            return t
        raise bad(f"unknown or ill-typed node {kind[:40]!r}")

    return dec(tree, 0)
