// Portable reference kernels of the normalization rows (batch norm, layer norm) and the
// embedding rows (tapegrad/kernels.h). Sums run in double with one rounding at the end
// (Note [accurate sums] in reference.cpp), so a channel of 10⁶ float32 elements keeps its
// mean and variance to float32 precision.
#include <cmath>
#include <cstring>
#include <vector>

#include "kernels/table.h"

namespace tapegrad::kernels::ref {

namespace {

// Per channel ch of x (n, c, l): the elements x[i, ch, j] for i < n, j < l.
template <class T, class Fn>
void each_in_channel(int64_t n, int64_t c, int64_t l, int64_t ch, const T* x, Fn fn) {
  for (int64_t i = 0; i < n; ++i) {
    const T* row = x + (i * c + ch) * l;
    for (int64_t j = 0; j < l; ++j) fn(row[j], i * c * l + ch * l + j);
  }
}

// Two passes (mean, then Σ(x − mean)²): the one-pass E[x²] − E[x]² cancels catastrophically
// when |mean| ≫ std. An empty channel gives NaN (0/0), as PyTorch.
template <class T>
void batch_norm_stats(int64_t n, int64_t c, int64_t l, const T* x, double eps, T* mean, T* var,
                      T* rstd) {
  const double m = static_cast<double>(n * l);
  for (int64_t ch = 0; ch < c; ++ch) {
    double s = 0;
    each_in_channel(n, c, l, ch, x, [&](T v, int64_t) { s += double(v); });
    const double mu = s / m;
    double q = 0;
    each_in_channel(n, c, l, ch, x, [&](T v, int64_t) {
      const double d = double(v) - mu;
      q += d * d;
    });
    mean[ch] = T(mu);
    var[ch] = T(q / m);
    rstd[ch] = T(1.0 / std::sqrt(q / m + eps));
  }
}

// y = x·α + β per channel, α = rstd·w, β = b − mean·α (PyTorch's CPU kernel folds it so too).
template <class T>
void batch_norm_apply(const BatchNormArgs<T>& a, const T* b, T* y) {
  for (int64_t ch = 0; ch < a.c; ++ch) {
    const T alpha = a.rstd[ch] * (a.w ? a.w[ch] : T(1));
    const T beta = (b ? b[ch] : T(0)) - a.mean[ch] * alpha;
    for (int64_t i = 0; i < a.n; ++i) {
      const int64_t o = (i * a.c + ch) * a.l;
      for (int64_t j = 0; j < a.l; ++j) y[o + j] = a.x[o + j] * alpha + beta;
    }
  }
}

template <class T>
void batch_norm_backward(const BatchNormArgs<T>& a, bool training, const T* g, T* dx, T* dw) {
  const double m = static_cast<double>(a.n * a.l);
  for (int64_t ch = 0; ch < a.c; ++ch) {
    const double mu = a.mean[ch], r = a.rstd[ch];
    double sg = 0, sgxc = 0;  // Σg, Σ g·(x − mean)
    each_in_channel(a.n, a.c, a.l, ch, a.x, [&](T v, int64_t o) {
      sg += double(g[o]);
      sgxc += double(g[o]) * (double(v) - mu);
    });
    if (dw) dw[ch] = T(sgxc * r);  // Σ g·x̂
    if (!dx) continue;
    const T scale = T(r * (a.w ? double(a.w[ch]) : 1.0));
    if (!training) {
      each_in_channel(a.n, a.c, a.l, ch, a.x, [&](T, int64_t o) { dx[o] = g[o] * scale; });
      continue;
    }
    // dx = (g − Σg/m − (x − mean)·r²·Σ g·(x − mean)/m)·r·w
    const T gmean = T(sg / m), k = T(sgxc * r * r / m), tmu = T(mu);
    each_in_channel(a.n, a.c, a.l, ch, a.x,
                    [&](T v, int64_t o) { dx[o] = (g[o] - gmean - (v - tmu) * k) * scale; });
  }
}

template <class T>
void layer_norm(int64_t m, int64_t n, const T* x, const T* w, const T* b, double eps, T* y,
                T* mean, T* rstd) {
  for (int64_t r = 0; r < m; ++r) {
    const T* xr = x + r * n;
    T* yr = y + r * n;
    double s = 0;
    for (int64_t j = 0; j < n; ++j) s += double(xr[j]);
    const double mu = s / double(n);
    double q = 0;
    for (int64_t j = 0; j < n; ++j) q += (double(xr[j]) - mu) * (double(xr[j]) - mu);
    const double rs = 1.0 / std::sqrt(q / double(n) + eps);
    mean[r] = T(mu);
    rstd[r] = T(rs);
    const T tmu = T(mu), trs = T(rs);
    for (int64_t j = 0; j < n; ++j) {
      T v = (xr[j] - tmu) * trs;
      if (w) v = v * w[j];
      if (b) v = v + b[j];
      yr[j] = v;
    }
  }
}

template <class T>
void layer_norm_backward(int64_t m, int64_t n, const T* g, const T* x, const T* mean,
                         const T* rstd, const T* w, T* dx, T* dw) {
  std::vector<double> acc(dw ? static_cast<size_t>(n) : 0, 0.0);  // dw, summed in double
  for (int64_t r = 0; r < m; ++r) {
    const T* gr = g + r * n;
    const T* xr = x + r * n;
    const T mu = mean[r], rs = rstd[r];
    if (dw)
      for (int64_t j = 0; j < n; ++j) acc[j] += double(gr[j] * ((xr[j] - mu) * rs));
    if (!dx) continue;
    double sh = 0, shx = 0;  // Σh, Σ h·x̂ with h = g·w
    for (int64_t j = 0; j < n; ++j) {
      const double h = double(gr[j]) * (w ? double(w[j]) : 1.0);
      sh += h;
      shx += h * (double(xr[j]) - double(mu)) * double(rs);
    }
    const T hmean = T(sh / double(n)), hxmean = T(shx / double(n));
    T* dr = dx + r * n;
    for (int64_t j = 0; j < n; ++j) {
      const T h = w ? gr[j] * w[j] : gr[j];
      dr[j] = rs * (h - hmean - ((xr[j] - mu) * rs) * hxmean);
    }
  }
  for (size_t j = 0; j < acc.size(); ++j) dw[j] = T(acc[j]);
}

template <class T>
void embedding_gather_t(int64_t n, int64_t d, const T* w, const int64_t* idx, int64_t pad, T* y) {
  for (int64_t r = 0; r < n; ++r) {
    if (idx[r] == pad) std::memset(y + r * d, 0, sizeof(T) * static_cast<size_t>(d));
    else std::memcpy(y + r * d, w + idx[r] * d, sizeof(T) * static_cast<size_t>(d));
  }
}

void embedding_gather(Elem t, int64_t n, int64_t d, const void* w, const int64_t* idx,
                      int64_t pad, void* y) {
  if (t == Elem::f32)
    embedding_gather_t(n, d, static_cast<const float*>(w), idx, pad, static_cast<float*>(y));
  else
    embedding_gather_t(n, d, static_cast<const double*>(w), idx, pad, static_cast<double*>(y));
}

// Row adds go through the dispatched binary kernel (SIMD where the CPU has it).
void embedding_scatter_add(Elem t, int64_t n, int64_t d, const void* g, const int64_t* idx,
                           int64_t pad, void* dw) {
  for (int64_t r = 0; r < n; ++r) {
    if (idx[r] == pad) continue;
    if (t == Elem::f32) {
      float* row = static_cast<float*>(dw) + idx[r] * d;
      kernels::binary_f32(Binary::add, d, row, 1, static_cast<const float*>(g) + r * d, 1, row);
    } else {
      double* row = static_cast<double*>(dw) + idx[r] * d;
      kernels::binary_f64(Binary::add, d, row, 1, static_cast<const double*>(g) + r * d, 1, row);
    }
  }
}

}  // namespace

void fill_norm(KernelTable& t) {
  t.batch_norm_stats_f32 = batch_norm_stats<float>;
  t.batch_norm_stats_f64 = batch_norm_stats<double>;
  t.batch_norm_apply_f32 = batch_norm_apply<float>;
  t.batch_norm_apply_f64 = batch_norm_apply<double>;
  t.batch_norm_backward_f32 = batch_norm_backward<float>;
  t.batch_norm_backward_f64 = batch_norm_backward<double>;
  t.layer_norm_f32 = layer_norm<float>;
  t.layer_norm_f64 = layer_norm<double>;
  t.layer_norm_backward_f32 = layer_norm_backward<float>;
  t.layer_norm_backward_f64 = layer_norm_backward<double>;
  t.embedding_gather = embedding_gather;
  t.embedding_scatter_add = embedding_scatter_add;
}

}  // namespace tapegrad::kernels::ref
