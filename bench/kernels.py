"""Kernel throughput: tapegrad vs NumPy (OpenBLAS) vs PyTorch (when installed), one run.

Same-run comparisons only (docs/speed.md: these machines are noisy). Writes
``bench/results/kernels-<cpu kind>.md`` (a table with ratios) and ``kernels-<cpu kind>.png``,
one pair per machine class (``fma_peak.cpu_kind``: e.g. ``amd-family26``), so a run on one CPU
never overwrites another's table. The header names the CPU, its caches, the GEMM blocking and
the measured FMA limit of one core; SGEMM rows also give their fraction of that limit.

Example::

    python bench/kernels.py                 # full run (~1 minute)
    python bench/kernels.py --quick         # fewer sizes and repeats
    TAPEGRAD_ARCH=avx2 python bench/kernels.py --out /tmp/avx2

NumPy's BLAS is pinned to one thread for the 1-thread rows (via threadpoolctl when installed,
else OPENBLAS_NUM_THREADS / OMP_NUM_THREADS set before NumPy is imported).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

# Must happen before NumPy loads OpenBLAS when threadpoolctl is missing.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np  # noqa: E402

import tapegrad as tg  # noqa: E402
from fma_peak import cpu_kind, fma_limit, machine_header  # bench/ is on sys.path

try:
    import torch  # noqa: E402
except ImportError:  # PyTorch is optional
    torch = None

try:
    from threadpoolctl import threadpool_limits  # noqa: E402
except ImportError:
    threadpool_limits = None



def best_times(fns: dict[str, Callable[[], object]], budget: float, repeats: int,
               clock: Callable[[], float] = time.perf_counter) -> dict[str, float]:
    """Best per-call time (s) of each function over `repeats` rounds of batches of about
    `budget` seconds. The libraries take turns within each round, so a burst of load from
    other processes hits all of them alike (these machines are shared and noisy).
    One-thread rows pass clock=time.thread_time: every library then computes on the calling
    thread, and its CPU clock does not count the time slices other processes take on a loaded
    machine (a wall clock would)."""
    per_batch = {}
    for name, fn in fns.items():
        fn()
        t0 = clock()
        fn()
        per_batch[name] = max(1, int(budget / max(clock() - t0, 1e-7)))
    best = {name: float("inf") for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t0 = clock()
            for _ in range(per_batch[name]):
                fn()
            best[name] = min(best[name], (clock() - t0) / per_batch[name])
    return best


def clock_for(threads: int) -> Callable[[], float]:
    return time.thread_time if threads == 1 else time.perf_counter


class numpy_threads:
    """Context manager limiting NumPy's BLAS threads (a no-op without threadpoolctl)."""

    def __init__(self, n: int) -> None:
        self.n = n
        self.ctx = threadpool_limits(limits=n) if threadpool_limits is not None else None

    def __enter__(self) -> None:
        if self.ctx is not None:
            self.ctx.__enter__()

    def __exit__(self, *exc: object) -> None:
        if self.ctx is not None:
            self.ctx.__exit__(*exc)


@dataclass
class Row:
    kind: str  # "gemm" or "elementwise"
    name: str  # op, e.g. "matmul" or "tanh"
    shape: str  # e.g. "256×784 @ 784×10" or "1M"
    dtype: str
    threads: int
    work: float  # flops (gemm) or elements (elementwise)
    times: dict[str, float]  # library -> seconds per call

    def rate(self, lib: str) -> float:
        t = self.times.get(lib)
        return self.work / t / 1e9 if t else float("nan")


def run_gemm(rows: list[Row], shapes, dtypes, threads_list, budget, repeats) -> None:
    rng = np.random.default_rng(0)
    for dtype in dtypes:
        for threads in threads_list:
            for shape, (m, n, k, ta, tb) in shapes:
                a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
                b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
                na, nb = (a.T if ta else a), (b.T if tb else b)
                # Each library computes on arrays it allocated itself (tapegrad's are 64-byte
                # aligned; NumPy's are not necessarily).
                ta_t, tb_t = tg.tensor(a), tg.tensor(b)
                xa = ta_t.T if ta else ta_t
                xb = tb_t.T if tb else tb_t
                tg.set_num_threads(threads)
                fns: dict[str, Callable[[], object]] = {"tapegrad": lambda: xa @ xb}
                if threads == 1 or threadpool_limits is not None:
                    fns["numpy"] = lambda: na @ nb
                if torch is not None:
                    torch.set_num_threads(threads)
                    pa, pb = torch.from_numpy(na), torch.from_numpy(nb)
                    fns["torch"] = lambda: pa @ pb
                with numpy_threads(threads):
                    times = best_times(fns, budget, repeats, clock_for(threads))
                rows.append(Row("gemm", "matmul", shape, np.dtype(dtype).name, threads,
                                2.0 * m * n * k, times))
                print(format_row(rows[-1]), flush=True)


def run_elementwise(rows: list[Row], n: int, threads_list, budget, repeats) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(n).astype(np.float32)
    xpos = np.abs(x) + 1e-3
    y = rng.standard_normal(n).astype(np.float32)
    tx, ty, tpos = tg.tensor(x), tg.tensor(y), tg.tensor(xpos)  # tapegrad-allocated (aligned)
    cases = {
        "add": (lambda: tx + ty, lambda: x + y, lambda p, q, r: p + q),
        "mul": (lambda: tx * ty, lambda: x * y, lambda p, q, r: p * q),
        "exp": (lambda: tg.exp(tx), lambda: np.exp(x), lambda p, q, r: torch.exp(p)),
        "log": (lambda: tg.log(tpos), lambda: np.log(xpos), lambda p, q, r: torch.log(r)),
        "tanh": (lambda: tg.tanh(tx), lambda: np.tanh(x), lambda p, q, r: torch.tanh(p)),
        "sigmoid": (
            lambda: tg.sigmoid(tx),
            lambda: 1.0 / (1.0 + np.exp(-x)),
            lambda p, q, r: torch.sigmoid(p),
        ),
    }
    for threads in threads_list:
        tg.set_num_threads(threads)
        for name, (f_tg, f_np, f_torch) in cases.items():
            fns = {"tapegrad": f_tg}
            if threads == 1:  # NumPy ufuncs are single-threaded
                fns["numpy"] = f_np
            if torch is not None:
                torch.set_num_threads(threads)
                p, q, r = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(xpos)
                fns["torch"] = lambda f=f_torch, p=p, q=q, r=r: f(p, q, r)
            times = best_times(fns, budget, repeats, clock_for(threads))
            shape = f"{n >> 20}M" if n % (1 << 20) == 0 else f"{n // 1024}K"
            rows.append(Row("elementwise", name, shape, "float32", threads, float(n), times))
            print(format_row(rows[-1]), flush=True)


# ----- convolution rows (convolution family) -------------------------------------------------
# conv2d forward and forward+backward on the ResNet-style and LeNet shapes, one thread: tapegrad
# vs PyTorch (its CPU path, oneDNN) vs JAX jit. Work is the GEMM-equivalent flops (forward
# 2·N·C_out·OH·OW·C_in·KH·KW; forward+backward three times that: dx and dW each cost one more).
CONV_SHAPES = [
    # name, input (N, C, H, W), weight (O, C, KH, KW), padding
    ("ResNet 3×3", (32, 64, 32, 32), (64, 64, 3, 3), 1),
    ("LeNet conv1", (256, 1, 28, 28), (6, 1, 5, 5), 2),
    ("LeNet conv2", (256, 6, 14, 14), (16, 6, 5, 5), 0),
]


def conv_fns(xs, ws, pad, backward: bool) -> dict[str, Callable[[], object]]:
    """One call of each library: conv2d (+ the gradients of x, w and b of its sum)."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal(xs).astype(np.float32)
    w = (rng.standard_normal(ws) / np.sqrt(np.prod(ws[1:]))).astype(np.float32)
    b = rng.standard_normal(ws[0]).astype(np.float32)
    F = tg.nn.functional
    tx, tw, tb = (tg.tensor(a, requires_grad=backward) for a in (x, w, b))
    if backward:
        def f_tg():
            F.conv2d(tx, tw, tb, padding=pad).sum().backward()
            tx.grad = tw.grad = tb.grad = None
    else:
        def f_tg():
            return F.conv2d(tx, tw, tb, padding=pad)
    fns: dict[str, Callable[[], object]] = {"tapegrad": f_tg}
    if torch is not None:
        px, pw, pb = (torch.tensor(a, requires_grad=backward) for a in (x, w, b))
        if backward:
            def f_torch():
                torch.nn.functional.conv2d(px, pw, pb, padding=pad).sum().backward()
                px.grad = pw.grad = pb.grad = None
        else:
            def f_torch():
                with torch.no_grad():
                    return torch.nn.functional.conv2d(px, pw, pb, padding=pad)
        fns["torch"] = f_torch
    try:
        os.environ.setdefault(
            "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1")
        import jax
        import jax.numpy as jnp
    except ImportError:
        return fns

    def conv(x, w, b):
        y = jax.lax.conv_general_dilated(x, w, (1, 1), [(pad, pad), (pad, pad)],
                                         dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return y + b[None, :, None, None]

    jx, jw, jb = (jnp.asarray(a) for a in (x, w, b))
    if backward:
        step = jax.jit(jax.grad(lambda x, w, b: conv(x, w, b).sum(), argnums=(0, 1, 2)))
    else:
        step = jax.jit(conv)
    fns["jax"] = lambda: jax.block_until_ready(step(jx, jw, jb))
    return fns


def run_conv(rows: list[Row], budget, repeats) -> None:
    tg.set_num_threads(1)
    if torch is not None:
        torch.set_num_threads(1)
    for name, xs, ws, pad in CONV_SHAPES:
        n, c, h, w = xs
        o, _, kh, kw = ws
        oh, ow = h + 2 * pad - kh + 1, w + 2 * pad - kw + 1
        flops = 2.0 * n * o * oh * ow * c * kh * kw
        shape = f"{name} {n}×{c}×{h}×{w} ⋆ {o}×{c}×{kh}×{kw}" + (f" pad {pad}" if pad else "")
        for backward in (False, True):
            # The process's CPU clock: robust to load like the thread clock of the other
            # one-thread rows, and it also counts work XLA hands to its runtime's threads.
            times = best_times(conv_fns(xs, ws, pad, backward), budget, repeats,
                               time.process_time)
            rows.append(Row("conv", "conv2d fwd+bwd" if backward else "conv2d fwd", shape,
                            "float32", 1, flops * (3 if backward else 1), times))
            r = rows[-1]
            print(f"{r.name:<15} {shape:<44} " + "  ".join(
                f"{lib} {r.rate(lib):7.2f} GFLOP/s" for lib in r.times), flush=True)


def conv_markdown(rows: list[Row]) -> list[str]:
    sel = [r for r in rows if r.kind == "conv"]
    if not sel:
        return []
    libs = [lib for lib in ("tapegrad", "torch", "jax") if any(lib in r.times for r in sel)]
    names = {"tapegrad": "tapegrad", "torch": "PyTorch", "jax": "JAX jit"}
    lines = ["## Convolution (GFLOP/s, one thread)", "",
             ("GEMM-equivalent flops (forward+backward counts three products). `vs X` is "
              "tapegrad's speed over X's in the same run (> 1: tapegrad is faster)."), ""]
    head = ["op", "shape"] + [names[lib] for lib in libs] + [f"vs {names[lib]}" for lib in libs[1:]]
    lines.append("| " + " | ".join(head) + " |")
    lines.append("|---|---|" + "---:|" * (len(head) - 2))
    for r in sel:
        cells = [r.name, r.shape]
        cells += [f"{r.rate(lib):.2f}" if lib in r.times else "–" for lib in libs]
        cells += [ratio(r, lib) for lib in libs[1:]]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    return lines
# ----- end of the convolution rows ------------------------------------------------------------


# ----- narrow rows (Note [narrow rows]): kernel time vs Python-call time -------------------------
@dataclass
class NarrowRow:
    name: str
    shape: str
    kernel_us: float  # the C++ kernel alone (tapegrad._core._time_row_kernel)
    call_us: dict[str, float]  # library -> µs per Python call (incl. autograd for fwd+bwd)


def run_narrow(out: list[NarrowRow], n: int = 256, c: int = 10, repeats: int = 5) -> None:
    import tapegrad.nn.functional as F

    tg.set_num_threads(1)
    rng = np.random.default_rng(2)
    xn = rng.standard_normal((n, c)).astype(np.float32)
    yn = (np.arange(n) * 7) % c
    x, y = tg.tensor(xn), tg.tensor(yn)
    xg = tg.tensor(xn, requires_grad=True)

    def tg_ce_fb():
        F.cross_entropy(xg, y).backward()

    cases = {
        "cross_entropy fwd+bwd": ("cross_entropy_fwd_bwd", tg_ce_fb),
        "cross_entropy fwd": ("cross_entropy", lambda: F.cross_entropy(x, y)),
        "softmax": ("softmax", lambda: F.softmax(x, dim=1)),
        "log_softmax": ("log_softmax", lambda: F.log_softmax(x, dim=1)),
    }
    if torch is not None:
        torch.set_num_threads(1)
        px, py = torch.from_numpy(xn), torch.from_numpy(yn)
        pxg = torch.from_numpy(xn.copy()).requires_grad_()

        def torch_ce_fb():
            torch.nn.functional.cross_entropy(pxg, py).backward()

        torch_fns = {
            "cross_entropy fwd+bwd": torch_ce_fb,
            "cross_entropy fwd": lambda: torch.nn.functional.cross_entropy(px, py),
            "softmax": lambda: torch.softmax(px, dim=1),
            "log_softmax": lambda: torch.log_softmax(px, dim=1),
        }
    for name, (kernel, fn) in cases.items():
        kernel_us = min(tg._core._time_row_kernel(kernel, n, c, 200) for _ in range(repeats)) / 1e3
        fns = {"tapegrad": fn}
        if torch is not None:
            fns["torch"] = torch_fns[name]
        times = best_times(fns, 0.05, repeats, time.thread_time)
        out.append(NarrowRow(name, f"{n}×{c}", kernel_us,
                             {k: v * 1e6 for k, v in times.items()}))
        print(f"{name:<22} {n}×{c}  kernel {kernel_us:6.2f} µs  call "
              + "  ".join(f"{k} {v * 1e6:6.2f} µs" for k, v in times.items()), flush=True)


def narrow_markdown(rows: list[NarrowRow]) -> list[str]:
    if not rows:
        return []
    lines = ["## Narrow rows, float32, 1 thread (µs)", "",
             ("Kernel: the C++ row kernel alone, best of many calls. Call: one Python call "
              "(tensor allocation, dispatch and, for fwd+bwd, the tape and `backward`)."), "",
             "| op | shape | tapegrad kernel | tapegrad call | PyTorch call |",
             "|---|---|---:|---:|---:|"]
    for r in rows:
        torch_us = f"{r.call_us['torch']:.2f}" if "torch" in r.call_us else "–"
        lines.append(f"| {r.name} | {r.shape} | {r.kernel_us:.2f} | "
                     f"{r.call_us['tapegrad']:.2f} | {torch_us} |")
    return lines + [""]


def fraction_markdown(rows: list[Row], limit: float) -> list[str]:
    sel = [r for r in rows if r.kind == "gemm" and r.dtype == "float32" and "×" in r.shape
           and r.shape.split(" @ ")[0].split("×")[0] == r.shape.split(" @ ")[0].split("×")[-1]]
    if not sel or not limit:
        return []
    lines = [f"## SGEMM against the FMA limit ({limit:.0f} GFLOP/s per core, measured)", "",
             ("| shape | threads | tapegrad GFLOP/s | fraction of threads × limit | "
              "tapegrad time / min(NumPy, PyTorch) |"), "|---|---|---:|---:|---:|"]
    for r in sel:
        others = [r.times[k] for k in ("numpy", "torch") if k in r.times]
        rel = f"{r.times['tapegrad'] / min(others):.2f}×" if others else "–"
        lines.append(f"| {r.shape} | {r.threads} | {r.rate('tapegrad'):.1f} | "
                     f"{100 * r.rate('tapegrad') / (limit * r.threads):.0f} % | {rel} |")
    return lines + [""]


def format_row(r: Row) -> str:
    unit = "GFLOP/s" if r.kind == "gemm" else "Gelem/s"
    parts = [f"{r.name:<8} {r.shape:<24} {r.dtype:<8} t={r.threads}"]
    for lib in ("tapegrad", "numpy", "torch"):
        if lib in r.times:
            parts.append(f"{lib} {r.rate(lib):8.2f} {unit}")
    return "  ".join(parts)


def ratio(r: Row, other: str) -> str:
    if other not in r.times:
        return "–"
    return f"{r.times[other] / r.times['tapegrad']:.2f}×"


def write_markdown(rows: list[Row], path: Path, info: dict, load: str, header: str = "",
                   extra: list[str] | None = None) -> None:
    libs = ["tapegrad", "numpy"] + (["torch"] if torch is not None else [])
    names = {"tapegrad": "tapegrad", "numpy": "NumPy", "torch": "PyTorch"}
    lines = [
        "# Kernel benchmarks",
        "",
        header or f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} "
        f"CPUs, load average at start {load}.",
        "",
        f"tapegrad target **{info.get('selected')}** "
        f"(available: {', '.join(info.get('available', []))}); NumPy {np.__version__}"
        + (f"; PyTorch {torch.__version__}" if torch is not None else "") + ".",
        "",
        "Rates are GFLOP/s for matmul and Gelem/s for elementwise ops (best of several batches; "
        "one-thread rows timed with the thread's CPU clock, two-thread rows with the wall "
        "clock). "
        "`vs X` is tapegrad's speed over X's, measured in the same run (> 1: tapegrad is "
        "faster). Each library works on arrays it allocated itself. NumPy ufuncs are "
        "single-threaded, so they have no 2-thread rows.",
        "",
    ]
    head = ["op", "shape", "dtype", "threads"] + [names[lib] for lib in libs]
    head += [f"vs {names[lib]}" for lib in libs[1:]]
    for kind, unit in (("gemm", "GFLOP/s"), ("elementwise", "Gelem/s")):
        sel = [r for r in rows if r.kind == kind]
        if not sel:
            continue
        lines.append(f"## {'Matmul' if kind == 'gemm' else 'Elementwise'} ({unit})")
        lines.append("")
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * 4 + "---:|" * (len(head) - 4))
        for r in sel:
            cells = [r.name, r.shape, r.dtype, str(r.threads)]
            cells += [f"{r.rate(lib):.2f}" if lib in r.times else "–" for lib in libs]
            cells += [ratio(r, lib) for lib in libs[1:]]
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    lines += conv_markdown(rows)  # convolution family
    lines += extra or []
    path.write_text("\n".join(lines))


def write_plot(rows: list[Row], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        import matplotlib.ticker
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
        return
    sel = [r for r in rows if "numpy" in r.times and r.threads == 1]
    labels = [f"{r.name} {r.shape}" + (" f64" if r.dtype == "float64" else "") for r in sel]
    libs = ["numpy"] + (["torch"] if torch is not None else [])
    colors = {"numpy": "tab:blue", "torch": "tab:orange"}
    fig, ax = plt.subplots(figsize=(8, 0.32 * len(sel) * len(libs) + 1.5))
    height = 0.8 / len(libs)
    ys = range(len(sel))
    for i, lib in enumerate(libs):
        vals = [r.times[lib] / r.times["tapegrad"] if lib in r.times else float("nan") for r in sel]
        pos = [y + (i - (len(libs) - 1) / 2) * height for y in ys]
        ax.barh(pos, vals, height, label=f"vs {'NumPy' if lib == 'numpy' else 'PyTorch'}",
                color=colors[lib])
        for p, v in zip(pos, vals):
            if v == v:  # not NaN
                ax.text(v, p, f" {v:.2f}×", va="center", fontsize=7)
    ax.axvline(1.0, color="k", lw=0.8)
    ax.set_xscale("log", base=2)
    ax.xaxis.set_major_formatter(matplotlib.ticker.FuncFormatter(lambda v, _: f"{v:g}×"))
    ax.set_yticks(list(ys))
    ax.set_yticklabels(labels, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("tapegrad speed-up, 1 thread (log scale; > 1 = tapegrad faster)")
    ax.set_title("tapegrad kernels vs NumPy" + (" and PyTorch" if torch is not None else "")
                 + " (same run)")
    ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    ap.add_argument("--quick", action="store_true", help="fewer shapes, shorter timing")
    args = ap.parse_args(argv)

    info = tg.cpu_info()
    load = " ".join(f"{v:.2f}" for v in os.getloadavg())
    limit = fma_limit()
    header = machine_header(info, limit)
    print(header)
    sizes = [256, 512] if args.quick else [256, 512, 1024, 2048]
    shapes = [(f"{s}×{s} @ {s}×{s}", (s, s, s, False, False)) for s in sizes]
    shapes += [
        ("256×784 @ 784×10", (256, 10, 784, False, False)),
        ("784×256 @ 256×10 (Aᵀ)", (784, 10, 256, True, False)),
        ("256×10 @ 10×784 (Bᵀ)", (256, 784, 10, False, True)),
        # x @ W.T with W a (256, 784) weight: B is the view W.T, read without a copy
        ("256×784 @ (256×784)ᵀ (W.T view)", (256, 256, 784, False, True)),
    ]
    budget, repeats = (0.05, 3) if args.quick else (0.2, 5)
    threads_list = [1, 2] if (os.cpu_count() or 1) >= 2 else [1]
    saved = tg.get_num_threads() if hasattr(tg, "get_num_threads") else None
    rows: list[Row] = []
    run_gemm(rows, shapes, [np.float32, np.float64], threads_list, budget, repeats)
    run_elementwise(rows, 1 << 20, threads_list, budget, repeats)
    run_conv(rows, budget, repeats)  # convolution family
    narrow: list[NarrowRow] = []
    run_narrow(narrow, repeats=repeats)
    if saved is not None:
        tg.set_num_threads(saved)

    args.out.mkdir(parents=True, exist_ok=True)
    stem = f"kernels-{cpu_kind(info)}"
    extra = fraction_markdown(rows, limit) + narrow_markdown(narrow)
    write_markdown(rows, args.out / f"{stem}.md", info, load, header, extra)
    write_plot(rows, args.out / f"{stem}.png")
    print(f"wrote {args.out / (stem + '.md')} and {args.out / (stem + '.png')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
