// Elementwise loops written once for every SIMD target: map1/map2 and the unary, binary,
// affine and axpy kernels.
//
// Textually included inside a target's namespace by that target's elementwise.cpp, after its
// vec.h, <algorithm>, <cmath>, <limits>, kernels/parallel.h and kernels/table.h (Note
// [per-ISA translation units]); do not include headers from here. F is the target's vector
// traits (F32 / F64 from vec.h). Highway's -inl.h convention: a file meant for textual
// inclusion, once per target.

// Above this many elements a kernel splits across the thread pool (smaller runs are faster on
// one core than the wake-up costs).
constexpr int64_t kParallelMin = int64_t(1) << 18;
constexpr int64_t kParallelGrain = int64_t(1) << 16;

template <class Body>
void maybe_parallel(int64_t n, Body body) {
  if (n >= kParallelMin)
    parallel_for(n, kParallelGrain, body);
  else
    body(int64_t(0), n);
}

// ---------------------------------------------------------------------------------------------
// Loops.

// y[i] = op(x[i]); the tail is one masked vector (or a narrower whole one: Note [tail stores]).
template <class F, class Op>
void map1(int64_t n, const typename F::T* x, typename F::T* y, Op op) {
  constexpr int W = F::W;
  int64_t i = 0;
  for (; i + 2 * W <= n; i += 2 * W) {
    const auto v0 = op(F::load(x + i)), v1 = op(F::load(x + i + W));
    F::store(y + i, v0);
    F::store(y + i + W, v1);
  }
  for (; i + W <= n; i += W) F::store(y + i, op(F::load(x + i)));
  if (i < n) {
    const auto tm = F::tail(n - i);
    F::store_tail(y + i, op(F::load_tail(x + i, tm)), tm);
  }
}

template <class F, class Op>
void map1_par(int64_t n, const typename F::T* x, typename F::T* y, Op op) {
  maybe_parallel(n, [&](int64_t b, int64_t e) { map1<F>(e - b, x + b, y + b, op); });
}

// c[i] = op(a[i·sa], b[i·sb]) for sa, sb ∈ {0, 1}.
template <class F, class Op>
void map2(int64_t n, const typename F::T* a, int64_t sa, const typename F::T* b, int64_t sb,
          typename F::T* c, Op op) {
  constexpr int W = F::W;
  using V = typename F::V;
  auto ld = [](const typename F::T* p, int64_t s, int64_t i, const V& bc) {
    return s ? F::load(p + i) : bc;
  };
  auto ldm = [](const typename F::T* p, int64_t s, int64_t i, const V& bc, auto tm) {
    return s ? F::load_tail(p + i, tm) : bc;
  };
  const V ab = F::set1(*a), bb = F::set1(*b);
  auto run = [&](int64_t i0, int64_t i1) {
    int64_t i = i0;
    for (; i + W <= i1; i += W) F::store(c + i, op(ld(a, sa, i, ab), ld(b, sb, i, bb)));
    if (i < i1) {
      const auto tm = F::tail(i1 - i);
      F::store_tail(c + i, op(ldm(a, sa, i, ab, tm), ldm(b, sb, i, bb, tm)), tm);
    }
  };
  // Separate instantiations for the stride patterns let the compiler drop the branches.
  maybe_parallel(n, [&](int64_t i0, int64_t i1) {
    if (sa && sb) {
      int64_t i = i0;
      for (; i + 4 * W <= i1; i += 4 * W) {
        const V r0 = op(F::load(a + i), F::load(b + i));
        const V r1 = op(F::load(a + i + W), F::load(b + i + W));
        const V r2 = op(F::load(a + i + 2 * W), F::load(b + i + 2 * W));
        const V r3 = op(F::load(a + i + 3 * W), F::load(b + i + 3 * W));
        F::store(c + i, r0);
        F::store(c + i + W, r1);
        F::store(c + i + 2 * W, r2);
        F::store(c + i + 3 * W, r3);
      }
      for (; i + W <= i1; i += W) F::store(c + i, op(F::load(a + i), F::load(b + i)));
      if (i < i1) {
        const auto tm = F::tail(i1 - i);
        F::store_tail(c + i, op(F::load_tail(a + i, tm), F::load_tail(b + i, tm)), tm);
      }
    } else {
      run(i0, i1);
    }
  });
}

// NaN-propagating maximum/minimum (MAXPS returns its second operand when either is NaN).
template <class F>
typename F::V max_nan(typename F::V a, typename F::V b) {
  return F::select(F::isnan(a), a, F::max(a, b));
}
template <class F>
typename F::V min_nan(typename F::V a, typename F::V b) {
  return F::select(F::isnan(a), a, F::min(a, b));
}

template <class F>
void binary(Binary op, int64_t n, const typename F::T* a, int64_t sa, const typename F::T* b,
            int64_t sb, typename F::T* c) {
  using V = typename F::V;
  switch (op) {
    case Binary::add: return map2<F>(n, a, sa, b, sb, c, [](V x, V y) { return F::add(x, y); });
    case Binary::sub: return map2<F>(n, a, sa, b, sb, c, [](V x, V y) { return F::sub(x, y); });
    case Binary::mul: return map2<F>(n, a, sa, b, sb, c, [](V x, V y) { return F::mul(x, y); });
    case Binary::div: return map2<F>(n, a, sa, b, sb, c, [](V x, V y) { return F::div(x, y); });
    case Binary::maximum:
      return map2<F>(n, a, sa, b, sb, c, [](V x, V y) { return max_nan<F>(x, y); });
    case Binary::minimum:
      return map2<F>(n, a, sa, b, sb, c, [](V x, V y) { return min_nan<F>(x, y); });
    default: break;
  }
  if constexpr (sizeof(typename F::T) == 4)
    ref::table().binary_f32(op, n, a, sa, b, sb, c);
  else
    ref::table().binary_f64(op, n, a, sa, b, sb, c);
}

// The operations that are exact (or IEEE-correctly rounded) and need no math library.
template <class F>
bool unary_simple(Unary op, int64_t n, const typename F::T* x, typename F::T* y) {
  using V = typename F::V;
  switch (op) {
    case Unary::neg: map1_par<F>(n, x, y, [](V v) { return F::neg(v); }); return true;
    case Unary::abs: map1_par<F>(n, x, y, [](V v) { return F::abs(v); }); return true;
    case Unary::sqrt: map1_par<F>(n, x, y, [](V v) { return F::sqrt(v); }); return true;
    case Unary::square: map1_par<F>(n, x, y, [](V v) { return F::mul(v, v); }); return true;
    case Unary::reciprocal:
      map1_par<F>(n, x, y, [](V v) { return F::div(F::set1(1), v); });
      return true;
    case Unary::relu:  // x <= 0 ? 0 : x — NaN stays NaN, as in the reference
      map1_par<F>(n, x, y, [](V v) { return F::select(F::le(v, F::zero()), F::zero(), v); });
      return true;
    default: return false;
  }
}

template <class F>
void unary_f32_impl(Unary op, int64_t n, const float* x, float* y) {
  using V = typename F::V;
  if (unary_simple<F>(op, n, x, y)) return;
  switch (op) {
    case Unary::exp: return map1_par<F>(n, x, y, [](V v) { return exp_f32<F>(v); });
    case Unary::log: return map1_par<F>(n, x, y, [](V v) { return log_f32<F>(v); });
    case Unary::tanh: return map1_par<F>(n, x, y, [](V v) { return tanh_f32<F>(v); });
    case Unary::sigmoid: return map1_par<F>(n, x, y, [](V v) { return sigmoid_f32<F>(v); });
    default: return ref::table().unary_f32(op, n, x, y);  // sin, cos, sign
  }
}

template <class F>
void unary_f64_impl(Unary op, int64_t n, const double* x, double* y) {
  using V = typename F::V;
  if (unary_simple<F>(op, n, x, y)) return;
  switch (op) {
    case Unary::exp: return map1_par<F>(n, x, y, [](V v) { return exp_f64<F>(v); });
    case Unary::sigmoid: return map1_par<F>(n, x, y, [](V v) { return sigmoid_f64<F>(v); });
    default: return ref::table().unary_f64(op, n, x, y);  // log, tanh, sin, cos, sign
  }
}

// y = alpha·x + beta, rounded twice exactly like the reference (no FMA contraction).
template <class F>
void affine(int64_t n, const typename F::T* x, typename F::T alpha, typename F::T beta,
            typename F::T* y) {
  using V = typename F::V;
  const V va = F::set1(alpha), vb = F::set1(beta);
  map1_par<F>(n, x, y, [=](V v) { return F::add(F::mul(va, v), vb); });
}

template <class F>
void axpy(int64_t n, typename F::T alpha, const typename F::T* x, typename F::T* y) {
  using V = typename F::V;
  const V va = F::set1(alpha);
  map2<F>(n, x, 1, y, 1, y, [=](V a, V b) { return F::fma(va, a, b); });  // one rounding
}

// Y[m×n] += alpha·(u ⊗ v), each element as fma(alpha, u_i·v_j, y): the product rounded as the
// outer-product GEMM path rounds it, then axpy's single rounding (kernels.h). Rows whose u_i
// is zero are skipped when the caller allows it. One pass over Y, rows split across threads.
template <class F>
void axpy_outer_rows(int64_t i0, int64_t i1, int64_t n, typename F::T alpha,
                     const typename F::T* __restrict u, const typename F::T* __restrict v,
                     typename F::T* __restrict y, bool skip_zero) {
  using V = typename F::V;
  using T = typename F::T;
  constexpr int W = F::W;
  const V va = F::set1(alpha);
  const int64_t nv = n / W * W;
  const auto tm = F::tail(n - nv);
  for (int64_t i = i0; i < i1; ++i) {
    if (skip_zero && u[i] == T(0)) continue;
    const V ui = F::set1(u[i]);
    T* __restrict row = y + i * n;
    int64_t j = 0;
    for (; j + 4 * W <= n; j += 4 * W) {
      const V r0 = F::fma(va, F::mul(ui, F::load(v + j)), F::load(row + j));
      const V r1 = F::fma(va, F::mul(ui, F::load(v + j + W)), F::load(row + j + W));
      const V r2 = F::fma(va, F::mul(ui, F::load(v + j + 2 * W)), F::load(row + j + 2 * W));
      const V r3 = F::fma(va, F::mul(ui, F::load(v + j + 3 * W)), F::load(row + j + 3 * W));
      F::store(row + j, r0);
      F::store(row + j + W, r1);
      F::store(row + j + 2 * W, r2);
      F::store(row + j + 3 * W, r3);
    }
    for (; j < nv; j += W) F::store(row + j, F::fma(va, F::mul(ui, F::load(v + j)), F::load(row + j)));
    if (nv < n)
      F::store(row + nv, F::fma(va, F::mul(ui, F::load(v + nv, tm)), F::load(row + nv, tm)), tm);
  }
}

template <class F>
void axpy_outer(int64_t m, int64_t n, typename F::T alpha, const typename F::T* u,
                const typename F::T* v, typename F::T* y, bool skip_zero) {
  const int64_t grain = std::max<int64_t>(1, kParallelGrain / n);
  if (m <= grain) return axpy_outer_rows<F>(0, m, n, alpha, u, v, y, skip_zero);
  parallel_for(m, grain, [&](int64_t i0, int64_t i1) {
    axpy_outer_rows<F>(i0, i1, n, alpha, u, v, y, skip_zero);
  });
}
