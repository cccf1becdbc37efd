"""Kernel throughput: tapegrad vs NumPy (OpenBLAS) vs PyTorch (when installed), one run.

Same-run comparisons only (DESIGN.md §5: these machines are noisy). Writes
``bench/results/kernels.md`` (a table with ratios) and ``bench/results/kernels.png``.

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

try:
    import torch  # noqa: E402
except ImportError:  # PyTorch is optional
    torch = None

try:
    from threadpoolctl import threadpool_limits  # noqa: E402
except ImportError:
    threadpool_limits = None

PEAK_F32_GFLOPS = 116.0  # one Zen 4 core, DESIGN.md §5


def best_time(fn: Callable[[], object], budget: float, repeats: int) -> float:
    """Best per-call time (s) over `repeats` batches of about `budget` seconds each."""
    fn()
    t0 = time.perf_counter()
    fn()
    one = max(time.perf_counter() - t0, 1e-7)
    per_batch = max(1, int(budget / one))
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _ in range(per_batch):
            fn()
        best = min(best, (time.perf_counter() - t0) / per_batch)
    return best


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
    name: str
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
            for name, (m, n, k, ta, tb) in shapes:
                a = rng.standard_normal((k, m) if ta else (m, k)).astype(dtype)
                b = rng.standard_normal((n, k) if tb else (k, n)).astype(dtype)
                na, nb = (a.T if ta else a), (b.T if tb else b)
                ta_t, tb_t = tg.from_numpy(a), tg.from_numpy(b)
                xa = ta_t.T if ta else ta_t
                xb = tb_t.T if tb else tb_t
                times: dict[str, float] = {}
                tg.set_num_threads(threads)
                times["tapegrad"] = best_time(lambda: xa @ xb, budget, repeats)
                if threads == 1 or threadpool_limits is not None:
                    with numpy_threads(threads):
                        times["numpy"] = best_time(lambda: na @ nb, budget, repeats)
                if torch is not None:
                    torch.set_num_threads(threads)
                    pa, pb = torch.from_numpy(na), torch.from_numpy(nb)
                    times["torch"] = best_time(lambda: pa @ pb, budget, repeats)
                rows.append(Row("gemm", name, np.dtype(dtype).name, threads, 2.0 * m * n * k, times))
                print(format_row(rows[-1]), flush=True)


def run_elementwise(rows: list[Row], n: int, threads_list, budget, repeats) -> None:
    rng = np.random.default_rng(1)
    x = rng.standard_normal(n).astype(np.float32)
    xpos = np.abs(x) + 1e-3
    y = rng.standard_normal(n).astype(np.float32)
    tx, ty, tpos = tg.from_numpy(x), tg.from_numpy(y), tg.from_numpy(xpos)
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
            times = {"tapegrad": best_time(f_tg, budget, repeats)}
            if threads == 1:  # NumPy ufuncs are single-threaded
                times["numpy"] = best_time(f_np, budget, repeats)
            if torch is not None:
                torch.set_num_threads(threads)
                p, q, r = torch.from_numpy(x), torch.from_numpy(y), torch.from_numpy(xpos)
                times["torch"] = best_time(lambda: f_torch(p, q, r), budget, repeats)
            rows.append(Row("elementwise", f"{name} {n // 1024}K", "float32", threads, float(n), times))
            print(format_row(rows[-1]), flush=True)


def format_row(r: Row) -> str:
    unit = "GFLOP/s" if r.kind == "gemm" else "Gelem/s"
    parts = [f"{r.name:<22} {r.dtype:<8} t={r.threads}"]
    for lib in ("tapegrad", "numpy", "torch"):
        if lib in r.times:
            parts.append(f"{lib} {r.rate(lib):8.2f} {unit}")
    return "  ".join(parts)


def ratio(r: Row, other: str) -> str:
    if other not in r.times:
        return "–"
    return f"{r.times[other] / r.times['tapegrad']:.2f}×"


def write_markdown(rows: list[Row], path: Path, info: dict) -> None:
    libs = ["tapegrad", "numpy"] + (["torch"] if torch is not None else [])
    lines = [
        "# Kernel benchmarks",
        "",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"tapegrad target **{info.get('selected')}** (available: {', '.join(info.get('available', []))}); "
        f"NumPy {np.__version__}" + (f"; PyTorch {torch.__version__}" if torch is not None else "")
        + ".",
        "",
        "Ratios are tapegrad's speed over the other library's (> 1 means tapegrad is faster), "
        f"measured in the same run. `peak` is the fraction of {PEAK_F32_GFLOPS:.0f} GFLOP/s "
        "per thread (float32; half of it for float64).",
        "",
    ]
    for kind, unit in (("gemm", "GFLOP/s"), ("elementwise", "Gelem/s")):
        sel = [r for r in rows if r.kind == kind]
        if not sel:
            continue
        head = ["op", "dtype", "threads"] + [f"{lib} {unit}" for lib in libs]
        head += [f"vs {lib}" for lib in libs[1:]]
        if kind == "gemm":
            head.append("peak")
        lines.append("| " + " | ".join(head) + " |")
        lines.append("|" + "---|" * len(head))
        for r in sel:
            cells = [r.name, r.dtype, str(r.threads)]
            cells += [f"{r.rate(lib):.1f}" if lib in r.times else "–" for lib in libs]
            cells += [ratio(r, lib) for lib in libs[1:]]
            if kind == "gemm":
                peak = PEAK_F32_GFLOPS * (1.0 if r.dtype == "float32" else 0.5) * r.threads
                cells.append(f"{r.rate('tapegrad') / peak:.2f}")
            lines.append("| " + " | ".join(cells) + " |")
        lines.append("")
    path.write_text("\n".join(lines))


def write_plot(rows: list[Row], path: Path) -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed: no plot", file=sys.stderr)
        return
    sel = [r for r in rows if "numpy" in r.times and r.threads == 1]
    labels = [f"{r.name}\n{r.dtype}" for r in sel]
    libs = ["numpy"] + (["torch"] if torch is not None else [])
    fig, ax = plt.subplots(figsize=(max(8, 0.6 * len(sel)), 4.5))
    width = 0.8 / len(libs)
    for i, lib in enumerate(libs):
        vals = [r.times[lib] / r.times["tapegrad"] if lib in r.times else 0 for r in sel]
        ax.bar([j + i * width for j in range(len(sel))], vals, width, label=f"tapegrad / {lib}")
    ax.axhline(1.0, color="k", lw=0.8)
    ax.set_xticks([j + width * (len(libs) - 1) / 2 for j in range(len(sel))])
    ax.set_xticklabels(labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("speed-up (1 thread, > 1 = tapegrad faster)")
    ax.set_title("tapegrad kernels vs NumPy" + (" and PyTorch" if torch is not None else ""))
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=Path(__file__).resolve().parent / "results")
    ap.add_argument("--quick", action="store_true", help="fewer shapes, shorter timing")
    args = ap.parse_args(argv)

    info = tg.cpu_info()
    print(f"tapegrad target {info.get('selected')} (available {info.get('available')})")
    sizes = [256, 512] if args.quick else [256, 512, 1024, 2048]
    shapes = [(f"{s}³", (s, s, s, False, False)) for s in sizes]
    shapes += [
        ("256×784 @ 784×10", (256, 10, 784, False, False)),
        ("784×256 @ 256×10 (Aᵀ)", (784, 10, 256, True, False)),
        ("256×10 @ 10×784 (Bᵀ)", (256, 784, 10, False, True)),
    ]
    budget, repeats = (0.05, 3) if args.quick else (0.2, 5)
    threads_list = [1, 2] if (os.cpu_count() or 1) >= 2 else [1]
    saved = tg.get_num_threads() if hasattr(tg, "get_num_threads") else None
    rows: list[Row] = []
    run_gemm(rows, shapes, [np.float32, np.float64], threads_list, budget, repeats)
    run_elementwise(rows, 1 << 20, threads_list, budget, repeats)
    if saved is not None:
        tg.set_num_threads(saved)

    args.out.mkdir(parents=True, exist_ok=True)
    write_markdown(rows, args.out / "kernels.md", info)
    write_plot(rows, args.out / "kernels.png")
    print(f"wrote {args.out / 'kernels.md'} and {args.out / 'kernels.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
