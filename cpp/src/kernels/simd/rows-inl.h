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
// inv_s = 1/(1 + t). Non-finite m (NaN, +inf, all −inf) gives log_s = 0 and inv_s = 1.
template <class F>
struct RowParts {
  typename F::T m, log_s, inv_s;
};

// m and t of a row; `finite` is false for a NaN, +inf or all −inf row (then log_s = 0 and
// inv_s = 1).
template <class F>
struct RowTail {
  typename F::T m, t;
  bool finite;
};

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
    if (std::isinf(m)) return {m, T(0), false};
    const V vm = F::set1(m);
    const auto at_max = F::eq(v, vm);
    const T count = F::hsum(F::select(at_max, one, F::zero()));
    return {m, F::hsum(F::select(at_max, F::zero(), vexp<F>(F::sub(v, vm)))) + (count - T(1)),
            true};
  }
  const T m = r > 0 ? reduce_run<F>(Reduce::max, r, x) : -std::numeric_limits<T>::infinity();
  if (std::isnan(m) || std::isinf(m)) return {m, T(0), false};
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
  if (!p.finite) return {p.m, T(0), T(1)};
  // log1p and the reciprocal in double: a scalar per row, one rounding each.
  return {p.m, T(std::log1p(double(p.t))), T(1.0 / (1.0 + double(p.t)))};
}

// m and 1/(1 + t) only (softmax and the cross-entropy gradient need no logarithm).
template <class F>
std::pair<typename F::T, typename F::T> row_max_inv(int64_t r, const typename F::T* x) {
  using T = typename F::T;
  const RowTail<F> p = row_max_tail<F>(r, x);
  return {p.m, p.finite ? T(1.0 / (1.0 + double(p.t))) : T(1)};
}

template <class F>
typename F::T row_lse(int64_t r, const typename F::T* x) {
  const RowParts<F> p = row_parts<F>(r, x);
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

template <class F>
void logsumexp(int64_t outer, int64_t r, int64_t inner, const typename F::T* x,
               typename F::T* y) {
  if (inner != 1) {
    if constexpr (sizeof(typename F::T) == 4) return ref::table().logsumexp_f32(outer, r, inner, x, y);
    else return ref::table().logsumexp_f64(outer, r, inner, x, y);
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
  rows_par<F>(outer, r, [&](int64_t o) {
    const auto [pm, pinv] = row_max_inv<F>(r, x + o * r);
    const V m = F::set1(pm), inv_s = F::set1(pinv);
    map1<F>(r, x + o * r, y + o * r, [=](V v) { return F::mul(vexp<F>(F::sub(v, m)), inv_s); });
  });
}

template <class F>
void cross_entropy(int64_t n, int64_t c, const typename F::T* x, const int64_t* label,
                   typename F::T* loss, typename F::T* lse) {
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
  rows_par<F>(n, c, [&](int64_t i) {
    const auto gi = g[i * gs];
    const auto [pm, pinv] = row_max_inv<F>(c, x + i * c);
    const V m = F::set1(pm), scale = F::mul(F::set1(gi), F::set1(pinv));
    map1<F>(c, x + i * c, dx + i * c, [=](V v) { return F::mul(vexp<F>(F::sub(v, m)), scale); });
    dx[i * c + label[i]] -= gi;
  });
}
