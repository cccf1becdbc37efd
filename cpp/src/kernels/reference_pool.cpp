// Portable reference kernels for pooling (tapegrad/kernels.h, "Pooling"): max and average over
// precomputed windows of each H×W plane, and the average's adjoint. Planes are independent,
// so large calls split them across the thread pool; each plane is one sequential loop nest, so
// results do not depend on the number of threads.
//
// Note [tiled pooling]
// The common case -- kernel == stride, no padding, dilation or ceil_mode overhang -- tiles
// each plane's top-left out_h·k_h × out_w·k_w block with disjoint windows. tiled() recognises
// it from the windows themselves (window oi starts at oi·k_h and holds k_h rows, step 1; the
// same for columns), and the tiled loops then address rows directly instead of through the
// window tables. They keep the reference's arithmetic exactly, so results are bit-identical:
// sums start at 0 and add row by row (0 + (−0) is +0, as in the reference), the backward's
// share is 0 + g/d (the reference adds it into a zeroed dx), and a divisor is replaced by its
// reciprocal only when it is a power of two, where x·2⁻ⁿ and x/2ⁿ round the same exact value.
// The backward writes every element of dx once (uncovered rows and columns get 0), so dx
// needs no zero-fill; the general backward zeroes its own planes for the same contract.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "kernels/parallel.h"
#include "kernels/table.h"

namespace tapegrad::kernels::ref {

namespace {

// Planes per task: enough work (~16k window reads) to be worth a hand-off.
int64_t plane_grain(const PoolWindows& w) {
  const int64_t per_plane = std::max<int64_t>(1, w.out_h * w.out_w * 4);
  return std::max<int64_t>(1, 16384 / per_plane);
}

// Whether the windows tile the plane (Note [tiled pooling]); sets the window sizes.
bool tiled(const PoolWindows& w, int64_t& kh, int64_t& kw) {
  if (w.out_h < 1 || w.out_w < 1) return false;
  kh = w.count_h[0];
  kw = w.count_w[0];
  if ((kh > 1 && w.step_h != 1) || (kw > 1 && w.step_w != 1)) return false;
  for (int64_t o = 0; o < w.out_h; ++o)
    if (w.start_h[o] != o * kh || w.count_h[o] != kh) return false;
  for (int64_t o = 0; o < w.out_w; ++o)
    if (w.start_w[o] != o * kw || w.count_w[o] != kw) return false;
  return w.out_h * kh <= w.in_h && w.out_w * kw <= w.in_w;
}

bool power_of_two(int64_t d) { return d > 0 && (d & (d - 1)) == 0; }

template <class T>
void max_pool2d_tiled(int64_t planes, const PoolWindows& w, int64_t kh, int64_t kw, const T* x,
                      T* y, int64_t* idx, int64_t* off) {
  const int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  parallel_for(planes, plane_grain(w), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      const T* xp = x + p * in_plane;
      for (int64_t oi = 0; oi < w.out_h; ++oi) {
        const int64_t o0 = p * out_plane + oi * w.out_w;
        for (int64_t oj = 0; oj < w.out_w; ++oj) {
          T best = -std::numeric_limits<T>::infinity();
          int64_t at = oi * kh * w.in_w + oj * kw;
          for (int64_t a = 0; a < kh; ++a) {
            const int64_t r = (oi * kh + a) * w.in_w + oj * kw;
            for (int64_t b = 0; b < kw; ++b) {
              const T v = xp[r + b];
              const bool take = (v > best) | (v != v);
              best = take ? v : best;
              at = take ? r + b : at;
            }
          }
          y[o0 + oj] = best;
          idx[o0 + oj] = at;
          if (off) off[o0 + oj] = p * in_plane + at;
        }
      }
    }
  });
}

// y[oi, oj] = (Σ window) / d for one output row; the 2×2 case unrolled (the LeNet shape).
template <class T>
void avg_row_tiled(const PoolWindows& w, int64_t kh, int64_t kw, const T* rows, const T* dv,
                   bool recip, T* yrow) {
  if (kh == 2 && kw == 2) {
    const T* r0 = rows;
    const T* r1 = rows + w.in_w;
    for (int64_t oj = 0; oj < w.out_w; ++oj) {
      const T s = ((((T(0) + r0[2 * oj]) + r0[2 * oj + 1]) + r1[2 * oj]) + r1[2 * oj + 1]);
      yrow[oj] = recip ? s * dv[oj] : s / dv[oj];
    }
    return;
  }
  for (int64_t oj = 0; oj < w.out_w; ++oj) {
    T s = 0;
    for (int64_t a = 0; a < kh; ++a)
      for (int64_t b = 0; b < kw; ++b) s += rows[a * w.in_w + oj * kw + b];
    yrow[oj] = recip ? s * dv[oj] : s / dv[oj];
  }
}

inline int64_t divisor_at(const int64_t* div_h, const int64_t* div_w, int64_t divisor,
                          int64_t oi, int64_t oj) {
  return divisor > 0 ? divisor : div_h[oi] * div_w[oj];
}

// Per output row oi: the divisors of its windows (or their reciprocals when all are powers of
// two, Note [tiled pooling]) into dv; returns whether they are reciprocals.
template <class T>
bool row_divisors(const PoolWindows& w, const int64_t* div_h, const int64_t* div_w,
                  int64_t divisor, int64_t oi, T* dv) {
  bool recip = true;
  for (int64_t oj = 0; oj < w.out_w; ++oj)
    recip = recip && power_of_two(divisor_at(div_h, div_w, divisor, oi, oj));
  for (int64_t oj = 0; oj < w.out_w; ++oj) {
    const T d = static_cast<T>(divisor_at(div_h, div_w, divisor, oi, oj));
    dv[oj] = recip ? T(1) / d : d;
  }
  return recip;
}

template <class T>
void avg_pool2d_tiled(int64_t planes, const PoolWindows& w, int64_t kh, int64_t kw,
                      const int64_t* div_h, const int64_t* div_w, int64_t divisor, const T* x,
                      T* y) {
  const int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  std::vector<T> dv(static_cast<size_t>(out_plane));
  std::vector<char> recip(static_cast<size_t>(w.out_h));
  for (int64_t oi = 0; oi < w.out_h; ++oi)
    recip[oi] = row_divisors(w, div_h, div_w, divisor, oi, dv.data() + oi * w.out_w);
  parallel_for(planes, plane_grain(w), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p)
      for (int64_t oi = 0; oi < w.out_h; ++oi)
        avg_row_tiled(w, kh, kw, x + p * in_plane + oi * kh * w.in_w, dv.data() + oi * w.out_w,
                      recip[oi] != 0, y + p * out_plane + oi * w.out_w);
  });
}

template <class T>
void avg_pool2d_backward_tiled(int64_t planes, const PoolWindows& w, int64_t kh, int64_t kw,
                               const int64_t* div_h, const int64_t* div_w, int64_t divisor,
                               const T* g, T* dx) {
  const int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  const int64_t cover_w = w.out_w * kw;
  std::vector<T> dv(static_cast<size_t>(out_plane));
  std::vector<char> recip(static_cast<size_t>(w.out_h));
  for (int64_t oi = 0; oi < w.out_h; ++oi)
    recip[oi] = row_divisors(w, div_h, div_w, divisor, oi, dv.data() + oi * w.out_w);
  parallel_for(planes, plane_grain(w), [&](int64_t p0, int64_t p1) {
    std::vector<T> share(static_cast<size_t>(cover_w));
    for (int64_t p = p0; p < p1; ++p) {
      T* dp = dx + p * in_plane;
      for (int64_t oi = 0; oi < w.out_h; ++oi) {
        const T* gr = g + p * out_plane + oi * w.out_w;
        const T* d = dv.data() + oi * w.out_w;
        // 0 + g/d: what the reference leaves in a zeroed dx (−0 becomes +0).
        if (recip[oi]) {
          for (int64_t oj = 0; oj < w.out_w; ++oj) {
            const T s = T(0) + gr[oj] * d[oj];
            for (int64_t b = 0; b < kw; ++b) share[oj * kw + b] = s;
          }
        } else {
          for (int64_t oj = 0; oj < w.out_w; ++oj) {
            const T s = T(0) + gr[oj] / d[oj];
            for (int64_t b = 0; b < kw; ++b) share[oj * kw + b] = s;
          }
        }
        for (int64_t a = 0; a < kh; ++a) {
          T* row = dp + (oi * kh + a) * w.in_w;
          std::copy(share.begin(), share.end(), row);
          std::fill(row + cover_w, row + w.in_w, T(0));
        }
      }
      std::fill(dp + w.out_h * kh * w.in_w, dp + in_plane, T(0));
    }
  });
}

template <class T>
void max_pool2d_t(int64_t planes, const PoolWindows& w, const T* x, T* y, int64_t* idx,
                  int64_t* off) {
  int64_t kh, kw;
  if (tiled(w, kh, kw)) return max_pool2d_tiled(planes, w, kh, kw, x, y, idx, off);
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

template <class T>
void avg_pool2d_t(int64_t planes, const PoolWindows& w, const int64_t* div_h,
                  const int64_t* div_w, int64_t divisor, const T* x, T* y) {
  int64_t kh, kw;
  if (tiled(w, kh, kw)) return avg_pool2d_tiled(planes, w, kh, kw, div_h, div_w, divisor, x, y);
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
  int64_t kh, kw;
  if (tiled(w, kh, kw))
    return avg_pool2d_backward_tiled(planes, w, kh, kw, div_h, div_w, divisor, g, dx);
  const int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  parallel_for(planes, plane_grain(w), [&](int64_t p0, int64_t p1) {
    for (int64_t p = p0; p < p1; ++p) {
      T* dp = dx + p * in_plane;
      std::fill(dp, dp + in_plane, T(0));  // dx arrives uninitialised (Note [tiled pooling])
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
