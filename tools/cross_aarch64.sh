#!/usr/bin/env bash
# Cross-builds the C++ engine (tapegrad_core) and its C++ tests for aarch64 and runs them under
# qemu-user: the build on a non-x86 CPU compiles the reference kernels only (no AVX2/AVX-512
# translation units, no cpuid) and must pass the same tests.
#
#   bash tools/cross_aarch64.sh [BUILD_DIR]      (default: build-aarch64)
#
# Needs Debian's g++-aarch64-linux-gnu and qemu-user; when they are missing and we run as
# root, they are installed with apt-get; otherwise the script exits with status 77 (skipped).
# Also needs cmake and ninja on PATH (pip install cmake ninja). Expected output ends with
# "100% tests passed out of 5" and "linked kernels; selected target generic".
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build-aarch64}
JOBS=${JOBS:-$(nproc)}

if ! command -v aarch64-linux-gnu-g++ > /dev/null || ! command -v qemu-aarch64 > /dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get > /dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      g++-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user > /dev/null
  else
    # Exit status 77 means "skipped" (the automake convention): nothing was built.
    echo "cross_aarch64.sh: SKIP: needs aarch64-linux-gnu-g++ and qemu-aarch64" \
         "(Debian, as root: apt-get install g++-aarch64-linux-gnu qemu-user)" >&2
    exit 77
  fi
fi

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DTAPEGRAD_BUILD_TESTS=ON \
  -DCMAKE_TOOLCHAIN_FILE="$(pwd)/cmake/toolchains/aarch64-linux-gnu.cmake" > /dev/null
cmake --build "$BUILD" -j "$JOBS"

# The objects must be Arm code, and no x86 SIMD translation unit may have been compiled.
file_out=$(file -b "$BUILD"/test_kernels 2> /dev/null || true)
echo "test_kernels: ${file_out:-$(head -c 20 "$BUILD"/test_kernels | od -An -tx1 | head -1)}"
if find "$BUILD" -path '*kernels/avx*' -name '*.o' | grep -q .; then
  echo "cross_aarch64.sh: x86 SIMD objects were built for aarch64" >&2
  exit 1
fi

# ctest runs each test through CMAKE_CROSSCOMPILING_EMULATOR (qemu-aarch64 -L /usr/aarch64-linux-gnu).
ctest --test-dir "$BUILD" --output-on-failure -j "$JOBS"
qemu-aarch64 -L /usr/aarch64-linux-gnu "$BUILD"/test_kernels_isolation | head -1
