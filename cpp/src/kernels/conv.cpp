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
// only one col buffer is alive at a time (K×P for one image, or K×nb·P for a batch of small
// images: Note [convolution batches]). A 1×1 kernel with stride 1 and no
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
void im2col(const ConvShape& g, int64_t channels, const T* x, T* col, int64_t ld) {
  const int64_t hw = g.h * g.w;
  for (int64_t c = 0; c < channels; ++c) {
    const T* plane = x + c * hw;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) {
        T* row = col + ((c * g.kh + i) * g.kw + j) * ld;
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
void col2im(const ConvShape& g, int64_t channels, const T* col, int64_t ld, T* x) {
  const int64_t hw = g.h * g.w;
  for (int64_t c = 0; c < channels; ++c) {
    T* plane = x + c * hw;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) {
        const T* row = col + ((c * g.kh + i) * g.kw + j) * ld;
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

void im2col_f32(const ConvShape& g, int64_t c, const float* x, float* col, int64_t ld) {
  im2col(g, c, x, col, ld);
}
void im2col_f64(const ConvShape& g, int64_t c, const double* x, double* col, int64_t ld) {
  im2col(g, c, x, col, ld);
}
void col2im_f32(const ConvShape& g, int64_t c, const float* col, int64_t ld, float* x) {
  col2im(g, c, col, ld, x);
}
void col2im_f64(const ConvShape& g, int64_t c, const double* col, int64_t ld, double* x) {
  col2im(g, c, col, ld, x);
}

void fill_conv(KernelTable& t) {
  t.im2col_f32 = &im2col_f32;
  t.im2col_f64 = &im2col_f64;
  t.col2im_f32 = &col2im_f32;
  t.col2im_f64 = &col2im_f64;
}

}  // namespace ref

// ---------------------------------------------------------------------------------------------
// The drivers: loops over chunks of images and groups around the GEMM (tapegrad/kernels.h).
namespace {

void gemm_t(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const float* a, int64_t lda,
            const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  gemm_f32(ta, tb, m, n, k, 1.0f, a, lda, b, ldb, beta, c, ldc);
}
void gemm_t(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const double* a, int64_t lda,
            const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  gemm_f64(ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc);
}
void im2col_t(const ConvShape& g, int64_t c, const float* x, float* col, int64_t ld) {
  table().im2col_f32(g, c, x, col, ld);
}
void im2col_t(const ConvShape& g, int64_t c, const double* x, double* col, int64_t ld) {
  table().im2col_f64(g, c, x, col, ld);
}
void col2im_t(const ConvShape& g, int64_t c, const float* col, int64_t ld, float* x) {
  table().col2im_f32(g, c, col, ld, x);
}
void col2im_t(const ConvShape& g, int64_t c, const double* col, int64_t ld, double* x) {
  table().col2im_f64(g, c, col, ld, x);
}

// col = x: a 1×1 kernel read at every input position (Note [convolution as GEMM]).
bool is_pointwise(const ConvShape& g) {
  return g.kh == 1 && g.kw == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_h == 0 &&
         g.pad_w == 0 && g.oh == g.h && g.ow == g.w;
}

// A call's scratch memory (the one im2col buffer, and the staging buffer of a batch).
template <class T>
struct Buffer {
  explicit Buffer(size_t n) : bytes(n * sizeof(T)), p(static_cast<T*>(alloc_buffer(bytes))) {}
  ~Buffer() { free_buffer(p, bytes); }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;
  size_t bytes;
  T* p;
};

struct Dims {
  int64_t cg, og, kk, p, hw;
  int64_t nb;  // images per GEMM (Note [convolution batches])
};

// Note [convolution batches]
// One image's GEMM is small when the image is (LeNet's second layer: 16×100 outputs, k = 150),
// and a small GEMM spends its time packing and on edge tiles. So nb images go side by side
// into one col buffer (K × nb·P, image b in columns b·P .. b·P+P−1) and one GEMM covers them:
//   forward   Y[Og × nb·P] = W·col, then each image's Og×P block is copied out (+ bias);
//   dL/dx     dY[Og × nb·P] gathered from the images, col = Wᵀ·dY, col2im per image;
//   dL/dW     dY gathered, dW += dY·colᵀ (the images' sum is the GEMM's k loop; for up to 64
//             output channels dWᵀ += col·dYᵀ, transposed into dW at the end).
// nb is the most images whose col fits kColBudget elements (at least one), so the buffer stays
// bounded whatever the batch; 2^17 elements (512 KiB of float32) keeps it in L2 between
// im2col writing it and the GEMM packing it (measured on the LeNet shapes: 2^15 to 2^17 are
// alike, 2^19 is 10–20% slower, 2^21 more). nb depends only on the geometry,
// never on the thread count, so results are the same on any number of threads.
constexpr int64_t kColBudget = int64_t(1) << 17;

Dims dims_of(const ConvShape& g) {
  const int64_t cg = g.c_in / g.groups;
  Dims d{cg, g.c_out / g.groups, cg * g.kh * g.kw, g.oh * g.ow, g.h * g.w, 1};
  const int64_t per_image = std::max<int64_t>(d.kk * d.p, 1);
  if (!is_pointwise(g) && per_image < kColBudget)
    d.nb = std::clamp<int64_t>(kColBudget / per_image, 1, std::max<int64_t>(g.n, 1));
  return d;
}

// The forward product Y[Og × n] = W·col (+ beta·Y) for a few output channels (8 < Og <= 32,
// LeNet's 16) runs as row blocks of at most 8 channels: a block that short takes the GEMM's
// unpacked path with no wasted rows, where the whole product would fill its register tiles
// (14 rows on AVX-512) only partly. Measured on the LeNet shape: 2× the throughput; for wider
// layers one product is faster. Each output element is the same sum either way.
template <class T>
void forward_gemm(int64_t og, int64_t n, int64_t kk, const T* w, const T* col, int64_t ldcol,
                  T beta, T* y, int64_t ldy) {
  if (og <= 8 || og > 32) {
    gemm_t(false, false, og, n, kk, w, kk, col, ldcol, beta, y, ldy);
    return;
  }
  const int64_t blocks = (og + 7) / 8;
  for (int64_t q = 0; q < blocks; ++q) {
    const int64_t r0 = og * q / blocks, r1 = og * (q + 1) / blocks;
    gemm_t(false, false, r1 - r0, n, kk, w + r0 * kk, kk, col, ldcol, beta, y + r0 * ldy, ldy);
  }
}

// The target's implicit-GEMM convolution (Note [implicit GEMM]), or null when it has none.
auto conv_gemm_t(float) { return table().conv_gemm_f32; }
auto conv_gemm_t(double) { return table().conv_gemm_f64; }

// Note [implicit or explicit]
// Large images (one image's col at least kColBudget: nb == 1) with a unit width stride and
// more than 8 output rows per group go through the implicit GEMM when the target has one: it
// packs the GEMM's B panels straight from the image instead of writing col and packing that.
// Measured on the ResNet-style layer (32 images of 64 channels, 32×32, 3×3, one thread, Zen 5):
// forward 14.6 → 10.6 ms, weight gradient ≈ 14 → 10.3 ms, and the input gradient as a
// convolution (below) at the forward's speed. Among those, float32 3×3 kernels with unit
// strides and dilation run as Winograd's F(2×2, 3×3) where the target has it (AVX-512; Note
// [Winograd convolution]): forward and input gradient 11.1 → 8.5–9.7 ms on the same layer.
// Small images keep the batched explicit path (Note [convolution batches]), whose one GEMM
// covers several images; at most 8 rows take the GEMM's unpacked path.
bool use_implicit(const ConvShape& g, const Dims& d, int64_t rows) {
  return d.nb == 1 && g.stride_w == 1 && rows > 8 && !is_pointwise(g);
}

// The target's Winograd F(2×2, 3×3) (float32, Note [Winograd convolution]) where it applies:
// a 3×3 kernel, unit strides and dilation, images in the implicit GEMM's range.
template <class T>
auto winograd_for(const ConvShape& g, const Dims& d, int64_t rows) {
  using Fn = void (*)(const ConvShape&, int64_t, int64_t, const T*, const T*, int64_t, T, T*,
                      int64_t, int64_t);
  Fn fn = nullptr;
  if constexpr (std::is_same_v<T, float>) fn = table().winograd_f32;
  const bool fits = g.kh == 3 && g.kw == 3 && g.stride_h == 1 && g.stride_w == 1 &&
                    g.dil_h == 1 && g.dil_w == 1 && use_implicit(g, d, rows);
  return fits ? fn : nullptr;
}

template <class T>
void forward(const ConvShape& g, const T* x, const T* w, const T* bias, T* y) {
  const Dims d = dims_of(g);
  auto cg = conv_gemm_t(T());
  if (const auto wf = winograd_for<T>(g, d, d.og)) cg = wf;
  if (cg && use_implicit(g, d, d.og)) {
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      if (bias)
      for (int64_t b = 0; b < g.n; ++b)
        for (int64_t o = 0; o < d.og; ++o) {
          T* r = y + (b * g.c_out + grp * d.og + o) * d.p;
          std::fill(r, r + d.p, bias ? bias[grp * d.og + o] : T(0));
        }
      cg(g, d.cg, d.og, w + grp * d.og * d.kk, x + grp * d.cg * d.hw, g.c_in * d.hw,
         T(bias ? 1 : 0), y + grp * d.og * d.p, g.c_out * d.p, g.n);
    }
    return;
  }
  const bool direct = is_pointwise(g);
  Buffer<T> col(direct ? 0 : static_cast<size_t>(d.kk * d.p * d.nb));
  Buffer<T> stage(d.nb > 1 ? static_cast<size_t>(d.og * d.p * d.nb) : 0);
  for (int64_t n0 = 0; n0 < g.n; n0 += d.nb) {
    const int64_t nb = std::min(d.nb, g.n - n0), ld = nb * d.p;
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      auto out = [&](int64_t b) { return y + ((n0 + b) * g.c_out + grp * d.og) * d.p; };
      auto in = [&](int64_t b) { return x + ((n0 + b) * g.c_in + grp * d.cg) * d.hw; };
      const T* wg = w + grp * d.og * d.kk;
      if (d.kk == 0 || nb == 1) {
        // One image: each output row starts as its bias (the GEMM accumulates onto it) or 0.
        for (int64_t b = 0; b < nb; ++b) {
          T* yo = out(b);
          for (int64_t o = 0; o < d.og; ++o)
            std::fill(yo + o * d.p, yo + (o + 1) * d.p, bias ? bias[grp * d.og + o] : T(0));
          if (d.kk == 0) continue;
          const T* src = in(b);
          if (!direct) {
            im2col_t(g, d.cg, src, col.p, d.p);
            src = col.p;
          }
          forward_gemm(d.og, d.p, d.kk, wg, src, d.p, T(1), yo, d.p);
        }
        continue;
      }
      for (int64_t b = 0; b < nb; ++b) im2col_t(g, d.cg, in(b), col.p + b * d.p, ld);
      forward_gemm(d.og, ld, d.kk, wg, col.p, ld, T(0), stage.p, ld);
      // The same rounding as the one-image path: one addition of the bias to the product.
      for (int64_t b = 0; b < nb; ++b) {
        T* yo = out(b);
        for (int64_t o = 0; o < d.og; ++o) {
          const T* s = stage.p + o * ld + b * d.p;
          T* r = yo + o * d.p;
          if (bias) {
            const T bo = bias[grp * d.og + o];
            for (int64_t q = 0; q < d.p; ++q) r[q] = bo + s[q];
          } else {
            std::memcpy(r, s, size_t(d.p) * sizeof(T));
          }
        }
      }
    }
  }
}

// stage[o][b·P + q] = gy[n0 + b][grp·Og + o][q]: nb images' output gradients side by side.
template <class T>
void gather_dy(const ConvShape& g, const Dims& d, const T* gy, int64_t n0, int64_t nb,
               int64_t grp, T* stage) {
  const int64_t ld = nb * d.p;
  for (int64_t b = 0; b < nb; ++b)
    for (int64_t o = 0; o < d.og; ++o)
      std::memcpy(stage + o * ld + b * d.p, gy + ((n0 + b) * g.c_out + grp * d.og + o) * d.p,
                  size_t(d.p) * sizeof(T));
}

// Note [input gradient as a convolution]
// With unit strides, dL/dx is itself a convolution: dx[c, y, x] = Σ_{o,i,j} W[o, c, i, j] ·
// dy[o, y + ph − i·dh, x + pw − j·dw], i.e. dy convolved with W' (W' [c, o, i', j'] =
// W[o, c, kh−1−i', kw−1−j'], transposed and flipped) at padding dh·(kh−1) − ph (and the same
// for the width), giving an h × w output. It runs on the implicit GEMM like a forward, in place
// of Wᵀ·dy into col and col2im's scatter-add of every column. Needs the padding to be at most
// the kernel's reach (ph <= dh·(kh−1)), which every usual convolution has.
template <class T>
bool backward_input_implicit(const ConvShape& g, const Dims& d, const T* gy, const T* w, T* gx) {
  auto cgemm = conv_gemm_t(T());
  if (!cgemm || g.stride_h != 1 || g.stride_w != 1 || g.pad_h > g.dil_h * (g.kh - 1) ||
      g.pad_w > g.dil_w * (g.kw - 1))
    return false;
  ConvShape t = g;  // the transposed geometry: dy (og channels, oh × ow) → dx (h × w)
  t.c_in = d.og * g.groups;
  t.c_out = d.cg * g.groups;
  t.h = g.oh;
  t.w = g.ow;
  t.oh = g.h;
  t.ow = g.w;
  t.pad_h = g.dil_h * (g.kh - 1) - g.pad_h;
  t.pad_w = g.dil_w * (g.kw - 1) - g.pad_w;
  const Dims td = dims_of(t);
  if (!use_implicit(t, td, d.cg)) return false;
  if (const auto wf = winograd_for<T>(t, td, d.cg)) cgemm = wf;
  const int64_t khw = g.kh * g.kw;
  Buffer<T> wt(static_cast<size_t>(d.cg * d.og * khw));  // one group's W'
  for (int64_t grp = 0; grp < g.groups; ++grp) {
    const T* wg = w + grp * d.og * d.kk;
    for (int64_t c = 0; c < d.cg; ++c)
      for (int64_t o = 0; o < d.og; ++o)
        for (int64_t q = 0; q < khw; ++q)
          wt.p[(c * d.og + o) * khw + q] = wg[(o * d.cg + c) * khw + (khw - 1 - q)];
    cgemm(t, d.og, d.cg, wt.p, gy + grp * d.og * d.p, g.c_out * d.p, T(0),
          gx + grp * d.cg * d.hw, g.c_in * d.hw, g.n);
  }
  return true;
}

template <class T>
void backward_input(const ConvShape& g, const T* gy, const T* w, T* gx) {
  const Dims d = dims_of(g);
  if (backward_input_implicit(g, d, gy, w, gx)) return;
  const bool direct = is_pointwise(g);
  Buffer<T> col(direct ? 0 : static_cast<size_t>(d.kk * d.p * d.nb));
  Buffer<T> stage(d.nb > 1 ? static_cast<size_t>(d.og * d.p * d.nb) : 0);
  std::fill(gx, gx + g.n * g.c_in * d.hw, T(0));
  if (d.og == 0) return;
  for (int64_t n0 = 0; n0 < g.n; n0 += d.nb) {
    const int64_t nb = std::min(d.nb, g.n - n0), ld = nb * d.p;
    for (int64_t grp = 0; grp < g.groups; ++grp) {
      const T* wg = w + grp * d.og * d.kk;
      auto gxi = [&](int64_t b) { return gx + ((n0 + b) * g.c_in + grp * d.cg) * d.hw; };
      const T* gyo = gy + (n0 * g.c_out + grp * d.og) * d.p;
      if (nb > 1) {
        gather_dy(g, d, gy, n0, nb, grp, stage.p);
        gyo = stage.p;
      }
      if (direct) {
        gemm_t(true, false, d.kk, d.p, d.og, wg, d.kk, gyo, d.p, T(0), gxi(0), d.p);
      } else {
        gemm_t(true, false, d.kk, ld, d.og, wg, d.kk, gyo, ld, T(0), col.p, ld);
        for (int64_t b = 0; b < nb; ++b) col2im_t(g, d.cg, col.p + b * d.p, ld, gxi(b));
      }
    }
  }
}

// dL/dW for up to kNarrowOg output channels per group: dWᵀ[K × Og] = col·dYᵀ instead. The GEMM
// then packs col (the large operand) along its contiguous rows and transposes only the small dY,
// where dY·colᵀ would pack colᵀ — a strided transposed copy of the whole col buffer. Measured:
// 3× on LeNet's first layer (Og = 6), 1.5× on its second (16), 1.1× on the ResNet shape (64).
constexpr int64_t kNarrowOg = 64;

auto conv_gemm_weight_t(float) { return table().conv_gemm_weight_f32; }
auto conv_gemm_weight_t(double) { return table().conv_gemm_weight_f64; }

template <class T>
void backward_weight(const ConvShape& g, const T* gy, const T* x, T* gw) {
  const Dims d = dims_of(g);
  if (const auto cw = conv_gemm_weight_t(T()); cw && use_implicit(g, d, d.og)) {
    for (int64_t grp = 0; grp < g.groups; ++grp)
      cw(g, d.cg, d.og, gy + grp * d.og * d.p, g.c_out * d.p, x + grp * d.cg * d.hw,
         g.c_in * d.hw, T(0), gw + grp * d.og * d.kk, g.n);
    return;
  }
  const bool direct = is_pointwise(g);
  const bool narrow = !direct && d.og <= kNarrowOg;
  Buffer<T> col(direct ? 0 : static_cast<size_t>(d.kk * d.p * d.nb));
  Buffer<T> stage(d.nb > 1 ? static_cast<size_t>(d.og * d.p * d.nb) : 0);
  Buffer<T> gwt(narrow ? static_cast<size_t>(g.c_out * d.kk) : 0);  // per group K × Og
  T* acc = narrow ? gwt.p : gw;
  std::fill(acc, acc + g.c_out * d.kk, T(0));
  if (d.p > 0) {
    for (int64_t n0 = 0; n0 < g.n; n0 += d.nb) {
      const int64_t nb = std::min(d.nb, g.n - n0), ld = nb * d.p;
      for (int64_t grp = 0; grp < g.groups; ++grp) {
        const T* gyo = gy + (n0 * g.c_out + grp * d.og) * d.p;
        const T* src = x + (n0 * g.c_in + grp * d.cg) * d.hw;
        if (!direct) {
          for (int64_t b = 0; b < nb; ++b)
            im2col_t(g, d.cg, src + b * g.c_in * d.hw, col.p + b * d.p, ld);
          src = col.p;
        }
        if (nb > 1) {
          gather_dy(g, d, gy, n0, nb, grp, stage.p);
          gyo = stage.p;
        }
        T* out = acc + grp * d.og * d.kk;
        if (narrow)
          gemm_t(false, true, d.kk, d.og, ld, src, ld, gyo, ld, T(1), out, d.og);
        else
          gemm_t(false, true, d.og, d.kk, ld, gyo, ld, src, ld, T(1), out, d.kk);
      }
    }
  }
  if (narrow)
    for (int64_t grp = 0; grp < g.groups; ++grp)
      for (int64_t o = 0; o < d.og; ++o)
        for (int64_t q = 0; q < d.kk; ++q)
          gw[(grp * d.og + o) * d.kk + q] = gwt.p[grp * d.og * d.kk + q * d.og + o];
}

}  // namespace

void im2col_f32(const ConvShape& g, int64_t c, const float* x, float* col, int64_t ld) {
  if (c > 0 && g.oh * g.ow > 0) table().im2col_f32(g, c, x, col, ld);
}
void im2col_f64(const ConvShape& g, int64_t c, const double* x, double* col, int64_t ld) {
  if (c > 0 && g.oh * g.ow > 0) table().im2col_f64(g, c, x, col, ld);
}
void col2im_f32(const ConvShape& g, int64_t c, const float* col, int64_t ld, float* x) {
  if (c > 0 && g.oh * g.ow > 0) table().col2im_f32(g, c, col, ld, x);
}
void col2im_f64(const ConvShape& g, int64_t c, const double* col, int64_t ld, double* x) {
  if (c > 0 && g.oh * g.ow > 0) table().col2im_f64(g, c, col, ld, x);
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
