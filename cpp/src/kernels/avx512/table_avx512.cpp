// AVX-512 kernels register themselves here (compiled with -mavx512f/bw/dq/vl).
#include "kernels/table.h"

namespace tapegrad::kernels::avx512 {
void fill_gemm(KernelTable& t);
void fill_elementwise(KernelTable& t);
void fill_norm(KernelTable& t);
void fill_conv(KernelTable& t);
void fill_winograd(KernelTable& t);
void fill_table(KernelTable& t) {
  fill_gemm(t);
  fill_elementwise(t);
  fill_norm(t);
  fill_conv(t);
  fill_winograd(t);
}
}  // namespace tapegrad::kernels::avx512
