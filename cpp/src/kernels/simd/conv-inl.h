// im2col / col2im written once for every SIMD target (Note [convolution as GEMM] in
// cpp/src/kernels/conv.cpp). Textually included inside a target's namespace by its conv.cpp,
// after its vec.h, <algorithm> and <cstring> (Note [per-ISA translation units]).
//
// With stride 1 along the width, a row of col is a window of one input row with zeros on either
// side: col[ox] = x[ox + off] for lo <= ox < hi, else 0. The reference copies it with memcpy and
// two fills, three calls per row of often 10–32 values. Here each W-wide chunk of the row is one
// masked load (lanes outside [lo, hi) read nothing and come back 0) and one store, so the padding
// costs nothing extra. col2im adds the same windows back with masked loads and stores, in the
// reference's order (each x element receives its terms in the same sequence), so both kernels
// give the reference's results bit for bit. Other strides take the reference's scalar loops.

// Lanes [a, b) of one vector (0 <= a, b <= W; empty when b <= a).
template <class F>
typename F::TM lane_range(int64_t a, int64_t b) {
  a = std::clamp<int64_t>(a, 0, F::W);
  b = std::clamp<int64_t>(b, a, F::W);
  return F::tail(b) & ~F::tail(a);
}

// Output columns ox whose input column ox·s + off lies in [0, w): [lo, hi).
inline void conv_valid_range(int64_t off, int64_t s, int64_t w, int64_t ow, int64_t& lo,
                             int64_t& hi) {
  auto cdiv = [](int64_t a, int64_t b) { return (a + b - 1) / b; };
  lo = off >= 0 ? 0 : std::min(ow, cdiv(-off, s));
  hi = w - off <= 0 ? 0 : std::min(ow, cdiv(w - off, s));
  hi = std::max(hi, lo);
}

template <class F>
void im2col_simd(const ConvShape& g, int64_t channels, const typename F::T* x,
                 typename F::T* col, int64_t ld) {
  using T = typename F::T;
  constexpr int W = F::W;
  const int64_t hw = g.h * g.w;
  for (int64_t c = 0; c < channels; ++c) {
    const T* plane = x + c * hw;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) {
        T* row = col + ((c * g.kh + i) * g.kw + j) * ld;
        const int64_t off = j * g.dil_w - g.pad_w;
        int64_t lo, hi;
        conv_valid_range(off, g.stride_w, g.w, g.ow, lo, hi);
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          T* r = row + oy * g.ow;
          const int64_t iy = oy * g.stride_h - g.pad_h + i * g.dil_h;
          if (iy < 0 || iy >= g.h || hi <= lo) {
            std::fill(r, r + g.ow, T(0));
            continue;
          }
          // src[ox·sw] is x[iy, ox·sw + off]; only lanes in [lo, hi) are ever read.
          const T* src = plane + iy * g.w + off;
          if (g.stride_w != 1) {
            std::fill(r, r + lo, T(0));
            for (int64_t ox = lo; ox < hi; ++ox) r[ox] = src[ox * g.stride_w];
            std::fill(r + hi, r + g.ow, T(0));
            continue;
          }
          int64_t ox = 0;
          for (; ox + W <= g.ow; ox += W) {
            if (ox >= lo && ox + W <= hi) F::store(r + ox, F::load(src + ox));
            else F::store(r + ox, F::load(src + ox, lane_range<F>(lo - ox, hi - ox)));
          }
          if (ox < g.ow)
            F::store(r + ox, F::load(src + ox, lane_range<F>(lo - ox, hi - ox)),
                     F::tail(g.ow - ox));
        }
      }
    }
  }
}

template <class F>
void col2im_simd(const ConvShape& g, int64_t channels, const typename F::T* col, int64_t ld,
                 typename F::T* x) {
  using T = typename F::T;
  constexpr int W = F::W;
  const int64_t hw = g.h * g.w;
  for (int64_t c = 0; c < channels; ++c) {
    T* plane = x + c * hw;
    for (int64_t i = 0; i < g.kh; ++i) {
      for (int64_t j = 0; j < g.kw; ++j) {
        const T* row = col + ((c * g.kh + i) * g.kw + j) * ld;
        const int64_t off = j * g.dil_w - g.pad_w;
        int64_t lo, hi;
        conv_valid_range(off, g.stride_w, g.w, g.ow, lo, hi);
        if (hi <= lo) continue;
        for (int64_t oy = 0; oy < g.oh; ++oy) {
          const int64_t iy = oy * g.stride_h - g.pad_h + i * g.dil_h;
          if (iy < 0 || iy >= g.h) continue;
          const T* r = row + oy * g.ow;
          T* dst = plane + iy * g.w + off;
          if (g.stride_w != 1) {
            for (int64_t ox = lo; ox < hi; ++ox) dst[ox * g.stride_w] += r[ox];
            continue;
          }
          int64_t ox = lo;
          for (; ox + W <= hi; ox += W) F::store(dst + ox, F::add(F::load(dst + ox), F::load(r + ox)));
          if (ox < hi) {
            const auto m = F::tail(hi - ox);
            F::store(dst + ox, F::add(F::load(dst + ox, m), F::load(r + ox, m)), m);
          }
        }
      }
    }
  }
}

void fill_conv(KernelTable& t) {
  t.im2col_f32 = im2col_simd<F32>;
  t.im2col_f64 = im2col_simd<F64>;
  t.col2im_f32 = col2im_simd<F32>;
  t.col2im_f64 = col2im_simd<F64>;
}
