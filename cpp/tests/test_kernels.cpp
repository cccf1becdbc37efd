// Every kernel slot of every target this CPU can run, against the reference kernels
// (docs/architecture.md, "Tests"): GEMM to 1e-5 (f32) / 1e-12 (f64) relative to Σ|a||b|, exact equality for the
// exactly-rounded elementwise ops, ULP bounds for the math functions (with a sweep over the
// float32 bit patterns), plus the thread pool (nesting, exceptions, fork).
//
// Plain C++ with its own check macros; exits non-zero on any failure.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tapegrad/kernels.h"

namespace tk = tapegrad::kernels;

namespace {

int g_failures = 0;
int g_checks = 0;
std::string g_ctx;  // target and case being tested, printed with failures

#define CHECK(cond, ...)                                                              \
  do {                                                                                \
    ++g_checks;                                                                       \
    if (!(cond)) {                                                                    \
      if (++g_failures <= 40) {                                                       \
        std::fprintf(stderr, "FAIL %s:%d [%s] %s: ", __FILE__, __LINE__, g_ctx.c_str(), \
                     #cond);                                                          \
        std::fprintf(stderr, __VA_ARGS__);                                            \
        std::fprintf(stderr, "\n");                                                   \
      }                                                                               \
    }                                                                                 \
  } while (0)

const int64_t kSizes[] = {0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 127, 1000};

std::mt19937_64 g_rng(12345);

template <class T>
std::vector<T> randv(int64_t n, T lo = T(-1), T hi = T(1)) {
  std::uniform_real_distribution<T> d(lo, hi);
  std::vector<T> v(size_t(std::max<int64_t>(n, 0)));
  for (auto& x : v) x = d(g_rng);
  return v;
}

template <class T>
bool same(T a, T b) {  // bitwise-equal values, any NaN equals any NaN, +0 == -0
  return (std::isnan(a) && std::isnan(b)) || a == b;
}

// Integer distance between two floats in units in the last place (monotone bit mapping).
int64_t ulp_dist(float a, float b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : INT64_MAX;
  auto key = [](float x) {
    int32_t i;
    std::memcpy(&i, &x, 4);
    return i < 0 ? int64_t(INT32_MIN) - i : int64_t(i);
  };
  return std::llabs(key(a) - key(b));
}
int64_t ulp_dist(double a, double b) {
  if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b) ? 0 : INT64_MAX;
  auto key = [](double x) {
    int64_t i;
    std::memcpy(&i, &x, 8);
    return i < 0 ? INT64_MIN - i : i;
  };
  const int64_t d = key(a) - key(b);
  return d < 0 ? -d : d;
}

// Runs fn under the reference target (the oracle), then under `arch`.
template <class Fn>
void oracle_then(tk::Arch arch, Fn fn) {
  tk::set_arch(tk::Arch::generic);
  fn(true);
  tk::set_arch(arch);
  fn(false);
}

// ---------------------------------------------------------------------------------------------
// GEMM

template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if constexpr (sizeof(T) == 4)
    tk::gemm_f32(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  else
    tk::gemm_f64(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

template <class T>
void check_gemm(tk::Arch arch, bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha,
                T beta, int64_t pad, bool nan_c = false) {
  const T tol = sizeof(T) == 4 ? T(1e-5) : T(1e-12);
  const int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
  const int64_t arows = ta ? k : m, brows = tb ? n : k;
  auto a = randv<T>(arows * lda), b = randv<T>(brows * ldb), c0 = randv<T>(m * ldc);
  if (nan_c)
    for (auto& x : c0) x = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> cref = c0, c = c0;
  tk::set_arch(tk::Arch::generic);
  gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, cref.data(), ldc);
  tk::set_arch(arch);
  gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc);
  int bad = 0;
  for (int64_t i = 0; i < m && bad < 3; ++i)
    for (int64_t j = 0; j < ldc && bad < 3; ++j) {
      const T got = c[size_t(i * ldc + j)], want = cref[size_t(i * ldc + j)];
      if (j >= n) {  // padding columns are never touched
        CHECK(same(got, c0[size_t(i * ldc + j)]), "padding C[%ld,%ld] changed", long(i), long(j));
        bad += !same(got, c0[size_t(i * ldc + j)]);
        continue;
      }
      T scale = beta == T(0) ? T(0) : std::fabs(beta * c0[size_t(i * ldc + j)]);
      for (int64_t p = 0; p < k; ++p) {
        const T av = ta ? a[size_t(p * lda + i)] : a[size_t(i * lda + p)];
        const T bv = tb ? b[size_t(j * ldb + p)] : b[size_t(p * ldb + j)];
        scale += std::fabs(alpha * av * bv);
      }
      const bool ok = std::fabs(got - want) <= tol * scale + std::numeric_limits<T>::min();
      CHECK(ok, "gemm %s ta=%d tb=%d m=%ld n=%ld k=%ld alpha=%g beta=%g pad=%ld: C[%ld,%ld]=%.9g want %.9g",
            sizeof(T) == 4 ? "f32" : "f64", ta, tb, long(m), long(n), long(k), double(alpha),
            double(beta), long(pad), long(i), long(j), double(got), double(want));
      bad += !ok;
    }
}

template <class T>
void test_gemm(tk::Arch arch) {
  for (int64_t s : kSizes) check_gemm<T>(arch, false, false, s, s, s, T(1), T(0), 0);
  const int64_t dims[] = {1, 7, 17, 33, 65, 130};
  for (int t = 0; t < 4; ++t)
    for (int64_t m : dims)
      for (int64_t n : dims)
        for (int64_t k : dims) {
          const bool ta = t & 1, tb = t & 2;
          const int v = int((m + n * 3 + k * 7) % 3);
          const T alpha = v == 0 ? T(1) : v == 1 ? T(-0.5) : T(2);
          const T beta = v == 0 ? T(0) : v == 1 ? T(1) : T(-1.5);
          check_gemm<T>(arch, ta, tb, m, n, k, alpha, beta, (m + k) % 5);
        }
  for (int t = 0; t < 4; ++t) {
    const bool ta = t & 1, tb = t & 2;
    // Skinny shapes of softmax regression (forward and both backward products).
    check_gemm<T>(arch, ta, tb, 256, 10, 784, T(1), T(0), 0);
    // Dot path up to 11 columns on AVX2 (Note [dot path]): groups of 5 and a remainder, an
    // odd row after the 2-row tiles, k past whole vectors, beta read.
    check_gemm<T>(arch, ta, tb, 37, 11, 83, T(1), T(0), 1);
    check_gemm<T>(arch, ta, tb, 9, 8, 40, T(-0.5), T(1), 0);
    check_gemm<T>(arch, ta, tb, 784, 10, 256, T(1), T(1), 0);
    check_gemm<T>(arch, ta, tb, 256, 784, 10, T(1), T(0), 0);
    // Several KC / MC blocks, edge tiles on every side, leading dims > width.
    check_gemm<T>(arch, ta, tb, 403, 290, 801, T(0.75), T(0.25), 3);
    // beta == 0: C is write-only (NaNs in C must not leak into the result).
    check_gemm<T>(arch, ta, tb, 45, 70, 65, T(1), T(0), 2, true);
    check_gemm<T>(arch, ta, tb, 5, 3, 2, T(1), T(0), 1, true);
    // Outer product (k == 1, gemm_outer) and matrix-vector (n == 1): an MLP at batch 1.
    check_gemm<T>(arch, ta, tb, 256, 784, 1, T(1), T(0), 0);
    check_gemm<T>(arch, ta, tb, 45, 70, 1, T(1), T(0), 2, true);
    check_gemm<T>(arch, ta, tb, 256, 1, 784, T(1), T(1), 0);
    // Vector × matrix (m == 1, the direct path with four vectors per block and narrower tails).
    check_gemm<T>(arch, ta, tb, 1, 256, 784, T(1), T(0), 0);
    check_gemm<T>(arch, ta, tb, 1, 100, 300, T(-0.5), T(1), 3);
    // A few rows (direct blocks of 2, 4 and 8 rows).
    for (int64_t m : {2, 3, 4, 5, 8})
      check_gemm<T>(arch, ta, tb, m, 75, 130, T(1), m % 2 ? T(1) : T(0), 2);
  }
  // More than one NC block.
  check_gemm<T>(arch, false, false, 20, 4200, 40, T(1), T(0.5), 0);
  // k == 0 and alpha == 0 only scale C.
  check_gemm<T>(arch, false, false, 9, 17, 0, T(1), T(2), 1);
  check_gemm<T>(arch, false, true, 33, 65, 17, T(0), T(-1), 1);
  check_gemm<T>(arch, true, false, 33, 65, 17, T(0), T(0), 1, true);
  // Multithreaded split over m and over n.
  const int nt = tk::get_num_threads();
  tk::set_num_threads(2);
  check_gemm<T>(arch, false, false, 300, 200, 250, T(1), T(0), 1);
  check_gemm<T>(arch, true, true, 150, 400, 250, T(1), T(1), 0);
  tk::set_num_threads(nt);
}

// gemm_relu (Note [GEMM epilogue]) is bit for bit gemm followed by the unary relu kernel, on
// every path (packed tiles with the relu after the last k slice; dot, outer, direct, k == 0
// and the threaded split with it after), with NaNs and signed zeros among the products and
// padding columns left alone.
template <class T>
void check_gemm_relu(tk::Arch arch, bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha,
                     T beta, int64_t pad) {
  tk::set_arch(arch);
  const int64_t lda = (ta ? m : k) + pad, ldb = (tb ? k : n) + pad, ldc = n + pad;
  auto a = randv<T>((ta ? k : m) * lda), b = randv<T>((tb ? n : k) * ldb), c0 = randv<T>(m * ldc);
  if (!a.empty()) a[a.size() / 2] = std::numeric_limits<T>::quiet_NaN();  // a NaN row or column
  for (size_t i = 0; i < c0.size(); i += 7) c0[i] = i % 2 ? T(0) : -T(0);
  std::vector<T> want = c0, got = c0;
  gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, want.data(), ldc);
  for (int64_t i = 0; i < m; ++i) {
    T* row = want.data() + i * ldc;
    if constexpr (sizeof(T) == 4)
      tk::unary_f32(tk::Unary::relu, n, row, row);
    else
      tk::unary_f64(tk::Unary::relu, n, row, row);
  }
  if constexpr (sizeof(T) == 4)
    tk::gemm_relu_f32(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, got.data(), ldc);
  else
    tk::gemm_relu_f64(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, got.data(), ldc);
  const bool ok = std::memcmp(want.data(), got.data(), want.size() * sizeof(T)) == 0;
  CHECK(ok, "gemm_relu %s ta=%d tb=%d m=%ld n=%ld k=%ld alpha=%g beta=%g pad=%ld differs from gemm + relu",
        sizeof(T) == 4 ? "f32" : "f64", ta, tb, long(m), long(n), long(k), double(alpha),
        double(beta), long(pad));
}

template <class T>
void test_gemm_relu(tk::Arch arch) {
  const int64_t shapes[][3] = {
      {256, 256, 784},  // the forward of a 784→256 layer at batch 256 (packed, several k slices)
      {45, 70, 65},     // edge tiles on both sides
      {37, 11, 83},     // dot path
      {45, 70, 1},      // outer product
      {1, 256, 784},    // one row: the direct path
      {256, 1, 784},    // one column: what a batch-1 layer's row becomes (gemm_any), C contiguous
      {24, 1, 40},
      {5, 75, 130},     // a few rows
      {9, 17, 0},       // no product: beta·C only
      {403, 290, 801},  // several blocks
  };
  for (int t = 0; t < 4; ++t)
    for (const auto& s : shapes)
      for (int v = 0; v < 2; ++v)
        check_gemm_relu<T>(arch, t & 1, t & 2, s[0], s[1], s[2], v ? T(-0.5) : T(1),
                           v ? T(1) : T(0), (s[0] + v) % 3);
  // k over several of this machine's kc slices, so the relu follows the last slice only
  const int64_t kc = sizeof(T) == 4 ? tk::gemm_blocks_f32().kc : tk::gemm_blocks_f64().kc;
  const int64_t k3 = 3 * std::max<int64_t>(kc, 16) + 5;
  check_gemm_relu<T>(arch, false, true, 256, 96, k3, T(1), T(1), 0);
  check_gemm_relu<T>(arch, true, false, 45, 70, k3, T(-0.5), T(0), 2);
  const int nt = tk::get_num_threads();
  tk::set_num_threads(2);
  check_gemm_relu<T>(arch, false, true, 300, 200, k3, T(1), T(1), 1);
  check_gemm_relu<T>(arch, true, false, 150, 400, k3, T(1), T(0), 0);
  tk::set_num_threads(nt);
}

// ---------------------------------------------------------------------------------------------
// Elementwise

template <class T>
std::vector<T> with_specials(int64_t n, T lo, T hi) {
  auto v = randv<T>(n, lo, hi);
  const T sp[] = {T(0), -T(0), std::numeric_limits<T>::infinity(),
                  -std::numeric_limits<T>::infinity(), std::numeric_limits<T>::quiet_NaN(),
                  std::numeric_limits<T>::denorm_min(), T(1), T(-1)};
  for (int64_t i = 0; i < n; i += 5) v[size_t(i)] = sp[size_t(i / 5) % 8];
  return v;
}

template <class T>
void binary(tk::Binary op, int64_t n, const T* a, int64_t sa, const T* b, int64_t sb, T* c) {
  if constexpr (sizeof(T) == 4)
    tk::binary_f32(op, n, a, sa, b, sb, c);
  else
    tk::binary_f64(op, n, a, sa, b, sb, c);
}

template <class T>
void test_binary(tk::Arch arch) {
  const tk::Binary ops[] = {tk::Binary::add, tk::Binary::sub,     tk::Binary::mul,
                            tk::Binary::div, tk::Binary::maximum, tk::Binary::minimum,
                            tk::Binary::pow};
  for (int64_t n : {0L, 1L, 7L, 8L, 9L, 15L, 16L, 17L, 63L, 64L, 65L, 127L, 1000L, 300000L})
    for (auto op : ops)
      for (int s = 0; s < 4; ++s) {
        const int64_t sa = s & 1, sb = (s >> 1) & 1;
        auto a = with_specials<T>(std::max<int64_t>(n, 1), T(-3), T(3));
        auto b = randv<T>(std::max<int64_t>(n, 1), T(-3), T(3));
        if (n > 3) b[2] = std::numeric_limits<T>::quiet_NaN();
        std::vector<T> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
        oracle_then(arch, [&](bool ref) {
          binary(op, n, a.data(), sa, b.data(), sb, (ref ? want : got).data());
        });
        int bad = 0;
        for (int64_t i = 0; i < n && bad < 3; ++i) {
          const bool ok = op == tk::Binary::pow
                              ? ulp_dist(got[size_t(i)], want[size_t(i)]) <= 2
                              : same(got[size_t(i)], want[size_t(i)]);
          CHECK(ok, "binary op=%d n=%ld sa=%ld sb=%ld i=%ld got %.9g want %.9g", int(op),
                long(n), long(sa), long(sb), long(i), double(got[size_t(i)]),
                double(want[size_t(i)]));
          bad += !ok;
        }
      }
  // In place (c aliases a).
  for (int64_t n : {17L, 1000L}) {
    auto a = randv<T>(n), b = randv<T>(n);
    std::vector<T> w = a, g = a;
    oracle_then(arch, [&](bool ref) {
      std::vector<T>& c = ref ? w : g;
      binary(tk::Binary::mul, n, c.data(), 1, b.data(), 1, c.data());
    });
    CHECK(w == g, "in-place mul n=%ld", long(n));
  }
}

template <class T>
void unary(tk::Unary op, int64_t n, const T* x, T* y) {
  if constexpr (sizeof(T) == 4)
    tk::unary_f32(op, n, x, y);
  else
    tk::unary_f64(op, n, x, y);
}

// Correctly rounded reference values (float32 math computed in double and rounded once).
double exact_unary(tk::Unary op, double x) {
  switch (op) {
    case tk::Unary::exp: return std::exp(x);
    case tk::Unary::log: return std::log(x);
    case tk::Unary::tanh: return std::tanh(x);
    case tk::Unary::sigmoid: return x >= 0 ? 1 / (1 + std::exp(-x)) : std::exp(x) / (1 + std::exp(x));
    case tk::Unary::sin: return std::sin(x);
    case tk::Unary::cos: return std::cos(x);
    default: return 0;
  }
}

bool is_math(tk::Unary op) {
  return op == tk::Unary::exp || op == tk::Unary::log || op == tk::Unary::tanh ||
         op == tk::Unary::sigmoid || op == tk::Unary::sin || op == tk::Unary::cos;
}

template <class T>
void test_unary(tk::Arch arch) {
  for (int o = 0; o < int(tk::Unary::count_); ++o) {
    const auto op = tk::Unary(o);
    for (int64_t n : kSizes) {
      auto x = with_specials<T>(std::max<int64_t>(n, 1), T(-20), T(20));
      if (op == tk::Unary::log || op == tk::Unary::sqrt)
        for (size_t i = 1; i < x.size(); i += 3) x[i] = std::fabs(x[i]) * T(1e3);
      std::vector<T> want(static_cast<size_t>(n)), got(static_cast<size_t>(n));
      oracle_then(arch, [&](bool ref) { unary(op, n, x.data(), (ref ? want : got).data()); });
      int bad = 0;
      for (int64_t i = 0; i < n && bad < 3; ++i) {
        const int64_t d = ulp_dist(got[size_t(i)], want[size_t(i)]);
        // Math functions: ≤ 2 ULP from correctly rounded + ≤ 1 for the reference's own error.
        const bool ok = is_math(op) ? d <= 3 : d == 0;
        CHECK(ok, "unary op=%d n=%ld x=%.9g got %.9g want %.9g (%ld ulp)", o, long(n),
              double(x[size_t(i)]), double(got[size_t(i)]), double(want[size_t(i)]), long(d));
        bad += !ok;
      }
    }
  }
  // In place.
  auto x = randv<T>(1000, T(-5), T(5));
  std::vector<T> w = x, g = x;
  oracle_then(arch, [&](bool ref) {
    auto& v = ref ? w : g;
    unary(tk::Unary::relu, 1000, v.data(), v.data());
  });
  CHECK(w == g, "in-place relu");
}

// Sweep float32 bit patterns (a stride that is odd so every mantissa bit moves) and the
// specials; report and bound the worst ULP error against the correctly rounded value.
void sweep_f32_math(tk::Arch arch) {
  const tk::Unary ops[] = {tk::Unary::exp, tk::Unary::log, tk::Unary::tanh, tk::Unary::sigmoid};
  const char* names[] = {"exp", "log", "tanh", "sigmoid"};
  std::vector<float> x;
  for (uint64_t bits = 0; bits <= 0xffffffffull; bits += 613) {
    float f;
    const uint32_t u = uint32_t(bits);
    std::memcpy(&f, &u, 4);
    x.push_back(f);
  }
  // Dense around the interesting places: exp's overflow / subnormal edges, tanh's switch.
  for (float c : {88.72f, -87.33f, -103.97f, 0.625f, -0.625f, 9.0f, 1.0f, 0.0f}) {
    float f = c;
    for (int i = 0; i < 20000; ++i) f = std::nextafter(f, 1e30f);
    for (int i = 0; i < 40000; ++i) x.push_back(f = std::nextafter(f, -1e30f));
  }
  for (float f : {0.0f, -0.0f, std::numeric_limits<float>::infinity(),
                  -std::numeric_limits<float>::infinity(), std::numeric_limits<float>::quiet_NaN(),
                  std::numeric_limits<float>::denorm_min(), std::numeric_limits<float>::min(),
                  std::numeric_limits<float>::max(), -std::numeric_limits<float>::max()})
    x.push_back(f);
  tk::set_arch(arch);
  std::vector<float> y(x.size());
  for (int o = 0; o < 4; ++o) {
    unary(ops[o], int64_t(x.size()), x.data(), y.data());
    int64_t worst = 0;
    float worst_x = 0;
    for (size_t i = 0; i < x.size(); ++i) {
      const float want = float(exact_unary(ops[o], double(x[i])));
      const int64_t d = ulp_dist(y[i], want);
      if (d > worst) worst = d, worst_x = x[i];
    }
    std::printf("  %-7s %-7s max error %ld ULP over %zu float32 values (worst at x=%.9g)\n",
                tk::arch_name(arch), names[o], long(worst), x.size(), double(worst_x));
    if (arch != tk::Arch::generic)  // the reference is the platform libm; only report it
      CHECK(worst <= 2, "%s max ULP %ld at x=%.9g", names[o], long(worst), double(worst_x));
  }
}

template <class T>
void test_affine_axpy(tk::Arch arch) {
  for (int64_t n : kSizes) {
    auto x = randv<T>(n), y0 = randv<T>(n);
    std::vector<T> w(static_cast<size_t>(n)), g(static_cast<size_t>(n)), wy = y0, gy = y0;
    oracle_then(arch, [&](bool ref) {
      if constexpr (sizeof(T) == 4) {
        tk::affine_f32(n, x.data(), 1.7f, -0.3f, (ref ? w : g).data());
        tk::axpy_f32(n, -2.1f, x.data(), (ref ? wy : gy).data());
      } else {
        tk::affine_f64(n, x.data(), 1.7, -0.3, (ref ? w : g).data());
        tk::axpy_f64(n, -2.1, x.data(), (ref ? wy : gy).data());
      }
    });
    CHECK(w == g, "affine n=%ld", long(n));
    CHECK(wy == gy, "axpy n=%ld", long(n));
  }
  // y += alpha·(u ⊗ v): every target equals the generic loop bit for bit; the generic loop is
  // checked against the definition (fma of the rounded product; zero rows untouched only
  // when alpha and v are finite).
  for (int64_t m : {1, 7, 33})
    for (int64_t n : kSizes)
      for (bool poison : {false, true}) {
        auto u = randv<T>(m), v = randv<T>(n), y0 = randv<T>(m * n);
        for (int64_t i = 0; i < m; i += 3) u[size_t(i)] = (i % 2) ? T(-0.0) : T(0);
        if (poison && n > 0) v[size_t(n / 2)] = std::numeric_limits<T>::infinity();
        std::vector<T> ry = y0, gy = y0;
        oracle_then(arch, [&](bool ref) {
          if constexpr (sizeof(T) == 4)
            tk::axpy_outer_f32(m, n, -0.3f, u.data(), v.data(), (ref ? ry : gy).data());
          else
            tk::axpy_outer_f64(m, n, -0.3, u.data(), v.data(), (ref ? ry : gy).data());
        });
        bool bits = true, def = true;
        for (int64_t i = 0; i < m; ++i)
          for (int64_t j = 0; j < n; ++j) {
            const size_t q = size_t(i * n + j);
            bits &= same(ry[q], gy[q]) && std::signbit(ry[q]) == std::signbit(gy[q]);
            const T ui = u[size_t(i)];
            const T want = (ui == T(0) && !poison) ? y0[q] : std::fma(T(-0.3), ui * v[size_t(j)], y0[q]);
            def &= same(ry[q], want);
          }
        CHECK(bits, "axpy_outer m=%ld n=%ld poison=%d", long(m), long(n), int(poison));
        CHECK(def, "axpy_outer (generic vs definition) m=%ld n=%ld poison=%d", long(m), long(n),
              int(poison));
      }
}

// ---------------------------------------------------------------------------------------------
// Reductions and fused rows

template <class T>
void test_reduce(tk::Arch arch) {
  const T tol = sizeof(T) == 4 ? T(1e-6) : T(1e-14);
  const tk::Reduce ops[] = {tk::Reduce::sum, tk::Reduce::max, tk::Reduce::min};
  struct Shape { int64_t outer, r, inner; };
  std::vector<Shape> shapes;
  for (int64_t s : kSizes) {
    shapes.push_back({1, s, 1});
    shapes.push_back({3, s, 1});
    shapes.push_back({2, s, 5});
    shapes.push_back({2, 4, s});
  }
  shapes.push_back({1, 1 << 20, 1});
  shapes.push_back({600, 700, 1});
  for (auto op : ops)
    for (auto sh : shapes) {
      if (op != tk::Reduce::sum && sh.r == 0) continue;
      const int64_t nx = sh.outer * sh.r * sh.inner, ny = sh.outer * sh.inner;
      auto x = randv<T>(nx);
      if (nx > 10 && sh.outer > 1) x[size_t(nx - 3)] = std::numeric_limits<T>::quiet_NaN();
      std::vector<T> w(static_cast<size_t>(ny)), g(static_cast<size_t>(ny));
      oracle_then(arch, [&](bool ref) {
        auto& y = ref ? w : g;
        if constexpr (sizeof(T) == 4)
          tk::reduce_f32(op, sh.outer, sh.r, sh.inner, x.data(), y.data());
        else
          tk::reduce_f64(op, sh.outer, sh.r, sh.inner, x.data(), y.data());
      });
      for (int64_t i = 0; i < ny; ++i) {
        const bool ok = op == tk::Reduce::sum
                            ? same(g[size_t(i)], w[size_t(i)]) ||
                                  std::fabs(g[size_t(i)] - w[size_t(i)]) <= tol * T(sh.r + 1)
                            : same(g[size_t(i)], w[size_t(i)]);
        CHECK(ok, "reduce op=%d (%ld,%ld,%ld) [%ld] got %.9g want %.9g", int(op),
              long(sh.outer), long(sh.r), long(sh.inner), long(i), double(g[size_t(i)]),
              double(w[size_t(i)]));
        if (!ok) break;
      }
    }
}

template <class T>
void test_rows(tk::Arch arch) {
  const T tol = sizeof(T) == 4 ? T(2e-6) : T(1e-13);
  const T inf = std::numeric_limits<T>::infinity();
  auto close = [&](T a, T b) { return same(a, b) || std::fabs(a - b) <= tol * (1 + std::fabs(b)); };
  for (int64_t r : kSizes) {
    if (r == 0) continue;
    for (int64_t inner : {1L, 3L}) {
      const int64_t outer = 6, nx = outer * r * inner;
      auto x = randv<T>(nx, T(-10), T(10));
      // Row 1 has a -inf; row 2 is all -inf; row 3 holds a +inf when r > 1; row 4 has its
      // maximum twice (at its first and last element); row 5 holds a NaN.
      x[size_t(1 * r * inner)] = -inf;
      for (int64_t j = 0; j < r * inner; ++j) x[size_t(2 * r * inner + j)] = -inf;
      if (r > 1) x[size_t(3 * r * inner + 1)] = inf;
      x[size_t(4 * r * inner)] = x[size_t(5 * r * inner - 1)] = T(11);
      x[size_t(5 * r * inner + r * inner / 2)] = std::numeric_limits<T>::quiet_NaN();
      std::vector<T> wl(static_cast<size_t>(outer * inner)), gl(wl.size()), ws(static_cast<size_t>(nx)), gs(ws.size()),
          wls(ws.size()), gls(ws.size());
      oracle_then(arch, [&](bool ref) {
        if constexpr (sizeof(T) == 4) {
          tk::logsumexp_f32(outer, r, inner, x.data(), (ref ? wl : gl).data());
          tk::softmax_f32(outer, r, inner, x.data(), (ref ? ws : gs).data());
          tk::log_softmax_f32(outer, r, inner, x.data(), (ref ? wls : gls).data());
        } else {
          tk::logsumexp_f64(outer, r, inner, x.data(), (ref ? wl : gl).data());
          tk::softmax_f64(outer, r, inner, x.data(), (ref ? ws : gs).data());
          tk::log_softmax_f64(outer, r, inner, x.data(), (ref ? wls : gls).data());
        }
      });
      for (size_t i = 0; i < wl.size(); ++i)
        CHECK(close(gl[i], wl[i]), "logsumexp r=%ld inner=%ld [%zu] got %.9g want %.9g",
              long(r), long(inner), i, double(gl[i]), double(wl[i]));
      for (size_t i = 0; i < ws.size(); ++i) {
        CHECK(close(gs[i], ws[i]), "softmax r=%ld inner=%ld [%zu] got %.9g want %.9g", long(r),
              long(inner), i, double(gs[i]), double(ws[i]));
        CHECK(close(gls[i], wls[i]), "log_softmax r=%ld inner=%ld [%zu] got %.9g want %.9g",
              long(r), long(inner), i, double(gls[i]), double(wls[i]));
      }
    }
    // Cross-entropy forward and backward on n rows of r classes.
    const int64_t n = 37, c = r;
    auto x = randv<T>(n * c, T(-8), T(8));
    auto g = randv<T>(n);
    std::vector<int64_t> label(n);
    for (int64_t i = 0; i < n; ++i) label[size_t(i)] = (i * 7) % c;
    // Row 0 holds a +inf (a NaN row, as PyTorch's), row 1 a −inf, row 2 a −inf at its label
    // (an infinite loss), row 3 a NaN.
    x[0] = inf;
    x[size_t(1 * c + c - 1)] = -inf;
    x[size_t(2 * c + label[2])] = -inf;
    x[size_t(3 * c + c / 2)] = std::numeric_limits<T>::quiet_NaN();
    std::vector<T> wloss(n), gloss(n), wlse(n), glse(n), wdx(static_cast<size_t>(n * c)), gdx(wdx.size());
    for (int64_t gsd : {0L, 1L}) {
      oracle_then(arch, [&](bool ref) {
        if constexpr (sizeof(T) == 4) {
          tk::cross_entropy_f32(n, c, x.data(), label.data(), (ref ? wloss : gloss).data(),
                                (ref ? wlse : glse).data());
          tk::cross_entropy_backward_f32(n, c, x.data(), label.data(), wlse.data(), g.data(),
                                         gsd, (ref ? wdx : gdx).data());
        } else {
          tk::cross_entropy_f64(n, c, x.data(), label.data(), (ref ? wloss : gloss).data(),
                                (ref ? wlse : glse).data());
          tk::cross_entropy_backward_f64(n, c, x.data(), label.data(), wlse.data(), g.data(),
                                         gsd, (ref ? wdx : gdx).data());
        }
      });
      for (int64_t i = 0; i < n; ++i) {
        CHECK(close(glse[size_t(i)], wlse[size_t(i)]), "ce lse c=%ld", long(c));
        CHECK(close(gloss[size_t(i)], wloss[size_t(i)]) ||
                  std::fabs(gloss[size_t(i)] - wloss[size_t(i)]) <= tol * std::fabs(wlse[size_t(i)]) * 4,
              "ce loss c=%ld [%ld] got %.9g want %.9g", long(c), long(i),
              double(gloss[size_t(i)]), double(wloss[size_t(i)]));
      }
      for (size_t i = 0; i < wdx.size(); ++i)
        CHECK(close(gdx[i], wdx[i]), "ce backward c=%ld gs=%ld [%zu] got %.9g want %.9g",
              long(c), long(gsd), i, double(gdx[i]), double(wdx[i]));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Thread pool (Note [thread pool] in cpp/src/kernels/threads.cpp). parallel_for is internal, so it is driven
// through kernels that split: large GEMMs and long elementwise runs.

void test_threads() {
  g_ctx = "threads";
  const int saved = tk::get_num_threads();
  bool threw = false;
  try {
    tk::set_num_threads(0);
  } catch (const std::invalid_argument&) {
    threw = true;
  }
  CHECK(threw, "set_num_threads(0) must throw");
  for (int nt : {1, 2, 3, 2}) {
    tk::set_num_threads(nt);
    CHECK(tk::get_num_threads() == nt, "get_num_threads");
    const int64_t n = 1 << 20;
    std::vector<float> x(n), y(n);
    for (int64_t i = 0; i < n; ++i) x[size_t(i)] = float(i % 1000) * 1e-3f;
    tk::unary_f32(tk::Unary::neg, n, x.data(), y.data());
    bool ok = true;
    for (int64_t i = 0; i < n; ++i) ok &= y[size_t(i)] == -x[size_t(i)];
    CHECK(ok, "parallel neg with %d threads covers every element", nt);
  }
  // Concurrent callers: each either gets the pool or runs inline; results stay right.
  tk::set_num_threads(2);
  {
    std::atomic<int> bad{0};
    auto job = [&] {
      const int64_t m = 200, n = 200, k = 200;
      std::vector<float> a(m * k, 1.0f), b(k * n, 2.0f), c(m * n);
      for (int rep = 0; rep < 5; ++rep) {
        tk::gemm_f32(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
        for (float v : c) bad += v != 400.0f;
      }
    };
    std::thread t1(job), t2(job);
    t1.join();
    t2.join();
    CHECK(bad.load() == 0, "concurrent GEMMs");
  }
  // fork: the child gets a fresh pool and finishes a parallel GEMM (no hang).
  {
    const int64_t m = 300, n = 300, k = 300;
    std::vector<float> a(m * k, 1.0f), b(k * n, 1.0f), c(m * n);
    tk::gemm_f32(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
    const pid_t pid = fork();
    if (pid == 0) {
      alarm(20);  // a hang becomes SIGALRM, i.e. a failure, not a stuck test
      tk::gemm_f32(false, false, m, n, k, 1.0f, a.data(), k, b.data(), n, 0.0f, c.data(), n);
      _exit(c[0] == 300.0f && c[m * n - 1] == 300.0f ? 0 : 3);
    }
    int status = 0;
    waitpid(pid, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "forked child status %d", status);
  }
  tk::set_num_threads(saved);
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Buffer cache (Note [buffer cache])

void test_buffer_cache() {
  g_ctx = "alloc";
  tk::release_buffer_cache();
  CHECK(tk::alloc_buffer(0) == nullptr, "zero bytes");
  void* small = tk::alloc_buffer(100);
  CHECK(reinterpret_cast<uintptr_t>(small) % 64 == 0, "small buffer alignment");
  tk::free_buffer(small, 100);
  CHECK(tk::cached_buffer_bytes() == 0, "small buffers are not cached");

  const size_t big = (size_t(3) << 20) + 12345;
  auto* p = static_cast<unsigned char*>(tk::alloc_buffer(big));
  CHECK(reinterpret_cast<uintptr_t>(p) % 64 == 0, "big buffer alignment");
  std::memset(p, 1, big);  // the whole requested size is usable
  tk::free_buffer(p, big);
  CHECK(tk::cached_buffer_bytes() >= big, "big buffer cached");
  void* q = tk::alloc_buffer(big - 1000);  // same bucket: reused
  CHECK(q == p, "same bucket reuses the block");
  CHECK(tk::cached_buffer_bytes() == 0, "taken out of the cache");
  tk::free_buffer(q, big - 1000);

  // Bounded: far more than 256 MiB freed at once stays under the bound.
  std::vector<void*> bufs;
  for (int i = 0; i < 12; ++i) bufs.push_back(tk::alloc_buffer(size_t(40) << 20));
  for (void* b : bufs) tk::free_buffer(b, size_t(40) << 20);
  CHECK(tk::cached_buffer_bytes() <= (size_t(256) << 20), "cache bound %zu",
        tk::cached_buffer_bytes());
  tk::release_buffer_cache();
  CHECK(tk::cached_buffer_bytes() == 0, "release");
}

int main() {
  const auto& info = tk::cpu_info();
  std::printf("cpu vendor %s; targets:", info.vendor.c_str());
  for (auto a : info.available) std::printf(" %s", tk::arch_name(a));
  std::printf("; selected %s\n", tk::arch_name(info.selected));
  const tk::Arch initial = info.selected;

  for (tk::Arch arch : info.available) {
    g_ctx = tk::arch_name(arch);
    test_gemm_relu<float>(arch);
    test_gemm_relu<double>(arch);
    if (arch != tk::Arch::generic) {
      test_gemm<float>(arch);
      test_gemm<double>(arch);
      test_binary<float>(arch);
      test_binary<double>(arch);
      test_unary<float>(arch);
      test_unary<double>(arch);
      test_affine_axpy<float>(arch);
      test_affine_axpy<double>(arch);
      test_reduce<float>(arch);
      test_reduce<double>(arch);
      test_rows<float>(arch);
      test_rows<double>(arch);
    }
    sweep_f32_math(arch);
  }
  tk::set_arch(initial);
  test_threads();
  test_buffer_cache();

  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
