// avx2 FMA throughput loop (shared source: simd/fma_peak-inl.h).
#include <algorithm>
#include <chrono>
#include <cstdint>

#include "kernels/avx2/vec.h"
#include "kernels/table.h"

namespace tapegrad::kernels::avx2 {

#include "kernels/simd/fma_peak-inl.h"

// 12 chains of single-precision vectors (12 + 2 of the registers).
double fma_peak(double seconds) { return fma_peak_loop<F32, 12>(seconds); }

}  // namespace tapegrad::kernels::avx2
