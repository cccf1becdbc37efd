"""NaN, ±inf, ±0, huge and subnormal values against PyTorch, over every op of optable.py.

Each PyTorch-twinned case of the op table is evaluated with special values planted in its
inputs — at the first and last element and at the maximum (so max/min see ties with +inf and
NaN propagation), in float32 and float64 — forward and backward (a fixed random cotangent), in
tapegrad and in PyTorch. The results must have NaN at the same positions, infinities of the same
sign at the same positions, and agree to the parity tolerances elsewhere. The plantings are
sampled per case from a seed derived from the case id, so the sweep is derandomized and lean.
"""

from __future__ import annotations

import warnings
import zlib

import numpy as np
import pytest

import tapegrad as tg
from optable import CASES, TG, torch_ns

torch = pytest.importorskip("torch")
TORCH = torch_ns()

DTYPES = {"float32": (tg.float32, torch.float32, np.float32, 1e-5),
          "float64": (tg.float64, torch.float64, np.float64, 1e-9)}


def specials(np_dtype) -> dict[str, float]:
    fi = np.finfo(np_dtype)
    return {
        "+inf": np.inf, "-inf": -np.inf, "nan": np.nan, "+0": 0.0, "-0": -0.0,
        "+huge": float(fi.max) * 0.9, "-huge": -float(fi.max) * 0.9,
        "subnormal": float(fi.smallest_subnormal) * 3,
    }


# ----- the comparison --------------------------------------------------------------------------
class Mismatch(AssertionError):
    pass


def _same(a: np.ndarray, b: np.ndarray, tol: float, what: str) -> None:
    """NaN where PyTorch has NaN, the same infinities, the parity tolerance elsewhere."""
    if a.shape != b.shape:
        raise Mismatch(f"{what}: shape {a.shape} vs PyTorch {b.shape}")
    if a.dtype.kind != "f":
        if not np.array_equal(a, b):
            raise Mismatch(f"{what}: {a} vs PyTorch {b}")
        return
    na, nb = np.isnan(a), np.isnan(b)
    if not np.array_equal(na, nb):
        raise Mismatch(f"{what}: NaN at {np.argwhere(na).tolist()} vs PyTorch "
                       f"{np.argwhere(nb).tolist()}\n tapegrad {a}\n pytorch  {b}")
    ia, ib = np.where(np.isinf(a), np.sign(a), 0), np.where(np.isinf(b), np.sign(b), 0)
    if not np.array_equal(ia, ib):
        raise Mismatch(f"{what}: infinities differ\n tapegrad {a}\n pytorch  {b}")
    fin = np.isfinite(a) & np.isfinite(b)
    a64, b64 = a[fin].astype(np.float64), b[fin].astype(np.float64)
    # Finite results near the overflow threshold: relative tolerance only.
    bad = np.abs(a64 - b64) > tol + tol * np.abs(b64)
    if bad.any():
        raise Mismatch(f"{what}: values differ\n tapegrad {a}\n pytorch  {b}")


def _outs(r):
    return list(r) if isinstance(r, (tuple, list)) else [r]


def _run(lib_ns, fn, arrays, dtype, cot_seed):
    """Forward, then the gradient for a fixed cotangent (all ones when cot_seed is None);
    exceptions are returned, not raised."""
    is_tg = lib_ns is TG
    mk = ((lambda a: tg.tensor(a, dtype=dtype, requires_grad=True)) if is_tg else
          (lambda a: torch.tensor(a, dtype=dtype, requires_grad=True)))
    xs = [mk(a) for a in arrays]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            outs = _outs(fn(lib_ns, *xs))
    except Exception as e:  # noqa: BLE001 - compared with the other library's behaviour
        return e
    vals = [o.detach().numpy().copy() for o in outs]
    diff = [o for o in outs if o.requires_grad]
    if not diff:
        return vals, []
    rng = np.random.default_rng(cot_seed)
    cots = [np.ones(tuple(o.shape)) if cot_seed is None else rng.standard_normal(tuple(o.shape))
            for o in diff]
    if is_tg:
        g = tg.grad(diff, xs, grad_outputs=[tg.tensor(c, dtype=dtype) for c in cots],
                    allow_unused=True)
    else:
        g = torch.autograd.grad(diff, xs, grad_outputs=[torch.tensor(c, dtype=dtype)
                                                        for c in cots], allow_unused=True)
    grads = [np.zeros(a.shape, vals[0].dtype if vals else np.float64) if gi is None
             else gi.detach().numpy().copy() for gi, a in zip(g, arrays)]
    return vals, grads


def compare(case, dtype_name: str, arrays, label: str) -> None:
    tg_dt, th_dt, _, tol = DTYPES[dtype_name]
    # Near the overflow threshold a product overflows or not depending on where a factor
    # enters (PyTorch scales a loss gradient by 1/n last, the chain rule first): a value of
    # ~max·g rounds to ±inf on one side only. With huge inputs the cotangent is 1, so only the
    # ops' own arithmetic can overflow.
    seed = None if "huge" in label else zlib.crc32(case.id.encode())
    ours = _run(TG, case.fn, arrays, tg_dt, seed)
    theirs = _run(TORCH, case.fn, arrays, th_dt, seed)
    where = f"{case.id} {dtype_name} {label}"
    if isinstance(theirs, Exception) or isinstance(ours, Exception):
        if isinstance(theirs, Exception) and isinstance(ours, Exception):
            return
        raise Mismatch(f"{where}: tapegrad {ours!r} vs PyTorch {theirs!r}")
    (v, g), (tv, tgr) = ours, theirs
    if len(v) != len(tv):
        raise Mismatch(f"{where}: {len(v)} outputs vs PyTorch {len(tv)}")
    for k, (a, b) in enumerate(zip(v, tv)):
        _same(a, b, tol, f"{where} out {k}")
    for k, (a, b) in enumerate(zip(g, tgr)):
        _same(a.astype(b.dtype), b, tol, f"{where} grad {k}")


# ----- plantings -------------------------------------------------------------------------------
def plantings(case, np_dtype, n_values: int):
    """(label, arrays) pairs: the case's inputs with special values planted."""
    base = [a.astype(np_dtype).astype(np.float64) for a in case.inputs()]
    vals = specials(np_dtype)
    names = list(vals)
    rng = np.random.default_rng(zlib.crc32((case.id + str(np_dtype)).encode()))
    sizes = [a.size for a in base]
    if not any(sizes):
        return
    picked = rng.choice(len(names), size=min(n_values, len(names)), replace=False)
    for j in picked:
        name = names[j]
        # the input it goes into, and where: first, last or the maximum element
        k = int(rng.choice([i for i, s in enumerate(sizes) if s]))
        spot = rng.choice(["first", "last", "argmax"])
        flat = base[k].ravel()
        pos = {"first": 0, "last": flat.size - 1, "argmax": int(np.argmax(flat))}[spot]
        arrays = [a.copy() for a in base]
        arrays[k].ravel()[pos] = vals[name]
        yield f"{name}@in{k}[{spot}]", arrays
    # Several values at once, a few in each input: interactions (inf − inf, 0·inf, NaN vs
    # inf). Huge values stay out: their sums overflow or not depending on the summation order.
    mixed = [n for n in names if "huge" not in n]
    arrays = [a.copy() for a in base]
    for a in arrays:
        if a.size:
            at = rng.choice(a.size, size=min(a.size, 3), replace=False)
            a.ravel()[at] = [vals[mixed[int(i)]] for i in rng.choice(len(mixed), at.size)]
    yield "mixed", arrays


PARITY = [c for c in CASES if c.torch]

if __name__ == "__main__":  # the full product, for looking at every difference at once
    import sys
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    ops = set(sys.argv[2:])
    for c in PARITY:
        if ops and c.op not in ops:
            continue
        for dn, (_, _, npd, _) in DTYPES.items():
            for label, arrays in plantings(c, npd, n):
                try:
                    compare(c, dn, arrays, label)
                except Mismatch as e:
                    print("MISMATCH", str(e).replace("\n", "\n    "))
                except Exception as e:  # noqa: BLE001
                    print("ERROR", c.id, dn, label, repr(e))
