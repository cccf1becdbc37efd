// Batch-norm and layer-norm rows written once for every SIMD target (the slots of
// tapegrad/kernels.h's "Normalization and embedding rows"; reference: reference_norm.cpp).
//
// Textually included inside a target's namespace by that target's norm.cpp, after its vec.h,
// <algorithm>, <cmath>, <vector>, kernels/parallel.h and kernels/table.h (Note [per-ISA
// translation units]); do not include headers from here. F is the target's vector traits.
//
// Assumptions: rows are contiguous runs of at least one vector (a batch-norm row is the l
// spatial elements of one (sample, channel); a layer-norm row is n elements), or, for batch
// norm of (N, C) input (l = 1), at least one vector of channels per row (the sums then run down
// the columns); other short rows take the reference kernel. Sums (Note [accurate sums]): rows
// in blocks whose vector sums are added in double (row_sum); columns (l = 1) through float
// partial sums flushed into double every 64 rows (col_sums).
namespace norm {

constexpr int64_t kParallelMin = int64_t(1) << 17;

// Σ term(a[j], b[j]) over one row (b may equal a); lanes past n load `fa`/`fb`, which term
// must map to 0. term is called on the row's vectors in order, left to right. The row is summed
// in blocks of 64 vectors, four accumulators each, and the blocks' sums are added in double:
// a lane adds at most 16 terms before a rounding into double, however long the row.
template <class F, class Term>
double row_sum(int64_t n, const typename F::T* a, const typename F::T* b, typename F::V fa,
               typename F::V fb, Term term) {
  using V = typename F::V;
  constexpr int W = F::W;
  double total = 0;
  for (int64_t j0 = 0; j0 < n; j0 += 64 * W) {
    const int64_t e = std::min(n, j0 + 64 * W);
    V acc[4] = {F::zero(), F::zero(), F::zero(), F::zero()};
    int64_t j = j0;
    for (; j + 4 * W <= e; j += 4 * W)
      for (int u = 0; u < 4; ++u)
        acc[u] = F::add(acc[u], term(F::load(a + j + u * W), F::load(b + j + u * W)));
    for (int u = 0; j + W <= e; j += W, ++u)
      acc[u] = F::add(acc[u], term(F::load(a + j), F::load(b + j)));
    if (j < e) {
      const auto tm = F::tail(e - j);
      acc[3] = F::add(acc[3], term(F::load_or(a + j, tm, fa), F::load_or(b + j, tm, fb)));
    }
    total += double(F::hsum(F::add(F::add(acc[0], acc[1]), F::add(acc[2], acc[3]))));
  }
  return total;
}

// y[j] = op(a[j], b[j]) over one row; the tail is one masked vector.
template <class F, class Op>
void row_map(int64_t n, const typename F::T* a, const typename F::T* b, typename F::T* y, Op op) {
  constexpr int W = F::W;
  int64_t j = 0;
  for (; j + W <= n; j += W) F::store(y + j, op(F::load(a + j), F::load(b + j), j));
  if (j < n) {
    const auto tm = F::tail(n - j);
    F::store(y + j, op(F::load(a + j, tm), F::load(b + j, tm), j), tm);
  }
}

template <class F, class Fn>
void over(int64_t count, int64_t work, Fn fn) {
  if (work >= kParallelMin && count > 1)
    parallel_for(count, std::max<int64_t>(1, count * kParallelMin / 4 / std::max<int64_t>(work, 1)),
                 [&](int64_t b, int64_t e) {
                   for (int64_t i = b; i < e; ++i) fn(i);
                 });
  else
    for (int64_t i = 0; i < count; ++i) fn(i);
}

// Batch norm of (n, c) input (l = 1, an MLP's BatchNorm1d): the channels are the contiguous
// columns, so the sums run down the rows with one vector per W channels. col_sums adds
// term(a_row, b_row) into acc (c doubles) through float partial sums flushed every 64 rows.
template <class F, class Term>
void col_sums(int64_t n, int64_t c, const typename F::T* a, const typename F::T* b,
              std::vector<double>& acc, Term term) {
  using T = typename F::T;
  std::vector<T> part(static_cast<size_t>(c));
  for (int64_t r0 = 0; r0 < n; r0 += 64) {
    std::fill(part.begin(), part.end(), T(0));
    for (int64_t i = r0; i < std::min(n, r0 + 64); ++i)
      row_map<F>(c, a + i * c, b + i * c, part.data(), [&](typename F::V u, typename F::V v,
                                                            int64_t j) {
        const int64_t left = c - j;
        const typename F::V p = left >= F::W ? F::load(part.data() + j)
                                             : F::load(part.data() + j, F::tail(left));
        return F::add(p, term(u, v, j));
      });
    for (int64_t j = 0; j < c; ++j) acc[static_cast<size_t>(j)] += double(part[static_cast<size_t>(j)]);
  }
}

// A per-channel vector at column j of a row of c (the tail masked).
template <class F>
typename F::V col_load(const typename F::T* p, int64_t c, int64_t j) {
  return c - j >= F::W ? F::load(p + j) : F::load(p + j, F::tail(c - j));
}

template <class F>
void batch_norm_stats_cols(int64_t n, int64_t c, const typename F::T* x, double eps,
                           typename F::T* mean, typename F::T* var, typename F::T* rstd) {
  using T = typename F::T;
  using V = typename F::V;
  std::vector<double> s(static_cast<size_t>(c), 0.0), q(static_cast<size_t>(c), 0.0);
  col_sums<F>(n, c, x, x, s, [](V u, V, int64_t) { return u; });
  for (int64_t j = 0; j < c; ++j) mean[j] = T(s[static_cast<size_t>(j)] / double(n));
  col_sums<F>(n, c, x, x, q, [&](V u, V, int64_t j) {
    const V d = F::sub(u, col_load<F>(mean, c, j));
    return F::mul(d, d);
  });
  for (int64_t j = 0; j < c; ++j) {
    const double v = q[static_cast<size_t>(j)] / double(n);
    var[j] = T(v);
    rstd[j] = T(1.0 / std::sqrt(v + eps));
  }
}

template <class F>
void batch_norm_backward_cols(const BatchNormArgs<typename F::T>& a, bool training,
                              const typename F::T* g, typename F::T* dx, typename F::T* dw) {
  using T = typename F::T;
  using V = typename F::V;
  const int64_t n = a.n, c = a.c;
  std::vector<double> sg(static_cast<size_t>(c), 0.0), sgxc(static_cast<size_t>(c), 0.0);
  col_sums<F>(n, c, g, g, sg, [](V u, V, int64_t) { return u; });
  col_sums<F>(n, c, g, a.x, sgxc, [&](V u, V v, int64_t j) {
    return F::mul(u, F::sub(v, col_load<F>(a.mean, c, j)));
  });
  std::vector<T> scale(static_cast<size_t>(c)), gmean(static_cast<size_t>(c)), k(static_cast<size_t>(c));
  for (int64_t j = 0; j < c; ++j) {
    const size_t u = static_cast<size_t>(j);
    const double r = a.rstd[j];
    if (dw) dw[j] = T(sgxc[u] * r);
    scale[u] = T(r * (a.w ? double(a.w[j]) : 1.0));
    gmean[u] = T(training ? sg[u] / double(n) : 0.0);
    k[u] = T(training ? sgxc[u] * r * r / double(n) : 0.0);
  }
  if (!dx) return;
  for (int64_t i = 0; i < n; ++i)
    row_map<F>(c, g + i * c, a.x + i * c, dx + i * c, [&](V u, V v, int64_t j) {
      const V d = F::sub(v, col_load<F>(a.mean, c, j));
      return F::mul(F::fnma(d, col_load<F>(k.data(), c, j), F::sub(u, col_load<F>(gmean.data(), c, j))),
                    col_load<F>(scale.data(), c, j));
    });
}

template <class F>
void batch_norm_stats(int64_t n, int64_t c, int64_t l, const typename F::T* x, double eps,
                      typename F::T* mean, typename F::T* var, typename F::T* rstd) {
  using T = typename F::T;
  using V = typename F::V;
  if (l == 1 && c >= F::W) return batch_norm_stats_cols<F>(n, c, x, eps, mean, var, rstd);
  if (l < F::W) {
    if constexpr (sizeof(T) == 4) return ref::table().batch_norm_stats_f32(n, c, l, x, eps, mean, var, rstd);
    else return ref::table().batch_norm_stats_f64(n, c, l, x, eps, mean, var, rstd);
  }
  const double m = double(n * l);
  over<F>(c, n * c * l, [&](int64_t ch) {
    double s = 0;
    for (int64_t i = 0; i < n; ++i) {
      const T* row = x + (i * c + ch) * l;
      s += row_sum<F>(l, row, row, F::zero(), F::zero(), [](V a, V) { return a; });
    }
    const double mu = s / m;
    const V vmu = F::set1(T(mu));
    double q = 0;
    for (int64_t i = 0; i < n; ++i) {
      const T* row = x + (i * c + ch) * l;
      q += row_sum<F>(l, row, row, vmu, vmu, [=](V a, V) {
        const V d = F::sub(a, vmu);
        return F::mul(d, d);
      });
    }
    mean[ch] = T(mu);
    var[ch] = T(q / m);
    rstd[ch] = T(1.0 / std::sqrt(q / m + eps));
  });
}

template <class F>
void batch_norm_apply(const BatchNormArgs<typename F::T>& a, const typename F::T* b,
                      typename F::T* y) {
  using T = typename F::T;
  using V = typename F::V;
  if (a.l == 1 && a.c >= F::W) {  // (n, c): per-channel α, β vectors across each row
    std::vector<T> al(static_cast<size_t>(a.c)), be(static_cast<size_t>(a.c));
    for (int64_t ch = 0; ch < a.c; ++ch) {
      al[static_cast<size_t>(ch)] = a.rstd[ch] * (a.w ? a.w[ch] : T(1));
      be[static_cast<size_t>(ch)] = (b ? b[ch] : T(0)) - a.mean[ch] * al[static_cast<size_t>(ch)];
    }
    for (int64_t i = 0; i < a.n; ++i)
      row_map<F>(a.c, a.x + i * a.c, a.x + i * a.c, y + i * a.c, [&](V v, V, int64_t j) {
        return F::fma(v, col_load<F>(al.data(), a.c, j), col_load<F>(be.data(), a.c, j));
      });
    return;
  }
  if (a.l < F::W) {
    if constexpr (sizeof(T) == 4) return ref::table().batch_norm_apply_f32(a, b, y);
    else return ref::table().batch_norm_apply_f64(a, b, y);
  }
  // y = x·α + β, α = rstd·w, β = b − mean·α (the reference's roundings, FMA aside).
  over<F>(a.n * a.c, a.n * a.c * a.l, [&](int64_t r) {
    const int64_t ch = r % a.c;
    const T alpha = a.rstd[ch] * (a.w ? a.w[ch] : T(1));
    const T beta = (b ? b[ch] : T(0)) - a.mean[ch] * alpha;
    const V va = F::set1(alpha), vb = F::set1(beta);
    const T* xr = a.x + r * a.l;
    row_map<F>(a.l, xr, xr, y + r * a.l, [=](V v, V, int64_t) { return F::fma(v, va, vb); });
  });
}

template <class F>
void batch_norm_backward(const BatchNormArgs<typename F::T>& a, bool training,
                         const typename F::T* g, typename F::T* dx, typename F::T* dw) {
  using T = typename F::T;
  using V = typename F::V;
  if (a.l == 1 && a.c >= F::W) return batch_norm_backward_cols<F>(a, training, g, dx, dw);
  if (a.l < F::W) {
    if constexpr (sizeof(T) == 4) return ref::table().batch_norm_backward_f32(a, training, g, dx, dw);
    else return ref::table().batch_norm_backward_f64(a, training, g, dx, dw);
  }
  const double m = double(a.n * a.l);
  over<F>(a.c, a.n * a.c * a.l, [&](int64_t ch) {
    const T tmu = a.mean[ch];
    const V vmu = F::set1(tmu);
    double sg = 0, sgxc = 0;  // Σg, Σ g·(x − mean)
    for (int64_t i = 0; i < a.n; ++i) {
      const int64_t o = (i * a.c + ch) * a.l;
      sg += row_sum<F>(a.l, g + o, g + o, F::zero(), F::zero(), [](V u, V) { return u; });
      sgxc += row_sum<F>(a.l, g + o, a.x + o, F::zero(), vmu,
                         [=](V u, V v) { return F::mul(u, F::sub(v, vmu)); });
    }
    const double r = a.rstd[ch];
    if (dw) dw[ch] = T(sgxc * r);
    if (!dx) return;
    const V scale = F::set1(T(r * (a.w ? double(a.w[ch]) : 1.0)));
    const V gmean = F::set1(T(training ? sg / m : 0.0)), k = F::set1(T(training ? sgxc * r * r / m : 0.0));
    for (int64_t i = 0; i < a.n; ++i) {
      const int64_t o = (i * a.c + ch) * a.l;
      if (training)  // dx = (g − Σg/m − (x − mean)·k)·scale
        row_map<F>(a.l, g + o, a.x + o, dx + o, [=](V u, V v, int64_t) {
          return F::mul(F::fnma(F::sub(v, vmu), k, F::sub(u, gmean)), scale);
        });
      else
        row_map<F>(a.l, g + o, g + o, dx + o, [=](V u, V, int64_t) { return F::mul(u, scale); });
    }
  });
}

template <class F>
void layer_norm(int64_t m, int64_t n, const typename F::T* x, const typename F::T* w,
                const typename F::T* b, double eps, typename F::T* y, typename F::T* mean,
                typename F::T* rstd) {
  using T = typename F::T;
  using V = typename F::V;
  if (n < F::W) {
    if constexpr (sizeof(T) == 4) return ref::table().layer_norm_f32(m, n, x, w, b, eps, y, mean, rstd);
    else return ref::table().layer_norm_f64(m, n, x, w, b, eps, y, mean, rstd);
  }
  over<F>(m, m * n, [&](int64_t r) {
    const T* xr = x + r * n;
    const double mu = row_sum<F>(n, xr, xr, F::zero(), F::zero(), [](V v, V) { return v; }) / double(n);
    const V vmu = F::set1(T(mu));
    const double q = row_sum<F>(n, xr, xr, vmu, vmu, [=](V v, V) {
      const V d = F::sub(v, vmu);
      return F::mul(d, d);
    });
    const double rs = 1.0 / std::sqrt(q / double(n) + eps);
    mean[r] = T(mu);
    rstd[r] = T(rs);
    const V vrs = F::set1(T(rs));
    row_map<F>(n, xr, xr, y + r * n, [=](V v, V, int64_t j) {
      V t = F::mul(F::sub(v, vmu), vrs);
      const int64_t left = n - j;
      if (left >= F::W) {
        if (w) t = F::mul(t, F::load(w + j));
        if (b) t = F::add(t, F::load(b + j));
      } else {
        const auto tm = F::tail(left);
        if (w) t = F::mul(t, F::load(w + j, tm));
        if (b) t = F::add(t, F::load(b + j, tm));
      }
      return t;
    });
  });
}

template <class F>
void layer_norm_backward(int64_t m, int64_t n, const typename F::T* g, const typename F::T* x,
                         const typename F::T* mean, const typename F::T* rstd,
                         const typename F::T* w, typename F::T* dx, typename F::T* dw) {
  using T = typename F::T;
  using V = typename F::V;
  if (n < F::W) {
    if constexpr (sizeof(T) == 4) return ref::table().layer_norm_backward_f32(m, n, g, x, mean, rstd, w, dx, dw);
    else return ref::table().layer_norm_backward_f64(m, n, g, x, mean, rstd, w, dx, dw);
  }
  auto load = [n](const T* p, int64_t j) {
    return n - j >= F::W ? F::load(p + j) : F::load(p + j, F::tail(n - j));
  };
  if (dx)
    over<F>(m, m * n, [&](int64_t r) {
      const T* gr = g + r * n;
      const T* xr = x + r * n;
      const V vmu = F::set1(mean[r]), vrs = F::set1(rstd[r]);
      // h = g·w; Σh and Σ h·x̂ in one pass each
      double sh = 0, shx = 0;
      if (w) {
        sh = row_sum<F>(n, gr, w, F::zero(), F::zero(), [](V u, V v) { return F::mul(u, v); });
        // term() sees the row's vectors in order (row_sum's contract), so j0 tracks the
        // offset at which to read w.
        int64_t j0 = 0;
        shx = row_sum<F>(n, gr, xr, F::zero(), vmu, [&](V u, V v) {
          const V t = F::mul(F::mul(u, load(w, j0)), F::mul(F::sub(v, vmu), vrs));
          j0 += F::W;
          return t;
        });
      } else {
        sh = row_sum<F>(n, gr, gr, F::zero(), F::zero(), [](V u, V) { return u; });
        shx = row_sum<F>(n, gr, xr, F::zero(), vmu,
                         [=](V u, V v) { return F::mul(u, F::mul(F::sub(v, vmu), vrs)); });
      }
      const V hmean = F::set1(T(sh / double(n))), hxmean = F::set1(T(shx / double(n)));
      row_map<F>(n, gr, xr, dx + r * n, [&](V u, V v, int64_t j) {
        const V h = w ? F::mul(u, load(w, j)) : u;
        const V xh = F::mul(F::sub(v, vmu), vrs);
        return F::mul(vrs, F::fnma(xh, hxmean, F::sub(h, hmean)));
      });
    });
  if (!dw) return;
  // dw = Σ_rows g·x̂: float partial sums over blocks of 64 rows, flushed into double.
  std::vector<double> acc(static_cast<size_t>(n), 0.0);
  std::vector<T> part(static_cast<size_t>(n));
  for (int64_t r0 = 0; r0 < m; r0 += 64) {
    std::fill(part.begin(), part.end(), T(0));
    for (int64_t r = r0; r < std::min(m, r0 + 64); ++r) {
      const V vmu = F::set1(mean[r]), vrs = F::set1(rstd[r]);
      const T* gr = g + r * n;
      row_map<F>(n, gr, x + r * n, part.data(), [&](V u, V v, int64_t j) {
        return F::fma(u, F::mul(F::sub(v, vmu), vrs), load(part.data(), j));
      });
    }
    for (int64_t j = 0; j < n; ++j) acc[static_cast<size_t>(j)] += double(part[static_cast<size_t>(j)]);
  }
  for (int64_t j = 0; j < n; ++j) dw[j] = T(acc[static_cast<size_t>(j)]);
}

}  // namespace norm

void fill_norm(KernelTable& t) {
  t.batch_norm_stats_f32 = norm::batch_norm_stats<F32>;
  t.batch_norm_stats_f64 = norm::batch_norm_stats<F64>;
  t.batch_norm_apply_f32 = norm::batch_norm_apply<F32>;
  t.batch_norm_apply_f64 = norm::batch_norm_apply<F64>;
  t.batch_norm_backward_f32 = norm::batch_norm_backward<F32>;
  t.batch_norm_backward_f64 = norm::batch_norm_backward<F64>;
  t.layer_norm_f32 = norm::layer_norm<F32>;
  t.layer_norm_f64 = norm::layer_norm<F64>;
  t.layer_norm_backward_f32 = norm::layer_norm_backward<F32>;
  t.layer_norm_backward_f64 = norm::layer_norm_backward<F64>;
}
