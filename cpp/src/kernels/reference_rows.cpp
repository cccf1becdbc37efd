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
  // ℓ = (1 − y)·x − log σ(x), log σ(x) = min(x, 0) − log(1 + e^−|x|): never overflows, and
  // PyTorch's order of operations, so the infinities agree too (x = +inf: +inf; x = −inf:
  // −inf + inf = NaN; max(x, 0) − x·y would swap them).
  for (int64_t i = 0; i < n; ++i) {
    const T log_sigmoid = std::min(x[i], T(0)) - std::log1p(std::exp(-std::fabs(x[i])));
    l[i] = (T(1) - y[i]) * x[i] - log_sigmoid;
  }
}

// Note [optimizer arithmetic]
// The updates round as PyTorch's CPU kernels do, so a run reproduces torch.optim's parameters:
// every `x.add_(y, alpha=a)`, `lerp_` and `addcmul_` there is one fused multiply-add
// (a·y + x, t·(b − a) + a, (value·y)·z + x), `mul_` and `addcdiv_` are plain roundings
// ((value·y)/z + x), and a hyper-parameter is first formed in double and then converted to the
// element type (e.g. 1 − β₁, −lr/(1 − β₁ᵗ)). SGD (no square root) matches bit for bit; the
// updates with a square root differ from PyTorch only where its vectorised sqrt is not
// correctly rounded (ours is). The SIMD versions (simd/update-inl.h) match these bit for bit.

// PyTorch's lerp: a + t·(b − a), or b − (1 − t)·(b − a) for large t (exact at t = 1).
template <class T>
T lerp(T a, T b, T t) {
  return std::fabs(t) < T(0.5) ? std::fma(t, b - a, a) : std::fma(t - T(1), b - a, b);
}

template <class T>
void sgd(int64_t n, T* w, const T* gr, T* b, const SgdParams& p) {
  if (p.momentum == 0 && p.weight_decay == 0) {
    // Plain SGD, w ← w + (∓lr)·g with one rounding (the fused axpy), as PyTorch's add_.
    const double a = p.maximize ? p.lr : -p.lr;
    if constexpr (sizeof(T) == 4) kernels::axpy_f32(n, static_cast<float>(a), gr, w);
    else kernels::axpy_f64(n, a, gr, w);
    return;
  }
  const T wd = static_cast<T>(p.weight_decay), mom = static_cast<T>(p.momentum);
  const T damp = static_cast<T>(1 - p.dampening), neg_lr = static_cast<T>(-p.lr);
  for (int64_t i = 0; i < n; ++i) {
    T d = p.maximize ? -gr[i] : gr[i];
    if (p.weight_decay != 0) d = std::fma(wd, w[i], d);
    if (b) {
      b[i] = p.first ? d : std::fma(damp, d, mom * b[i]);
      d = p.nesterov ? std::fma(mom, b[i], d) : b[i];
    }
    w[i] = std::fma(neg_lr, d, w[i]);
  }
}

template <class T>
void adam(int64_t n, T* w, const T* gr, T* m, T* v, T* vmax, const AdamParams& p) {
  const double bc1 = 1 - std::pow(p.beta1, static_cast<double>(p.step));
  const double bc2 = 1 - std::pow(p.beta2, static_cast<double>(p.step));
  const T neg_step_size = static_cast<T>(-(p.lr / bc1));
  const T bc2_sqrt = static_cast<T>(std::sqrt(bc2));
  const T wd = static_cast<T>(p.weight_decay), eps = static_cast<T>(p.eps);
  const T shrink = static_cast<T>(1 - p.lr * p.weight_decay);
  const T b2 = static_cast<T>(p.beta2);
  const T c1 = static_cast<T>(1 - p.beta1), c2 = static_cast<T>(1 - p.beta2);
  for (int64_t i = 0; i < n; ++i) {
    T d = p.maximize ? -gr[i] : gr[i];
    if (p.weight_decay != 0) {
      if (p.decoupled) w[i] = w[i] * shrink;
      else d = std::fma(wd, w[i], d);
    }
    m[i] = lerp(m[i], d, c1);
    v[i] = std::fma(c2 * d, d, b2 * v[i]);
    T s = v[i];
    if (vmax) {
      // torch.maximum: a NaN on either side propagates.
      vmax[i] = std::isnan(vmax[i]) ? vmax[i] : (vmax[i] > s ? vmax[i] : s);
      s = vmax[i];
    }
    const T denom = std::sqrt(s) / bc2_sqrt + eps;
    w[i] = neg_step_size * m[i] / denom + w[i];
  }
}

template <class T>
void rmsprop(int64_t n, T* w, const T* gr, T* sq, T* ga, T* buf, const RmspropParams& p) {
  const T wd = static_cast<T>(p.weight_decay), eps = static_cast<T>(p.eps);
  const T alpha = static_cast<T>(p.alpha), c = static_cast<T>(1 - p.alpha);
  const T mom = static_cast<T>(p.momentum), neg_lr = static_cast<T>(-p.lr);
  for (int64_t i = 0; i < n; ++i) {
    T d = p.maximize ? -gr[i] : gr[i];
    if (p.weight_decay != 0) d = std::fma(wd, w[i], d);
    sq[i] = std::fma(c * d, d, alpha * sq[i]);
    T avg;
    if (ga) {
      ga[i] = lerp(ga[i], d, c);
      avg = std::sqrt(std::fma(-ga[i], ga[i], sq[i]));
    } else {
      avg = std::sqrt(sq[i]);
    }
    avg = avg + eps;
    if (buf) {
      buf[i] = d / avg + mom * buf[i];
      w[i] = std::fma(neg_lr, buf[i], w[i]);
    } else {
      w[i] = neg_lr * d / avg + w[i];
    }
  }
}

template <class T>
void adagrad(int64_t n, T* w, const T* gr, T* sum, const AdagradParams& p) {
  const double clr = p.lr / (1 + static_cast<double>(p.step - 1) * p.lr_decay);
  const T neg_clr = static_cast<T>(-clr);
  const T wd = static_cast<T>(p.weight_decay), eps = static_cast<T>(p.eps);
  for (int64_t i = 0; i < n; ++i) {
    T d = p.maximize ? -gr[i] : gr[i];
    if (p.weight_decay != 0) d = std::fma(wd, w[i], d);
    sum[i] = std::fma(d, d, sum[i]);
    w[i] = neg_clr * d / (std::sqrt(sum[i]) + eps) + w[i];
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
  t.rmsprop_f32 = rmsprop<float>;
  t.rmsprop_f64 = rmsprop<double>;
  t.adagrad_f32 = adagrad<float>;
  t.adagrad_f64 = adagrad<double>;
}

}  // namespace tapegrad::kernels::ref
