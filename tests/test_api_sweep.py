"""Every public entry point, called with the wrong things, in subprocesses.

The entry points are enumerated from the package (never hand-listed): the functions of
``tapegrad``, ``tapegrad.nn.functional`` and ``tapegrad.data``, every ``Tensor`` method and
operator, every ``nn`` module and ``optim`` optimizer constructor. Each is called with None,
wrong Python types and tensors of every dtype. A call may return or raise a typed exception
(TypeError, ValueError, RuntimeError, IndexError, NotImplementedError); it must never kill the
interpreter, hang, raise anything else, or show pybind11's internal messages. A TypeError must
name the function. A second sweep feeds NumPy arrays of every dtype, byte order and
writeability to every entry point that takes array data.

The calls run in a child process (this file run as a script), many per process; when a child
dies or hangs, the parent records the call it was in and starts a new child after it.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import subprocess
import sys
import time

import pytest

# OSError: a path that names no file or a directory (FileNotFoundError, IsADirectoryError).
ALLOWED = (TypeError, ValueError, RuntimeError, IndexError, NotImplementedError, OSError)
INTERNAL = ("incompatible function arguments", "Unable to cast", "incompatible constructor")

# Entry points a sweep must not call with arbitrary arguments, each with the reason.
SKIP = {
    "tapegrad.data.load_fashion_mnist",  # downloads from the network
    "tapegrad.set_num_threads",  # changes the pool for the rest of the child (swept in tests/test_reliability.py)
    "tapegrad.manual_seed",  # harmless, but reseeds every later call
    "Tensor.__del__",
    "Tensor.__init__",
    "Tensor.__new__",
    "Tensor.__init_subclass__",
    "Tensor.__subclasshook__",
    "Tensor.__reduce__",
    "Tensor.__reduce_ex__",
    "Tensor.__setattr__",
    "Tensor.__delattr__",
    "Tensor.__getattribute__",
    "Tensor.__getattr__",
    "Tensor.__getstate__",
    "Tensor.__setstate__",
    "Tensor.__dir__",
    "Tensor.__sizeof__",
    "Tensor.__format__",
    "Tensor.__class_getitem__",
}

# ----- enumeration (shared by parent and child, so both see the same numbering) -----
def _public(module):
    names = getattr(module, "__all__", None) or [n for n in dir(module) if not n.startswith("_")]
    return sorted(set(names))


def entry_points():
    """(qualified name, kind, object) for every public callable, sorted."""
    import tapegrad as tg
    import tapegrad.nn.functional as F
    from tapegrad import data, nn, optim

    out = []
    for prefix, mod in (("tapegrad", tg), ("tapegrad.nn.functional", F), ("tapegrad.data", data)):
        for n in _public(mod):
            obj = getattr(mod, n, None)
            if inspect.ismodule(obj) or obj is None:
                continue
            if inspect.isclass(obj):
                if mod is data and n in ("DataLoader", "TensorDataset"):
                    out.append((f"{prefix}.{n}", "ctor", obj))
                continue
            if callable(obj):
                out.append((f"{prefix}.{n}", "function", obj))
    for n in sorted(dir(tg.Tensor)):
        if n.startswith("_") and not (n.startswith("__") and n.endswith("__")):
            continue
        attr = inspect.getattr_static(tg.Tensor, n, None)
        if isinstance(attr, (property, type)) or n == "__class__" or not callable(getattr(tg.Tensor, n, None)):
            continue
        if n.startswith("__") and getattr(object, n, None) is getattr(tg.Tensor, n, None):
            continue
        out.append((f"Tensor.{n}", "method", n))
    for mod, base in ((nn, nn.Module), (optim, optim.Optimizer)):
        for n in _public(mod):
            obj = getattr(mod, n, None)
            if inspect.isclass(obj) and issubclass(obj, base) and obj is not base:
                out.append((f"{mod.__name__}.{n}", "ctor", obj))
    return [e for e in sorted(out, key=lambda e: e[0]) if e[0] not in SKIP]


def _dtypes():
    import tapegrad as tg

    return [tg.float32, tg.float64, tg.int64, tg.bool]


def _tensor(dtype, shape=(2, 3)):
    import tapegrad as tg

    return (tg.arange(6, dtype=tg.float64).reshape(*shape) - 2).to(dtype)


BAD = ("None", "str", "list", "dict", "object")


def _bad(kind):
    return {"None": None, "str": "x", "list": [1, "a"], "dict": {"a": 1}, "object": object()}[kind]


def calls():
    """The flat, deterministic list of (entry index, variant) calls."""
    out = []
    dts = range(4)
    for i, (_, kind, _) in enumerate(entry_points()):
        variants = [("bad", b) for b in BAD] + [("tensor", d) for d in dts]
        if kind in ("function", "ctor"):
            variants += [("tensor_bad", b) for b in BAD] + [("tensor_tensor", d) for d in dts]
        else:  # methods: every receiver dtype with a bad argument, no argument, a tensor
            variants = [("m", (d, a)) for d in dts for a in ("none_arg", "noargs", *BAD, "t0", "t2")]
        out += [(i, v) for v in variants]
    return out


def _describe(name, variant):
    return f"{name} {variant[0]} {variant[1]}"


def _run_call(entry, variant):
    import tapegrad as tg

    _, kind, obj = entry
    tag, v = variant
    dts = _dtypes()
    if kind == "method":
        d, a = v
        x = _tensor(dts[d])
        f = getattr(x, obj)
        if a == "noargs":
            return f()
        if a == "none_arg":
            return f(None)
        if a in BAD:
            return f(_bad(a))
        return f(_tensor(dts[{"t0": 0, "t2": 2}[a]]))
    if tag == "bad":
        return obj(_bad(v))
    if tag == "tensor":
        return obj(_tensor(dts[v]))
    if tag == "tensor_bad":
        return obj(_tensor(dts[0]), _bad(v))
    if tag == "tensor_tensor":
        return obj(_tensor(dts[v]), _tensor(dts[v]))
    if tag == "optim":
        return obj([tg.zeros(2, requires_grad=True)], **v)
    raise AssertionError(tag)


def _short_name(name):
    short = name.rsplit(".", 1)[-1]
    return short.strip("_") if short.startswith("__") else short


def check_exception(name, e, obj=None):
    """None when the exception is acceptable, else why not."""
    msg = str(e)
    if not isinstance(e, ALLOWED):
        return f"{type(e).__name__}: {msg}"
    if any(s in msg for s in INTERNAL):
        return f"pybind11 internals: {msg}"
    if isinstance(e, TypeError) and not name.split(".")[-1].startswith("__") and \
            not _names_function(name, obj, msg):
        return f"TypeError without the function's name: {msg}"
    return None


def _names_function(name, obj, msg):
    """The message names the function, the function it is an alias of, or (for a
    constructor) its class or a base class whose constructor was called."""
    msg = msg.lower()
    names = {_short_name(name)}
    if inspect.isclass(obj):
        names |= {c.__name__ for c in obj.__mro__ if c is not object}
    elif callable(obj):
        names.add(getattr(obj, "__name__", ""))
    msg = msg.replace("_", "")
    if any(n and n.lower().replace("_", "") in msg for n in names):
        return True
    # PyTorch's own words for a module attribute or dict update of the wrong type
    if msg.startswith(("cannot assign '", "parametersdict.update")):
        return True
    # a constructor or wrapper may report the op it called with the bad value ("empty: sizes
    # must be integers", "dropout(): argument 'p' ..."): a message led by an op's name
    return re.match(r"^[a-z][\w.]*(\(\)|:)", msg) is not None


def child(start, stop):
    import warnings

    warnings.simplefilter("ignore")
    entries = entry_points()
    work = calls()
    os.chdir(os.environ.get("SWEEP_CWD", "."))
    for k in range(start, min(stop, len(work))):
        i, variant = work[k]
        print(f"BEGIN {k}", flush=True)
        try:
            _run_call(entries[i], variant)
        except BaseException as e:  # noqa: BLE001 - the point is to see every exception
            obj = entries[i][2]
            if isinstance(obj, str):  # a method name
                obj = getattr(__import__("tapegrad").Tensor, obj, None)
            why = check_exception(entries[i][0], e, obj)
            if why:
                print("BAD " + json.dumps([_describe(entries[i][0], variant), why[:300]]), flush=True)
    print("DONE", flush=True)


def run_sweep(tmp_path, script_args, total, n_children=2, timeout=60.0, script=__file__):
    """Run [0, total) in children (`script` run with `script_args start stop`); returns
    (bad, crashed, hung) descriptions."""
    env = dict(os.environ, SWEEP_CWD=str(tmp_path), TAPEGRAD_NUM_THREADS="1")
    bad, crashed = [], []
    chunk = (total + n_children - 1) // n_children
    ranges = [(s, min(s + chunk, total)) for s in range(0, total, chunk)]
    while ranges:
        procs = []
        for s, e in ranges[:n_children]:
            p = subprocess.Popen([sys.executable, script, *script_args, str(s), str(e)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env=env)
            procs.append((p, s, e))
        ranges = ranges[n_children:]
        for p, s, e in procs:
            try:
                out, err = p.communicate(timeout=timeout)
                hung = False
            except subprocess.TimeoutExpired:
                p.kill()
                out, err = p.communicate()
                hung = True
            last = s - 1
            for line in out.splitlines():
                if line.startswith("BEGIN "):
                    last = int(line[6:])
                elif line.startswith("BAD "):
                    bad.append(json.loads(line[4:]))
            if "DONE" not in out.splitlines():
                crashed.append((last, "hang" if hung else f"exit {p.returncode}", err[-500:]))
                if last + 1 < e:
                    ranges.append((last + 1, e))
    return bad, crashed


def _describe_index(script_args, k):
    if script_args[0] == "child":
        work = calls()
        i, variant = work[k]
        return _describe(entry_points()[i][0], variant)
    return numpy_describe(k)


def test_every_entry_point_rejects_wrong_arguments_cleanly(tmp_path):
    start = time.time()
    total = len(calls())
    bad, crashed = run_sweep(tmp_path, ["child"], total)
    crashes = [(_describe_index(["child"], k), why, err) for k, why, err in crashed]
    assert not crashes, crashes
    assert not bad, "\n".join(f"{c}: {w}" for c, w in bad)
    assert time.time() - start < 120


def test_the_sweep_covers_the_package():
    names = {e[0] for e in entry_points()}
    for expected in ("tapegrad.add", "tapegrad.nn.functional.mse_loss", "Tensor.expand_as",
                     "tapegrad.nn.Linear", "tapegrad.optim.SGD", "tapegrad.data.read_idx"):
        assert expected in names


# ----- NumPy arrays of every dtype, byte order and writeability -----
NP_DTYPES = ("f4", "f8", "f2", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "?", "c8")


def numpy_arrays():
    """(description, array) for every dtype × byte order × writeability × layout."""
    import numpy as np

    out = []
    for code in NP_DTYPES:
        for order in ("=", ">") if code not in ("?", "i1", "u1") else ("=",):
            dt = np.dtype(order + code)
            base = (np.arange(6) % 3).astype(dt).reshape(2, 3)
            for writeable in (True, False):
                for layout in ("c", "t"):
                    a = base.copy() if layout == "c" else base.T
                    a = np.array(a, dtype=dt, copy=True, order="C") if layout == "c" else a
                    a.flags.writeable = writeable
                    out.append((f"{dt.str} writeable={writeable} layout={layout}", a))
    return out


def numpy_entry_points():
    """Entry points that take array data: the tensor makers and every tensor-taking function."""
    import tapegrad as tg

    makers = [("tapegrad.tensor", tg.tensor), ("tapegrad.as_tensor", tg.as_tensor),
              ("tapegrad.from_numpy", tg.from_numpy)]
    ops = [(n, o) for n, k, o in entry_points() if k == "function" and n.startswith("tapegrad.")
           and n.count(".") == 1]
    return makers, ops


def numpy_calls():
    makers, ops = numpy_entry_points()
    n_arr = len(numpy_arrays())
    return [(m, a) for m in range(len(makers) + len(ops)) for a in range(n_arr)]


def numpy_describe(k):
    makers, ops = numpy_entry_points()
    m, a = numpy_calls()[k]
    return f"{(makers + ops)[m][0]}({numpy_arrays()[a][0]})"


def numpy_child(start, stop):
    import warnings

    import numpy as np

    warnings.simplefilter("ignore")
    makers, ops = numpy_entry_points()
    arrays = numpy_arrays()
    work = numpy_calls()
    for k in range(start, min(stop, len(work))):
        m, ai = work[k]
        desc, a = arrays[ai]
        before = a.copy()
        name, f = (makers + ops)[m]
        print(f"BEGIN {k}", flush=True)
        try:
            t = f(a)
            if m < len(makers) and t is not None:
                # made exactly: same values, never reinterpreted bytes
                got = np.asarray(t.numpy() if hasattr(t, "numpy") else t)
                if got.shape != a.shape or not np.array_equal(got.astype(np.float64),
                                                              a.astype(np.float64)):
                    print("BAD " + json.dumps([f"{name}({desc})", "values differ"]), flush=True)
                if not a.flags.writeable:
                    try:
                        t.add_(1) if t.dtype != __import__("tapegrad").bool else t.zero_()
                    except ALLOWED:
                        pass
        except BaseException as e:  # noqa: BLE001
            why = check_exception(name, e, f)
            if why:
                print("BAD " + json.dumps([f"{name}({desc})", why[:300]]), flush=True)
        if not np.array_equal(a, before):
            print("BAD " + json.dumps([f"{name}({desc})", "wrote into the array"]), flush=True)
    print("DONE", flush=True)


def test_numpy_arrays_of_every_kind_are_converted_exactly_or_refused(tmp_path):
    pytest.importorskip("numpy")
    total = len(numpy_calls())
    bad, crashed = run_sweep(tmp_path, ["numpy_child"], total)
    crashes = [(numpy_describe(k), why, err) for k, why, err in crashed]
    assert not crashes, crashes
    assert not bad, "\n".join(f"{c}: {w}" for c, w in bad)


if __name__ == "__main__":
    mode, s, e = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    (child if mode == "child" else numpy_child)(s, e)
