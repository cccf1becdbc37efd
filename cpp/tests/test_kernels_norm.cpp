// The normalization and embedding kernel slots (kernels.h, "Normalization and embedding rows")
// on every target this CPU can run: each target against the reference target (to a few ulps
// of float32, 1e-13 in float64: the SIMD rows sum in another order), the reference against a
// naive double-precision loop written here, and the embedding rows exactly, on row lengths
// {0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 127, 1000}.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
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

const int64_t kSizes[] = {0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 127, 1000};
std::mt19937_64 g_rng(7);

template <class T>
std::vector<T> randv(int64_t n, double lo = -3, double hi = 5) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<T> v(size_t(std::max<int64_t>(n, 1)));
  for (auto& x : v) x = static_cast<T>(d(g_rng));
  return v;
}

template <class T>
double tol() {
  return sizeof(T) == 4 ? 2e-5 : 1e-12;
}

template <class T>
void near(const std::vector<T>& a, const std::vector<T>& b, int64_t n, const char* what) {
  for (int64_t i = 0; i < n; ++i) {
    const double x = a[size_t(i)], y = b[size_t(i)];
    CHECK(std::fabs(x - y) <= tol<T>() * std::max(1.0, std::fabs(y)), "%s[%lld]: %g vs %g", what,
          static_cast<long long>(i), x, y);
  }
}

// Everything the batch-norm and layer-norm slots produce for one input, under `arch`.
template <class T>
struct NormOut {
  std::vector<T> mean, var, rstd, y, dx, dw, lmean, lrstd, ly, ldx, ldw;
};

template <class T>
NormOut<T> run_norm(tk::Arch arch, int64_t n, int64_t c, int64_t l, const std::vector<T>& x,
                    const std::vector<T>& w, const std::vector<T>& b, const std::vector<T>& g) {
  tk::set_arch(arch);
  NormOut<T> o;
  const size_t all = x.size();
  o.mean.resize(size_t(c)), o.var.resize(size_t(c)), o.rstd.resize(size_t(c));
  o.y.resize(all), o.dx.resize(all), o.dw.resize(size_t(c));
  const int64_t rows = n * c, len = l;  // layer norm over the same data as rows × l
  o.lmean.resize(size_t(rows)), o.lrstd.resize(size_t(rows));
  o.ly.resize(all), o.ldx.resize(all), o.ldw.resize(size_t(std::max<int64_t>(len, 1)));
  if constexpr (sizeof(T) == 4) {
    tk::batch_norm_stats_f32(n, c, l, x.data(), 1e-5, o.mean.data(), o.var.data(), o.rstd.data());
    const tk::BatchNormArgs<float> a{n, c, l, x.data(), o.mean.data(), o.rstd.data(), w.data()};
    tk::batch_norm_apply_f32(a, b.data(), o.y.data());
    tk::batch_norm_backward_f32(a, true, g.data(), o.dx.data(), o.dw.data());
    tk::layer_norm_f32(rows, len, x.data(), w.data(), b.data(), 1e-5, o.ly.data(), o.lmean.data(),
                       o.lrstd.data());
    tk::layer_norm_backward_f32(rows, len, g.data(), x.data(), o.lmean.data(), o.lrstd.data(),
                                w.data(), o.ldx.data(), o.ldw.data());
  } else {
    tk::batch_norm_stats_f64(n, c, l, x.data(), 1e-5, o.mean.data(), o.var.data(), o.rstd.data());
    const tk::BatchNormArgs<double> a{n, c, l, x.data(), o.mean.data(), o.rstd.data(), w.data()};
    tk::batch_norm_apply_f64(a, b.data(), o.y.data());
    tk::batch_norm_backward_f64(a, true, g.data(), o.dx.data(), o.dw.data());
    tk::layer_norm_f64(rows, len, x.data(), w.data(), b.data(), 1e-5, o.ly.data(), o.lmean.data(),
                       o.lrstd.data());
    tk::layer_norm_backward_f64(rows, len, g.data(), x.data(), o.lmean.data(), o.lrstd.data(),
                                w.data(), o.ldx.data(), o.ldw.data());
  }
  return o;
}

// (n, c) input of an MLP's BatchNorm1d: c channels as the columns of n rows (l = 1).
template <class T>
void test_norm_columns(tk::Arch arch) {
  for (int64_t c : kSizes) {
    if (c == 0) continue;
    g_ctx = std::string(tk::arch_name(arch)) + (sizeof(T) == 4 ? " f32" : " f64") +
            " columns c=" + std::to_string(c);
    const int64_t n = 37;
    const auto x = randv<T>(n * c), g = randv<T>(n * c), w = randv<T>(c), b = randv<T>(c);
    const NormOut<T> r = run_norm<T>(tk::Arch::generic, n, c, 1, x, w, b, g);
    const NormOut<T> s = run_norm<T>(arch, n, c, 1, x, w, b, g);
    near(s.mean, r.mean, c, "mean");
    near(s.var, r.var, c, "var");
    near(s.y, r.y, n * c, "y");
    near(s.dx, r.dx, n * c, "dx");
    near(s.dw, r.dw, c, "dw");
  }
}

template <class T>
void test_norm(tk::Arch arch) {
  const int64_t n = 3, c = 2;
  for (int64_t l : kSizes) {
    if (l == 0) continue;  // empty channels: NaN statistics, checked from Python
    g_ctx = std::string(tk::arch_name(arch)) + (sizeof(T) == 4 ? " f32" : " f64") + " l=" +
            std::to_string(l);
    const auto x = randv<T>(n * c * l), g = randv<T>(n * c * l), b = randv<T>(std::max(c, l));
    auto w = randv<T>(std::max(c, l));
    const NormOut<T> r = run_norm<T>(tk::Arch::generic, n, c, l, x, w, b, g);
    const NormOut<T> s = run_norm<T>(arch, n, c, l, x, w, b, g);
    const int64_t all = n * c * l;
    near(s.mean, r.mean, c, "mean");
    near(s.var, r.var, c, "var");
    near(s.rstd, r.rstd, c, "rstd");
    near(s.y, r.y, all, "y");
    near(s.dx, r.dx, all, "dx");
    near(s.dw, r.dw, c, "dw");
    near(s.lmean, r.lmean, n * c, "layer mean");
    near(s.ly, r.ly, all, "layer y");
    near(s.ldx, r.ldx, all, "layer dx");
    near(s.ldw, r.ldw, l, "layer dw");
    // The reference against the definition, in double: channel 0's mean and variance.
    double mu = 0, q = 0;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < l; ++j) mu += double(x[size_t(i * c * l + j)]);
    mu /= double(n * l);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < l; ++j) q += std::pow(double(x[size_t(i * c * l + j)]) - mu, 2);
    CHECK(std::fabs(double(r.mean[0]) - mu) <= tol<T>() * std::max(1.0, std::fabs(mu)), "mean %g",
          mu);
    CHECK(std::fabs(double(r.var[0]) - q / double(n * l)) <= tol<T>() * (1 + q / double(n * l)),
          "var %g", q);
  }
}

template <class T>
void test_embedding(tk::Arch arch) {
  const tk::Elem e = sizeof(T) == 4 ? tk::Elem::f32 : tk::Elem::f64;
  for (int64_t d : kSizes) {
    g_ctx = std::string(tk::arch_name(arch)) + " embedding d=" + std::to_string(d);
    const int64_t v = 5, rows = 9;
    const std::vector<int64_t> idx = {0, 3, 3, 1, 4, 3, 0, 2, 3};
    const auto w = randv<T>(v * d), g = randv<T>(rows * d);
    std::vector<T> y(size_t(std::max<int64_t>(rows * d, 1))), dw(size_t(std::max<int64_t>(v * d, 1)));
    tk::set_arch(arch);
    tk::embedding_gather(e, rows, d, w.data(), idx.data(), 3, y.data());
    std::fill(dw.begin(), dw.end(), T(0));
    tk::embedding_scatter_add(e, rows, d, g.data(), idx.data(), 3, dw.data());
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t j = 0; j < d; ++j) {
        const T want = idx[size_t(r)] == 3 ? T(0) : w[size_t(idx[size_t(r)] * d + j)];
        CHECK(y[size_t(r * d + j)] == want, "y[%lld]", static_cast<long long>(r));
      }
    for (int64_t k = 0; k < v; ++k)
      for (int64_t j = 0; j < d; ++j) {
        T want = 0;
        for (int64_t r = 0; r < rows; ++r)
          if (idx[size_t(r)] == k && k != 3) want += g[size_t(r * d + j)];
        CHECK(dw[size_t(k * d + j)] == want, "dw[%lld, %lld]", static_cast<long long>(k),
              static_cast<long long>(j));
      }
  }
}

}  // namespace

int main() {
  const auto& info = tk::cpu_info();
  const tk::Arch initial = info.selected;
  for (tk::Arch arch : info.available) {
    test_norm<float>(arch);
    test_norm<double>(arch);
    test_norm_columns<float>(arch);
    test_norm_columns<double>(arch);
    test_embedding<float>(arch);
    test_embedding<double>(arch);
  }
  tk::set_arch(initial);
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
