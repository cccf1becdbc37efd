// AVX-512 GEMM: configs around the shared loop nest and micro-kernel (simd/gemm-inl.h).
// GCC 12 warns inside its own AVX-512 intrinsic headers (_mm512_undefined_* operands).
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <vector>

#include "kernels/avx512/vec.h"
#include "kernels/parallel.h"
#include "kernels/table.h"

namespace tapegrad::kernels::avx512 {

// Zen 4/5, Skylake-X, Sapphire Rapids: 32 zmm registers. The 14×2-vector tile keeps 28
// accumulators, two B vectors and one broadcast A value in registers; cache blocks come from
// the CPU's caches at start-up (Note [GEMM blocking]).
struct SgemmConfig {
  using F = F32;
  static constexpr int MR = 14, NV = 2;  // 14 × 32 floats
  static constexpr int DR1 = 14, DR2 = 12;  // direct-path rows for 1 and 2 vectors per row
  static constexpr bool dot_cols(int64_t n) { return n < 16; }  // below one vector
  static constexpr int DOT_R = 4, DOT_J = 5;
  static constexpr bool DOT_ROWS_OUTER = true;
};
struct DgemmConfig {
  using F = F64;
  static constexpr int MR = 14, NV = 2;  // 14 × 16 doubles
  static constexpr int DR1 = 14, DR2 = 12;
  static constexpr bool dot_cols(int64_t n) { return n < 8; }  // below one vector
  static constexpr int DOT_R = 4, DOT_J = 5;
  static constexpr bool DOT_ROWS_OUTER = false;
};

#include "kernels/simd/gemm-inl.h"
#include "kernels/simd/conv_gemm-inl.h"

void fill_gemm(KernelTable& t) {
  t.gemm_f32 = gemm<SgemmConfig, float>;
  t.gemm_f64 = gemm<DgemmConfig, double>;
  t.gemm_relu_f32 = gemm<SgemmConfig, float, true>;
  t.gemm_relu_f64 = gemm<DgemmConfig, double, true>;
  t.gemm_blocks_f32 = blocks_value<SgemmConfig>;
  t.gemm_blocks_f64 = blocks_value<DgemmConfig>;
  t.conv_gemm_f32 = conv_gemm<SgemmConfig, float>;
  t.conv_gemm_f64 = conv_gemm<DgemmConfig, double>;
  t.conv_gemm_weight_f32 = conv_gemm_weight<SgemmConfig, float>;
  t.conv_gemm_weight_f64 = conv_gemm_weight<DgemmConfig, double>;
}

}  // namespace tapegrad::kernels::avx512
