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


@pytest.fixture(autouse=True, scope="module")
def _torch_one_thread():
    # Tiny tensors: PyTorch's intra-op threads only spin (40% of the CPU time on 2 cores).
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


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
    # enters (PyTorch's fused loss gradients scale by 1/n last, tapegrad's chain rule first):
    # a value of ~max·g rounds to ±inf on one side only. With huge inputs the cotangent is 1,
    # so only the ops' own arithmetic can overflow.
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
    # max/min and max pooling ("distinct" inputs): the first value goes to the maximum, so it
    # becomes the selected element (NaN, a tie with nothing, an infinity) or displaces it.
    at_max = "distinct" in (case.domain if isinstance(case.domain, tuple) else (case.domain,))
    for n, j in enumerate(picked):
        name = names[j]
        # the input it goes into, and where: first, last or the maximum element
        k = int(rng.choice([i for i, s in enumerate(sizes) if s]))
        spot = "argmax" if at_max and n == 0 else rng.choice(["first", "last", "argmax"])
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


# ----- where PyTorch's own answer is not one to follow ------------------------------------------
def skip_reason(case, dtype_name: str, label: str) -> str | None:
    op, f32 = case.op, dtype_name == "float32"
    nonfinite = any(k in label for k in ("inf", "nan", "mixed"))
    if op == "gelu" and f32 and ("+inf" in label or "+huge" in label or label == "mixed"):
        # PyTorch bug: its vectorised float32 erf-GELU gives NaN at +inf and +inf at 3e38
        # (an intermediate overflows); its float64 kernel and the scalar tail give x.
        return "PyTorch's vectorised float32 GELU at +inf / near overflow"
    if op in ("elu", "hardtanh") and ("nan" in label or label == "mixed"):
        # PyTorch's backward at a NaN depends on whether the element falls in a vectorised
        # block (elu: NaN, hardtanh: 0) or in the scalar tail (both: the slope 1).
        return "PyTorch's gradient at NaN depends on the element's vector lane"
    if op in ("conv1d", "conv2d") and f32 and nonfinite:
        # PyTorch's float32 convolution (oneDNN) skips the zero padding, its float64 one
        # (im2col) multiplies it, as tapegrad does: 0·inf is NaN in one backend only.
        return "PyTorch's float32 convolution backend skips 0·inf in the padding"
    if op == "kl_div" and ("in1" in label or label == "mixed"):
        # The target's softmax has exact zeros; PyTorch's composite kl_div differentiates
        # xlogy(t, t) as t/t = 0/0 = NaN there (its own kl_div_target_backward gave 0, as
        # tapegrad does: Note [loss options]).
        return "PyTorch's kl_div target gradient is 0/0 at a zero target"
    if op in ("batch_norm", "layer_norm") and "huge@in0" in label:
        # PyTorch forms the moments in the input dtype: (x − μ)² overflows in float32 (NaN
        # rows, or 0 for batch_norm) where tapegrad's, accumulated in double, are exact. In
        # float64 both overflow (tapegrad: rstd = 0, a row of 0; PyTorch: NaN). Not matched.
        return "moments of values near overflow"
    weight_blowup = "@in1" in label and ("inf" in label or "huge" in label)
    if op in ("batch_norm", "layer_norm") and (weight_blowup or label == "mixed"):
        # An infinite (or near-overflow) weight makes the row sums of the fused backward
        # non-finite in both; which entries come out ±inf and which NaN follows how the sums
        # are arranged (PyTorch: Σdy·γ·x and Σdy·γ against the raw x; tapegrad: against x̂).
        # Not matched. "mixed" plants non-finite weights too.
        return "non-finite normalization weight: ±inf vs NaN within a non-finite row"
    if op in ("prod", "cumprod"):
        # Not matched: both are trees of recorded products (_composites.py), so the order in
        # which a huge, subnormal or zero factor enters differs from PyTorch's running product
        # (cumprod can give inf·0 = NaN where PyTorch's 0 came first), and the product rule
        # gives a NaN element's own gradient the product of the others where PyTorch's
        # result/input is NaN (and PyTorch's slice with two zeros gets zeros).
        return "prod/cumprod: product trees vs PyTorch's running product"
    if op == "einsum" and ((f32 and "huge" in label) or (len(case.shapes) > 2 and nonfinite)):
        # einsum contracts its operands pairwise, left to right; PyTorch picks its own order,
        # so a sum near float32's overflow overflows in one order and not in the other, and
        # with three operands ±inf meet in another order (inf − inf = NaN in one only).
        return "einsum: another contraction order near overflow"
    if op.startswith("linalg.") and any(k in label for k in ("0", "subnormal", "nan", "mixed")):
        # Not matched: the norms are compositions (√Σx², (Σ|x|ᵖ)^(1/p), amax/amin of |x|), so
        # at a zero, tiny or NaN entry their gradients are 0·inf or 0/0 where PyTorch's fused
        # norm backward masks them to 0.
        return "linalg norms as compositions: gradients at zeros and NaN"
    if case.id.startswith("batch_norm-eval-zero") and f32:
        # Not a special value: float64 running statistics beside a float32 input are refused
        # by both libraries, except by PyTorch for an empty batch.
        return "dtype check on an empty batch"
    return None


PARITY = [c for c in CASES if c.torch]


@pytest.mark.parametrize("case", PARITY, ids=[c.id for c in PARITY])
def test_op_table_with_special_values(case):
    # Three of the eight values per case and dtype (one on the large shapes), drawn from the
    # case id: across the table every value meets every op family. `python
    # test_special_values.py` runs the full product.
    n = 3 if sum(int(np.prod(s)) for s in case.shapes) <= 1000 else 1
    for dtype_name, (_, _, np_dtype, _) in DTYPES.items():
        for label, arrays in plantings(case, np_dtype, n):
            if skip_reason(case, dtype_name, label) is None:
                compare(case, dtype_name, arrays, label)

# ----- the named cases, every value in every position --------------------------------------------
INF, NAN = float("inf"), float("nan")


def check(fn, *inputs, label="") -> None:
    """fn(ns, *tensors) on the given inputs in both dtypes, forward and backward, vs PyTorch."""
    case = SimpleCase(fn, label or repr(inputs))
    for dtype_name, (_, _, np_dtype, _) in DTYPES.items():
        arrays = [np.asarray(a, np_dtype).astype(np.float64) for a in inputs]
        compare(case, dtype_name, arrays, "")


class SimpleCase:
    def __init__(self, fn, label):
        self.fn, self.id = fn, label


def _rows(width: int, rng) -> list[list[float]]:
    """Rows of logits holding +inf, −inf and NaN in the patterns that matter to the softmax
    family: one or two +inf (a tie), −inf beside finite values, all −inf, NaN with ±inf."""
    base = [list(rng.standard_normal(width)) for _ in range(7)]
    base[0][width // 2] = INF
    base[1][0], base[1][-1] = INF, INF
    base[2][1 % width] = -INF
    base[3] = [-INF] * width
    base[4][0], base[4][-1] = NAN, INF
    base[5][-1] = -INF
    base[5][0] = INF
    return base  # base[6] stays finite


# widths: narrow rows (the transposed SIMD blocks), one vector, wide rows, and a column layout
@pytest.mark.parametrize("width", [1, 3, 10, 40])
def test_softmax_family_with_infinite_logits(width):
    x = np.array(_rows(width, np.random.default_rng(width)))
    labels = np.arange(x.shape[0]) % width
    check(lambda ns, t: t.softmax(1), x)
    check(lambda ns, t: t.log_softmax(-1), x)
    check(lambda ns, t: t.softmax(0), x.T.copy())  # the strided (inner ≠ 1) kernels
    check(lambda ns, t: t.log_softmax(0), x.T.copy())
    check(lambda ns, t: t.logsumexp(1), x)
    check(lambda ns, t: t.logsumexp(0), x.T.copy())
    for red in ["none", "mean", "sum"]:
        check(lambda ns, t, _r=red: ns.cross_entropy(t, ns.const(labels), reduction=_r), x)
    check(lambda ns, t: ns.F.cross_entropy(t, ns.const(labels), label_smoothing=0.1), x)


@pytest.mark.parametrize("values", [
    [1.0, NAN, 3.0, NAN], [NAN, 1.0, 2.0, 3.0], [INF, 1.0, INF, -INF], [-INF, -INF, 1.0, 2.0],
    [NAN, INF, -INF, 0.0], [2.0, 2.0, 1.0, -0.0], [-0.0, 0.0, -1.0, -2.0],
])
def test_max_min_gradients_with_nan_and_ties(values):
    x = np.array([values, values[::-1], [0.5, 0.25, 0.125, 1.0]])
    for op in ["max", "min"]:
        check(lambda ns, t, _o=op: getattr(t, _o)(), x)
        check(lambda ns, t, _o=op: tuple(getattr(t, _o)(1)), x)  # values and indices
        check(lambda ns, t, _o=op: getattr(t, _o)(dim=0).values, x)
    for op in ["amax", "amin"]:
        check(lambda ns, t, _o=op: getattr(t, _o)(), x)
        check(lambda ns, t, _o=op: getattr(t, _o)(1), x)
        check(lambda ns, t, _o=op: getattr(t, _o)(dim=(0, 1), keepdim=True), x)
    check(lambda ns, t: ns.lib.maximum(t, t.flip(1)), x)
    check(lambda ns, t: ns.lib.minimum(t, t.flip(0)), x)


SPECIAL = [-INF, -3.0, -1.0, -0.5, -0.0, 0.0, 1e-40, 0.5, 1.0, 2.0, INF, NAN]


@pytest.mark.parametrize("lo, hi", [(NAN, None), (None, NAN), (NAN, 1.0), (-1.0, NAN), (-0.5, 0.5),
                                    (1.0, -1.0), (-INF, INF), (0.0, None)])
def test_clamp_with_nan_bounds_and_inputs(lo, hi):
    check(lambda ns, t: t.clamp(lo, hi), SPECIAL)
    check(lambda ns, t: ns.lib.clamp(t, min=lo, max=hi), SPECIAL)


@pytest.mark.parametrize("e", [0.5, -0.5, 1.5, -1.5, 2, 3, -1, -2, 0, 1, 2.5, 1 / 3, -3, INF, -INF,
                               NAN])
def test_pow_of_special_bases(e):
    check(lambda ns, t: t ** e, SPECIAL)
    check(lambda ns, t: ns.lib.pow(t, e), SPECIAL)


@pytest.mark.parametrize("base", [0.0, -0.0, 2.0, -2.0, 0.5, INF, -INF, NAN, 1.0])
def test_pow_of_special_exponents(base):
    check(lambda ns, t: base ** t, SPECIAL)


def test_pow_tensor_tensor_special_values():
    b, e = np.meshgrid(SPECIAL, SPECIAL)
    check(lambda ns, x, y: x ** y, b.ravel(), e.ravel())


@pytest.mark.parametrize("op", ["sqrt", "log", "log1p", "exp", "abs", "relu", "sigmoid", "tanh",
                                "sin", "cos", "neg", "erf"])
def test_unary_at_special_values(op):
    check(lambda ns, t: getattr(t, op)(), SPECIAL)
    check(lambda ns, t: getattr(t, op)(), np.repeat(SPECIAL, 7))  # SIMD body, not the tail


def test_sign_at_special_values():
    check(lambda ns, t: t.detach().sign(), np.repeat(SPECIAL, 5))


@pytest.mark.parametrize("red", ["none", "mean", "sum"])
def test_losses_with_infinities(red):
    x, y = np.meshgrid([-INF, -1.0, 0.0, 2.0, INF, NAN], [-INF, -0.5, 0.0, 0.5, INF, NAN])
    check(lambda ns, a, b: ns.mse_loss(a, b, reduction=red), x.ravel(), y.ravel())
    p = np.array([0.0, 0.25, 0.5, 1.0] * 9)
    check(lambda ns, a: ns.bce_with_logits(a, ns.const(p[:a.shape[0]]), reduction=red),
          x.ravel())
    check(lambda ns, a, t: ns.bce_with_logits(a, t.sigmoid(), reduction=red), x.ravel(),
          y.ravel())
    check(lambda ns, a: ns.bce_with_logits(a, ns.const(p[:a.shape[0]]), reduction=red,
                                           pos_weight=ns.const(np.full(36, 2.0)).to(a.dtype)),
          x.ravel())
    check(lambda ns, a, b: ns.F.l1_loss(a, b, reduction=red), x.ravel(), y.ravel())
    check(lambda ns, a, b: ns.F.smooth_l1_loss(a, b, reduction=red), x.ravel(), y.ravel())
    check(lambda ns, a, b: ns.F.huber_loss(a, b, reduction=red), x.ravel(), y.ravel())


if __name__ == "__main__":  # the full product, for looking at every difference at once
    import sys
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 8
    ops = set(sys.argv[2:])
    for c in PARITY:
        if ops and c.op not in ops:
            continue
        for dn, (_, _, npd, _) in DTYPES.items():
            for label, arrays in plantings(c, npd, n):
                if skip_reason(c, dn, label):
                    continue
                try:
                    compare(c, dn, arrays, label)
                except Mismatch as e:
                    print("MISMATCH", str(e).replace("\n", "\n    "))
                except Exception as e:  # noqa: BLE001
                    print("ERROR", c.id, dn, label, repr(e))
