// Portable reference kernels: the fallback on every CPU and the oracle the SIMD kernels are
// tested against. Plain loops, written for clarity first; compiled for baseline x86-64.
#include <algorithm>
#include <cmath>
#include <limits>
#include <type_traits>
#include <vector>

#include "kernels/table.h"

namespace tapegrad::kernels::ref {

namespace {

// C = alpha·op(A)·op(B) + beta·C, one output element at a time with a k-loop in the order
// that walks memory contiguously for the common non-transposed case.
template <class T>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i) {
    T* crow = c + i * ldc;
    if (beta == T(0)) {
      std::fill(crow, crow + n, T(0));
    } else if (beta != T(1)) {
      for (int64_t j = 0; j < n; ++j) crow[j] *= beta;
    }
    if (k == 0 || alpha == T(0)) continue;
    for (int64_t p = 0; p < k; ++p) {
      const T aip = alpha * (ta ? a[p * lda + i] : a[i * lda + p]);
      if (!tb) {
        const T* brow = b + p * ldb;
        for (int64_t j = 0; j < n; ++j) crow[j] += aip * brow[j];
      } else {
        for (int64_t j = 0; j < n; ++j) crow[j] += aip * b[j * ldb + p];
      }
    }
  }
}

// gemm, then relu row by row (Note [GEMM epilogue]): relu's formula of unary() below.
template <class T>
void gemm_relu(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
               int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  gemm(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  for (int64_t i = 0; i < m; ++i)
    for (T* x = c + i * ldc; x < c + i * ldc + n; ++x) *x = *x <= T(0) ? T(0) : *x;
}

void gemm_i64(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const int64_t* a, int64_t lda,
              const int64_t* b, int64_t ldb, int64_t* c, int64_t ldc) {
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < n; ++j) {
      int64_t s = 0;
      for (int64_t p = 0; p < k; ++p)
        s += (ta ? a[p * lda + i] : a[i * lda + p]) * (tb ? b[j * ldb + p] : b[p * ldb + j]);
      c[i * ldc + j] = s;
    }
}

template <class T>
T sigmoid(T x) {
  // Stable on both tails: never evaluates exp of a large positive number.
  if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
  const T e = std::exp(x);
  return e / (T(1) + e);
}

template <class T>
void unary(Unary op, int64_t n, const T* x, T* y) {
  switch (op) {
    case Unary::neg: for (int64_t i = 0; i < n; ++i) y[i] = -x[i]; break;
    case Unary::exp: for (int64_t i = 0; i < n; ++i) y[i] = std::exp(x[i]); break;
    case Unary::log: for (int64_t i = 0; i < n; ++i) y[i] = std::log(x[i]); break;
    case Unary::sqrt: for (int64_t i = 0; i < n; ++i) y[i] = std::sqrt(x[i]); break;
    case Unary::abs: for (int64_t i = 0; i < n; ++i) y[i] = std::fabs(x[i]); break;
    case Unary::relu:
      // NaN propagates (as in PyTorch): x > 0 is false for NaN, so test the other way round.
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] <= T(0) ? T(0) : x[i];
      break;
    case Unary::sigmoid: for (int64_t i = 0; i < n; ++i) y[i] = sigmoid(x[i]); break;
    case Unary::tanh: for (int64_t i = 0; i < n; ++i) y[i] = std::tanh(x[i]); break;
    case Unary::sin: for (int64_t i = 0; i < n; ++i) y[i] = std::sin(x[i]); break;
    case Unary::cos: for (int64_t i = 0; i < n; ++i) y[i] = std::cos(x[i]); break;
    case Unary::sign:
      // sign(NaN) = 0 and sign(±0) = +0, as PyTorch's (0 < x) − (x < 0); so is abs's
      // gradient g·sign(x) at a NaN.
      for (int64_t i = 0; i < n; ++i) y[i] = x[i] > T(0) ? T(1) : (x[i] < T(0) ? T(-1) : T(0));
      break;
    case Unary::square: for (int64_t i = 0; i < n; ++i) y[i] = x[i] * x[i]; break;
    case Unary::reciprocal: for (int64_t i = 0; i < n; ++i) y[i] = T(1) / x[i]; break;
    case Unary::log1p: for (int64_t i = 0; i < n; ++i) y[i] = std::log1p(x[i]); break;
    case Unary::erf: for (int64_t i = 0; i < n; ++i) y[i] = std::erf(x[i]); break;
    case Unary::expm1: for (int64_t i = 0; i < n; ++i) y[i] = std::expm1(x[i]); break;
    case Unary::count_: break;
  }
}

// aᵇ on int64 as PyTorch computes it: exact by repeated squaring, wrapping modulo 2^64 (the
// products are formed in uint64, so no signed overflow); a negative b gives the truncation of
// 1/aᵇ, which is nonzero only for a = ±1.
inline int64_t ipow(int64_t a, int64_t b) {
  if (b < 0) {
    if (a == 1) return 1;
    if (a == -1) return (b & 1) ? -1 : 1;
    return 0;
  }
  uint64_t r = 1, x = static_cast<uint64_t>(a);
  for (uint64_t e = static_cast<uint64_t>(b); e; e >>= 1) {
    if (e & 1) r *= x;
    x *= x;
  }
  return static_cast<int64_t>(r);
}

template <class T, class = void>
struct Wrapping {  // floats: themselves
  using type = T;
};
template <class T>
struct Wrapping<T, std::enable_if_t<std::is_integral_v<T>>> {  // integers: their unsigned twin
  using type = std::make_unsigned_t<T>;
};

template <class T>
inline T apply(Binary op, T a, T b) {
  // Integer add, sub and mul wrap modulo 2^64 (PyTorch's result; signed overflow is undefined
  // in C++, so they are formed in uint64).
  using W = typename Wrapping<T>::type;
  switch (op) {
    case Binary::add: return static_cast<T>(static_cast<W>(a) + static_cast<W>(b));
    case Binary::sub: return static_cast<T>(static_cast<W>(a) - static_cast<W>(b));
    case Binary::mul: return static_cast<T>(static_cast<W>(a) * static_cast<W>(b));
    case Binary::div: return a / b;
    case Binary::pow:
      if constexpr (std::is_floating_point_v<T>) return std::pow(a, b);
      else return ipow(a, b);
    case Binary::bitwise_and:
      if constexpr (std::is_integral_v<T>) return a & b;
      break;
    case Binary::bitwise_or:
      if constexpr (std::is_integral_v<T>) return a | b;
      break;
    case Binary::bitwise_xor:
      if constexpr (std::is_integral_v<T>) return a ^ b;
      break;
    case Binary::maximum:
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
      }
      return a > b ? a : b;
    case Binary::minimum:
      if constexpr (std::is_floating_point_v<T>) {
        if (std::isnan(a) || std::isnan(b)) return std::numeric_limits<T>::quiet_NaN();
      }
      return a < b ? a : b;
    case Binary::count_: break;
  }
  return T(0);
}

template <class T>
void binary(Binary op, int64_t n, const T* a, int64_t sa, const T* b, int64_t sb, T* c) {
  for (int64_t i = 0; i < n; ++i) c[i] = apply(op, a[i * sa], b[i * sb]);
}

template <class T>
void affine(int64_t n, const T* x, T alpha, T beta, T* y) {
  for (int64_t i = 0; i < n; ++i) y[i] = alpha * x[i] + beta;
}

template <class T>
void axpy(int64_t n, T alpha, const T* x, T* y) {
  // One rounding (fused multiply-add) on every target, as PyTorch's add_(x, alpha=…) rounds:
  // an SGD step then reproduces PyTorch's parameters bit for bit.
  for (int64_t i = 0; i < n; ++i) y[i] = std::fma(alpha, x[i], y[i]);
}

template <class T>
void axpy_outer(int64_t m, int64_t n, T alpha, const T* u, const T* v, T* y, bool skip_zero) {
  for (int64_t i = 0; i < m; ++i) {
    if (skip_zero && u[i] == T(0)) continue;
    T* row = y + i * n;
    for (int64_t j = 0; j < n; ++j) row[j] = std::fma(alpha, u[i] * v[j], row[j]);
  }
}

template <class T>
inline bool better(Reduce op, T cand, T best) {
  if constexpr (std::is_floating_point_v<T>) {
    if (std::isnan(best)) return false;
    if (std::isnan(cand)) return true;
  }
  return op == Reduce::max ? cand > best : cand < best;
}

// Note [accurate sums]
// A float32 sum accumulated naively in float32 loses about n·ε/2 relative (1e6 terms of 0.1:
// 1e-3); NumPy and PyTorch sum pairwise, so tapegrad must be at least as accurate. The
// reference accumulates float32 in double (one rounding at the end) and float64 with
// Neumaier's compensated summation; the SIMD kernels sum blocked-pairwise (simd/
// reduce-inl.h). The fused softmax family keeps the sum of the non-maximal terms apart,
// see Note [softmax rounding].
template <class T>
struct SumAcc {
  double s = 0, c = 0;  // c: Neumaier compensation (float64 only)
  void add(T x) {
    if constexpr (std::is_same_v<T, float>) {
      s += double(x);
    } else {
      const double t = s + x;
      c += std::fabs(s) >= std::fabs(x) ? (s - t) + x : (x - t) + s;
      s = t;
    }
  }
  T value() const { return std::isfinite(s) ? T(s + c) : T(s); }  // c is NaN after an inf
};

template <class T>
void reduce(Reduce op, int64_t outer, int64_t r, int64_t inner, const T* x, T* y) {
  std::vector<SumAcc<T>> acc;
  for (int64_t o = 0; o < outer; ++o) {
    T* yo = y + o * inner;
    const T* xo = x + o * r * inner;
    if (op == Reduce::sum) {
      if constexpr (std::is_floating_point_v<T>) {
        acc.assign(static_cast<size_t>(inner), SumAcc<T>{});
        for (int64_t j = 0; j < r; ++j)
          for (int64_t i = 0; i < inner; ++i) acc[size_t(i)].add(xo[j * inner + i]);
        for (int64_t i = 0; i < inner; ++i) yo[i] = acc[size_t(i)].value();
      } else {
        std::fill(yo, yo + inner, T(0));
        for (int64_t j = 0; j < r; ++j)
          for (int64_t i = 0; i < inner; ++i) yo[i] += xo[j * inner + i];
      }
    } else {
      // Callers guarantee r > 0 for max/min (the engine raises on empty reductions).
      std::copy(xo, xo + inner, yo);
      for (int64_t j = 1; j < r; ++j)
        for (int64_t i = 0; i < inner; ++i)
          if (better(op, xo[j * inner + i], yo[i])) yo[i] = xo[j * inner + i];
    }
  }
}

template <class T>
void argreduce(Reduce op, int64_t outer, int64_t r, int64_t inner, const T* x, int64_t* idx) {
  for (int64_t o = 0; o < outer; ++o) {
    const T* xo = x + o * r * inner;
    for (int64_t i = 0; i < inner; ++i) {
      int64_t best = 0;
      for (int64_t j = 1; j < r; ++j)
        if (better(op, xo[j * inner + i], xo[best * inner + i])) best = j;
      idx[o * inner + i] = best;
    }
  }
}

// Note [softmax rounding]
// With m = max_j x_j and s = Σ_j exp(x_j − m) = 1 + t (t: the terms other than one maximum),
//   lse = m + log1p(t),   log_softmax = (x − m) − log1p(t),   softmax = exp(x − m) / s.
// Rounding lse first and then computing x − lse (or exp(x − lse)) loses up to half an ULP of
// |m| — 3.8e-6 absolute at m = 47.8, which is the whole answer for the largest log-probability
// of a confident classifier (≈ −t). Keeping t apart from the 1 of the maximum, and log1p
// instead of log(1 + t), gives every output to a few ULP, as PyTorch's (x − m) − log s does
// for all but that largest entry. The reference evaluates all of it in double for float32.
// Non-finite m: a NaN or a row of −inf gives log_s = 0 and s = 1, so the same formulas reduce
// to lse = m and x − m, the IEEE results of the naive definition (NaN, and exp(−inf − −inf) =
// NaN). A +inf gives log_s = s = NaN: Σ exp(x − m) holds exp(+inf − +inf) = NaN, so softmax,
// log_softmax and cross-entropy are NaN on the whole row, as PyTorch's; logsumexp alone is +inf
// (PyTorch shifts by 0 when the maximum is infinite: log Σ exp x = log(+inf)), see row_lse.
template <class T>
struct RowParts {
  using A = double;  // float32 is evaluated in double; float64 in double
  T m;
  A log_s;  // log Σ exp(x − m) = log1p(t)
  A s;      // Σ exp(x − m) = 1 + t
};

// One row of the fused softmax family: r values at stride `inner`.
template <class T>
RowParts<T> row_parts(int64_t r, int64_t inner, const T* x) {
  T m = -std::numeric_limits<T>::infinity();
  for (int64_t j = 0; j < r; ++j) m = std::max(m, x[j * inner]);
  for (int64_t j = 0; j < r; ++j)
    if (std::isnan(x[j * inner])) return {x[j * inner], 0.0, 1.0};
  if (std::isinf(m)) {  // all −inf: lse −inf, softmax NaN; any +inf: NaN but lse +inf
    const double s = m > 0 ? std::numeric_limits<double>::quiet_NaN() : 1.0;
    return {m, m > 0 ? s : 0.0, s};
  }
  SumAcc<double> t;
  bool seen_max = false;
  for (int64_t j = 0; j < r; ++j) {
    if (x[j * inner] == m && !seen_max) {
      seen_max = true;  // its exp(0) = 1 is the 1 of 1 + t
      continue;
    }
    t.add(std::exp(double(x[j * inner]) - double(m)));
  }
  const double tv = t.value();
  return {m, std::log1p(tv), 1.0 + tv};
}

template <class T>
T row_lse(int64_t r, int64_t inner, const T* x) {
  const RowParts<T> p = row_parts(r, inner, x);
  if (p.m == std::numeric_limits<T>::infinity()) return p.m;  // Note [softmax rounding]
  return T(double(p.m) + p.log_s);
}

template <class T>
void logsumexp(int64_t outer, int64_t r, int64_t inner, const T* x, T* y) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) y[o * inner + i] = row_lse(r, inner, x + o * r * inner + i);
}

template <class T>
void log_softmax(int64_t outer, int64_t r, int64_t inner, const T* x, T* y) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const T* xr = x + o * r * inner + i;
      T* yr = y + o * r * inner + i;
      const RowParts<T> p = row_parts(r, inner, xr);
      for (int64_t j = 0; j < r; ++j)
        yr[j * inner] = T((double(xr[j * inner]) - double(p.m)) - p.log_s);
    }
}

template <class T>
void softmax(int64_t outer, int64_t r, int64_t inner, const T* x, T* y) {
  for (int64_t o = 0; o < outer; ++o)
    for (int64_t i = 0; i < inner; ++i) {
      const T* xr = x + o * r * inner + i;
      T* yr = y + o * r * inner + i;
      const RowParts<T> p = row_parts(r, inner, xr);
      for (int64_t j = 0; j < r; ++j)
        yr[j * inner] = T(std::exp(double(xr[j * inner]) - double(p.m)) / p.s);
    }
}

template <class T>
void cross_entropy(int64_t n, int64_t c, const T* x, const int64_t* label, T* loss, T* lse) {
  for (int64_t i = 0; i < n; ++i) {
    const RowParts<T> p = row_parts(c, 1, x + i * c);
    lse[i] = T(double(p.m) + p.log_s);
    loss[i] = T((double(p.m) - double(x[i * c + label[i]])) + p.log_s);
  }
}

template <class T>
void cross_entropy_backward(int64_t n, int64_t c, const T* x, const int64_t* label,
                            const T* lse, const T* g, int64_t gs, T* dx) {
  // dx = g·softmax(x) − g·onehot, softmax computed as the forward does (not exp(x − lse):
  // a rounded lse costs ulp(lse) in the exponent, 1e-3 relative at logits of 1e4).
  (void)lse;
  for (int64_t i = 0; i < n; ++i) {
    const T gi = g[i * gs];
    softmax<T>(1, c, 1, x + i * c, dx + i * c);
    for (int64_t j = 0; j < c; ++j) dx[i * c + j] = T(double(gi) * double(dx[i * c + j]));
    dx[i * c + label[i]] -= gi;
  }
}

}  // namespace

void fill_table(KernelTable& t) {
  t.gemm_f32 = gemm<float>;
  t.gemm_f64 = gemm<double>;
  t.gemm_relu_f32 = gemm_relu<float>;
  t.gemm_relu_f64 = gemm_relu<double>;
  t.gemm_blocks_f32 = [] { return GemmBlocks{}; };  // unblocked loops: no tile, no blocks
  t.gemm_blocks_f64 = [] { return GemmBlocks{}; };
  t.gemm_i64 = gemm_i64;
  t.unary_f32 = unary<float>;
  t.unary_f64 = unary<double>;
  t.binary_f32 = binary<float>;
  t.binary_f64 = binary<double>;
  t.binary_i64 = binary<int64_t>;
  t.affine_f32 = affine<float>;
  t.affine_f64 = affine<double>;
  t.axpy_f32 = axpy<float>;
  t.axpy_f64 = axpy<double>;
  t.axpy_outer_f32 = axpy_outer<float>;
  t.axpy_outer_f64 = axpy_outer<double>;
  t.reduce_f32 = reduce<float>;
  t.reduce_f64 = reduce<double>;
  t.reduce_i64 = reduce<int64_t>;
  t.argreduce_f32 = argreduce<float>;
  t.argreduce_f64 = argreduce<double>;
  t.argreduce_i64 = argreduce<int64_t>;
  t.logsumexp_f32 = logsumexp<float>;
  t.logsumexp_f64 = logsumexp<double>;
  t.softmax_f32 = softmax<float>;
  t.softmax_f64 = softmax<double>;
  t.log_softmax_f32 = log_softmax<float>;
  t.log_softmax_f64 = log_softmax<double>;
  t.cross_entropy_f32 = cross_entropy<float>;
  t.cross_entropy_f64 = cross_entropy<double>;
  t.cross_entropy_backward_f32 = cross_entropy_backward<float>;
  t.cross_entropy_backward_f64 = cross_entropy_backward<double>;
  fill_data(t);
  fill_rows(t);
  fill_pool(t);
  fill_norm(t);
  fill_conv(t);
  fill_sort(t);
}

const KernelTable& table() {
  static const KernelTable t = [] {
    KernelTable r{};
    fill_table(r);
    return r;
  }();
  return t;
}

}  // namespace tapegrad::kernels::ref
