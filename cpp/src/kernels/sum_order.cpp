// Note [summation order]
// Learners compare tapegrad's printed numbers with PyTorch's, digit for digit, and a float32
// sum of 8 squared residuals rounds differently in a different order (one line in a thousand
// of the seed notebook's epoch log changed). So sums of up to kMatchLimit elements follow
// the order of PyTorch's CPU sum kernel, which is also a good order for accuracy:
//   * a contiguous run of n values is read as n/W vectors of W lanes (W = 32 bytes / item:
//     8 floats, 4 doubles); groups of 4 vectors are summed by a 4-level cascade (each level
//     absorbs 2^p groups, p = max(4, ⌈log2 groups⌉ / 4)); leftover vectors go to the first
//     of the 4 partial vectors, which are then added in order; the scalar tail is summed
//     first and the W lanes are added to it in order;
//   * a column sum over r rows (inner > 1) runs the same cascade down each column; the last
//     inner mod 4W columns instead group rows in fours, as the contiguous case does.
// Checked bit for bit against PyTorch 2.13 (tests/test_sum_order.py). A contiguous run longer
// than kMatchLimit is split across threads by PyTorch, so there the SIMD kernels' blocked
// pairwise sums (Note [accurate sums]) take over; column sums keep this order at any size. The code is portable and shared by every target, so
// results do not depend on TAPEGRAD_ARCH.
#include <algorithm>
#include <cstring>

#include "kernels/sum_order.h"

namespace tapegrad::kernels {

namespace {

int64_t ceil_log2(int64_t x) {
  if (x <= 1) return 0;
  return 64 - __builtin_clzll(static_cast<unsigned long long>(x - 1));
}

// Cascade sum of `n` rows of K accumulators; add_row(i, acc) adds row i into acc[0..K).
template <class T, int K, class AddRow>
void cascade(int64_t n, AddRow add_row, T* out) {
  constexpr int kLevels = 4;
  const int64_t power = std::max<int64_t>(4, ceil_log2(n) / kLevels);
  const int64_t step = int64_t(1) << power, mask = step - 1;
  T acc[kLevels][K];
  std::memset(acc, 0, sizeof(acc));
  int64_t i = 0;
  while (i + step <= n) {
    for (int64_t j = 0; j < step; ++j, ++i) add_row(i, acc[0]);
    for (int l = 1; l < kLevels; ++l) {
      for (int k = 0; k < K; ++k) {
        acc[l][k] += acc[l - 1][k];
        acc[l - 1][k] = T(0);
      }
      if ((i & (mask << (l * power))) != 0) break;
    }
  }
  for (; i < n; ++i) add_row(i, acc[0]);
  for (int l = 1; l < kLevels; ++l)
    for (int k = 0; k < K; ++k) acc[0][k] += acc[l][k];
  std::copy(acc[0], acc[0] + K, out);
}

// Σ over n rows of width K (row i at x + i·stride) with 4-way interleaving of rows.
template <class T, int K>
void rows_ilp4(int64_t n, const T* x, int64_t stride, T* out) {
  const int64_t groups = n / 4;
  T parts[4 * K];
  cascade<T, 4 * K>(groups, [&](int64_t g, T* acc) {
    for (int u = 0; u < 4; ++u) {
      const T* row = x + (g * 4 + u) * stride;
      for (int k = 0; k < K; ++k) acc[u * K + k] += row[k];
    }
  }, parts);
  for (int64_t i = groups * 4; i < n; ++i)
    for (int k = 0; k < K; ++k) parts[k] += x[i * stride + k];
  for (int u = 1; u < 4; ++u)
    for (int k = 0; k < K; ++k) parts[k] += parts[u * K + k];
  std::copy(parts, parts + K, out);
}

template <class T>
T run_sum(int64_t n, const T* x) {
  constexpr int W = 32 / sizeof(T);
  const int64_t nv = n / W;
  if (nv < 4) {
    // Fewer than 4 vectors (a few squared residuals): no cascade level fills, so each lane is
    // the plain in-order sum of its column, the same additions as below without clearing and
    // copying the cascade's accumulators. (rows_ilp4 then adds its three all-zero partials:
    // a lane sum starts at +0 and so is never −0, and adding +0 leaves it unchanged.)
    T lanes[W];
    for (int k = 0; k < W; ++k) {
      T p = T(0);
      for (int64_t i = 0; i < nv; ++i) p += x[i * W + k];
      lanes[k] = p;
    }
    T s = T(0);
    for (int64_t t = nv * W; t < n; ++t) s += x[t];
    for (int l = 0; l < W; ++l) s += lanes[l];
    return s;
  }
  T lanes[W] = {};
  if (nv > 0) rows_ilp4<T, W>(nv, x, W, lanes);
  T s = T(0);
  for (int64_t t = nv * W; t < n; ++t) s += x[t];
  for (int l = 0; l < W; ++l) s += lanes[l];
  return s;
}

template <class T>
void column_sum(int64_t r, int64_t inner, const T* x, T* y) {
  constexpr int W = 32 / sizeof(T);
  constexpr int B = 4 * W;  // columns per cascade block
  const int64_t blocked = inner / B * B;
  for (int64_t c = 0; c < blocked; c += B)
    cascade<T, B>(r, [&](int64_t i, T* acc) {
      const T* row = x + i * inner + c;
      for (int k = 0; k < B; ++k) acc[k] += row[k];
    }, y + c);
  for (int64_t c = blocked; c < inner; ++c) rows_ilp4<T, 1>(r, x + c, inner, y + c);
}

template <class T>
void sum_ordered(int64_t outer, int64_t r, int64_t inner, const T* x, T* y) {
  for (int64_t o = 0; o < outer; ++o) {
    const T* xo = x + o * r * inner;
    if (inner == 1) y[o] = run_sum(r, xo);
    else column_sum(r, inner, xo, y + o * inner);
  }
}

}  // namespace

bool sum_in_matched_order(int64_t r, int64_t inner) { return inner > 1 || r <= kMatchLimit; }

void sum_ordered_f32(int64_t outer, int64_t r, int64_t inner, const float* x, float* y) {
  sum_ordered(outer, r, inner, x, y);
}
void sum_ordered_f64(int64_t outer, int64_t r, int64_t inner, const double* x, double* y) {
  sum_ordered(outer, r, inner, x, y);
}

}  // namespace tapegrad::kernels
