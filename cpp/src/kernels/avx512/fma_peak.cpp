// avx512 FMA throughput loop (shared source: simd/fma_peak-inl.h).
// GCC 12 warns inside its own AVX-512 intrinsic headers (_mm512_undefined_* operands).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <algorithm>
#include <chrono>
#include <cstdint>

#include "kernels/avx512/vec.h"
#include "kernels/table.h"

namespace tapegrad::kernels::avx512 {

#include "kernels/simd/fma_peak-inl.h"

// 24 chains of single-precision vectors (24 + 2 of the registers).
double fma_peak(double seconds) { return fma_peak_loop<F32, 24>(seconds); }

}  // namespace tapegrad::kernels::avx512
