// Relu's backward, the MSE gradient row and the SGD / Adam / RMSprop / Adagrad updates written
// once for every SIMD target. Each matches its reference (reference_rows.cpp) bit for bit: the
// same IEEE operations in the same order — add, mul, div and sqrt are correctly rounded in every
// lane, and FMA is used exactly where the reference calls std::fma.
//
// Textually included inside a target's namespace by that target's elementwise.cpp, after
// simd/elementwise-inl.h (map2, maybe_parallel); do not include headers from here.

// dx = g · [not y ≤ 0] (a NaN y passes the gradient).
template <class F>
void relu_backward(int64_t n, const typename F::T* y, const typename F::T* g,
                   typename F::T* dx) {
  using V = typename F::V;
  map2<F>(n, y, 1, g, 1, dx, [](V yv, V gv) {
    return F::mul(gv, F::select(F::le(yv, F::zero()), F::zero(), F::set1(1)));
  });
}

// d = c·(a − b)
template <class F>
void scaled_diff(int64_t n, typename F::T c, const typename F::T* a, const typename F::T* b,
                 typename F::T* d) {
  using V = typename F::V;
  const V vc = F::set1(c);
  map2<F>(n, a, 1, b, 1, d, [=](V x, V y) { return F::mul(vc, F::sub(x, y)); });
}

// Runs body(i, tail_mask_or_none) over [i0, i1) in whole vectors, then one masked tail; body
// gets load/store functions for the current block.
template <class F, class Body>
void blocks(int64_t i0, int64_t i1, Body body) {
  using T = typename F::T;
  using V = typename F::V;
  constexpr int W = F::W;
  int64_t i = i0;
  for (; i + W <= i1; i += W)
    body(i, [](const T* p) { return F::load(p); }, [](T* p, V v) { F::store(p, v); });
  if (i < i1) {
    const auto tm = F::tail(i1 - i);
    body(i, [tm](const T* p) { return F::load_tail(p, tm); },
         [tm](T* p, V v) { F::store_tail(p, v, tm); });
  }
}

// PyTorch's lerp with a weight t shared by every lane (Note [optimizer arithmetic]).
template <class F>
struct Lerp {
  using V = typename F::V;
  bool small;
  V t;
  explicit Lerp(typename F::T w)
      : small(std::fabs(w) < typename F::T(0.5)), t(F::set1(small ? w : w - typename F::T(1))) {}
  V operator()(V a, V b) const { return F::fma(t, F::sub(b, a), small ? a : b); }
};

template <class F>
void sgd(int64_t n, typename F::T* w, const typename F::T* g, typename F::T* buf,
         const SgdParams& p) {
  using T = typename F::T;
  using V = typename F::V;
  if (p.momentum == 0 && p.weight_decay == 0) {
    // Plain SGD: the fused axpy, w ← fma(∓lr, g, w).
    const double a = p.maximize ? p.lr : -p.lr;
    if constexpr (sizeof(T) == 4) kernels::axpy_f32(n, static_cast<float>(a), g, w);
    else kernels::axpy_f64(n, a, g, w);
    return;
  }
  const V wd = F::set1(static_cast<T>(p.weight_decay)), mom = F::set1(static_cast<T>(p.momentum));
  const V damp = F::set1(static_cast<T>(1 - p.dampening));
  const V neg_lr = F::set1(static_cast<T>(-p.lr));
  const bool decay = p.weight_decay != 0, first = p.first, nesterov = p.nesterov;
  const bool maximize = p.maximize;
  maybe_parallel(n, [&](int64_t i0, int64_t i1) {
    blocks<F>(i0, i1, [&](int64_t i, auto ld, auto st) {
      const V wv = ld(w + i);
      V d = ld(g + i);
      if (maximize) d = F::neg(d);
      if (decay) d = F::fma(wd, wv, d);
      if (buf) {
        const V b = first ? d : F::fma(damp, d, F::mul(mom, ld(buf + i)));
        st(buf + i, b);
        d = nesterov ? F::fma(mom, b, d) : b;
      }
      st(w + i, F::fma(neg_lr, d, wv));
    });
  });
}

template <class F>
void adam(int64_t n, typename F::T* w, const typename F::T* g, typename F::T* m,
          typename F::T* v, typename F::T* vmax, const AdamParams& p) {
  using T = typename F::T;
  using V = typename F::V;
  // Scalars exactly as the reference forms them.
  const double bc1 = 1 - std::pow(p.beta1, static_cast<double>(p.step));
  const double bc2 = 1 - std::pow(p.beta2, static_cast<double>(p.step));
  const V neg_step_size = F::set1(static_cast<T>(-(p.lr / bc1)));
  const V bc2_sqrt = F::set1(static_cast<T>(std::sqrt(bc2)));
  const V wd = F::set1(static_cast<T>(p.weight_decay)), eps = F::set1(static_cast<T>(p.eps));
  const V shrink = F::set1(static_cast<T>(1 - p.lr * p.weight_decay));
  const V b2 = F::set1(static_cast<T>(p.beta2)), c2 = F::set1(static_cast<T>(1 - p.beta2));
  const Lerp<F> lerp(static_cast<T>(1 - p.beta1));
  const bool decay = p.weight_decay != 0, decoupled = p.decoupled, maximize = p.maximize;
  maybe_parallel(n, [&](int64_t i0, int64_t i1) {
    blocks<F>(i0, i1, [&](int64_t i, auto ld, auto st) {
      V wv = ld(w + i);
      V d = ld(g + i);
      if (maximize) d = F::neg(d);
      if (decay) {
        if (decoupled) wv = F::mul(wv, shrink);
        else d = F::fma(wd, wv, d);
      }
      const V mv = lerp(ld(m + i), d);
      V vv = F::fma(F::mul(c2, d), d, F::mul(b2, ld(v + i)));
      st(m + i, mv);
      st(v + i, vv);
      if (vmax) {
        const V a = ld(vmax + i);
        vv = F::select(F::isnan(a), a, F::max(a, vv));  // torch.maximum (NaN propagates)
        st(vmax + i, vv);
      }
      const V denom = F::add(F::div(F::sqrt(vv), bc2_sqrt), eps);
      st(w + i, F::add(F::div(F::mul(neg_step_size, mv), denom), wv));
    });
  });
}

template <class F>
void rmsprop(int64_t n, typename F::T* w, const typename F::T* g, typename F::T* sq,
             typename F::T* ga, typename F::T* buf, const RmspropParams& p) {
  using T = typename F::T;
  using V = typename F::V;
  const V wd = F::set1(static_cast<T>(p.weight_decay)), eps = F::set1(static_cast<T>(p.eps));
  const V alpha = F::set1(static_cast<T>(p.alpha)), c = F::set1(static_cast<T>(1 - p.alpha));
  const V mom = F::set1(static_cast<T>(p.momentum)), neg_lr = F::set1(static_cast<T>(-p.lr));
  const Lerp<F> lerp(static_cast<T>(1 - p.alpha));
  const bool decay = p.weight_decay != 0, maximize = p.maximize;
  maybe_parallel(n, [&](int64_t i0, int64_t i1) {
    blocks<F>(i0, i1, [&](int64_t i, auto ld, auto st) {
      const V wv = ld(w + i);
      V d = ld(g + i);
      if (maximize) d = F::neg(d);
      if (decay) d = F::fma(wd, wv, d);
      const V sv = F::fma(F::mul(c, d), d, F::mul(alpha, ld(sq + i)));
      st(sq + i, sv);
      V avg;
      if (ga) {
        const V gv = lerp(ld(ga + i), d);
        st(ga + i, gv);
        avg = F::sqrt(F::fma(F::neg(gv), gv, sv));
      } else {
        avg = F::sqrt(sv);
      }
      avg = F::add(avg, eps);
      if (buf) {
        const V b = F::add(F::div(d, avg), F::mul(mom, ld(buf + i)));
        st(buf + i, b);
        st(w + i, F::fma(neg_lr, b, wv));
      } else {
        st(w + i, F::add(F::div(F::mul(neg_lr, d), avg), wv));
      }
    });
  });
}

template <class F>
void adagrad(int64_t n, typename F::T* w, const typename F::T* g, typename F::T* sum,
             const AdagradParams& p) {
  using T = typename F::T;
  using V = typename F::V;
  const double clr = p.lr / (1 + static_cast<double>(p.step - 1) * p.lr_decay);
  const V neg_clr = F::set1(static_cast<T>(-clr));
  const V wd = F::set1(static_cast<T>(p.weight_decay)), eps = F::set1(static_cast<T>(p.eps));
  const bool decay = p.weight_decay != 0, maximize = p.maximize;
  maybe_parallel(n, [&](int64_t i0, int64_t i1) {
    blocks<F>(i0, i1, [&](int64_t i, auto ld, auto st) {
      const V wv = ld(w + i);
      V d = ld(g + i);
      if (maximize) d = F::neg(d);
      if (decay) d = F::fma(wd, wv, d);
      const V sv = F::fma(d, d, ld(sum + i));
      st(sum + i, sv);
      st(w + i, F::add(F::div(F::mul(neg_clr, d), F::add(F::sqrt(sv), eps)), wv));
    });
  });
}
