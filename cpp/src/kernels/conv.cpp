// Convolution on the packed GEMM: im2col / col2im and the three drivers (forward, gradient of
// the input, gradient of the weight). Note [convolution as GEMM].
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "kernels/table.h"

namespace tapegrad::kernels {

// Note [convolution as GEMM]
// For one image and one group, with Cg = C_in/groups input channels, Og = C_out/groups output
// channels, K = Cg·kh·kw and P = oh·ow output positions:
//   col[K×P]     col[(c, i, j), (oy, ox)] = x[c, oy·sh − ph + i·dh, ox·sw − pw + j·dw]
//                (0 where that falls in the padding)                         (im2col)
//   y  = W·col       W: Og×K (the weight's rows as stored, OIHW)             (forward)
//   dcol = Wᵀ·dy ;  dx = col2im(dcol)  (scatter-add of each column back)     (dL/dx)
//   dW += dy·colᵀ   summed over the images                                   (dL/dW)
// so every product runs on the packed GEMM with transpose flags (no transposed copies), and
// only one col buffer (K×P, one image) is alive at a time. A 1×1 kernel with stride 1 and no
// padding has col = x itself: those convolutions are plain GEMMs without im2col.
// The padding of the bottom/right edges is implicit: it is whatever the output size (oh, ow)
// reads past the input, which also covers the asymmetric split of padding='same'.

namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Output columns ox whose input column ox·s + off lies in [0, w): [lo, hi).
void valid_range(int64_t off, int64_t s, int64_t w, int64_t ow, int64_t& lo, int64_t& hi) {
  lo = off >= 0 ? 0 : std::min(ow, ceil_div(-off, s));
  hi = w - off <= 0 ? 0 : std::min(ow, ceil_div(w - off, s));
  hi = std::max(hi, lo);
}

}  // namespace

namespace ref {

template <class T>
void im2col(const ConvShape& g, int64_t channels, const T* x, T* col) {
  const int64_t p = g.oh * g.ow, hw = g.h * g.w;
  for (int64_t c = 0; c < channels; ++c) {
    const T* plane = x + c * hw;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) {
        T* row = col + ((c * g.kh + i) * g.kw + j) * p;
        const int64_t off = j * g.dil_w - g.pad_w;
        int64_t lo, hi;
        valid_range(off, g.stride_w, g.w, g.ow, lo, hi);
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          T* r = row + oy * g.ow;
          const int64_t iy = oy * g.stride_h - g.pad_h + i * g.dil_h;
          if (iy < 0 || iy >= g.h) {
            std::fill(r, r + g.ow, T(0));
            continue;
          }
          const T* src = plane + iy * g.w + off;  // src[ox·sw] is x[iy, ox·sw + off]
          std::fill(r, r + lo, T(0));
          if (g.stride_w == 1) {
            if (hi > lo) std::memcpy(r + lo, src + lo, (hi - lo) * sizeof(T));
          } else {
            for (int64_t ox = lo; ox < hi; ++ox) r[ox] = src[ox * g.stride_w];
          }
          std::fill(r + hi, r + g.ow, T(0));
        }
      }
    }
  }
}

template <class T>
void col2im(const ConvShape& g, int64_t channels, const T* col, T* x) {
  const int64_t p = g.oh * g.ow, hw = g.h * g.w;
  for (int64_t c = 0; c < channels; ++c) {
    T* plane = x + c * hw;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) {
        const T* row = col + ((c * g.kh + i) * g.kw + j) * p;
        const int64_t off = j * g.dil_w - g.pad_w;
        int64_t lo, hi;
        valid_range(off, g.stride_w, g.w, g.ow, lo, hi);
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          const int64_t iy = oy * g.stride_h - g.pad_h + i * g.dil_h;
          if (iy < 0 || iy >= g.h) continue;
          const T* r = row + oy * g.ow;
          T* dst = plane + iy * g.w + off;
          for (int64_t ox = lo; ox < hi; ++ox) dst[ox * g.stride_w] += r[ox];
        }
      }
    }
  }
}

void im2col_f32(const ConvShape& g, int64_t c, const float* x, float* col) { im2col(g, c, x, col); }
void im2col_f64(const ConvShape& g, int64_t c, const double* x, double* col) { im2col(g, c, x, col); }
void col2im_f32(const ConvShape& g, int64_t c, const float* col, float* x) { col2im(g, c, col, x); }
void col2im_f64(const ConvShape& g, int64_t c, const double* col, double* x) { col2im(g, c, col, x); }

void fill_conv(KernelTable& t) {
  t.im2col_f32 = &im2col_f32;
  t.im2col_f64 = &im2col_f64;
  t.col2im_f32 = &col2im_f32;
  t.col2im_f64 = &col2im_f64;
}

}  // namespace ref

// ---------------------------------------------------------------------------------------------
// The drivers: loops over images and groups around the GEMM (tapegrad/kernels.h).
namespace {

void gemm_t(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
            const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_f32(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}
void gemm_t(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
            const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  gemm_f64(ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}
void im2col_t(const ConvShape& g, int64_t c, const float* x, float* col) { table().im2col_f32(g, c, x, col); }
void im2col_t(const ConvShape& g, int64_t c, const double* x, double* col) { table().im2col_f64(g, c, x, col); }
void col2im_t(const ConvShape& g, int64_t c, const float* col, float* x) { table().col2im_f32(g, c, col, x); }
void col2im_t(const ConvShape& g, int64_t c, const double* col, double* x) { table().col2im_f64(g, c, col, x); }

// col = x: a 1×1 kernel read at every input position (Note [convolution as GEMM]).
bool is_pointwise(const ConvShape& g) {
  return g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 &&
         g.pad_w == 0 && g.oh == g.h && g.ow == g.w;
}

// The one im2col buffer of a call (none for pointwise convolutions).
template <class T>
struct ColBuffer {
  explicit ColBuffer(size_t n) : bytes(n * sizeof(T)), p(static_cast<T*>(alloc_buffer(bytes))) {}
  ~ColBuffer() { free_buffer(p, bytes); }
  ColBuffer(const ColBuffer&) = delete;
  ColBuffer& operator=(const ColBuffer&) = delete;
  size_t bytes;
  T* p;
};

struct Dims {
  int64_t cg, og, kk, p, hw;
};
Dims dims_of(const ConvShape& g) {
  const int64_t cg = g.c_in / g.groups;
  return {cg, g.c_out / g.groups, cg * g.kh * g.kw, g.oh * g.ow, g.h * g.w};
}

template <class T>
void forward(const ConvShape& g, const T* x, const T* w, const T* bias, T* y) {
  const Dims d = dims_of(g);
  const bool direct = is_pointwise(g);
  ColBuffer<T> col(direct ? 0 : static_cast<size_t>(d.kk * d.p));
  for (int64_t n = 0; n < g.n; ++n) {
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* xin = x + (n * g.c_in + grp * d.cg) * d.hw;
      T* yo = y + (n * g.c_out + grp * d.og) * d.p;
      // Each output row starts as its bias (the GEMM then accumulates onto it) or as 0.
      for (int64_t o = 0; o < d.og; ++o)
        std::fill(yo + o * d.p, yo + (o + 1) * d.p, bias ? bias[grp * d.og + o] : T(0));
      if (d.kk == 0) continue;
      const T* src = xin;
      if (!direct) {
        im2col_t(g, d.cg, xin, col.p);
        src = col.p;
      }
      gemm_t(false, false, d.og, d.p, d.kk, w + grp * d.og * d.kk, d.kk, src, d.p, T(1), yo, d.p);
    }
  }
}

template <class T>
void backward_input(const ConvShape& g, const T* gy, const T* w, T* gx) {
  const Dims d = dims_of(g);
  const bool direct = is_pointwise(g);
  ColBuffer<T> col(direct ? 0 : static_cast<size_t>(d.kk * d.p));
  std::fill(gx, gx + g.n * g.c_in * d.hw, T(0));
  if (d.og == 0) return;
  for (int64_t n = 0; n < g.n; ++n) {
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* gyo = gy + (n * g.c_out + grp * d.og) * d.p;
      T* gxi = gx + (n * g.c_in + grp * d.cg) * d.hw;
      const T* wg = w + grp * d.og * d.kk;
      if (direct) {
        gemm_t(true, false, d.kk, d.p, d.og, wg, d.kk, gyo, d.p, T(0), gxi, d.p);
      } else {
        gemm_t(true, false, d.kk, d.p, d.og, wg, d.kk, gyo, d.p, T(0), col.p, d.p);
        col2im_t(g, d.cg, col.p, gxi);
      }
    }
  }
}

template <class T>
void backward_weight(const ConvShape& g, const T* gy, const T* x, T* gw) {
  const Dims d = dims_of(g);
  const bool direct = is_pointwise(g);
  ColBuffer<T> col(direct ? 0 : static_cast<size_t>(d.kk * d.p));
  std::fill(gw, gw + g.c_out * d.kk, T(0));
  if (d.p == 0) return;
  for (int64_t n = 0; n < g.n; ++n) {
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* gyo = gy + (n * g.c_out + grp * d.og) * d.p;
      const T* src = x + (n * g.c_in + grp * d.cg) * d.hw;
      if (!direct) {
        im2col_t(g, d.cg, src, col.p);
        src = col.p;
      }
      gemm_t(false, true, d.og, d.kk, d.p, gyo, d.p, src, d.p, T(1), gw + grp * d.og * d.kk, d.kk);
    }
  }
}

}  // namespace

void im2col_f32(const ConvShape& g, int64_t c, const float* x, float* col) {
  if (c > 0 && g.oh * g.ow > 0) table().im2col_f32(g, c, x, col);
}
void im2col_f64(const ConvShape& g, int64_t c, const double* x, double* col) {
  if (c > 0 && g.oh * g.ow > 0) table().im2col_f64(g, c, x, col);
}
void col2im_f32(const ConvShape& g, int64_t c, const float* col, float* x) {
  if (c > 0 && g.oh * g.ow > 0) table().col2im_f32(g, c, col, x);
}
void col2im_f64(const ConvShape& g, int64_t c, const double* col, double* x) {
  if (c > 0 && g.oh * g.ow > 0) table().col2im_f64(g, c, col, x);
}

void conv2d_forward_f32(const ConvShape& g, const float* x, const float* w, const float* b, float* y) {
  forward(g, x, w, b, y);
}
void conv2d_forward_f64(const ConvShape& g, const double* x, const double* w, const double* b,
                        double* y) {
  forward(g, x, w, b, y);
}
void conv2d_backward_input_f32(const ConvShape& g, const float* gy, const float* w, float* gx) {
  backward_input(g, gy, w, gx);
}
void conv2d_backward_input_f64(const ConvShape& g, const double* gy, const double* w, double* gx) {
  backward_input(g, gy, w, gx);
}
void conv2d_backward_weight_f32(const ConvShape& g, const float* gy, const float* x, float* gw) {
  backward_weight(g, gy, x, gw);
}
void conv2d_backward_weight_f64(const ConvShape& g, const double* gy, const double* x,
                                double* gw) {
  backward_weight(g, gy, x, gw);
}

}  // namespace tapegrad::kernels
