// AVX2+FMA kernels register themselves here (compiled with -mavx2 -mfma).
#include "kernels/table.h"

namespace tapegrad::kernels::avx2 {
void fill_gemm(KernelTable& t);
void fill_elementwise(KernelTable& t);
void fill_norm(KernelTable& t);
void fill_conv(KernelTable& t);
void fill_table(KernelTable& t) {
  fill_gemm(t);
  fill_elementwise(t);
  fill_norm(t);
  fill_conv(t);
}
}  // namespace tapegrad::kernels::avx2
