"""The FMA throughput limit of one core, and SGEMM as a fraction of it.

The limit is measured, not computed from a spec sheet: a loop of independent FMA chains on the
target's widest vectors (``tapegrad._core._fma_peak``, cpp/src/kernels/simd/fma_peak-inl.h),
enough chains to cover latency × FMA ports, best of several rounds. The clock the core runs at
under that load (turbo, AVX-512 licence, a shared or virtual machine) is in the number, so
GEMM's fraction of it is a fair "how close to the hardware".

Example::

    python bench/fma_peak.py            # limit per target, then SGEMM 256…2048 on 1 thread
    python bench/fma_peak.py --no-gemm

bench/kernels.py and bench/steps.py import ``machine_header`` and ``cpu_kind`` from here: the
header every results table starts with, and the file-name tag that keeps one table per CPU kind.
"""

from __future__ import annotations

import argparse
import os
import time

import tapegrad as tg


def fma_limit(arch: str | None = None, seconds: float = 0.2, rounds: int = 3) -> float:
    """GFLOP/s of one core on `arch`'s FMAs (default: the selected target), best of `rounds`."""
    arch = arch or tg.cpu_info()["selected"]
    return max(tg._core._fma_peak(arch, seconds) for _ in range(rounds))


def cpu_kind(info: dict | None = None) -> str:
    """A file-name tag for the machine class, e.g. ``amd-family26`` or ``intel-family6-model143``
    (Intel puts every core generation in family 6, so the model is part of its class)."""
    info = info or tg.cpu_info()
    vendor = {"AuthenticAMD": "amd", "GenuineIntel": "intel"}.get(info.get("vendor", ""), None)
    vendor = vendor or (info.get("vendor") or "cpu").lower()
    tag = f"{vendor}-family{info.get('family', 0)}"
    if vendor != "amd":
        tag += f"-model{info.get('model', 0)}"
    return tag


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n >> 10} KiB"


def machine_header(info: dict | None = None, limit: float | None = None) -> str:
    """One paragraph: CPU model, family/model, caches, GEMM blocking, measured FMA limit."""
    info = info or tg.cpu_info()
    c = info.get("caches", {})

    def level(name: str) -> str:
        e = c.get(name, {})
        if not e.get("size"):
            return f"{name} ?"
        shared = f", shared by {e['shared_by']}" if e.get("shared_by", 1) > 1 else ""
        return f"{name} {_size(e['size'])} {e.get('ways', '?')}-way{shared}"

    g = info.get("gemm", {}).get("float32", {})
    gemm = (f"SGEMM tile {g['mr']}×{g['nr']}, kc {g['kc']}, mc {g['mc']}, nc {g['nc']}"
            if g.get("mr") else "SGEMM: reference loops")
    lim = f"; measured FMA limit {limit:.0f} GFLOP/s per core ({info['selected']})" if limit else ""
    return (f"CPU: {info.get('model_name') or '?'} ({info.get('vendor', '?')} family "
            f"{info.get('family', '?')} model {info.get('model', '?')}), {os.cpu_count()} logical "
            f"CPUs; {level('L1d')}, {level('L2')}, {level('L3')} (from {c.get('source', '?')}); "
            f"tapegrad target {info['selected']}, {gemm}{lim}; load average at start "
            + " ".join(f"{v:.2f}" for v in os.getloadavg()) + ".")


def sgemm_fraction(sizes=(256, 512, 1024, 2048), limit: float | None = None) -> list[tuple]:
    """(n, GFLOP/s, fraction of the limit) for n×n×n SGEMM on one thread: the best of many
    calls timed with the thread's CPU clock, so that time slices lost to other processes on a
    shared machine do not count."""
    limit = limit or fma_limit()
    saved = tg.get_num_threads()
    tg.set_num_threads(1)
    out = []
    try:
        for n in sizes:
            a, b = tg.randn(n, n), tg.randn(n, n)
            best = float("inf")
            for _ in range(max(5, int(2e9 / (2 * n**3)))):
                t0 = time.thread_time()
                a @ b
                best = min(best, time.thread_time() - t0)
            rate = 2 * n**3 / best / 1e9
            out.append((n, rate, rate / limit))
    finally:
        tg.set_num_threads(saved)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=0.3, help="per round of the FMA loop")
    ap.add_argument("--no-gemm", action="store_true")
    args = ap.parse_args(argv)
    info = tg.cpu_info()
    for arch in info["available"]:
        print(f"FMA limit, {arch:8s}: {fma_limit(arch, args.seconds):7.1f} GFLOP/s per core")
    limit = fma_limit(None, args.seconds)
    print(machine_header(info, limit))
    if not args.no_gemm:
        for n, rate, frac in sgemm_fraction(limit=limit):
            print(f"SGEMM {n}³, 1 thread: {rate:7.1f} GFLOP/s = {100 * frac:5.1f} % of the limit")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
