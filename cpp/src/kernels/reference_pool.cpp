// Portable reference kernels for pooling (tapegrad/kernels.h, "Pooling"): max and average over
// precomputed windows of each H×W plane, and the average's adjoint. Planes are independent,
// so large calls split them across the thread pool; each plane is one sequential loop nest, so
// results do not depend on the number of threads.
#include <algorithm>
#include <cmath>
#include <limits>

#include "kernels/parallel.h"
#include "kernels/table.h"

namespace tapegrad::kernels::ref {

namespace {

// Planes per task: enough work (~16k window reads) to be worth a hand-off.
int64_t plane_grain(const PoolWindows& w) {
  const int64_t per_plane = std::max<int64_t>(1, w.out_h * w.out_w * 4);
  return std::max<int64_t>(1, 16384 / per_plane);
}

template <class T>
void max_pool2d_t(int64_t planes, const PoolWindows& w, const T* x, T* y, int64_t* idx,
                  int64_t* off) {
  const int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  parallel_for(planes, plane_grain(w), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * in_plane;
      for (int64_t oi = 0; oi < w.out_h; ++oi) {
        for (int64_t oj = 0; oj < w.out_w; ++oj) {
          // PyTorch's rule: start at −∞ with the window's first element as the index; a
          // strictly larger value or any NaN takes over (ties keep the first maximum).
          T best = -std::numeric_limits<T>::infinity();
          int64_t at = w.start_h[oi] * w.in_w + w.start_w[oj];
          for (int64_t a = 0; a < w.count_h[oi]; ++a) {
            const int64_t ih = w.start_h[oi] + a * w.step_h;
            for (int64_t b = 0; b < w.count_w[oj]; ++b) {
              const int64_t i = ih * w.in_w + w.start_w[oj] + b * w.step_w;
              const T v = xp[i];
              // Selects, not a branch: on real data which element wins is unpredictable.
              const bool take = (v > best) | (v != v);
              best = take ? v : best;
              at = take ? i : at;
            }
          }
          const int64_t o = p * out_plane + oi * w.out_w + oj;
          y[o] = best;
          idx[o] = at;
          if (off) off[o] = p * in_plane + at;
        }
      }
    }
  });
}

inline int64_t divisor_at(const int64_t* div_h, const int64_t* div_w, int64_t divisor,
                          int64_t oi, int64_t oj) {
  return divisor > 0 ? divisor : div_h[oi] * div_w[oj];
}

template <class T>
void avg_pool2d_t(int64_t planes, const PoolWindows& w, const int64_t* div_h,
                  const int64_t* div_w, int64_t divisor, const T* x, T* y) {
  const int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  parallel_for(planes, plane_grain(w), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * in_plane;
      for (int64_t oi = 0; oi < w.out_h; ++oi) {
        for (int64_t oj = 0; oj < w.out_w; ++oj) {
          T sum = 0;
          for (int64_t a = 0; a < w.count_h[oi]; ++a) {
            const T* row = xp + (w.start_h[oi] + a * w.step_h) * w.in_w + w.start_w[oj];
            for (int64_t b = 0; b < w.count_w[oj]; ++b) sum += row[b * w.step_w];
          }
          y[p * out_plane + oi * w.out_w + oj] =
              sum / static_cast<T>(divisor_at(div_h, div_w, divisor, oi, oj));
        }
      }
    }
  });
}

template <class T>
void avg_pool2d_backward_t(int64_t planes, const PoolWindows& w, const int64_t* div_h,
                           const int64_t* div_w, int64_t divisor, const T* g, T* dx) {
  const int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  parallel_for(planes, plane_grain(w), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* dp = dx + p * in_plane;
      for (int64_t oi = 0; oi < w.out_h; ++oi) {
        for (int64_t oj = 0; oj < w.out_w; ++oj) {
          const T share = g[p * out_plane + oi * w.out_w + oj] /
                          static_cast<T>(divisor_at(div_h, div_w, divisor, oi, oj));
          for (int64_t a = 0; a < w.count_h[oi]; ++a) {
            T* row = dp + (w.start_h[oi] + a * w.step_h) * w.in_w + w.start_w[oj];
            for (int64_t b = 0; b < w.count_w[oj]; ++b) row[b * w.step_w] += share;
          }
        }
      }
    }
  });
}

void max_pool2d(Elem t, int64_t planes, const PoolWindows& w, const void* x, void* y,
                int64_t* idx, int64_t* off) {
  if (t == Elem::f32)
    max_pool2d_t(planes, w, static_cast<const float*>(x), static_cast<float*>(y), idx, off);
  else
    max_pool2d_t(planes, w, static_cast<const double*>(x), static_cast<double*>(y), idx, off);
}

void avg_pool2d(Elem t, int64_t planes, const PoolWindows& w, const int64_t* div_h,
                const int64_t* div_w, int64_t divisor, const void* x, void* y) {
  if (t == Elem::f32)
    avg_pool2d_t(planes, w, div_h, div_w, divisor, static_cast<const float*>(x),
                 static_cast<float*>(y));
  else
    avg_pool2d_t(planes, w, div_h, div_w, divisor, static_cast<const double*>(x),
                 static_cast<double*>(y));
}

void avg_pool2d_backward(Elem t, int64_t planes, const PoolWindows& w, const int64_t* div_h,
                         const int64_t* div_w, int64_t divisor, const void* g, void* dx) {
  if (t == Elem::f32)
    avg_pool2d_backward_t(planes, w, div_h, div_w, divisor, static_cast<const float*>(g),
                          static_cast<float*>(dx));
  else
    avg_pool2d_backward_t(planes, w, div_h, div_w, divisor, static_cast<const double*>(g),
                          static_cast<double*>(dx));
}

}  // namespace

void fill_pool(KernelTable& t) {
  t.max_pool2d = max_pool2d;
  t.avg_pool2d = avg_pool2d;
  t.avg_pool2d_backward = avg_pool2d_backward;
}

}  // namespace tapegrad::kernels::ref
