// Convolution as an implicit GEMM (forward, and so the input gradient) and the weight gradient
// from a channels-last copy, written once for every SIMD target. Textually included by a
// target's gemm.cpp right after simd/gemm-inl.h (it reuses that file's packing, its
// micro-kernel, its edge tiles and its cache blocks; Note [per-ISA translation units]).
//
// Note [implicit GEMM]
// One image's convolution is Y[m × P] = A[m × K] · col[K × P] (Note [convolution as GEMM] in
// kernels/conv.cpp). The explicit way writes col (K·P values: 2.4 MB for 64 channels of 32×32
// with a 3×3 kernel, more than L2) and the GEMM then reads it back to pack it. Here col is never
// written: each B̃ micro-panel (kc rows × NR output positions) is packed straight from the image,
// just before the MR-row tiles that use it, so
//   - the image (x, read by every micro-panel) stays in L2, the micro-panel in L1;
//   - all of A (the weights, m × K) is packed once per call and shared by the threads, and its
//     row blocks (ic) are sized like the GEMM's Ã so that one stays in L2;
//   - the loop order per block of rows is: micro-panel of positions (jr) → k slice (pc) → tile
//     rows (ir), so the image rows a panel reads are fetched once for all its tiles and slices
//     (Note [panel prefetch]), and where possible not copied at all (Note [unpacked panels]).
// A micro-panel's row k = (c, i, j) holds x[c, oy·sh − ph + i·dh, ox − pw + j·dw] for the NR
// positions (oy, ox) of the panel: with a unit stride along the width these are runs of one
// input row (one run per output row the panel touches), each copied with masked vector loads
// whose masked-off lanes (the padding) read nothing and come back 0.
// Every C value goes through the GEMM's micro-kernel FMAs, k slice by k slice: where the slices
// are the GEMM's (packed panels, or K within one slice) the results are those of gemm_packed on
// the explicit col bit for bit (the C++ kernel tests check it). They never depend on how many
// threads share the work (each C value is computed by one thread, whole).

// Lanes [a, b) of one vector (0 <= a, b <= W; empty when b <= a).
template <class F>
typename F::TM panel_lanes(int64_t a, int64_t b) {
  a = std::clamp<int64_t>(a, 0, F::W);
  b = std::clamp<int64_t>(b, a, F::W);
  return F::tail(b) & ~F::tail(a);
}

// One run of a micro-panel: output row oy, columns ox0 .. ox0+len−1, at panel column j0.
struct PanelRun {
  int64_t oy, ox0, len, j0;
};

// The runs of the panel of positions q0 .. q0+nr−1 (one per output row it touches, ow wide
// rows): runs[0 .. returned count).
inline int64_t panel_runs(int64_t q0, int64_t nr, int64_t ow, PanelRun* runs) {
  int64_t n = 0;
  for (int64_t j = 0; j < nr;) {
    const int64_t q = q0 + j, oy = q / ow, ox = q % ow;
    const int64_t len = std::min(nr - j, ow - ox);
    runs[n++] = PanelRun{oy, ox, len, j};
    j += len;
  }
  return n;
}

// dst[p·NR + j] = col[p0 + p][q0 + j] for j < nr (0 for nr <= j < NR), p < kc, where col is the
// im2col of x (cg channels). Requires stride_w == 1.
template <class Cfg, class T>
void pack_b_conv(const ConvShape& g, const T* x, int64_t p0, int64_t kc, int64_t q0, int64_t nr,
                 T* dst) {
  using F = typename Cfg::F;
  constexpr int W = F::W, NR = Cfg::NV * W;
  const int64_t ow = g.ow, hw = g.h * g.w, khw = g.kh * g.kw;
  PanelRun runs[NR];
  const int64_t nruns = panel_runs(q0, nr, ow, runs);
  // Each row of the panel is built in registers and stored whole (aligned): every run merges
  // its lanes into the vectors with masked loads (the lanes of other runs, of the padding and
  // past nr stay 0). Masked or misaligned stores into the panel measured far slower.
  int64_t c = p0 / khw, i = (p0 % khw) / g.kw, jk = p0 % g.kw;
  for (int64_t p = 0; p < kc; ++p) {
    typename F::V row[Cfg::NV];
#pragma GCC unroll 4
    for (int v = 0; v < Cfg::NV; ++v) row[v] = F::zero();
    const int64_t off = jk * g.dil_w - g.pad_w;  // input column of output column 0
    // Output columns whose input column ox + off lies in [0, w).
    const int64_t lo = std::clamp<int64_t>(-off, 0, ow);
    const int64_t hi = std::clamp<int64_t>(g.w - off, lo, ow);
    const T* plane = x + c * hw;
    for (int64_t r = 0; r < nruns; ++r) {
      const PanelRun& run = runs[r];
      const int64_t iy = run.oy * g.stride_h - g.pad_h + i * g.dil_h;
      if (iy < 0 || iy >= g.h) continue;  // a padding row: zeros
      const int64_t a = std::max(lo, run.ox0), b = std::min(hi, run.ox0 + run.len);
      if (b <= a) continue;
      // Panel column j (run.j0 <= j < run.j0 + run.len) holds x[c, iy, ox + off] with
      // ox = run.ox0 + j − run.j0: base[j] is that value. Live columns: [ja, jb).
      const T* base = plane + iy * g.w + off + run.ox0 - run.j0;
      const int64_t ja = run.j0 + a - run.ox0, jb = run.j0 + b - run.ox0;
#pragma GCC unroll 4
      for (int v = 0; v < Cfg::NV; ++v)
        if (ja < (v + 1) * W && jb > v * W)
          row[v] = F::load_or(base + v * W, panel_lanes<F>(ja - v * W, jb - v * W), row[v]);
    }
    T* d = dst + p * NR;
#pragma GCC unroll 4
    for (int v = 0; v < Cfg::NV; ++v) F::store(d + v * W, row[v]);
    if (++jk == g.kw) {
      jk = 0;
      if (++i == g.kh) {
        i = 0;
        ++c;
      }
    }
  }
}

// Note [panel plans]
// Per row the general packer above recomputes the row's geometry (valid columns, input row,
// runs) — ~80 instructions for two vectors of data, a third of the GEMM's time on the
// ResNet-style layer. But a row's geometry depends only on its kernel tap t = i·kw + j, not on
// its channel: so for each micro-panel the taps' gathers are planned once — per tap and vector,
// at most kPlanPieces (offset into the channel's plane, lanes) pairs — and each row is then one
// masked load per piece and one store per vector. A panel that needs more pieces (images
// narrower than a few columns) takes the general packer.
constexpr int kPlanPieces = 3;

// Note [unpacked panels]
// Where every vector of a planned panel is a single piece (widths a multiple of the vector,
// like 32×32 outputs: each vector is one output row's run), the micro-kernel can read B̃'s
// rows straight from the image instead of from a packed copy: row p, vector v is one masked
// load at a planned offset. The pack's copy — a quarter of the ResNet-style forward's time,
// mostly waiting on the image — is gone; the tiles read the image rows from L1 after the first.
// The rows' (offset, lanes) table is built per panel and slice (kc·NV entries). Only where a
// lane mask is a mask register (AVX-512): AVX2's masked loads take a vector of masks.
template <class Cfg>
struct ImageRows {
  using F = typename Cfg::F;
  using T = typename F::T;
  struct Row {
    int64_t off;
    typename F::TM lanes;
  };
  static constexpr bool kAvailable = sizeof(typename F::TM) <= 4;
  const T* x;
  const Row* rows;
  typename F::V load(int64_t p, int v) const {
    const Row& r = rows[p * Cfg::NV + v];
    return F::load(x + r.off, r.lanes);
  }
};

template <class Cfg>
struct PanelPlan {
  using TM = typename Cfg::F::TM;
  struct Piece {
    int64_t off;
    TM lanes;
  };
  std::vector<Piece> pieces;    // [tap][v][kPlanPieces]
  std::vector<uint8_t> counts;  // [tap][v]
  bool single = true;           // every vector one piece at most (Note [unpacked panels])
  explicit PanelPlan(int64_t taps)
      : pieces(size_t(taps * Cfg::NV * kPlanPieces)), counts(size_t(taps * Cfg::NV)) {}

  // Plans the panel of positions q0 .. q0+nr−1; false if a vector needs too many pieces.
  bool build(const ConvShape& g, int64_t q0, int64_t nr) {
    using F = typename Cfg::F;
    constexpr int W = F::W, NR = Cfg::NV * W;
    PanelRun runs[NR];
    const int64_t nruns = panel_runs(q0, nr, g.ow, runs);
    std::fill(counts.begin(), counts.end(), uint8_t(0));
    single = true;
    for (int64_t i = 0; i < g.kh; ++i)
      for (int64_t jk = 0; jk < g.kw; ++jk) {
        const int64_t t = i * g.kw + jk, off = jk * g.dil_w - g.pad_w;
        const int64_t lo = std::clamp<int64_t>(-off, 0, g.ow);
        const int64_t hi = std::clamp<int64_t>(g.w - off, lo, g.ow);
        for (int64_t r = 0; r < nruns; ++r) {
          const PanelRun& run = runs[r];
          const int64_t iy = run.oy * g.stride_h - g.pad_h + i * g.dil_h;
          if (iy < 0 || iy >= g.h) continue;
          const int64_t a = std::max(lo, run.ox0), b = std::min(hi, run.ox0 + run.len);
          if (b <= a) continue;
          // plane[base + j] is panel column j's value; live columns [ja, jb).
          const int64_t base = iy * g.w + off + run.ox0 - run.j0;
          const int64_t ja = run.j0 + a - run.ox0, jb = run.j0 + b - run.ox0;
          for (int v = 0; v < Cfg::NV; ++v) {
            if (ja >= (v + 1) * W || jb <= v * W) continue;
            uint8_t& n = counts[size_t(t * Cfg::NV + v)];
            if (n == kPlanPieces) return false;
            single = single && n == 0;
            pieces[size_t((t * Cfg::NV + v) * kPlanPieces + n++)] =
                Piece{base + v * W, panel_lanes<F>(ja - v * W, jb - v * W)};
          }
        }
      }
    return true;
  }

  // rows[p·NV + v]: where row p0 + p, vector v of the planned panel lies in the image (a single
  // planned piece, or no lanes), for ImageRows. Also asks for [pf0, pf1) as pack does.
  template <class T>
  void image_rows(const ConvShape& g, const T* x, int64_t p0, int64_t kc,
                  typename ImageRows<Cfg>::Row* rows, int64_t pf0, int64_t pf1) const {
    constexpr int NV = Cfg::NV;
    constexpr int64_t kLine = 64 / int64_t(sizeof(T));
    const int64_t hw = g.h * g.w, taps = g.kh * g.kw;
    int64_t c = p0 / taps, t = p0 % taps;
    for (int64_t p = 0; p < kc; ++p) {
      if (t == 0 || p == 0)
        for (int64_t e = pf0; e < pf1; e += kLine) __builtin_prefetch(x + c * hw + e, 0, 2);
      for (int v = 0; v < NV; ++v) {
        const Piece& pc = pieces[size_t((t * NV + v) * kPlanPieces)];
        using Row = typename ImageRows<Cfg>::Row;
        rows[p * NV + v] = counts[size_t(t * NV + v)] ? Row{c * hw + pc.off, pc.lanes}
                                                      : Row{0, Cfg::F::tail(0)};
      }
      if (++t == taps) {
        t = 0;
        ++c;
      }
    }
  }

  // dst[p·NR + j] = col[p0 + p][q0 + j] as pack_b_conv, for the planned panel. Also asks for
  // elements [pf0, pf1) of each channel's plane it visits (into L2; see conv_gemm).
  template <class T>
  void pack(const ConvShape& g, const T* x, int64_t p0, int64_t kc, T* dst, int64_t pf0,
            int64_t pf1) const {
    using F = typename Cfg::F;
    constexpr int W = F::W, NV = Cfg::NV, NR = NV * W;
    const int64_t hw = g.h * g.w, taps = g.kh * g.kw;
    int64_t c = p0 / taps, t = p0 % taps;
    const T* plane = x + c * hw;
    constexpr int64_t kLine = 64 / int64_t(sizeof(T));
    auto prefetch = [&] {
      for (int64_t e = pf0; e < pf1; e += kLine) __builtin_prefetch(plane + e, 0, 2);
    };
    if (t == 0) prefetch();
    // The rows themselves were read by the previous panel but have left L1 since (the tiles
    // stream all of A through it): ask for row p + kAhead's data while row p is copied.
    constexpr int64_t kAhead = 12;
    int64_t ta = t + kAhead;
    const T* plane_a = plane + (ta / taps) * hw;
    ta %= taps;
    for (int64_t p = 0; p < kc; ++p) {
      if (p + kAhead < kc) {
        const Piece* pa = &pieces[size_t(ta * NV * kPlanPieces)];
        const uint8_t* na = &counts[size_t(ta * NV)];
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v)
          if (na[v] > 0) __builtin_prefetch(plane_a + pa[v * kPlanPieces].off, 0, 3);
        if (na[NV - 1] > 0)
          __builtin_prefetch(plane_a + pa[(NV - 1) * kPlanPieces].off + W - 1, 0, 3);
        if (++ta == taps) {
          ta = 0;
          plane_a += hw;
        }
      }
      const uint8_t* n = &counts[size_t(t * NV)];
      const Piece* pc = &pieces[size_t(t * NV * kPlanPieces)];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        const Piece* pv = pc + v * kPlanPieces;
        typename F::V r = F::zero();
        if (n[v] > 0) r = F::load(plane + pv[0].off, pv[0].lanes);
        for (int q = 1; q < n[v]; ++q) r = F::load_or(plane + pv[q].off, pv[q].lanes, r);
        F::store(dst + p * NR + v * W, r);
      }
      if (++t == taps) {
        t = 0;
        plane += hw;
        if (p + 1 < kc) prefetch();
      }
    }
  }
};

// Y_b[m × P] = A[m × K] · im2col(x_b) + beta · Y_b for `images` images (x_b = x + b·xs,
// Y_b = y + b·ys, rows of Y_b P apart; beta == 0 never reads Y). Requires stride_w == 1.
template <class Cfg, class T>
void conv_gemm(const ConvShape& g, int64_t cg, int64_t m, const T* a, const T* x, int64_t xs,
               T beta, T* y, int64_t ys, int64_t images) {
  constexpr int MR = Cfg::MR, NR = Cfg::NV * Cfg::F::W;
  const int64_t K = cg * g.kh * g.kw, P = g.oh * g.ow;
  if (m <= 0 || P <= 0 || images <= 0) return;
  if (K == 0) {
    for (int64_t b = 0; b < images; ++b) scale_c<Cfg>(m, P, beta, y + b * ys, P);
    return;
  }
  const GemmBlocks& bl = blocks<Cfg>();
  // Unpacked panels (Note [unpacked panels]) when every vector of every panel is one run of an
  // output row. Their k slices only need the image rows they read (≈ 3 rows per channel) to stay
  // in L1, not a kc × NR copy: up to three times the GEMM's kc (one slice for 64 channels of
  // 3×3 — measured 6 % faster than three slices of 192).
  const bool unpacked = ImageRows<Cfg>::kAvailable && g.ow % Cfg::F::W == 0;
  const int64_t kc_target = unpacked ? 3 * bl.kc : bl.kc;
  const int64_t slices = std::max<int64_t>(1, (K + kc_target / 2) / kc_target);
  const int64_t KC = (K + slices - 1) / slices;
  // Row blocks of A whose packed panels (all of K) take about what the GEMM's Ã takes.
  const int64_t mpad = (m + MR - 1) / MR * MR;
  const int64_t MB = std::clamp<int64_t>(bl.mc * bl.kc / K / MR * MR, MR, mpad);
  // Ã for every row block and k slice: block ib, slice s at ap + ib·MB·K + pc·mb (mb = the
  // block's padded rows), laid out as pack_a writes it.
  struct Packed {  // freed on every way out (a thread's pack buffer may throw bad_alloc)
    size_t bytes;
    T* p;
    ~Packed() { free_buffer(p, bytes); }
  } apk{size_t(mpad * K) * sizeof(T), nullptr};
  apk.p = static_cast<T*>(alloc_buffer(apk.bytes));
  T* const ap = apk.p;
  for (int64_t ic = 0; ic < m; ic += MB) {
    const int64_t mc = std::min(MB, m - ic), mb = (mc + MR - 1) / MR * MR;
    for (int64_t pc = 0; pc < K; pc += KC)
      pack_a<Cfg>(false, a, K, ic, pc, mc, std::min(KC, K - pc), ap + ic * K + pc * mb);
  }
  const int64_t panels = (P + NR - 1) / NR;
  // Work units: (image, run of panels). Whole images when there are enough of them for the
  // threads; otherwise each image's panels are split so that every thread gets some.
  const int64_t nt = get_num_threads();
  const int64_t per_image = images >= nt ? 1 : std::min(panels, (2 * nt + images - 1) / images);
  auto body = [&](int64_t u0, int64_t u1) {
    T* bp = GemmBuffers<Cfg>::local().b.get(size_t(KC * NR));
    PanelPlan<Cfg> plan(g.kh * g.kw);
    std::vector<typename ImageRows<Cfg>::Row> rows(size_t(KC * Cfg::NV));
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t b = u / per_image, s = u % per_image;
      const int64_t jp0 = panels * s / per_image, jp1 = panels * (s + 1) / per_image;
      const T* xb = x + b * xs;
      T* yb = y + b * ys;
      for (int64_t ic = 0; ic < m; ic += MB) {
        const int64_t mc = std::min(MB, m - ic), mb = (mc + MR - 1) / MR * MR;
        for (int64_t jp = jp0; jp < jp1; ++jp) {
          const int64_t jr = jp * NR, nr = std::min<int64_t>(NR, P - jr);
          const bool planned = plan.build(g, jr, nr);
          // Note [panel prefetch]: the input rows the next panel reads first (below every row
          // this one reads) come from L3 or memory — one row per channel, 4 KiB apart for
          // 32×32 images, a pattern no hardware prefetcher follows. They are requested while
          // this panel is packed, about one panel's work ahead.
          int64_t pf0 = 0, pf1 = 0;
          if (jp + 1 < jp1) {
            auto last_row = [&](int64_t q_end) {  // last input row read by positions < q_end
              const int64_t oy = (q_end - 1) / g.ow;
              return std::min(g.h - 1, oy * g.stride_h - g.pad_h + (g.kh - 1) * g.dil_h);
            };
            const int64_t r0 = std::max<int64_t>(0, last_row(jr + nr) + 1);
            const int64_t r1 = last_row(std::min(P, jr + nr + NR)) + 1;
            if (r1 > r0) {
              pf0 = r0 * g.w;
              pf1 = r1 * g.w;
            }
          }
          for (int64_t pc = 0; pc < K; pc += KC) {
            const int64_t kc = std::min(KC, K - pc);
            const T beta_pc = pc == 0 ? beta : T(1);
            const T* apan0 = ap + ic * K + pc * mb;
            auto tiles = [&](const auto& src) {
              for (int64_t ir = 0; ir < mc; ir += MR) {
                const int64_t mr = std::min<int64_t>(MR, mc - ir);
                T* ct = yb + (ic + ir) * P + jr;
                if (mr == MR && nr == NR)
                  micro_kernel<Cfg>(kc, apan0 + ir * kc, src, T(1), beta_pc, ct, P);
                else
                  edge_tile<Cfg>(kc, apan0 + ir * kc, src, T(1), beta_pc, ct, P, mr, nr);
              }
            };
            if (unpacked && planned && plan.single) {
              plan.image_rows(g, xb, pc, kc, rows.data(), pf0, pf1);
              tiles(ImageRows<Cfg>{xb, rows.data()});
              continue;
            }
            if (planned)
              plan.pack(g, xb, pc, kc, bp, pf0, pf1);
            else
              pack_b_conv<Cfg>(g, xb, pc, kc, jr, nr, bp);
            tiles(static_cast<const T*>(bp));
          }
        }
      }
    }
  };
  const int64_t units = images * per_image;
  if (nt <= 1 || units <= 1)
    body(0, units);
  else
    parallel_for(units, 1, body);
}

// Note [NHWC weight gradient]
// dWᵀ[k, o] += Σ_q col[k, q] · dY[o, q] over the images: a GEMM with m = K (the weight's
// columns), n = output channels and the positions q as its reduction. Its A wants, per k step
// (position q), MR consecutive k values side by side — in NCHW those are MR different channels'
// planes apart, so packing col that way is a transpose of every col element (K·P per image).
// Instead each image is first copied channels-last with its padding, xp[r][s][c] (r, s the
// padded row and column; Cg·Hp·Wp values, a ninth of col for a 3×3 kernel), and k is ordered
// tap-major, channel-minor within the GEMM: for a tap (i, j), a chunk of up to MR channels
// c0 .. c0+MR−1 and a position q = (oy, ox), the MR values are
//   xp[oy·sh + i·dh][ox·sw + j·dw][c0 ..]                      — contiguous,
// at xp + tap_offset + q_offset[q]: the micro-kernel broadcasts them straight from the copy
// (an A source, gemm-inl.h's a_step). B̃ is dY transposed (n = output channels, packed with the
// GEMM's transposing pack: Cout·P values per image). The result, tap-major dWᵀ, is reordered
// into OIHW at the end. Each thread owns whole (tap, chunk) row tiles across all images, so
// every dW value sums its terms in one order (images, then slices, then positions) whatever
// the thread count. Any stride, padding and dilation.

// Image b's group channels, channels-last and padded: xp[(r·Wp + s)·cg + c] =
// x[c][r − ph][s − pw] (0 outside the image), r < hp, s < wp.
template <class Cfg, class T>
void to_padded_nhwc(const ConvShape& g, int64_t cg, const T* x, int64_t hp, int64_t wp, T* xp) {
  using F = typename Cfg::F;
  using V = typename F::V;
  constexpr int W = F::W;
  const int64_t hw = g.h * g.w;
  const int64_t r0 = std::max<int64_t>(0, g.pad_h), r1 = std::min(hp, g.h + g.pad_h);
  const int64_t s0 = std::max<int64_t>(0, g.pad_w), s1 = std::min(wp, g.w + g.pad_w);
  // Padding: the rows above and below, and each row's columns left and right.
  std::fill(xp, xp + r0 * wp * cg, T(0));
  std::fill(xp + std::max(r0, r1) * wp * cg, xp + hp * wp * cg, T(0));
  for (int64_t r = r0; r < r1; ++r) {
    std::fill(xp + r * wp * cg, xp + (r * wp + s0) * cg, T(0));
    std::fill(xp + (r * wp + std::max(s0, s1)) * cg, xp + (r + 1) * wp * cg, T(0));
    const T* src = x + (r - g.pad_h) * g.w - g.pad_w;  // src[c·hw + s] = x[c][r − ph][s − pw]
    T* row = xp + r * wp * cg;                         // row[s·cg + c]
    // W × W blocks (W columns s of W channels c) transposed in registers; the rest one by one.
    int64_t s = s0;
    for (; s + W <= s1; s += W) {
      int64_t c = 0;
      for (; c + W <= cg; c += W) {
        V blk[W];
#pragma GCC unroll 16
        for (int q = 0; q < W; ++q) blk[q] = F::load(src + (c + q) * hw + s);
        F::transpose(blk);
#pragma GCC unroll 16
        for (int q = 0; q < W; ++q) F::store(row + (s + q) * cg + c, blk[q]);
      }
      for (; c < cg; ++c)
        for (int64_t q = 0; q < W; ++q) row[(s + q) * cg + c] = src[c * hw + s + q];
    }
    for (; s < s1; ++s)
      for (int64_t c = 0; c < cg; ++c) row[s * cg + c] = src[c * hw + s];
  }
}

// The A source of one (tap, channel chunk) tile: k step p's values at base + qoff[p].
template <class T>
struct NhwcRows {
  const T* base;
  const int64_t* qoff;
  const T* at(int64_t p) const { return base + qoff[p]; }
};

// dW[m × K] (row stride K) = beta · dW + Σ_b dY_b[m × P] · col_bᵀ over `images` images
// (dY_b = gy + b·gs with rows P apart, col_b the im2col of x_b = x + b·xs, cg channels).
template <class Cfg, class T>
void conv_gemm_weight(const ConvShape& g, int64_t cg, int64_t m, const T* gy, int64_t gs,
                      const T* x, int64_t xs, T beta, T* dw, int64_t images) {
  constexpr int MR = Cfg::MR, NR = Cfg::NV * Cfg::F::W;
  const int64_t taps = g.kh * g.kw, K = cg * taps, P = g.oh * g.ow;
  if (m <= 0 || K <= 0) return;
  if (P <= 0 || images <= 0) {
    scale_c<Cfg>(m, K, beta, dw, K);
    return;
  }
  const int64_t hp = (g.oh - 1) * g.stride_h + (g.kh - 1) * g.dil_h + 1;
  const int64_t wp = (g.ow - 1) * g.stride_w + (g.kw - 1) * g.dil_w + 1;
  std::vector<int64_t> qoff(static_cast<size_t>(P));  // position q's offset in xp
  for (int64_t q = 0; q < P; ++q)
    qoff[size_t(q)] = ((q / g.ow) * g.stride_h * wp + (q % g.ow) * g.stride_w) * cg;
  const GemmBlocks& bl = blocks<Cfg>();
  const int64_t slices = std::max<int64_t>(1, (P + bl.kc / 2) / bl.kc);
  const int64_t KC = (P + slices - 1) / slices;
  const int64_t chunks = (cg + MR - 1) / MR;  // row tiles per tap
  const int64_t panels = (m + NR - 1) / NR;   // column panels (output channels)
  const int64_t units = taps * chunks;
  std::vector<T> acc(static_cast<size_t>(K * m), T(0));  // dWᵀ, rows (tap, c), m columns
  auto body = [&](int64_t u0, int64_t u1) {
    auto& bufs = GemmBuffers<Cfg>::local();
    T* bp = bufs.b.get(size_t(KC * panels * NR));
    std::vector<T> xp(static_cast<size_t>(hp * wp * cg));
    for (int64_t b = 0; b < images; ++b) {
      to_padded_nhwc<Cfg>(g, cg, x + b * xs, hp, wp, xp.data());
      const T* gb = gy + b * gs;
      for (int64_t pc = 0; pc < P; pc += KC) {
        const int64_t kc = std::min(KC, P - pc);
        pack_b<Cfg>(true, gb, P, pc, 0, kc, m, bp);  // dYᵀ: kc positions × m channels
        for (int64_t u = u0; u < u1; ++u) {
          const int64_t t = u / chunks, c0 = (u % chunks) * MR;
          const int64_t mr = std::min<int64_t>(MR, cg - c0);
          const int64_t i = t / g.kw, j = t % g.kw;
          const NhwcRows<T> a{xp.data() + (i * g.dil_h * wp + j * g.dil_w) * cg + c0,
                              qoff.data() + pc};
          T* crow = acc.data() + (t * cg + c0) * m;
          for (int64_t jp = 0; jp < panels; ++jp) {
            const int64_t nr = std::min<int64_t>(NR, m - jp * NR);
            const T* bpan = bp + jp * NR * kc;
            if (mr == MR && nr == NR)
              micro_kernel<Cfg, MR, const T*, NhwcRows<T>>(kc, a, bpan, T(1), T(1),
                                                            crow + jp * NR, m);
            else
              edge_tile<Cfg>(kc, a, bpan, T(1), T(1), crow + jp * NR, m, mr, nr);
          }
        }
      }
    }
  };
  const int64_t nt = std::min<int64_t>(get_num_threads(), units);
  if (nt <= 1)
    body(0, units);
  else
    parallel_for(nt, 1, [&](int64_t t0, int64_t t1) { body(units * t0 / nt, units * t1 / nt); });
  // dW[o][c·taps + t] = beta·dW + acc[(t·cg + c)·m + o]
  for (int64_t o = 0; o < m; ++o)
    for (int64_t c = 0; c < cg; ++c)
      for (int64_t t = 0; t < taps; ++t) {
        T& d = dw[o * K + c * taps + t];
        const T v = acc[size_t((t * cg + c) * m + o)];
        d = beta == T(0) ? v : beta * d + v;
      }
}
