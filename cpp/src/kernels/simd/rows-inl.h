// Fused softmax-family and cross-entropy row kernels written once for every SIMD target.
//
// Textually included inside a target's namespace by that target's elementwise.cpp, after its
// vec.h, <algorithm>, <cmath>, <limits>, kernels/parallel.h and kernels/table.h (Note
// [per-ISA translation units]); do not include headers from here. F is the target's vector
// traits (F32 / F64 from vec.h). Highway's -inl.h convention: a file meant for textual
// inclusion, once per target.

// ---------------------------------------------------------------------------------------------
// Fused row kernels (rows contiguous, i.e. inner == 1; other layouts use the reference).

template <class F>
typename F::V vexp(typename F::V v) {
  if constexpr (sizeof(typename F::T) == 4)
    return exp_f32<F>(v);
  else
    return exp_f64<F>(v);
}

// One contiguous row of the softmax family split as in Note [softmax rounding]
// (reference.cpp): m = max, t = Σ exp(x − m) over all terms but one maximum, log_s = log1p(t),
// inv_s = 1/(1 + t). A NaN or all −inf m gives log_s = 0 and inv_s = 1; a +inf m gives NaN
// for both (the whole row is NaN; logsumexp alone returns the +inf).
template <class F>
struct RowParts {
  typename F::T m, log_s, inv_s;
};

// m and t of a row; `finite` is false for a NaN, +inf or all −inf row (then t = NaN for +inf,
// else 0).
template <class F>
struct RowTail {
  typename F::T m, t;
  bool finite;
};

// t of a row whose maximum m is not finite: NaN for +inf (exp(+inf − +inf)), else 0.
template <class T>
T inf_tail(T m) {
  return m == std::numeric_limits<T>::infinity() ? std::numeric_limits<T>::quiet_NaN() : T(0);
}

template <class F>
RowTail<F> row_max_tail(int64_t r, const typename F::T* x) {
  using V = typename F::V;
  using T = typename F::T;
  const V ninf = F::set1(-std::numeric_limits<T>::infinity());
  const V one = F::set1(T(1));
  if (r > 0 && r <= F::W) {
    // One vector (e.g. 10 classes): load it once; the same values as the general path below,
    // whose accumulators other than this vector's stay zero.
    const V v = r == F::W ? F::load(x) : F::load_or(x, F::tail(r), ninf);
    if (F::any(F::isnan(v))) return {std::numeric_limits<T>::quiet_NaN(), T(0), false};
    const T m = F::hmax(v);
    if (std::isinf(m)) return {m, inf_tail<T>(m), false};
    const V vm = F::set1(m);
    const auto at_max = F::eq(v, vm);
    const T count = F::hsum(F::select(at_max, one, F::zero()));
    return {m, F::hsum(F::select(at_max, F::zero(), vexp<F>(F::sub(v, vm)))) + (count - T(1)),
            true};
  }
  const T m = r > 0 ? reduce_run<F>(Reduce::max, r, x) : -std::numeric_limits<T>::infinity();
  if (std::isnan(m) || std::isinf(m)) return {m, inf_tail<T>(m), false};
  const V vm = F::set1(m);
  // Maximal lanes add 0 to the sum and 1 to `count` (exact: whole numbers in floats).
  V count = F::zero();
  auto term = [&](V v) {
    const auto at_max = F::eq(v, vm);
    count = F::add(count, F::select(at_max, one, F::zero()));
    return F::select(at_max, F::zero(), vexp<F>(F::sub(v, vm)));
  };
  return {m, F::hsum(sum_pairwise<F>(r, x, ninf, term)) + (F::hsum(count) - T(1)), true};
}

template <class F>
RowParts<F> row_parts(int64_t r, const typename F::T* x) {
  using T = typename F::T;
  const RowTail<F> p = row_max_tail<F>(r, x);
  if (!p.finite) return {p.m, p.t, p.t + T(1)};  // (0, 1), or (NaN, NaN) for +inf
  // log1p and the reciprocal in double: a scalar per row, one rounding each.
  return {p.m, T(std::log1p(double(p.t))), T(1.0 / (1.0 + double(p.t)))};
}

// m and 1/(1 + t) only (softmax and the cross-entropy gradient need no logarithm).
template <class F>
std::pair<typename F::T, typename F::T> row_max_inv(int64_t r, const typename F::T* x) {
  using T = typename F::T;
  const RowTail<F> p = row_max_tail<F>(r, x);
  return {p.m, p.finite ? T(1.0 / (1.0 + double(p.t))) : p.t + T(1)};
}

template <class F>
typename F::T row_lse(int64_t r, const typename F::T* x) {
  const RowParts<F> p = row_parts<F>(r, x);
  if (p.m == std::numeric_limits<typename F::T>::infinity()) return p.m;  // logsumexp's +inf
  return p.m + p.log_s;
}

template <class F, class RowFn>
void rows_par(int64_t outer, int64_t r, RowFn fn) {
  if (outer * r >= kParallelMin && outer > 1)
    parallel_for(outer, std::max<int64_t>(1, kParallelGrain / std::max<int64_t>(r, 1)),
                 [&](int64_t o0, int64_t o1) {
                   for (int64_t o = o0; o < o1; ++o) fn(o);
                 });
  else
    for (int64_t o = 0; o < outer; ++o) fn(o);
}

// ---------------------------------------------------------------------------------------------
// Note [narrow rows]
// A row narrower than a few vectors (10 classes) leaves most lanes idle and pays two or three
// horizontal reductions (max, Σ, the count of maxima) plus a scalar log1p per row: ~40 ns for
// 40 flops. For rows of at most kNarrow values the kernels below transpose a block of W rows
// into c vectors X_0 … X_{c−1} (lane l = row l of the block), so that max, Σ exp, log1p and
// the reciprocal are vertical: one vector op serves W rows and no horizontal reduction is left.
// The block goes through a small stack buffer (c·W scalar moves each way, cheap next to the
// exp). Every lane does the same operations whatever its position, so results do not depend
// on how rows are grouped into blocks or split across threads. The math is Note [softmax
// rounding]'s: t = Σ exp(x − m) over all terms but one maximum (maximal lanes add 0 and count
// 1; the count − 1 is added back), log_s = log1p(t), inv_s = 1/(1 + t); non-finite m (NaN,
// all −inf) gives log_s = 0 and inv_s = 1, +inf gives NaN for both. log1p(t) for float32 is log(u)·t/(u − 1)
// with u = 1 + t (exact to a few ULP also when t is below ulp(1), where it returns t); float64
// takes std::log1p per lane.
constexpr int64_t kNarrow = 32;

template <class F>
struct NarrowBlock {
  using T = typename F::T;
  using V = typename F::V;
  static constexpr int W = F::W;
  alignas(64) T buf[kNarrow * W];  // buf[j·W + l] = x(row l, column j)
  V m, log_s, inv_s;

  // Transposes rows [0, rows) of x (row length c ≤ kNarrow) in; lanes past `rows` read 0.
  void load(int64_t rows, int64_t c, const T* x) {
    for (int64_t j = 0; j < c; ++j) {
      T* d = buf + j * W;
      int64_t l = 0;
      for (; l < rows; ++l) d[l] = x[l * c + j];
      for (; l < W; ++l) d[l] = T(0);
    }
  }
  // Writes rows [0, rows) of y from buf (the transpose of load).
  void store(int64_t rows, int64_t c, T* y) const {
    for (int64_t l = 0; l < rows; ++l)
      for (int64_t j = 0; j < c; ++j) y[l * c + j] = buf[j * W + l];
  }
  V col(int64_t j) const { return F::load(buf + j * W); }
  void set_col(int64_t j, V v) { F::store(buf + j * W, v); }

  // m, inv_s and (when `want_log`) log_s of every lane from the loaded columns.
  void parts(int64_t c, bool want_log) {
    const V one = F::set1(T(1));
    V mx = col(0);
    auto nan = F::isnan(mx);
    for (int64_t j = 1; j < c; ++j) {
      const V v = col(j);
      nan = F::mor(nan, F::isnan(v));
      mx = F::max(mx, v);
    }
    const V inf = F::set1(std::numeric_limits<T>::infinity());
    m = F::select(nan, F::set1(std::numeric_limits<T>::quiet_NaN()), mx);
    // finite lanes: no NaN and |m| < inf
    const auto finite = F::lt(F::abs(m), inf);
    V t = F::zero(), count = F::zero();
    for (int64_t j = 0; j < c; ++j) {
      const V v = col(j);
      const auto at_max = F::eq(v, m);
      count = F::add(count, F::select(at_max, one, F::zero()));
      t = F::add(t, F::select(at_max, F::zero(), vexp<F>(F::sub(v, m))));
    }
    // Non-finite lanes: t = NaN for m = +inf (the row is NaN), else 0 (Note [softmax rounding]).
    const auto pinf = F::eq(m, inf);
    t = F::select(finite, F::add(t, F::sub(count, one)),
                  F::select(pinf, F::set1(std::numeric_limits<T>::quiet_NaN()), F::zero()));
    // u = 1 + t rounded, e its rounding error (TwoSum), so 1 + t = u + e exactly; then
    // 1/(u + e) = r + r·(1 − u·r − e·r) to second order with r = 1/u: one rounding's worth of
    // error, as the scalar path's 1/(1 + t) evaluated in double (a bare 1/u would add a second
    // rounding, visible in the gradient g·p − g at the label when p is close to 1).
    const V u = F::add(one, t);
    const V tb = F::sub(u, one);
    const V e = F::add(F::sub(one, F::sub(u, tb)), F::sub(t, tb));
    const V r = F::div(one, u);
    inv_s = F::fma(r, F::fnma(e, r, F::fnma(u, r, one)), r);
    if (!want_log) return;
    if constexpr (sizeof(T) == 4) {
      // log1p(t) = log(u) · t / (u − 1): the factor t/(u − 1) undoes the rounding of 1 + t.
      const V d = F::sub(u, one);
      const auto exact = F::eq(d, F::zero());  // t below ulp(1)/2 (or 0): log1p(t) = t
      const V safe_d = F::select(exact, one, d);
      log_s = F::select(exact, t, F::div(F::mul(log_f32<F>(u), t), safe_d));
    } else {
      alignas(64) T tl[W];
      F::store(tl, t);
      for (int l = 0; l < W; ++l) tl[l] = std::log1p(tl[l]);
      log_s = F::load(tl);
    }
  }
};

// Runs fn(block, rows, row0) over blocks of W rows (Note [narrow rows]), split across
// threads when the whole is large.
template <class F, class BlockFn>
void narrow_blocks(int64_t n, int64_t c, BlockFn fn) {
  constexpr int W = F::W;
  const int64_t nb = (n + W - 1) / W;
  auto body = [&](int64_t b0, int64_t b1) {
    NarrowBlock<F> blk;
    for (int64_t b = b0; b < b1; ++b) fn(blk, std::min<int64_t>(W, n - b * W), b * W);
  };
  if (n * c >= kParallelMin && nb > 1)
    parallel_for(nb, std::max<int64_t>(1, kParallelGrain / (W * c)), body);
  else
    body(0, nb);
}

template <class F>
void logsumexp(int64_t outer, int64_t r, int64_t inner, const typename F::T* x,
               typename F::T* y) {
  if (inner != 1) {
    if constexpr (sizeof(typename F::T) == 4) return ref::table().logsumexp_f32(outer, r, inner, x, y);
    else return ref::table().logsumexp_f64(outer, r, inner, x, y);
  }
  if (r >= 1 && r <= kNarrow) {  // Note [narrow rows]
    narrow_blocks<F>(outer, r, [&](NarrowBlock<F>& b, int64_t rows, int64_t o0) {
      b.load(rows, r, x + o0 * r);
      b.parts(r, true);
      alignas(64) typename F::T lse[F::W];
      const typename F::V pinf = F::set1(std::numeric_limits<typename F::T>::infinity());
      F::store(lse, F::select(F::eq(b.m, pinf), b.m, F::add(b.m, b.log_s)));
      for (int64_t l = 0; l < rows; ++l) y[o0 + l] = lse[l];
    });
    return;
  }
  rows_par<F>(outer, r, [&](int64_t o) { y[o] = row_lse<F>(r, x + o * r); });
}

template <class F>
void log_softmax(int64_t outer, int64_t r, int64_t inner, const typename F::T* x,
                 typename F::T* y) {
  using V = typename F::V;
  if (inner != 1) {
    if constexpr (sizeof(typename F::T) == 4) return ref::table().log_softmax_f32(outer, r, inner, x, y);
    else return ref::table().log_softmax_f64(outer, r, inner, x, y);
  }
  if (r >= 1 && r <= kNarrow) {  // Note [narrow rows]
    narrow_blocks<F>(outer, r, [&](NarrowBlock<F>& b, int64_t rows, int64_t o0) {
      b.load(rows, r, x + o0 * r);
      b.parts(r, true);
      for (int64_t j = 0; j < r; ++j) b.set_col(j, F::sub(F::sub(b.col(j), b.m), b.log_s));
      b.store(rows, r, y + o0 * r);
    });
    return;
  }
  rows_par<F>(outer, r, [&](int64_t o) {
    const RowParts<F> p = row_parts<F>(r, x + o * r);
    const V m = F::set1(p.m), log_s = F::set1(p.log_s);
    map1<F>(r, x + o * r, y + o * r, [=](V v) { return F::sub(F::sub(v, m), log_s); });
  });
}

template <class F>
void softmax(int64_t outer, int64_t r, int64_t inner, const typename F::T* x,
             typename F::T* y) {
  using V = typename F::V;
  if (inner != 1) {
    if constexpr (sizeof(typename F::T) == 4) return ref::table().softmax_f32(outer, r, inner, x, y);
    else return ref::table().softmax_f64(outer, r, inner, x, y);
  }
  if (r >= 1 && r <= kNarrow) {  // Note [narrow rows]
    narrow_blocks<F>(outer, r, [&](NarrowBlock<F>& b, int64_t rows, int64_t o0) {
      b.load(rows, r, x + o0 * r);
      b.parts(r, false);
      for (int64_t j = 0; j < r; ++j)
        b.set_col(j, F::mul(vexp<F>(F::sub(b.col(j), b.m)), b.inv_s));
      b.store(rows, r, y + o0 * r);
    });
    return;
  }
  rows_par<F>(outer, r, [&](int64_t o) {
    const auto [pm, pinv] = row_max_inv<F>(r, x + o * r);
    const V m = F::set1(pm), inv_s = F::set1(pinv);
    map1<F>(r, x + o * r, y + o * r, [=](V v) { return F::mul(vexp<F>(F::sub(v, m)), inv_s); });
  });
}

template <class F>
void cross_entropy(int64_t n, int64_t c, const typename F::T* x, const int64_t* label,
                   typename F::T* loss, typename F::T* lse) {
  if (c >= 1 && c <= kNarrow) {  // Note [narrow rows]
    narrow_blocks<F>(n, c, [&](NarrowBlock<F>& b, int64_t rows, int64_t i0) {
      b.load(rows, c, x + i0 * c);
      b.parts(c, true);
      alignas(64) typename F::T m[F::W], log_s[F::W];
      F::store(m, b.m);
      F::store(log_s, b.log_s);
      for (int64_t l = 0; l < rows; ++l) {
        const int64_t i = i0 + l;
        lse[i] = m[l] + log_s[l];
        loss[i] = (m[l] - x[i * c + label[i]]) + log_s[l];
      }
    });
    return;
  }
  rows_par<F>(n, c, [&](int64_t i) {
    const RowParts<F> p = row_parts<F>(c, x + i * c);
    lse[i] = p.m + p.log_s;
    loss[i] = (p.m - x[i * c + label[i]]) + p.log_s;
  });
}

template <class F>
void cross_entropy_backward(int64_t n, int64_t c, const typename F::T* x, const int64_t* label,
                            const typename F::T* lse, const typename F::T* g, int64_t gs,
                            typename F::T* dx) {
  using V = typename F::V;
  // dx = g·softmax(x) − g·onehot, with softmax as the forward computes it, exp(x − m)/Σ:
  // exp(x − lse) would lose ulp(lse) in the exponent (1e-3 relative at logits of 1e4).
  (void)lse;
  if (c >= 1 && c <= kNarrow) {  // Note [narrow rows]
    narrow_blocks<F>(n, c, [&](NarrowBlock<F>& b, int64_t rows, int64_t i0) {
      b.load(rows, c, x + i0 * c);
      b.parts(c, false);
      alignas(64) typename F::T gv[F::W];
      for (int64_t l = 0; l < F::W; ++l) gv[l] = l < rows ? g[(i0 + l) * gs] : typename F::T(0);
      const V scale = F::mul(F::load(gv), b.inv_s);
      for (int64_t j = 0; j < c; ++j)
        b.set_col(j, F::mul(vexp<F>(F::sub(b.col(j), b.m)), scale));
      b.store(rows, c, dx + i0 * c);
      for (int64_t l = 0; l < rows; ++l) dx[(i0 + l) * c + label[i0 + l]] -= gv[l];
    });
    return;
  }
  rows_par<F>(n, c, [&](int64_t i) {
    const auto gi = g[i * gs];
    const auto [pm, pinv] = row_max_inv<F>(c, x + i * c);
    const V m = F::set1(pm), scale = F::mul(F::set1(gi), F::set1(pinv));
    map1<F>(c, x + i * c, dx + i * c, [=](V v) { return F::mul(vexp<F>(F::sub(v, m)), scale); });
    dx[i * c + label[i]] -= gi;
  });
}
