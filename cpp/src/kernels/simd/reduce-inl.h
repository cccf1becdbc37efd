// Reductions written once for every SIMD target: blocked pairwise sums, max/min.
//
// Textually included inside a target's namespace by that target's elementwise.cpp, after its
// vec.h, <algorithm>, <cmath>, <limits>, kernels/parallel.h and kernels/table.h (Note
// [per-ISA translation units]); do not include headers from here. F is the target's vector
// traits (F32 / F64 from vec.h). Highway's -inl.h convention: a file meant for textual
// inclusion, once per target.

// ---------------------------------------------------------------------------------------------
// Reductions.

// Blocked pairwise summation (Note [accurate sums] in reference.cpp): a leaf of at most
// kSumLeaf vectors goes into four independent vector accumulators (each lane adds at most
// kSumLeaf/4 values), leaves are added pairwise. Error O((kSumLeaf/4 + log2 n)·ε) instead of
// O(n/(4W)·ε), at no measurable cost (one call per leaf). term(v) maps the loaded vector to
// the value summed; lanes past n are loaded as `fill`, which term must map to 0.
constexpr int64_t kSumLeaf = 32;

template <class F, class Term>
typename F::V sum_leaf(int64_t n, const typename F::T* x, typename F::V fill, Term& term) {
  using V = typename F::V;
  constexpr int W = F::W;
  V acc[4] = {F::zero(), F::zero(), F::zero(), F::zero()};
  int64_t j = 0;
  for (; j + 4 * W <= n; j += 4 * W)
    for (int u = 0; u < 4; ++u) acc[u] = F::add(acc[u], term(F::load(x + j + u * W)));
  for (int u = 0; j + W <= n; j += W, ++u) acc[u] = F::add(acc[u], term(F::load(x + j)));
  if (j < n) acc[3] = F::add(acc[3], term(F::load_or(x + j, F::tail(n - j), fill)));
  return F::add(F::add(acc[0], acc[1]), F::add(acc[2], acc[3]));
}

template <class F, class Term>
typename F::V sum_pairwise(int64_t n, const typename F::T* x, typename F::V fill, Term& term) {
  constexpr int64_t W = F::W, leaf = kSumLeaf * W;
  if (n <= leaf) return sum_leaf<F>(n, x, fill, term);
  const int64_t h = n / 2 / (4 * W) * (4 * W);  // ≥ 16·W since n > 32·W
  return F::add(sum_pairwise<F>(h, x, fill, term), sum_pairwise<F>(n - h, x + h, fill, term));
}

// Σ / max / min of one contiguous run.
template <class F>
typename F::T reduce_run(Reduce op, int64_t r, const typename F::T* x) {
  using V = typename F::V;
  using T = typename F::T;
  constexpr int W = F::W;
  if (op == Reduce::sum) {
    auto id = [](V v) { return v; };
    return F::hsum(sum_pairwise<F>(r, x, F::zero(), id));
  }
  const V init = F::set1(x[0]);
  V acc[4] = {init, init, init, init};
  auto comb = [op](V a, V b) { return op == Reduce::max ? max_nan<F>(b, a) : min_nan<F>(b, a); };
  int64_t j = 0;
  for (; j + 4 * W <= r; j += 4 * W)
    for (int u = 0; u < 4; ++u) acc[u] = comb(acc[u], F::load(x + j + u * W));
  for (; j + W <= r; j += W) acc[0] = comb(acc[0], F::load(x + j));
  if (j < r) acc[1] = comb(acc[1], F::load_or(x + j, F::tail(r - j), init));
  const V v = comb(comb(acc[0], acc[1]), comb(acc[2], acc[3]));
  if (F::any(F::isnan(v))) return std::numeric_limits<T>::quiet_NaN();
  return op == Reduce::max ? F::hmax(v) : F::hmin(v);
}

// Σ_j of rows j0 ≤ j < j1 of one column vector (stride `inner`), pairwise over j with four
// accumulators in the leaves, like sum_pairwise.
template <class F, class Ld>
typename F::V sum_rows(int64_t j0, int64_t j1, int64_t inner, const typename F::T* x, Ld& ld) {
  using V = typename F::V;
  if (j1 - j0 > 4 * kSumLeaf) {
    const int64_t h = j0 + (j1 - j0) / 2;
    return F::add(sum_rows<F>(j0, h, inner, x, ld), sum_rows<F>(h, j1, inner, x, ld));
  }
  V acc[4] = {F::zero(), F::zero(), F::zero(), F::zero()};
  int64_t j = j0;
  for (; j + 4 <= j1; j += 4)
    for (int u = 0; u < 4; ++u) acc[u] = F::add(acc[u], ld(x + (j + u) * inner));
  for (int u = 0; j < j1; ++j, ++u) acc[u] = F::add(acc[u], ld(x + j * inner));
  return F::add(F::add(acc[0], acc[1]), F::add(acc[2], acc[3]));
}

template <class F>
void reduce(Reduce op, int64_t outer, int64_t r, int64_t inner, const typename F::T* x,
            typename F::T* y) {
  using V = typename F::V;
  using T = typename F::T;
  constexpr int W = F::W;
  if (r == 0 && op != Reduce::sum) return;  // callers guarantee r > 0 for max/min
  if (inner == 1) {
    if (r == 0) {
      for (int64_t o = 0; o < outer; ++o) y[o] = T(0);
      return;
    }
    if (outer == 1 && r >= kParallelMin && op == Reduce::sum) {
      // One long row: partial sums per chunk, combined in chunk order.
      constexpr int kMaxChunks = 64;
      T part[kMaxChunks];
      const int64_t chunks = std::min<int64_t>(kMaxChunks, r / kParallelGrain);
      parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
        for (int64_t cc = c0; cc < c1; ++cc) {
          const int64_t b = r * cc / chunks, e = r * (cc + 1) / chunks;
          part[cc] = reduce_run<F>(op, e - b, x + b);
        }
      });
      T s = 0;
      for (int64_t cc = 0; cc < chunks; ++cc) s += part[cc];
      y[0] = s;
      return;
    }
    maybe_parallel(outer * r, [&](int64_t b, int64_t e) {
      // Work is split by element count; a row belongs to the chunk holding its first element.
      const int64_t o0 = (b + r - 1) / r, o1 = (e + r - 1) / r;
      for (int64_t o = o0; o < o1; ++o) y[o] = reduce_run<F>(op, r, x + o * r);
    });
    return;
  }
  // inner > 1: vectorise across the inner axis (sums pairwise over j, max/min in j order).
  for (int64_t o = 0; o < outer; ++o) {
    const T* xo = x + o * r * inner;
    T* yo = y + o * inner;
    int64_t i = 0;
    auto col = [&](int64_t i0, auto ld, auto st) {
      if (op == Reduce::sum) {
        st(yo + i0, sum_rows<F>(0, r, inner, xo + i0, ld));
        return;
      }
      V acc = ld(xo + i0);
      for (int64_t j = 1; j < r; ++j) {
        const V v = ld(xo + j * inner + i0);
        acc = op == Reduce::max ? max_nan<F>(acc, v) : min_nan<F>(acc, v);
      }
      st(yo + i0, acc);
    };
    for (; i + W <= inner; i += W)
      col(i, [](const T* p) { return F::load(p); }, [](T* p, V v) { F::store(p, v); });
    if (i < inner) {
      const auto tm = F::tail(inner - i);
      col(i, [tm](const T* p) { return F::load(p, tm); }, [tm](T* p, V v) { F::store(p, v, tm); });
    }
  }
}
