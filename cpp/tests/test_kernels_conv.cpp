// The convolution kernel slots (im2col / col2im, kernels.h "Convolution") on every target this
// CPU can run: each target against the reference target bit for bit (both are data movement,
// and col2im adds in the reference's order), and the reference against a naive loop written
// here, over a geometry sweep (widths around the vector widths, padding wider than the kernel's
// reach, strides, dilations, rows ld apart as in a batch of images).
//
// The convolution drivers (conv2d_forward / backward_input / backward_weight) on every target:
// against a naive loop in long double, over geometries large enough for the implicit GEMM
// (Note [implicit GEMM]) and a few that must fall back; the implicit forward against im2col +
// the same target's GEMM bit for bit; and every result the same on one thread and on two.
//
// Plain C++ with its own check macros; exits non-zero on any failure.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tapegrad/kernels.h"

namespace tk = tapegrad::kernels;

namespace {

int g_failures = 0;
int g_checks = 0;
std::string g_ctx;

#define CHECK(cond, ...)                                                                \
  do {                                                                                  \
    ++g_checks;                                                                         \
    if (!(cond)) {                                                                      \
      if (++g_failures <= 40) {                                                         \
        std::fprintf(stderr, "FAIL %s:%d [%s] %s: ", __FILE__, __LINE__, g_ctx.c_str(), \
                     #cond);                                                            \
        std::fprintf(stderr, __VA_ARGS__);                                              \
        std::fprintf(stderr, "\n");                                                     \
      }                                                                                 \
    }                                                                                   \
  } while (0)

std::mt19937_64 g_rng(7);

template <class T>
std::vector<T> randv(size_t n) {
  std::uniform_real_distribution<double> d(-3, 3);
  std::vector<T> v(std::max<size_t>(n, 1));
  for (auto& x : v) x = static_cast<T>(d(g_rng));
  return v;
}

template <class T>
bool same_bytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0;
}

void im2col(const tk::ConvShape& s, int64_t c, const float* x, float* col, int64_t ld) {
  tk::im2col_f32(s, c, x, col, ld);
}
void im2col(const tk::ConvShape& s, int64_t c, const double* x, double* col, int64_t ld) {
  tk::im2col_f64(s, c, x, col, ld);
}
void col2im(const tk::ConvShape& s, int64_t c, const float* col, int64_t ld, float* x) {
  tk::col2im_f32(s, c, col, ld, x);
}
void col2im(const tk::ConvShape& s, int64_t c, const double* col, int64_t ld, double* x) {
  tk::col2im_f64(s, c, col, ld, x);
}

template <class T>
void check_geometry(tk::Arch arch, int64_t c, int64_t h, int64_t w, int64_t kh, int64_t kw,
                    int64_t stride, int64_t pad, int64_t dil) {
  tk::ConvShape s{};
  s.n = 1;
  s.c_in = c;
  s.h = h;
  s.w = w;
  s.c_out = 1;
  s.kh = kh;
  s.kw = kw;
  s.stride_h = s.stride_w = stride;
  s.pad_h = s.pad_w = pad;
  s.dil_h = s.dil_w = dil;
  s.groups = 1;
  s.oh = (h + 2 * pad - dil * (kh - 1) - 1) / stride + 1;
  s.ow = (w + 2 * pad - dil * (kw - 1) - 1) / stride + 1;
  if (s.oh <= 0 || s.ow <= 0) return;
  const int64_t p = s.oh * s.ow, ld = p + 3, rows = c * kh * kw;
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s c=%ld %ldx%ld k=%ldx%ld s=%ld p=%ld d=%ld",
                sizeof(T) == 4 ? "f32" : "f64", long(c), long(h), long(w), long(kh), long(kw),
                long(stride), long(pad), long(dil));
  // Naive im2col; the 3 columns past each row's P must stay untouched (sentinel 7).
  const std::vector<T> x = randv<T>(size_t(c * h * w));
  std::vector<T> naive(size_t(rows * ld), T(7));
  for (int64_t ci = 0; ci < c; ++ci)
    for (int64_t i = 0; i < kh; ++i)
      for (int64_t j = 0; j < kw; ++j)
        for (int64_t oy = 0; oy < s.oh; ++oy)
          for (int64_t ox = 0; ox < s.ow; ++ox) {
            const int64_t iy = oy * stride - pad + i * dil, ix = ox * stride - pad + j * dil;
            const bool in = iy >= 0 && iy < h && ix >= 0 && ix < w;
            naive[size_t(((ci * kh + i) * kw + j) * ld + oy * s.ow + ox)] =
                in ? x[size_t((ci * h + iy) * w + ix)] : T(0);
          }
  std::vector<T> want(naive.size(), T(7)), got(naive.size(), T(7));
  tk::set_arch(tk::Arch::generic);
  im2col(s, c, x.data(), want.data(), ld);
  tk::set_arch(arch);
  im2col(s, c, x.data(), got.data(), ld);
  CHECK(same_bytes(want, naive), "%s: reference im2col differs from the naive loop", buf);
  CHECK(same_bytes(got, want), "%s: im2col differs from the reference", buf);
  // col2im onto a non-zero x: the reference against a naive scatter-add in the same order,
  // the target against the reference bit for bit.
  const std::vector<T> colv = randv<T>(size_t(rows * ld));
  const std::vector<T> x0 = randv<T>(size_t(c * h * w));
  std::vector<T> xs = x0;
  for (int64_t ci = 0; ci < c; ++ci)
    for (int64_t i = 0; i < kh; ++i)
      for (int64_t j = 0; j < kw; ++j)
        for (int64_t oy = 0; oy < s.oh; ++oy)
          for (int64_t ox = 0; ox < s.ow; ++ox) {
            const int64_t iy = oy * stride - pad + i * dil, ix = ox * stride - pad + j * dil;
            if (iy >= 0 && iy < h && ix >= 0 && ix < w)
              xs[size_t((ci * h + iy) * w + ix)] +=
                  colv[size_t(((ci * kh + i) * kw + j) * ld + oy * s.ow + ox)];
          }
  std::vector<T> xw = x0, xg = x0;
  tk::set_arch(tk::Arch::generic);
  col2im(s, c, colv.data(), ld, xw.data());
  tk::set_arch(arch);
  col2im(s, c, colv.data(), ld, xg.data());
  CHECK(same_bytes(xw, xs), "%s: reference col2im differs from the naive loop", buf);
  CHECK(same_bytes(xg, xw), "%s: col2im differs from the reference", buf);
}

template <class T>
void test_conv(tk::Arch arch) {
  for (int64_t w : {1, 3, 7, 8, 9, 10, 15, 16, 17, 28, 33})
    for (int64_t k : {1, 2, 3, 5})
      for (int64_t pad : {0, 1, 2, 6})
        for (int64_t stride : {1, 2})
          for (int64_t dil : {1, 2}) {
            if (pad > 2 && (stride != 1 || dil != 1)) continue;
            check_geometry<T>(arch, 2, 5, w, std::min<int64_t>(k, 3), k, stride, pad, dil);
          }
}


void fwd(const tk::ConvShape& s, const float* x, const float* w, const float* b, float* y) {
  tk::conv2d_forward_f32(s, x, w, b, y);
}
void fwd(const tk::ConvShape& s, const double* x, const double* w, const double* b, double* y) {
  tk::conv2d_forward_f64(s, x, w, b, y);
}
void bwd_in(const tk::ConvShape& s, const float* gy, const float* w, float* gx) {
  tk::conv2d_backward_input_f32(s, gy, w, gx);
}
void bwd_in(const tk::ConvShape& s, const double* gy, const double* w, double* gx) {
  tk::conv2d_backward_input_f64(s, gy, w, gx);
}
void bwd_w(const tk::ConvShape& s, const float* gy, const float* x, float* gw) {
  tk::conv2d_backward_weight_f32(s, gy, x, gw);
}
void bwd_w(const tk::ConvShape& s, const double* gy, const double* x, double* gw) {
  tk::conv2d_backward_weight_f64(s, gy, x, gw);
}
void gemm(int64_t m, int64_t n, int64_t k, const float* a, const float* b, float* c) {
  tk::gemm_f32(false, false, m, n, k, 1.0f, a, k, b, n, 0.0f, c, n);
}
void gemm(int64_t m, int64_t n, int64_t k, const double* a, const double* b, double* c) {
  tk::gemm_f64(false, false, m, n, k, 1.0, a, k, b, n, 0.0, c, n);
}

struct Geo {
  int64_t n, c, h, w, o, kh, kw, sh, ph, pw, dh, dw, groups;
};

// Largest |got − want| relative to the largest |want| (0 when both are all zero).
template <class T>
double rel_err(const std::vector<T>& got, const std::vector<long double>& want) {
  long double num = 0, den = 0;
  for (size_t i = 0; i < want.size(); ++i) {
    num = std::max(num, std::fabs(static_cast<long double>(got[i]) - want[i]));
    den = std::max(den, std::fabs(want[i]));
  }
  return den > 0 ? double(num / den) : double(num);
}

template <class T>
void check_drivers(tk::Arch arch, const Geo& G) {
  tk::ConvShape s{};
  s.n = G.n;
  s.c_in = G.c;
  s.h = G.h;
  s.w = G.w;
  s.c_out = G.o;
  s.kh = G.kh;
  s.kw = G.kw;
  s.stride_h = G.sh;
  s.stride_w = 1;
  s.pad_h = G.ph;
  s.pad_w = G.pw;
  s.dil_h = G.dh;
  s.dil_w = G.dw;
  s.groups = G.groups;
  s.oh = (G.h + 2 * G.ph - G.dh * (G.kh - 1) - 1) / G.sh + 1;
  s.ow = G.w + 2 * G.pw - G.dw * (G.kw - 1);
  const int64_t cg = G.c / G.groups, og = G.o / G.groups, kk = cg * G.kh * G.kw;
  const int64_t p = s.oh * s.ow, hw = G.h * G.w;
  char buf[200];
  std::snprintf(buf, sizeof buf,
                "%s %s n=%ld c=%ld %ldx%ld o=%ld k=%ldx%ld sh=%ld p=%ld,%ld d=%ld,%ld g=%ld",
                tk::arch_name(arch), sizeof(T) == 4 ? "f32" : "f64", long(G.n), long(G.c),
                long(G.h), long(G.w), long(G.o), long(G.kh), long(G.kw), long(G.sh), long(G.ph),
                long(G.pw), long(G.dh), long(G.dw), long(G.groups));
  const std::vector<T> x = randv<T>(size_t(G.n * G.c * hw));
  const std::vector<T> w = randv<T>(size_t(G.o * kk));
  const std::vector<T> bias = randv<T>(size_t(G.o));
  const std::vector<T> gy = randv<T>(size_t(G.n * G.o * p));
  // The naive sums: y (with bias), dx, dw.
  std::vector<long double> y0(size_t(G.n * G.o * p)), gx0(x.size()), gw0(w.size());
  for (int64_t b = 0; b < G.n; ++b)
    for (int64_t o = 0; o < G.o; ++o) {
      const int64_t grp = o / og;
      for (int64_t oy = 0; oy < s.oh; ++oy)
        for (int64_t ox = 0; ox < s.ow; ++ox) {
          const size_t yi = size_t((b * G.o + o) * p + oy * s.ow + ox);
          long double acc = bias[size_t(o)];
          for (int64_t c = 0; c < cg; ++c)
            for (int64_t i = 0; i < G.kh; ++i)
              for (int64_t j = 0; j < G.kw; ++j) {
                const int64_t iy = oy * G.sh - G.ph + i * G.dh, ix = ox - G.pw + j * G.dw;
                if (iy < 0 || iy >= G.h || ix < 0 || ix >= G.w) continue;
                const size_t xi = size_t(((b * G.c + grp * cg + c) * G.h + iy) * G.w + ix);
                const size_t wi = size_t(((o * cg + c) * G.kh + i) * G.kw + j);
                acc += static_cast<long double>(x[xi]) * w[wi];
                gx0[xi] += static_cast<long double>(gy[yi]) * w[wi];
                gw0[wi] += static_cast<long double>(gy[yi]) * x[xi];
              }
          y0[yi] = acc;
        }
    }
  const double tol = sizeof(T) == 4 ? 2e-5 : 1e-13;
  tk::set_arch(arch);
  std::vector<T> y[2], gx[2], gw[2];
  for (int t = 0; t < 2; ++t) {
    tk::set_num_threads(t + 1);
    y[t].assign(y0.size(), T(7));
    gx[t].assign(x.size(), T(7));
    gw[t].assign(w.size(), T(7));
    fwd(s, x.data(), w.data(), bias.data(), y[t].data());
    bwd_in(s, gy.data(), w.data(), gx[t].data());
    bwd_w(s, gy.data(), x.data(), gw[t].data());
  }
  tk::set_num_threads(1);
  CHECK(rel_err(y[0], y0) < tol, "%s: forward off by %g", buf, rel_err(y[0], y0));
  CHECK(rel_err(gx[0], gx0) < tol, "%s: input gradient off by %g", buf, rel_err(gx[0], gx0));
  CHECK(rel_err(gw[0], gw0) < tol, "%s: weight gradient off by %g", buf, rel_err(gw[0], gw0));
  CHECK(same_bytes(y[0], y[1]) && same_bytes(gx[0], gx[1]) && same_bytes(gw[0], gw[1]),
        "%s: one thread and two threads differ", buf);
  // The forward without bias against im2col + GEMM on this target, image by image, where that
  // GEMM takes its packed path (wide and tall enough; the others sum in another order) and K is
  // one k slice for both (Note [implicit GEMM]) — and not a float32 3×3 unit-stride kernel,
  // which may run as Winograd's (Note [Winograd convolution]: other roundings).
  const int64_t kc = sizeof(T) == 4 ? tk::gemm_blocks_f32().kc : tk::gemm_blocks_f64().kc;
  const bool winograd = sizeof(T) == 4 && G.kh == 3 && G.kw == 3 && G.sh == 1 && G.dh == 1 &&
                        G.dw == 1;
  if (G.groups == 1 && p > 64 && G.o > 12 && kk <= kc && !winograd) {
    std::vector<T> yi(y0.size()), want(y0.size()), col(size_t(kk * p));
    fwd(s, x.data(), w.data(), nullptr, yi.data());
    for (int64_t b = 0; b < G.n; ++b) {
      im2col(s, G.c, x.data() + b * G.c * hw, col.data(), p);
      gemm(G.o, p, kk, w.data(), col.data(), want.data() + b * G.o * p);
    }
    CHECK(same_bytes(yi, want), "%s: forward differs from im2col + GEMM", buf);
  }
}

template <class T>
void test_drivers(tk::Arch arch) {
  // Each with K·P >= 2^17 per image (the implicit GEMM's range) unless noted.
  const Geo geos[] = {
      {2, 16, 32, 32, 24, 3, 3, 1, 1, 1, 1, 1, 1},    // ResNet-like, one output row per panel
      {3, 13, 37, 45, 19, 3, 3, 1, 1, 1, 1, 1, 1},    // widths across panels, edge tiles
      {2, 12, 30, 47, 20, 5, 5, 1, 2, 2, 1, 1, 1},    // 5×5
      {2, 10, 40, 33, 17, 3, 3, 1, 2, 2, 2, 2, 1},    // dilation 2
      {2, 20, 41, 36, 18, 3, 3, 2, 1, 1, 1, 1, 1},    // height stride 2
      {2, 16, 34, 100, 32, 1, 7, 1, 0, 3, 1, 1, 1},   // 1×7, wide rows
      {2, 16, 50, 50, 20, 4, 4, 1, 1, 1, 1, 1, 1},    // 'same' with an even kernel (asymmetric)
      {2, 24, 40, 40, 36, 3, 3, 1, 0, 0, 1, 1, 3},    // groups, no padding
      {2, 16, 36, 36, 20, 3, 3, 1, 3, 3, 1, 1, 1},    // padding beyond the kernel's reach
      {1, 600, 11, 5, 16, 3, 3, 1, 0, 0, 1, 1, 1},    // 3 output columns: plans fall back
      {2, 16, 20, 20, 8, 3, 3, 1, 1, 1, 1, 1, 1},     // 8 output channels: explicit path
  };
  for (const Geo& G : geos) check_drivers<T>(arch, G);
}

}  // namespace

int main() {
  const auto& info = tk::cpu_info();
  const tk::Arch initial = info.selected;
  for (tk::Arch arch : info.available) {
    g_ctx = tk::arch_name(arch);
    test_conv<float>(arch);
    test_conv<double>(arch);
    test_drivers<float>(arch);
    test_drivers<double>(arch);
  }
  tk::set_arch(initial);
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
