// The convolution kernel slots (im2col / col2im, kernels.h "Convolution") on every target this
// CPU can run: each target against the reference target bit for bit (both are data movement,
// and col2im adds in the reference's order), and the reference against a naive loop written
// here, over a geometry sweep (widths around the vector widths, padding wider than the kernel's
// reach, strides, dilations, rows ld apart as in a batch of images).
//
// Plain C++ with its own check macros; exits non-zero on any failure.
#include <algorithm>
#include <cstdint>
#include <cstdio>
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

}  // namespace

int main() {
  const auto& info = tk::cpu_info();
  const tk::Arch initial = info.selected;
  for (tk::Arch arch : info.available) {
    g_ctx = tk::arch_name(arch);
    test_conv<float>(arch);
    test_conv<double>(arch);
  }
  tk::set_arch(initial);
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
