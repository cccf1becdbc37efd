// Internal: sums in PyTorch's order for small and medium sizes (Note [summation order]).
#pragma once

#include <cstdint>

namespace tapegrad::kernels {

constexpr int64_t kMatchLimit = 32768;  // longest contiguous run summed in PyTorch's order
bool sum_in_matched_order(int64_t r, int64_t inner);
void sum_ordered_f32(int64_t outer, int64_t r, int64_t inner, const float* x, float* y);
void sum_ordered_f64(int64_t outer, int64_t r, int64_t inner, const double* x, double* y);

}  // namespace tapegrad::kernels
