"""Every public entry point, called with strided views instead of contiguous tensors.

The entry points are enumerated from the package the way tests/test_api_sweep.py enumerates
them (its `entry_points()`, plus ``tapegrad.linalg``), with the tensor arguments of that sweep's
recipes replaced by views of every kind: transposed, stepped, negative-step, expanded, a view
of a view, ``[None]`` of a strided view, 0-size, 1-element and 0-dim views. Each call is made
twice — with the views and with contiguous copies of them — and must agree: equal results
(values, dtype, shape) or the same exception type, and equal arguments afterwards (an in-place
write or an ``out=`` through a view must reach it, never only a copy). Views of a tensor with
history also compare the gradients. No call may show the engine's "a non-contiguous tensor
reached a kernel" internal error.

The calls run in child processes (this file run as a script, `run_sweep` from
tests/test_api_sweep.py), so a crash is reported with the call that made it.
"""

from __future__ import annotations

import json
import math
import sys

import pytest

from test_api_sweep import SKIP, _public, entry_points, run_sweep

# Entry points whose result cannot be compared call by call, with the reason.
VIEW_SKIP = {
    "tapegrad.seed",  # reseeds from the OS: two calls differ
    "tapegrad.initial_seed",
    "tapegrad.compile",  # returns a new callable each time (compiled calls: test_views.py)
    "Tensor.__deepcopy__",  # its argument is the memo dict (deep copies: test_views.py)
}
# Results that describe the memory layout, which is what differs between the two calls.
LAYOUT = {"Tensor.stride", "Tensor.storage_offset", "Tensor.is_contiguous", "Tensor.data_ptr"}
# Results naming the history (the view's grad_fn is its view op, the copy's a Clone).
NAMES_HISTORY = {"Tensor.__repr__", "Tensor.__str__"}
# PyTorch's refusals of an expanded view (several elements at one address) as the tensor to
# write into or to perturb (gradcheck).
OVERLAP = ("refers to a single memory location", "has a dimension with stride 0")
# and to detach a view in place; tapegrad's refusal to resize an out= that shares its memory
# (Note [out= arguments] in cpp/src/bindings/out.cpp)
DETACH = "Can't detach views in-place"
NO_RESIZE = "out cannot be resized"

# A view of a source tensor, each non-contiguous where the source allows (the source is 2-D).
VIEWS = {
    "T": lambda s: s.T.contiguous().T,
    "step": lambda s: _stepped(s),
    "neg_step": lambda s: s.flip(-1).contiguous()[..., ::-1],
    "expand": lambda s: s[:1].expand(*s.shape),
    "view_of_view": lambda s: _stepped(s.T.contiguous()).T,
    "none_of_T": lambda s: s.T.contiguous().T[None],
    "empty": lambda s: s.T.contiguous().T[:, 1:1],
    "one": lambda s: s.T.contiguous().T[1:2, 2:3],
    "scalar": lambda s: s.T.contiguous().T[1, 2],
}


def _stepped(s):
    import tapegrad as tg

    base = tg.zeros(*s.shape[:-1], 2 * s.shape[-1], dtype=s.dtype)
    base[..., ::2] = s
    return base[..., ::2]


def _source(dtype):
    import tapegrad as tg

    # (2, 3) with the API sweep's values (-2 … 3: zeros and negatives for div, log, sqrt)
    return (tg.arange(6, dtype=tg.float64).reshape(2, 3) - 2).to(dtype)


def _dtypes():
    import tapegrad as tg

    # "grad": float64 views of a tensor with history; the gradients are compared too
    return {"float64": tg.float64, "int64": tg.int64, "bool": tg.bool, "grad": tg.float64}


def view_entry_points():
    import tapegrad.linalg as linalg

    out = [e for e in entry_points() if e[1] in ("function", "method")]
    out += [(f"tapegrad.linalg.{n}", "function", getattr(linalg, n)) for n in _public(linalg)]
    return [e for e in out if e[0] not in SKIP and e[0] not in VIEW_SKIP]


# Argument lists: t = a view, 1 = the int 1, f32 = the dtype float32 (a conversion: the
# views are float64, int64 or bool), inplace = the keyword inplace=True.
ARGS = ("t", "t_t", "t_1", "t_t_t", "t_f32")


def _takes_inplace(obj):
    import inspect

    try:
        return "inplace" in inspect.signature(obj).parameters
    except (TypeError, ValueError):
        return False


def calls():
    out = []
    from tapegrad._out import OUT_FUNCTIONS

    for i, (name, kind, obj) in enumerate(view_entry_points()):
        argsets = ("", "t", "1", "f32") if kind == "method" else ARGS
        if kind == "function" and _takes_inplace(obj):
            argsets += ("t_inplace",)
        if kind == "function" and name.split(".")[-1] in OUT_FUNCTIONS and \
                name.count(".") == 1:
            argsets += ("t_out", "t_t_out")
        for a in argsets:
            for d in _dtypes():
                for v in VIEWS:
                    out.append((i, a, d, v))
    return out


def describe(k):
    i, a, d, v = calls()[k]
    return f"{view_entry_points()[i][0]} args={a!r} dtype={d} view={v}"


# ----- comparison -----
class Differ(Exception):
    pass


def same(a, b, what="result"):
    import numpy as np

    import tapegrad as tg

    if isinstance(a, tg.Tensor) or isinstance(b, tg.Tensor):
        if not (isinstance(a, tg.Tensor) and isinstance(b, tg.Tensor)):
            raise Differ(f"{what}: {type(a).__name__} vs {type(b).__name__}")
        if a.shape != b.shape or a.dtype != b.dtype or a.requires_grad != b.requires_grad:
            raise Differ(f"{what}: {a.shape}/{a.dtype}/{a.requires_grad} vs "
                         f"{b.shape}/{b.dtype}/{b.requires_grad}")
        an, bn = a.detach().numpy(), b.detach().numpy()
        if not np.array_equal(an, bn, equal_nan=an.dtype.kind == "f"):
            raise Differ(f"{what}: {an.tolist()} vs {bn.tolist()}")
        return
    if isinstance(a, (tuple, list)) and isinstance(b, (tuple, list)):
        if type(a) is not type(b) or len(a) != len(b):
            raise Differ(f"{what}: {type(a).__name__}[{len(a)}] vs {type(b).__name__}[{len(b)}]")
        for k, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{what}[{k}]")
        return
    if isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            raise Differ(f"{what}: keys {list(a)} vs {list(b)}")
        for k in a:
            same(a[k], b[k], f"{what}[{k!r}]")
        return
    if isinstance(a, (int, float, bool, complex, str, type(None))):
        if type(a) is not type(b):
            raise Differ(f"{what}: {a!r} vs {b!r}")
        if a != b and not (isinstance(a, float) and math.isnan(a) and math.isnan(b)):
            raise Differ(f"{what}: {a!r} vs {b!r}")
        return
    if type(a) is not type(b):
        raise Differ(f"{what}: {type(a).__name__} vs {type(b).__name__}")


def _outcome(f):
    try:
        return f(), None
    except Exception as e:  # noqa: BLE001 - compared by type
        return None, e


INTERNAL = "reached a kernel"


def run_one(entry, a, d, v):
    """None when the call on views agrees with the call on contiguous copies, else why not."""
    import numpy as np

    import tapegrad as tg

    name, kind, obj = entry
    dt = _dtypes()[d]

    grad = d == "grad"

    def source():
        s = _source(dt)
        return s.requires_grad_() if grad else s

    def make():
        if not grad:
            views = [VIEWS[v](_source(dt)) for _ in range(3)]
            return [], views, [tg.tensor(np.array(x.numpy()), dtype=dt) for x in views]
        leaves = [source() for _ in range(6)]  # three for the views, three for the copies
        views = [VIEWS[v](x * 1.0) for x in leaves[:3]]
        return leaves, views, [VIEWS[v](x * 1.0).clone() for x in leaves[3:]]

    def args_of(ts):
        it = iter(ts[1:] if kind == "method" else ts)
        const = {"1": 1, "f32": tg.float32}
        return [next(it) if c == "t" else const[c] for c in a.split("_")
                if c and c not in ("inplace", "out")]

    def call(ts):
        tg.manual_seed(0)
        if kind == "method":
            return getattr(ts[0], obj)(*args_of(ts))
        kw = {"inplace": True} if a.endswith("inplace") else {}
        if a.endswith("out"):
            kw = {"out": ts[2]}  # the third view (or copy) receives the result
        return obj(*args_of(ts), **kw)

    leaves, views, copies = make()
    rv, ev = _outcome(lambda: call(views))
    rc, ec = _outcome(lambda: call(copies))
    for e in (ev, ec):
        if e is not None and INTERNAL in str(e):
            return f"internal error: {type(e).__name__}: {str(e)[:200]}"
    if isinstance(ev, RuntimeError) and (v == "expand" and any(m in str(ev) for m in OVERLAP) or
                                         DETACH in str(ev) or NO_RESIZE in str(ev)):
        return None
    if (ev is None) != (ec is None) or (ev is not None and type(ev) is not type(ec)):
        return f"view: {type(ev).__name__}: {str(ev)[:150]} | copy: {type(ec).__name__}: " \
               f"{str(ec)[:150]}"
    try:
        if ev is None:
            if name not in LAYOUT and not (grad and name in NAMES_HISTORY):
                same(rv, rc)
            for k, (x, y) in enumerate(zip(views, copies)):
                # a call returning its argument (x.float() of a float32 x) returns the view
                # itself, as PyTorch's; contiguous() copies a non-contiguous one
                fresh = name == "Tensor.contiguous" and not x.is_contiguous()
                if (rv is x) != (rc is y) and not fresh:
                    raise Differ(f"result is argument {k}: {rv is x} vs {rc is y}")
        for k, (x, y) in enumerate(zip(views, copies)):
            same(x, y, f"argument {k} after the call")
        if grad:
            for k, (x, y) in enumerate(zip(leaves[:3], leaves[3:])):
                if (x.grad is None) != (y.grad is None):
                    raise Differ(f".grad of leaf {k}: {x.grad} vs {y.grad}")
                if x.grad is not None:
                    _close(x.grad, y.grad, f".grad of leaf {k}")
            _same_grads(rv if ev is None else None, rc if ec is None else None, views, copies,
                        leaves)
    except Differ as e:
        return str(e)[:300]
    return None


def _float_outputs(r, args):
    import tapegrad as tg

    out = []
    for o in list(r) if isinstance(r, (tuple, list)) else [r]:
        if isinstance(o, tg.Tensor) and o.requires_grad and o.dtype == tg.float64:
            out.append(o)
    # the arguments too: an in-place write through a view reaches them
    return out + [x for x in args if x.requires_grad]


def _same_grads(rv, rc, views, copies, leaves):
    """The gradients reaching the leaves through the views equal those through the copies."""
    import tapegrad as tg

    def loss(outs):
        total = None
        for o in outs:
            w = tg.arange(o.numel(), dtype=tg.float64).reshape(o.shape) + 1.0
            term = (o * w).sum()
            total = term if total is None else total + term
        return total

    lv, lc = loss(_float_outputs(rv, views)), loss(_float_outputs(rc, copies))
    if lv is None or lc is None:
        if (lv is None) != (lc is None):
            raise Differ("gradient: recorded on one side only")
        return
    gv, ev = _outcome(lambda: tg.autograd.grad(lv, leaves[:3], allow_unused=True))
    gc, ec = _outcome(lambda: tg.autograd.grad(lc, leaves[3:], allow_unused=True))
    if type(ev) is not type(ec):
        raise Differ(f"gradient: {type(ev).__name__}: {ev} vs {type(ec).__name__}: {ec}")
    for k, (x, y) in enumerate(zip(gv or (), gc or ())):
        x = x if x is not None else tg.zeros_like(leaves[k])
        y = y if y is not None else tg.zeros_like(leaves[k])
        _close(x, y, f"gradient of leaf {k}")


def _close(a, b, what):
    """Gradients: a view's uses each read their own contiguous copy, so its adjoint sums the
    same terms in another association than a contiguous tensor's (an ulp apart)."""
    import numpy as np

    an, bn = a.numpy(), b.numpy()
    if an.shape != bn.shape or not np.allclose(an, bn, rtol=1e-12, atol=1e-300, equal_nan=True):
        raise Differ(f"{what}: {an.tolist()} vs {bn.tolist()}")


def child(start, stop):
    import warnings

    warnings.simplefilter("ignore")
    entries = view_entry_points()
    work = calls()
    for k in range(start, min(stop, len(work))):
        i, a, d, v = work[k]
        print(f"BEGIN {k}", flush=True)
        try:
            why = run_one(entries[i], a, d, v)
        except BaseException as e:  # noqa: BLE001 - the comparison itself failed
            why = f"comparison raised {type(e).__name__}: {str(e)[:200]}"
        if why:
            print("BAD " + json.dumps([f"{entries[i][0]} args={a!r} dtype={d} view={v}", why]),
                  flush=True)
    print("DONE", flush=True)


def test_every_entry_point_takes_strided_views(tmp_path):
    pytest.importorskip("numpy")
    total = len(calls())
    bad, crashed = run_sweep(tmp_path, ["view_child"], total, script=__file__, timeout=300.0)
    crashes = [(describe(k), why, err) for k, why, err in crashed]
    assert not crashes, crashes
    assert not bad, "\n".join(f"{c}: {w}" for c, w in bad)


def test_the_view_sweep_covers_the_package():
    names = {e[0] for e in view_entry_points()}
    for expected in ("tapegrad.add", "tapegrad.nn.functional.relu", "Tensor.add_",
                     "Tensor.__iadd__", "tapegrad.linalg.norm", "Tensor.zero_"):
        assert expected in names
    import tapegrad as tg

    for v in VIEWS.values():  # every view kind is a view, most of them strided
        s = _source(tg.float64)
        assert v(s)._base is not None


if __name__ == "__main__":
    child(int(sys.argv[2]), int(sys.argv[3]))
