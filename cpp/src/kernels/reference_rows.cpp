// Portable reference kernels for the small fused rows of losses and optimizers, and relu's
// backward. Each loop is written exactly as the formula in kernels.h rounds it: the SIMD
// versions must match these bit for bit (no FMA contraction: -ffp-contract=off).
#include <algorithm>
#include <cmath>

#include "kernels/table.h"

namespace tapegrad::kernels::ref {

namespace {

template <class T>
void relu_backward(int64_t n, const T* __restrict y, const T* __restrict g, T* __restrict dx) {
  // Multiplying by the 0/1 mask (not a branch: the mask is random, so branches mispredict).
  for (int64_t i = 0; i < n; ++i) dx[i] = g[i] * static_cast<T>(!(y[i] <= T(0)));
}

template <class T>
double accumulate(int64_t n, const T* x) {
  double acc = 0;
  for (int64_t i = 0; i < n; ++i) acc += static_cast<double>(x[i]);
  return acc;
}

template <class T>
double mse_sum(int64_t n, const T* a, const T* b) {
  double acc = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - static_cast<double>(b[i]);
    acc += d * d;
  }
  return acc;
}

template <class T>
void scaled_diff(int64_t n, T c, const T* a, const T* b, T* d) {
  for (int64_t i = 0; i < n; ++i) d[i] = c * (a[i] - b[i]);
}

template <class T>
void bce_with_logits(int64_t n, const T* x, const T* y, T* l) {
  // ℓ = max(x, 0) − x·y + log(1 + e^−|x|): never overflows.
  for (int64_t i = 0; i < n; ++i)
    l[i] = std::max(x[i], T(0)) - x[i] * y[i] + std::log1p(std::exp(-std::fabs(x[i])));
}

template <class T>
void sgd(int64_t n, T* w, const T* gr, T* b, const SgdParams& p) {
  if (p.momentum == 0 && p.weight_decay == 0) {
    // Plain SGD, w ← w + (−lr)·g with one rounding (the fused axpy), as PyTorch's add_.
    if constexpr (sizeof(T) == 4) kernels::axpy_f32(n, -static_cast<float>(p.lr), gr, w);
    else kernels::axpy_f64(n, -p.lr, gr, w);
    return;
  }
  const T wd = static_cast<T>(p.weight_decay), mom = static_cast<T>(p.momentum);
  const T damp = static_cast<T>(1 - p.dampening), neg_lr = -static_cast<T>(p.lr);
  for (int64_t i = 0; i < n; ++i) {
    T d = gr[i];
    if (p.weight_decay != 0) d += wd * w[i];
    if (b) {
      b[i] = p.first ? d : mom * b[i] + damp * d;
      d = p.nesterov ? d + mom * b[i] : b[i];
    }
    // w ← w − lr·d as one fused multiply-add, as PyTorch's add_(d, alpha=−lr) rounds it.
    w[i] = std::fma(neg_lr, d, w[i]);
  }
}

template <class T>
void adam(int64_t n, T* w, const T* gr, T* m, T* v, const AdamParams& p) {
  const double bc1 = 1 - std::pow(p.beta1, static_cast<double>(p.step));
  const double bc2 = 1 - std::pow(p.beta2, static_cast<double>(p.step));
  const T step_size = static_cast<T>(p.lr / bc1);
  const T bc2_sqrt = static_cast<T>(std::sqrt(bc2));
  const T wd = static_cast<T>(p.weight_decay), eps = static_cast<T>(p.eps);
  const T b1 = static_cast<T>(p.beta1), b2 = static_cast<T>(p.beta2);
  const T c1 = static_cast<T>(1 - p.beta1), c2 = static_cast<T>(1 - p.beta2);
  for (int64_t i = 0; i < n; ++i) {
    T d = gr[i];
    if (p.weight_decay != 0) d += wd * w[i];
    m[i] = b1 * m[i] + c1 * d;
    v[i] = b2 * v[i] + c2 * d * d;
    const T denom = std::sqrt(v[i]) / bc2_sqrt + eps;
    w[i] -= step_size * m[i] / denom;
  }
}

}  // namespace

void fill_rows(KernelTable& t) {
  t.relu_backward_f32 = relu_backward<float>;
  t.relu_backward_f64 = relu_backward<double>;
  t.accumulate_f32 = accumulate<float>;
  t.accumulate_f64 = accumulate<double>;
  t.mse_sum_f32 = mse_sum<float>;
  t.mse_sum_f64 = mse_sum<double>;
  t.scaled_diff_f32 = scaled_diff<float>;
  t.scaled_diff_f64 = scaled_diff<double>;
  t.bce_with_logits_f32 = bce_with_logits<float>;
  t.bce_with_logits_f64 = bce_with_logits<double>;
  t.sgd_f32 = sgd<float>;
  t.sgd_f64 = sgd<double>;
  t.adam_f32 = adam<float>;
  t.adam_f64 = adam<double>;
}

}  // namespace tapegrad::kernels::ref
