// AVX2+FMA GEMM: configs around the shared loop nest and micro-kernel (simd/gemm-inl.h).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <new>
#include <type_traits>
#include <vector>

#include "kernels/avx2/vec.h"
#include "kernels/parallel.h"
#include "kernels/table.h"

namespace tapegrad::kernels::avx2 {

// Haswell..Zen 3: 16 ymm registers. The 6×2-vector tile keeps 12 accumulators, two B vectors
// and one broadcast A value in registers (15 of 16).
struct SgemmConfig {
  using F = F32;
  static constexpr int MR = 6, NV = 2;  // 6 × 16 floats
  static constexpr int DR1 = 12, DR2 = 6;  // direct-path rows for 1 and 2 vectors per row
  // Dot path (gemm_dot) below 12 columns, not only below one vector (8): for 8 to 11 columns
  // the direct path fills 8 of 8 lanes but issues a broadcast load per FMA (one vector), or
  // fills 9 to 11 of 16 lanes (two); row tiles outer, so A is read once (Note [dot path]).
  static constexpr bool dot_cols(int64_t n) { return n < 12; }
  static constexpr int DOT_R = 2, DOT_J = 5;
  static constexpr bool DOT_ROWS_OUTER = true;
};
struct DgemmConfig {
  using F = F64;
  static constexpr int MR = 6, NV = 2;  // 6 × 8 doubles
  static constexpr int DR1 = 12, DR2 = 6;
  // Dot path below one vector and for 9 to 11 columns, where the direct path's second block
  // fills 1 to 3 of 4 lanes; at 5 to 8 its 8-column block is full or nearly (Note [dot path]).
  static constexpr bool dot_cols(int64_t n) { return n < 4 || (n > 8 && n < 12); }
  static constexpr int DOT_R = 2, DOT_J = 5;
  static constexpr bool DOT_ROWS_OUTER = true;
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

}  // namespace tapegrad::kernels::avx2
