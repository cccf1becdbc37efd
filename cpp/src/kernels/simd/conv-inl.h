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

// Rows oy whose input row oy·sh − ph + i·dh lies in [0, h): [lo, hi).
inline void conv_valid_rows(const ConvShape& g, int64_t i, int64_t& lo, int64_t& hi) {
  conv_valid_range(i * g.dil_h - g.pad_h, g.stride_h, g.h, g.oh, lo, hi);
}

template <class F>
void im2col_simd(const ConvShape& g, int64_t channels, const typename F::T* x,
                 typename F::T* col, int64_t ld) {
  using T = typename F::T;
  using TM = typename F::TM;
  constexpr int W = F::W;
  // The geometry in locals: the stores below may alias anything as far as the compiler knows.
  const int64_t h = g.h, w = g.w, kh = g.kh, kw = g.kw, oh = g.oh, ow = g.ow, sh = g.stride_h,
                sw = g.stride_w, p = oh * ow;
  const int64_t hw = h * w, nchunk = (ow + W - 1) / W;
  // Per chunk of a col row: the lanes that read x (the rest are padding zeros).
  std::vector<TM> masks(size_t(sw == 1 ? nchunk : 0));
  for (int64_t c = 0; c < channels; ++c) {
    const T* plane = x + c * hw;
    for (int64_t i = 0; i < kh; ++i) {
      int64_t ylo, yhi;
      conv_valid_rows(g, i, ylo, yhi);
      for (int64_t j = 0; j < kw; ++j) {
        T* row = col + ((c * kh + i) * kw + j) * ld;
        const int64_t off = j * g.dil_w - g.pad_w;
        int64_t lo, hi;
        conv_valid_range(off, sw, w, ow, lo, hi);
        if (hi <= lo || yhi <= ylo) {
          std::fill(row, row + p, T(0));
          continue;
        }
        // Rows above the input are zeros (those below too, written last: the whole-vector
        // stores below may spill into them).
        std::fill(row, row + ylo * ow, T(0));
        // src advances one input row per output row: x[iy, off] with iy = oy·sh − ph + i·dh.
        const T* src = plane + (ylo * sh - g.pad_h + i * g.dil_h) * w + off;
        const int64_t step = sh * w;
        if (sw != 1) {
          for (int64_t oy = ylo; oy < yhi; ++oy, src += step) {
            T* r = row + oy * ow;
            std::fill(r, r + lo, T(0));
            for (int64_t ox = lo; ox < hi; ++ox) r[ox] = src[ox * sw];
            std::fill(r + hi, r + ow, T(0));
          }
          std::fill(row + yhi * ow, row + p, T(0));
          continue;
        }
        for (int64_t q = 0; q < nchunk; ++q) masks[size_t(q)] = lane_range<F>(lo - q * W, hi - q * W);
        if (ow <= W) {
          // One vector per output row (LeNet-sized images). Each is stored whole while that
          // stays inside this col row: the extra lanes land on the next rows' columns, written
          // after. (A masked store costs more.)
          const TM m = masks[0];
          int64_t oy = ylo;
          // Rows with W values of room before the end of the col row.
          const int64_t whole = p >= W ? std::clamp((p - W) / ow + 1, ylo, yhi) : ylo;
          for (; oy < whole; ++oy, src += step) F::store(row + oy * ow, F::load(src, m));
          for (; oy < yhi; ++oy, src += step)
            F::store(row + oy * ow, F::load(src, m), F::tail(ow));
          std::fill(row + yhi * ow, row + p, T(0));
          continue;
        }
        const int64_t full_lo = (lo + W - 1) / W, full_hi = hi / W;  // chunks read whole
        for (int64_t oy = ylo; oy < yhi; ++oy, src += step) {
          T* r = row + oy * ow;
          int64_t q = 0, ox = 0;
          for (; ox + W <= ow; ox += W, ++q) {
            if (q >= full_lo && q < full_hi) F::store(r + ox, F::load(src + ox));
            else F::store(r + ox, F::load(src + ox, masks[size_t(q)]));
          }
          if (ox < ow) {
            const auto v = F::load(src + ox, masks[size_t(q)]);
            if (ox + W <= ow * (oh - oy)) F::store(r + ox, v);
            else F::store(r + ox, v, F::tail(ow - ox));
          }
        }
        std::fill(row + yhi * ow, row + p, T(0));
      }
    }
  }
}

// col2im, stride 1: for one input row (c, iy) and the kernel row i that reaches it from output
// row oy, x[c, iy, :] += Σ_j col[(c, i, j), oy, · − off_j] — each W-wide chunk of the input row
// is loaded once, receives its kw shifted windows of col in the reference's order (j ascending)
// and is stored once. (Adding the windows row by row would store and reload the same overlapping
// x values kw times, stalling on store-to-load forwarding.) Lanes outside a window add −0,
// which leaves every value, ±0 included, unchanged.
template <class F>
void col2im_simd(const ConvShape& g, int64_t channels, const typename F::T* col, int64_t ld,
                 typename F::T* x) {
  using T = typename F::T;
  constexpr int W = F::W;
  const int64_t hw = g.h * g.w;
  if (g.stride_w != 1) {
    for (int64_t c = 0; c < channels; ++c) {
      T* plane = x + c * hw;
      for (int64_t i = 0; i < g.kh; ++i) {
        for (int64_t j = 0; j < g.kw; ++j) {
          const T* row = col + ((c * g.kh + i) * g.kw + j) * ld;
          const int64_t off = j * g.dil_w - g.pad_w;
          int64_t lo, hi;
          conv_valid_range(off, g.stride_w, g.w, g.ow, lo, hi);
          for (int64_t oy = 0; oy < g.oh; ++oy) {
            const int64_t iy = oy * g.stride_h - g.pad_h + i * g.dil_h;
            if (iy < 0 || iy >= g.h) continue;
            const T* r = row + oy * g.ow;
            T* dst = plane + iy * g.w + off;
            for (int64_t ox = lo; ox < hi; ++ox) dst[ox * g.stride_w] += r[ox];
          }
        }
      }
    }
    return;
  }
  // Per kernel column j: its offset and the input columns [xlo, xhi) its window covers.
  constexpr int64_t kMaxKw = 64;
  int64_t offs[kMaxKw], xlo[kMaxKw], xhi[kMaxKw];
  const int64_t kw = g.kw;
  if (kw > kMaxKw) {  // wider kernels than any real model: the reference's loops
    for (int64_t c = 0; c < channels; ++c) {
      T* plane = x + c * hw;
      for (int64_t i = 0; i < g.kh; ++i)
        for (int64_t j = 0; j < kw; ++j) {
          const T* row = col + ((c * g.kh + i) * kw + j) * ld;
          const int64_t off = j * g.dil_w - g.pad_w;
          int64_t lo, hi;
          conv_valid_range(off, 1, g.w, g.ow, lo, hi);
          for (int64_t oy = 0; oy < g.oh; ++oy) {
            const int64_t iy = oy * g.stride_h - g.pad_h + i * g.dil_h;
            if (iy < 0 || iy >= g.h) continue;
            for (int64_t ox = lo; ox < hi; ++ox) plane[iy * g.w + off + ox] += row[oy * g.ow + ox];
          }
        }
    }
    return;
  }
  for (int64_t j = 0; j < kw; ++j) {
    offs[j] = j * g.dil_w - g.pad_w;
    int64_t lo, hi;
    conv_valid_range(offs[j], 1, g.w, g.ow, lo, hi);
    xlo[j] = lo + offs[j];
    xhi[j] = hi + offs[j];
  }
  // Per (chunk of an input row, j): the lanes window j covers, and whether there are any.
  using TM = typename F::TM;
  const int64_t w = g.w, ow = g.ow, nchunk = (w + W - 1) / W;
  std::vector<TM> masks(size_t(nchunk * kw));
  std::vector<char> any(size_t(nchunk * kw));
  for (int64_t q = 0; q < nchunk; ++q)
    for (int64_t j = 0; j < kw; ++j) {
      const int64_t x0 = q * W, a = std::max(x0, xlo[j]), b = std::min(x0 + W, xhi[j]);
      any[size_t(q * kw + j)] = b > a;
      masks[size_t(q * kw + j)] = lane_range<F>(a - x0, b - x0);
    }
  const auto neg0 = F::set1(-T(0));
  for (int64_t c = 0; c < channels; ++c) {
    T* plane = x + c * hw;
    for (int64_t i = 0; i < g.kh; ++i) {
      const T* rows = col + (c * g.kh + i) * kw * ld;
      int64_t ylo, yhi;
      conv_valid_rows(g, i, ylo, yhi);
      for (int64_t oy = ylo; oy < yhi; ++oy) {
        T* dst = plane + (oy * g.stride_h - g.pad_h + i * g.dil_h) * w;
        const T* r0 = rows + oy * ow;
        for (int64_t q = 0; q < nchunk; ++q) {
          const int64_t x0 = q * W;
          const bool full = x0 + W <= w;
          const auto tm = F::tail(std::min<int64_t>(W, w - x0));
          auto acc = full ? F::load(dst + x0) : F::load(dst + x0, tm);
          for (int64_t j = 0; j < kw; ++j) {
            if (!any[size_t(q * kw + j)]) continue;
            // x = ox + off_j: the window's values for x0 .. x0+W−1 start at ox = x0 − off_j.
            acc = F::add(acc, F::load_or(r0 + j * ld + (x0 - offs[j]), masks[size_t(q * kw + j)],
                                         neg0));
          }
          if (full) F::store(dst + x0, acc);
          else F::store(dst + x0, acc, tm);
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
