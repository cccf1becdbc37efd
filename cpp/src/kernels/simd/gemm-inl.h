// GEMM written once for every SIMD target: the BLIS/Goto loop nest, packing, the register-tile
// micro-kernel and the unpacked ("direct") path for skinny and tiny shapes.
//
// Textually included *inside* a target's namespace (tapegrad::kernels::avx2 / ::avx512) by
// that target's gemm.cpp, after its vec.h, <algorithm>, <cstring> and kernels/parallel.h — so
// every function below is a distinct symbol per target and the linker can never merge an
// AVX-512 copy into baseline or AVX2 code (Note [per-ISA translation units]). Do not include
// headers from here.
//
// A config struct per (target, dtype) carries everything that differs:
//   using F = F32/F64 (vector traits); MR, NV (tile is MR × NR, NR = NV·W);
//   DR1, DR2 (rows of the direct kernel); dot_cols(n) (the dot path's column counts), DOT_R, DOT_J
//   (dot-path tile), DOT_ROWS_OUTER (its loop order, Note [dot path]).
// The cache blocks kc, mc, nc are not in the config: they are derived once at start-up from
// the caches this CPU reports and the tile shape (Note [GEMM blocking], cpu.cpp).

#ifndef TG_GEMM_PREFETCH_C
#define TG_GEMM_PREFETCH_C 1
#endif
#ifndef TG_GEMM_PREFETCH_A
#define TG_GEMM_PREFETCH_A 0
#endif
#ifndef TG_GEMM_PREFETCH_B
#define TG_GEMM_PREFETCH_B 10
#endif

template <class Cfg>
const GemmBlocks& blocks() {
  static const GemmBlocks b =
      derive_gemm_blocks(Cfg::MR, Cfg::NV * Cfg::F::W, int(sizeof(typename Cfg::F::T)));
  return b;
}
template <class Cfg>
GemmBlocks blocks_value() {  // for the table's gemm_blocks_f32 / _f64 slots
  return blocks<Cfg>();
}

// ---------------------------------------------------------------------------------------------
// Packing buffers: one pair per thread and config, grown on demand, 64-byte aligned.
template <class T>
struct PackBuffer {
  T* ptr = nullptr;
  size_t cap = 0;
  T* get(size_t n) {
    if (n > cap) {
      std::free(ptr);
      const size_t bytes = (n * sizeof(T) + 63) / 64 * 64;
      ptr = static_cast<T*>(std::aligned_alloc(64, bytes));
      if (!ptr) throw std::bad_alloc();
      cap = n;
    }
    return ptr;
  }
  ~PackBuffer() { std::free(ptr); }
};

template <class Cfg>
struct GemmBuffers {
  PackBuffer<typename Cfg::F::T> a, b;
  static GemmBuffers& local() {
    static thread_local GemmBuffers bufs;
    return bufs;
  }
};

// C[m×n] (row stride ldc) = beta · C, with beta == 0 writing zeros (BLAS: C is write-only).
template <class Cfg, class T>
void scale_c(int64_t m, int64_t n, T beta, T* c, int64_t ldc) {
  if (beta == T(1)) return;
  for (int64_t i = 0; i < m; ++i) {
    T* row = c + i * ldc;
    if (beta == T(0)) {
      for (int64_t j = 0; j < n; ++j) row[j] = T(0);
    } else {
      for (int64_t j = 0; j < n; ++j) row[j] *= beta;
    }
  }
}

// Ã: op(A)[i0 : i0+mc, p0 : p0+kc] as ceil(mc/MR) micro-panels; panel q holds rows
// q·MR .. q·MR+MR-1, stored p-major: dst[q·MR·kc + p·MR + r]. Rows past mc are zero.
// Note [transposing packs]
// Packing A when it is not transposed (the forward of every Linear layer, X·Wᵀ) and B when it
// is are transposes: the panel wants MR (NR) values of one k index side by side, memory has
// them a row stride apart. A scalar copy moves about one value per cycle, which for shapes
// like 256×256×784 is a tenth of the GEMM's time. Instead W rows × W values of k are loaded as
// W vectors, transposed in registers (F::transpose: unpacks and lane shuffles) and stored as W
// columns; k past the last whole W and rows past the panel's live rows go the scalar way.
template <class Cfg, class T>
void pack_a(bool ta, const T* a, int64_t lda, int64_t i0, int64_t p0, int64_t mc, int64_t kc,
            T* dst) {
  using F = typename Cfg::F;
  using V = typename F::V;
  constexpr int MR = Cfg::MR, W = F::W;
  for (int64_t q = 0; q < mc; q += MR, dst += MR * kc) {
    const int64_t mr = std::min<int64_t>(MR, mc - q);
    if (ta) {  // op(A)(i, p) = a[p·lda + i]: the MR values of one p are contiguous
      for (int r0 = 0; r0 < MR; r0 += W) {
        const auto in = F::tail(std::clamp<int64_t>(mr - r0, 0, W));  // zeros past mr
        const auto out = F::tail(std::min(W, MR - r0));
        const T* src = a + p0 * lda + i0 + q + r0;
        int64_t p = 0;
        if constexpr (MR < W)  // whole-vector stores but the last (as in the transpose below)
          for (; p + 1 < kc; ++p) F::store(dst + p * MR, F::load(src + p * lda, in));
        for (; p < kc; ++p) F::store(dst + p * MR + r0, F::load(src + p * lda, in), out);
      }
    } else {  // op(A)(i, p) = a[i·lda + p]: a transpose (Note [transposing packs])
      const T* src = a + (i0 + q) * lda + p0;
      const int64_t kv = kc / W * W;
      for (int r0 = 0; r0 < MR; r0 += W) {
        const int64_t live = std::min<int64_t>(W, mr - r0);  // rows read (≤ 0: all zero)
        const auto out = F::tail(std::min(W, MR - r0));        // lanes kept of each column
        for (int64_t p = 0; p < kv; p += W) {
          V blk[W];
#pragma GCC unroll 16
          for (int r = 0; r < W; ++r)
            blk[r] = r < live ? F::load(src + (r0 + r) * lda + p) : F::zero();
          F::transpose(blk);
          if constexpr (MR < W) {
            // Whole-vector stores: column p's lanes past MR land on the first values of
            // column p + 1, stored next (or by the scalar tail below); only the panel's last
            // column is stored masked. (A masked store is a long microcoded sequence on AMD
            // Zen: with one per column, pack_a was 12 % of SGEMM 256³ on Zen 3, AVX2; the
            // transposed A above stores the same way.)
#pragma GCC unroll 16
            for (int pp = 0; pp < W; ++pp) {
              if (p + pp + 1 < kc)
                F::store(dst + (p + pp) * MR, blk[pp]);
              else
                F::store(dst + (p + pp) * MR, blk[pp], out);
            }
          } else {
#pragma GCC unroll 16
            for (int pp = 0; pp < W; ++pp) F::store(dst + (p + pp) * MR + r0, blk[pp], out);
          }
        }
      }
      for (int64_t r = 0; r < MR; ++r)
        for (int64_t p = kv; p < kc; ++p) dst[p * MR + r] = r < mr ? src[r * lda + p] : T(0);
    }
  }
}

// B̃: op(B)[p0 : p0+kc, j0 : j0+nc] as ceil(nc/NR) micro-panels, panel q stored p-major:
// dst[q·NR·kc + p·NR + j]. Columns past nc are zero.
template <class Cfg, class T>
void pack_b(bool tb, const T* b, int64_t ldb, int64_t p0, int64_t j0, int64_t kc, int64_t nc,
            T* dst) {
  using F = typename Cfg::F;
  constexpr int NR = Cfg::NV * F::W;
  if (!tb) {  // op(B)(p, j) = b[p·ldb + j]
    // Row by row (p outer): each source row segment is read as one contiguous stream and
    // scattered to the panels. Panel by panel (q outer) would read NR values from each of kc
    // rows in turn, a jump of ldb every two lines (with ldb a multiple of 4 KiB, all in one L1
    // set). Same values in the same places either way; the gain measured at n = 2048 is small
    // (a few %, near the noise of a loaded machine).
    const int64_t nfull = nc / NR * NR;
    for (int64_t p = 0; p < kc; ++p) {
      const T* src = b + (p0 + p) * ldb + j0;
      T* d = dst + p * NR;
      for (int64_t q = 0; q < nfull; q += NR, src += NR, d += NR * kc)
        for (int v = 0; v < Cfg::NV; ++v) F::store(d + v * F::W, F::load(src + v * F::W));
      if (nfull < nc) {
        int64_t j = 0;
        for (; j < nc - nfull; ++j) d[j] = src[j];
        for (; j < NR; ++j) d[j] = T(0);
      }
    }
    return;
  }
  for (int64_t q = 0; q < nc; q += NR, dst += NR * kc) {
    const int64_t nr = std::min<int64_t>(NR, nc - q);
    {  // op(B)(p, j) = b[j·ldb + p]: a transpose (Note [transposing packs])
      using V = typename F::V;
      constexpr int W = F::W;
      const T* src = b + (j0 + q) * ldb + p0;
      const int64_t kv = kc / W * W;
      for (int v = 0; v < Cfg::NV; ++v) {
        const int64_t live = std::min<int64_t>(W, nr - v * W);
        for (int64_t p = 0; p < kv; p += W) {
          V blk[W];
#pragma GCC unroll 16
          for (int jj = 0; jj < W; ++jj)
            blk[jj] = jj < live ? F::load(src + (v * W + jj) * ldb + p) : F::zero();
          F::transpose(blk);
#pragma GCC unroll 16
          for (int pp = 0; pp < W; ++pp) F::store(dst + (p + pp) * NR + v * W, blk[pp]);
        }
      }
      for (int64_t j = 0; j < NR; ++j)
        for (int64_t p = kv; p < kc; ++p) dst[p * NR + j] = j < nr ? src[j * ldb + p] : T(0);
    }
  }
}

// Micro-kernel: C[MR×NR] = alpha · Ã·B̃ + beta · C.
// Assumptions:
//   - a: one Ã micro-panel, kc steps of MR values (a[p·MR + r]), zero-padded rows;
//   - b: one B̃ micro-panel, kc steps of NR = NV·W values (b[p·NR + j]), 64-byte aligned
//     (unaligned loads are used, so misalignment only costs speed);
//   - c: a full MR×NR tile with row stride ldc; beta == 0 never reads C.
// The MR·NV accumulators stay in registers for the whole k loop (MR·NV + NV + 1 ≤ number of
// vector registers); loops over r and v are fully unrolled so that they can.
// MR here is the number of rows computed (the tile's Cfg::MR, or fewer for the last rows of a
// block: edge_tile); the packed A panel always has Cfg::MR values per k step. Each C value
// sees the same FMAs in the same order whatever MR is, so edge rows round exactly as full ones.
// B is the B̃ micro-panel's address, or another source of its rows with
// `V load(int64_t p, int v) const` (the implicit convolution's: Note [unpacked panels]).
template <class Cfg, class T>
inline typename Cfg::F::V load_b(T* b, int64_t p, int v) {  // T: float, const float, ...
  return Cfg::F::load(b + p * (Cfg::NV * Cfg::F::W) + v * Cfg::F::W);
}
template <class Cfg, class B>
inline typename Cfg::F::V load_b(const B& b, int64_t p, int v) {
  return b.load(p, v);
}
// Likewise A: the Ã micro-panel's address (MR values per k step), or a source with
// `const T* at(int64_t p) const` giving k step p's MR values, contiguous (Note [NHWC weight
// gradient]).
template <class Cfg, class T>
inline T* a_step(T* a, int64_t p) {
  return a + p * Cfg::MR;
}
template <class Cfg, class A>
inline auto a_step(const A& a, int64_t p) {
  return a.at(p);
}
// B's rows where they are (Note [B read in place]), or a packed panel's one vector at a time:
// row p's NR values at b + p·ldb.
template <class Cfg>
struct RowsB {
  const typename Cfg::F::T* b;
  int64_t ldb;
  typename Cfg::F::V load(int64_t p, int v) const {
    return Cfg::F::load(b + p * ldb + v * Cfg::F::W);
  }
};
// Note [B rows prefetch]: B read in place (Note [B read in place]) is a row per k step, the
// rows ldb apart. The first micro-tile of each panel brings them into L1 for the others, one
// L2 or L3 miss per row and step, and a stride of several cache lines (784 floats: 49) is
// beyond what the hardware's stride prefetcher follows (2 KiB on Intel cores): those misses
// stall the tile's FMAs. So the micro-kernel asks for row p + TG_GEMM_PREFETCH_B while it
// works on row p (for the tiles that find the rows in L1 already, the prefetches cost a load
// slot each). The address is formed as an integer: the rows past the last are never read.
template <class Cfg, class B>
inline void prefetch_b(const B&, int64_t) {}
template <class Cfg>
inline void prefetch_b(const RowsB<Cfg>& b, int64_t p) {
  constexpr int64_t kBytes = Cfg::NV * Cfg::F::W * int64_t(sizeof(typename Cfg::F::T));
  const uintptr_t at = reinterpret_cast<uintptr_t>(b.b) +
                       uintptr_t(p * b.ldb * int64_t(sizeof(typename Cfg::F::T)));
#pragma GCC unroll 4
  for (int64_t off = 0; off < kBytes; off += 64)
    __builtin_prefetch(reinterpret_cast<const void*>(at + uintptr_t(off)), 0, 3);
}
// Or op(A)'s rows where they are (Note [A read in place]): row r's k values at a + r·lda.
template <class Cfg>
struct RowsA {
  const typename Cfg::F::T* a;
  int64_t lda;
};
// Row r's value at k step p, broadcast, from any of the three.
template <class Cfg, class A>
inline typename Cfg::F::V a_bcast(const A& a, int64_t p, int r) {
  return Cfg::F::bcast(a_step<Cfg>(a, p) + r);
}
template <class Cfg, class C2>
inline typename Cfg::F::V a_bcast(const RowsA<C2>& a, int64_t p, int r) {
  return Cfg::F::bcast(a.a + r * a.lda + p);
}

// Never inlined: inlined into a caller's loop nest (the weight gradient's tile loop, Note
// [NHWC weight gradient]) the AVX2 build, whose 16 ymm registers hold the 12 accumulators,
// two B vectors and the broadcast with one to spare, ran out of registers and kept the
// accumulators on the stack, a store per FMA: the 64-channel 3×3 weight gradient of the
// ResNet block ran at a third of the FMA limit on AMD Zen 3, and the block's step took
// 1.08–1.28× PyTorch's time. Out of line, the call costs a few cycles per kc-step tile.
template <class Cfg, int MR = Cfg::MR, class B = const typename Cfg::F::T*,
          class A = const typename Cfg::F::T*>
__attribute__((noinline)) void micro_kernel(int64_t kc, A a, B b,
                  typename Cfg::F::T alpha, typename Cfg::F::T beta,
                  typename Cfg::F::T* __restrict c, int64_t ldc) {
  using F = typename Cfg::F;
  using V = typename F::V;
  using T = typename F::T;
  constexpr int NV = Cfg::NV, W = F::W, NR = NV * W;
  V acc[MR][NV];
#pragma GCC unroll 32
  for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = F::zero();
  // Note [GEMM prefetch]: the C tile is read (beta ≠ 0) or written only after the k loop; ask
  // for its lines ahead of time, so that the k steps hide the misses. Normally at the start.
  // But when the row stride is a multiple of 2 KiB the MR rows fall in two or four L1 sets
  // (48 KiB 12-way: a set every 4 KiB), more rows than a set has ways once the B̃ panel's
  // lines are counted, so lines fetched at the start are evicted by each other and by the
  // streaming Ã before they are used (n = 1024, 2048 ran 10 % slower than n = 1000, 2064).
  // Then the prefetch is issued kPrefLate steps before the end instead: late enough that the
  // lines survive, early enough (~1000 cycles of FMAs) to cover a miss to L3 or memory.
  // Measured both ways: the late prefetch loses a few % when the rows do not alias.
  // The A micro-panel streams from L2 (the B micro-panel is reused from L1): fetch it
  // kPrefA steps ahead.
  constexpr int64_t kPrefLate = 80;
  const bool late = TG_GEMM_PREFETCH_C && (ldc * int64_t(sizeof(T))) % 2048 == 0;
  const int64_t ksplit = late ? std::max<int64_t>(0, kc - kPrefLate) : kc;
  auto prefetch_c = [&] {
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r) {
      __builtin_prefetch(c + r * ldc, 1, 3);
      __builtin_prefetch(c + r * ldc + NR - 1, 1, 3);
    }
  };
  if (TG_GEMM_PREFETCH_C && !late) prefetch_c();
  auto steps = [&](int64_t p0, int64_t p1) {
#pragma GCC unroll 2
    for (int64_t p = p0; p < p1; ++p) {
      if constexpr (TG_GEMM_PREFETCH_A != 0)
        __builtin_prefetch(a_step<Cfg>(a, p + TG_GEMM_PREFETCH_A), 0, 3);
      if constexpr (TG_GEMM_PREFETCH_B != 0) prefetch_b<Cfg>(b, p + TG_GEMM_PREFETCH_B);
      V bv[NV];
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) bv[v] = load_b<Cfg>(b, p, v);
#pragma GCC unroll 32
      for (int r = 0; r < MR; ++r) {
        const V ar = a_bcast<Cfg>(a, p, r);
#pragma GCC unroll 4
        for (int v = 0; v < NV; ++v) acc[r][v] = F::fma(ar, bv[v], acc[r][v]);
      }
    }
  };
  steps(0, ksplit);
  if (late) {
    prefetch_c();
    steps(ksplit, kc);
  }
  const V va = F::set1(alpha);
  if (beta == 0) {
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) F::store(c + r * ldc + v * W, F::mul(va, acc[r][v]));
  } else {
    const V vb = F::set1(beta);
#pragma GCC unroll 32
    for (int r = 0; r < MR; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        T* cp = c + r * ldc + v * W;
        F::store(cp, F::fma(vb, F::load(cp), F::mul(va, acc[r][v])));
      }
  }
}

// The micro-kernel for exactly mr ≤ R rows (one instantiation per row count).
template <class Cfg, int R, class T, class B, class A>
void kernel_rows(int64_t mr, int64_t kc, const A& a, const B& b, T alpha, T beta, T* c,
                 int64_t ldc) {
  if constexpr (R > 1) {
    if (mr < R) return kernel_rows<Cfg, R - 1>(mr, kc, a, b, alpha, beta, c, ldc);
  }
  micro_kernel<Cfg, R, B, A>(kc, a, b, alpha, beta, c, ldc);
}

// The tile one vector wide: the last panel of a B no wider than a vector past the full ones
// (n = 784 = 24·32 + 16) runs its MR rows on one accumulator each, not on NV (half of them
// zero columns). Same FMAs per C value, same order: the same bits.
template <class Cfg>
struct OneVector : Cfg {
  static constexpr int NV = 1;
};

// Edge tile (mr < MR or nr < NR). Only the mr live rows are computed (m = 256 with MR = 14
// would otherwise spend 10 of every 266 rows' FMAs on zero padding); a partial width runs the
// full width (or one vector, for a packed panel at most one vector wide) into a local tile and
// merges the nr live columns.
template <class Cfg, class T, class B, class A>
void edge_tile(int64_t kc, const A& a, const B& b, T alpha, T beta, T* c, int64_t ldc,
               int64_t mr, int64_t nr) {
  constexpr int NR = Cfg::NV * Cfg::F::W, W = Cfg::F::W;
  if (nr == NR) return kernel_rows<Cfg, Cfg::MR>(mr, kc, a, b, alpha, beta, c, ldc);
  alignas(64) T tile[Cfg::MR * NR];
  if constexpr (Cfg::NV > 1 && std::is_pointer_v<B>) {
    if (nr <= W) {  // the panel's rows, NR apart, read one vector at a time
      const RowsB<OneVector<Cfg>> one{b, NR};
      if (nr == W)
        return kernel_rows<OneVector<Cfg>, Cfg::MR>(mr, kc, a, one, alpha, beta, c, ldc);
      kernel_rows<OneVector<Cfg>, Cfg::MR>(mr, kc, a, one, alpha, T(0), tile, NR);
    } else {
      kernel_rows<Cfg, Cfg::MR>(mr, kc, a, b, alpha, T(0), tile, NR);
    }
  } else {
    kernel_rows<Cfg, Cfg::MR>(mr, kc, a, b, alpha, T(0), tile, NR);
  }
  for (int64_t r = 0; r < mr; ++r) {
    T* crow = c + r * ldc;
    const T* trow = tile + r * NR;
    if (beta == T(0)) {
      for (int64_t j = 0; j < nr; ++j) crow[j] = trow[j];
    } else {
      for (int64_t j = 0; j < nr; ++j) crow[j] = trow[j] + beta * crow[j];
    }
  }
}

// Note [B read in place]
// A row-major op(B) (tb false) whose rows are an odd number of cache lines apart needs no
// B̃ (wherever the first row starts: off a line, a vector load may span two): a micro-panel's kc rows of NR values are read where they are. Packing them
// would copy all of op(B) once per k slice and read the copy back; in place, the first
// micro-tile of each panel pulls its rows into L1 and the other MR-row tiles of the block
// reuse them there, as they would reuse B̃. The odd line stride spreads the rows over every
// L1 set (a stride of an even number of lines folds them into half the sets or fewer: with
// 4 KiB all into one, which packing avoids). And the k slice's rows must span no more than
// L2 (2·mc·kc elements, Note [GEMM blocking]): wider rows put every row of a panel on its own
// page, far apart in L3 or memory, where the packed copy's sequential stream is faster
// (4112×512 @ 512×4112 ran 5 % slower in place). Only full panels are read in place; the last,
// narrower one is packed alone, so no load reads past a row. Each C value sees the same FMAs
// in the same order as from B̃, so the results are the packed path's to the bit. Measured
// (AMD Zen 5, one thread) on the weight gradient of a 784→256 layer at batch 256 (gᵀ·X,
// 256×256ᵀ @ 256×784): pack_b was 7 % of the GEMM's time.
template <class Cfg>
bool b_in_place(bool tb, int64_t ldb, int64_t m, int64_t kc, const GemmBlocks& bl) {
  const int64_t bytes = ldb * int64_t(sizeof(typename Cfg::F::T));
  return !tb && m > Cfg::MR && bytes % 64 == 0 && (bytes / 64) % 2 == 1 &&
         kc * ldb <= 2 * bl.mc * bl.kc;
}

// Note [A read in place]
// A row-major op(A) (ta false) is an MR-row micro-panel as it stands: the micro-kernel
// broadcasts row r's value at k step p from a + r·lda + p instead of from Ã's p·MR + r. Ã
// would hold the same values k-major, copied by a 16×16 transpose per block; read in place,
// the MR rows are MR sequential streams, each line serving 16 (float) k steps, the same lines
// per step as Ã, so the copy is saved outright. Only rows an odd number of cache lines apart
// (or not on line boundaries) spread over the L1 sets (48 KiB, 12-way: a set every 4 KiB);
// rows an even number apart fold into fewer sets beside the B̃ panel's lines (256×256 @
// 256×784, rows 16 lines apart, ran 3 % slower in place), and are packed. So are blocks whose
// rows span more than L2 (2·mc·kc elements): 602 rows 4000 bytes apart, each on its own page,
// re-read for every B̃ panel, ran 2 % slower than the contiguous Ã (1000³). Results equal Ã's
// to the bit (same FMAs, same order). Measured (AMD Zen 5, one thread) on the forward of a
// 784→256 layer at batch 256 (X·Wᵀ): pack_a was 3 % of its time.
// Rows longer than that bound are still read in place when the block has at most
// kInPlacePanels B̃ panels: the copy (one pass over the block, its rows from L3) is then
// spread over too few panel passes to pay for itself, while reading in place costs each pass
// only the rows' lines L2 lost. Measured (AMD Zen 3: 512 KiB L2, so mc = 390 at kc = 168, one
// thread, whole-process medians, packed / in place): X·Wᵀ 256×784 @ 784×256 (16 panels)
// 1.05, 512×784 @ 784×256 1.09, 256×1000 @ 1000×256 1.07, where pack_a had been 8.6 % of the
// GEMM; 256×784 @ 784×512 (32 panels) 1.04; 256×784 @ 784×1024 (64) 0.93; 1000³ (63) 0.89.
template <class Cfg>
bool a_in_place(bool ta, int64_t lda, int64_t m, int64_t n, const GemmBlocks& bl) {
  constexpr int64_t NR = Cfg::NV * Cfg::F::W, kInPlacePanels = 16;
  const int64_t panels = (std::min(n, bl.nc) + NR - 1) / NR;
  return !ta && n > NR && (lda * int64_t(sizeof(typename Cfg::F::T))) % 128 != 0 &&
         (std::min(m, bl.mc) * lda <= 2 * bl.mc * bl.kc || panels <= kInPlacePanels);
}

// relu on the rows × cols block at c (row stride ldc), in place: x ≤ 0 ? 0 : x, the formula
// of the unary relu kernel (elementwise-inl.h), so a NaN stays NaN and the bits are those of
// GEMM then relu (Note [GEMM epilogue]).
template <class Cfg, class T>
void relu_block(int64_t rows, int64_t cols, T* c, int64_t ldc) {
  using F = typename Cfg::F;
  constexpr int W = F::W;
  const auto v_relu = [](typename F::V v) { return F::select(F::le(v, F::zero()), F::zero(), v); };
  for (int64_t i = 0; i < rows; ++i) {
    T* row = c + i * ldc;
    int64_t j = 0;
    for (; j + W <= cols; j += W) F::store(row + j, v_relu(F::load(row + j)));
    if (j < cols) {
      const auto tm = F::tail(cols - j);
      F::store(row + j, v_relu(F::load(row + j, tm)), tm);
    }
  }
}

// Note [GEMM epilogue]
// gemm_relu computes relu(alpha·op(A)·op(B) + beta·C): a Linear layer followed by ReLU, fused
// by a compiled step (Note [fused linear-relu] in cpp/src/ops/linalg.cpp). On the packed path
// each C tile gets its relu right after the micro-kernel's last k slice, while the tile is
// still in L1, instead of a second pass over the whole output from L2 or memory; the other
// paths (dot, outer, direct: small or skinny products, a batch-1 layer) apply it to C when they
// are done, in the same call. relu is exact (a select), so the result is the one of the plain
// GEMM followed by the relu kernel, to the bit.

// The Goto/BLIS loop nest on one thread: jc (NC) → pc (KC, pack B̃) → ic (MC, pack Ã) →
// jr (NR) → ir (MR) → micro-kernel. Assumes k > 0. With `relu`, each tile's last k slice is
// followed by relu on the tile (Note [GEMM epilogue]).
template <class Cfg, class T>
void gemm_packed(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                 int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc,
                 bool relu = false) {
  constexpr int MR = Cfg::MR, NR = Cfg::NV * Cfg::F::W;
  const GemmBlocks& bl = blocks<Cfg>();
  // k in equal slices near bl.kc (rounded to the nearest count, not up): k = 256 with a
  // model kc of 216 runs as one slice of 256 rather than 216 + 40, whose short slice would
  // pay a full C-tile load and store for a sixth of the work; a slice stays within 1.5·kc.
  const int64_t slices = std::max<int64_t>(1, (k + bl.kc / 2) / bl.kc);
  const int64_t KC = (k + slices - 1) / slices, MC = bl.mc, NC = bl.nc;
  auto& bufs = GemmBuffers<Cfg>::local();
  const int64_t nc_max = std::min<int64_t>(NC, (n + NR - 1) / NR * NR);
  const int64_t mc_max = std::min<int64_t>(MC, (m + MR - 1) / MR * MR);
  const bool in_place = b_in_place<Cfg>(tb, ldb, m, KC, bl);  // Note [B read in place]
  const bool a_rows = a_in_place<Cfg>(ta, lda, m, n, bl);      // Note [A read in place]
  T* bp = bufs.b.get(size_t(KC * (in_place ? NR : nc_max)));
  T* ap = a_rows ? nullptr : bufs.a.get(size_t(KC * mc_max));
  for (int64_t jc = 0; jc < n; jc += NC) {
    const int64_t nc = std::min(NC, n - jc);
    for (int64_t pc = 0; pc < k; pc += KC) {
      const int64_t kc = std::min(KC, k - pc);
      const T beta_pc = pc == 0 ? beta : T(1);
      const bool last_pc = pc + kc >= k;
      if (!in_place) pack_b<Cfg>(tb, b, ldb, pc, jc, kc, nc, bp);
      for (int64_t ic = 0; ic < m; ic += MC) {
        const int64_t mc = std::min(MC, m - ic);
        if (!a_rows) pack_a<Cfg>(ta, a, lda, ic, pc, mc, kc, ap);
        for (int64_t jr = 0; jr < nc; jr += NR) {
          const int64_t nr = std::min<int64_t>(NR, nc - jr);
          const bool b_rows = in_place && nr == NR;
          // (the last, narrower panel of an in-place B is packed alone, once)
          if (in_place && !b_rows && ic == 0) pack_b<Cfg>(tb, b, ldb, pc, jc + jr, kc, nr, bp);
          const T* bpan = in_place ? bp : bp + jr * kc;
          const RowsB<Cfg> brows{b + pc * ldb + jc + jr, ldb};
          for (int64_t ir = 0; ir < mc; ir += MR) {
            const int64_t mr = std::min<int64_t>(MR, mc - ir);
            T* ct = c + (ic + ir) * ldc + jc + jr;
            auto tile = [&](const auto& as, const auto& bs) {
              using AS = std::decay_t<decltype(as)>;
              using BS = std::decay_t<decltype(bs)>;
              if (mr == MR && nr == NR)
                micro_kernel<Cfg, MR, BS, AS>(kc, as, bs, alpha, beta_pc, ct, ldc);
              else
                edge_tile<Cfg>(kc, as, bs, alpha, beta_pc, ct, ldc, mr, nr);
              if (relu && last_pc) relu_block<Cfg>(mr, nr, ct, ldc);
            };
            if (a_rows) {
              const RowsA<Cfg> arows{a + (ic + ir) * lda + pc, lda};
              b_rows ? tile(arows, brows) : tile(arows, bpan);
            } else {
              const T* apan = ap + ir * kc;
              b_rows ? tile(apan, brows) : tile(apan, bpan);
            }
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Direct (unpacked) path. Computes a block D[R × NV·W] = X·Y over the full k with
//   X(r, p) = x[r·xr + p·xp]   (broadcast; rows past `rows` alias the last valid row),
//   Y(p, j) = y[p·yp + j]      (vector loads, masked past `cols`),
// then writes alpha·D + beta·C to C(r, j) = c[r·crs + j·ccs].
// Two orientations use it: D = C (vectorised along C's rows, needs op(B) rows contiguous) and
// D = Cᵀ (vectorised along C's columns, needs op(A) columns contiguous, i.e. trans_a).
template <class Cfg, int R, int NV>
void direct_block(int64_t k, const typename Cfg::F::T* x, int64_t xr, int64_t xp, int64_t rows,
                  const typename Cfg::F::T* y, int64_t yp, int64_t cols,
                  typename Cfg::F::T alpha, typename Cfg::F::T beta, typename Cfg::F::T* c,
                  int64_t crs, int64_t ccs) {
  using F = typename Cfg::F;
  using V = typename F::V;
  using T = typename F::T;
  constexpr int W = F::W;
  const T* xrow[R];
#pragma GCC unroll 32
  for (int r = 0; r < R; ++r) xrow[r] = x + std::min<int64_t>(r, rows - 1) * xr;
  V acc[R][NV];
#pragma GCC unroll 32
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
    for (int v = 0; v < NV; ++v) acc[r][v] = F::zero();
  const bool full = cols == NV * W;
  const auto tm = F::tail(cols - (NV - 1) * W);
  for (int64_t p = 0; p < k; ++p) {
    V yv[NV];
    const T* yrow = y + p * yp;
#pragma GCC unroll 4
    for (int v = 0; v + 1 < NV; ++v) yv[v] = F::load(yrow + v * W);
    yv[NV - 1] = full ? F::load(yrow + (NV - 1) * W) : F::load(yrow + (NV - 1) * W, tm);
#pragma GCC unroll 32
    for (int r = 0; r < R; ++r) {
      const V xv = F::bcast(xrow[r] + p * xp);
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) acc[r][v] = F::fma(xv, yv[v], acc[r][v]);
    }
  }
  const V va = F::set1(alpha);
  if (ccs == 1) {
#pragma GCC unroll 32
    for (int r = 0; r < R; ++r) {
      if (r >= rows) break;
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) {
        T* cp = c + r * crs + v * W;
        V out = F::mul(va, acc[r][v]);
        if (v + 1 < NV || full) {
          if (beta != T(0)) out = F::fma(F::set1(beta), F::load(cp), out);
          F::store(cp, out);
        } else {
          if (beta != T(0)) out = F::fma(F::set1(beta), F::load(cp, tm), out);
          F::store(cp, out, tm);
        }
      }
    }
  } else {  // transposed write: C(r, j) lives at c[r·crs + j·ccs] with crs == 1
    alignas(64) T tile[R][NV * W];
#pragma GCC unroll 32
    for (int r = 0; r < R; ++r)
#pragma GCC unroll 4
      for (int v = 0; v < NV; ++v) F::store(&tile[r][v * W], F::mul(va, acc[r][v]));
    for (int64_t j = 0; j < cols; ++j) {
      T* cp = c + j * ccs;
      for (int64_t r = 0; r < rows; ++r)
        cp[r * crs] = beta == T(0) ? tile[r][j] : tile[r][j] + beta * cp[r * crs];
    }
  }
}

// direct_block with the fewest vectors per row (at most NV) that cover `cols` columns.
template <class Cfg, int R, int NV>
void direct_block_fit(int64_t k, const typename Cfg::F::T* x, int64_t xr, int64_t xp,
                      int64_t rows, const typename Cfg::F::T* y, int64_t yp, int64_t cols,
                      typename Cfg::F::T alpha, typename Cfg::F::T beta, typename Cfg::F::T* c,
                      int64_t crs, int64_t ccs) {
  if constexpr (NV > 1) {
    if (cols <= (NV - 1) * Cfg::F::W)
      return direct_block_fit<Cfg, R, NV - 1>(k, x, xr, xp, rows, y, yp, cols, alpha, beta, c,
                                              crs, ccs);
  }
  direct_block<Cfg, R, NV>(k, x, xr, xp, rows, y, yp, cols, alpha, beta, c, crs, ccs);
}

// Runs direct_block over the whole (drows × dcols) output D with NV vectors per block.
template <class Cfg, int R, int NV>
void direct_loop(int64_t drows, int64_t dcols, int64_t k, const typename Cfg::F::T* x,
                 int64_t xr, int64_t xp, const typename Cfg::F::T* y, int64_t yp,
                 typename Cfg::F::T alpha, typename Cfg::F::T beta, typename Cfg::F::T* c,
                 int64_t crs, int64_t ccs) {
  constexpr int64_t CB = NV * Cfg::F::W;
  const int64_t nrb = (drows + R - 1) / R, ncb = (dcols + CB - 1) / CB;
  auto body = [&](int64_t b0, int64_t b1) {
    for (int64_t blk = b0; blk < b1; ++blk) {
      const int64_t rb = blk % nrb, cb = blk / nrb;
      const int64_t r0 = rb * R, c0 = cb * CB;
      // The last block may need fewer vectors per row (direct_block loads all but its last
      // vector unmasked).
      direct_block_fit<Cfg, R, NV>(k, x + r0 * xr, xr, xp, std::min<int64_t>(R, drows - r0),
                                   y + c0, yp, std::min(CB, dcols - c0), alpha, beta,
                                   c + r0 * crs + c0 * ccs, crs, ccs);
    }
  };
  const int64_t flops_per_block = 2 * R * CB * std::max<int64_t>(k, 1);
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 19) / flops_per_block);
  parallel_for(nrb * ncb, grain, body);
}

template <class Cfg>
void direct_orient(int64_t drows, int64_t dcols, int64_t k, const typename Cfg::F::T* x,
                   int64_t xr, int64_t xp, const typename Cfg::F::T* y, int64_t yp,
                   typename Cfg::F::T alpha, typename Cfg::F::T beta, typename Cfg::F::T* c,
                   int64_t crs, int64_t ccs) {
  if (drows == 1)  // one row (vector × matrix): no aliased rows doing wasted FMAs, and four
                   // independent accumulators to cover the FMA latency
    direct_loop<Cfg, 1, 4>(drows, dcols, k, x, xr, xp, y, yp, alpha, beta, c, crs, ccs);
  // A few rows: blocks no taller than needed (aliased rows would repeat the FMAs of the
  // last one); every choice keeps its accumulators in registers on both targets.
  else if (drows == 2 && dcols > Cfg::F::W)
    direct_loop<Cfg, 2, 4>(drows, dcols, k, x, xr, xp, y, yp, alpha, beta, c, crs, ccs);
  else if (drows <= 4 && dcols > Cfg::F::W)
    direct_loop<Cfg, 4, 2>(drows, dcols, k, x, xr, xp, y, yp, alpha, beta, c, crs, ccs);
  else if (drows <= 8 && Cfg::DR2 > 8 && dcols > Cfg::F::W)
    direct_loop<Cfg, 8, 2>(drows, dcols, k, x, xr, xp, y, yp, alpha, beta, c, crs, ccs);
  // (ten: the weight gradient gᵀ·X of a 10-class layer, 10×256 @ 256×784, which in twelve-row
  // blocks ran 20 % more FMAs; in-process on Intel Xeon model 207, ten / twelve rows 0.85)
  else if (drows <= 10 && Cfg::DR2 > 10 && dcols > Cfg::F::W)
    direct_loop<Cfg, 10, 2>(drows, dcols, k, x, xr, xp, y, yp, alpha, beta, c, crs, ccs);
  else if (dcols <= Cfg::F::W)
    direct_loop<Cfg, Cfg::DR1, 1>(drows, dcols, k, x, xr, xp, y, yp, alpha, beta, c, crs, ccs);
  else
    direct_loop<Cfg, Cfg::DR2, 2>(drows, dcols, k, x, xr, xp, y, yp, alpha, beta, c, crs, ccs);
}

// C = alpha·op(A)·op(B) + beta·C without packing A. Vectorises along C's rows when op(B)'s
// rows are contiguous (copying op(B) into a k×n buffer first if trans_b), or along C's
// columns (D = Cᵀ) when trans_a makes op(A)'s columns contiguous and n is the short side.
template <class Cfg, class T>
void gemm_direct(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                 int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (ta && n < m) {
    // D = Cᵀ (n × m): X(j, p) = op(B)(p, j), Y(p, i) = op(A)(i, p) = a[p·lda + i].
    direct_orient<Cfg>(n, m, k, b, tb ? ldb : 1, tb ? 1 : ldb, a, lda, alpha, beta, c, 1, ldc);
    return;
  }
  if (tb) {  // make op(B) row-contiguous: copy it (k × n) — only taken when n or k is small
    T* bb = GemmBuffers<Cfg>::local().b.get(size_t(k * n));
    for (int64_t j = 0; j < n; ++j)
      for (int64_t p = 0; p < k; ++p) bb[p * n + j] = b[j * ldb + p];
    b = bb;
    ldb = n;
  }
  // D = C: X(i, p) = op(A)(i, p), Y(p, j) = op(B)(p, j).
  direct_orient<Cfg>(m, n, k, a, ta ? 1 : lda, ta ? lda : 1, b, ldb, alpha, beta, c, ldc, 1);
}

// ---------------------------------------------------------------------------------------------
// Dot-product path for short, wide products: few output columns (dot_cols(n)) and op(A) rows
// contiguous (e.g. 256×784 @ 784×10, the forward of softmax regression).
//
// Note [dot path]
// Broadcasting A along C's rows (the direct path) would fill only n of the lanes of its last
// vector and issue one broadcast load per FMA; here each C(i, j) is a dot product of A's row i
// and Bᵀ's row j vectorised along k, so every lane is busy and a tile of DOT_R rows × NJ
// columns needs DOT_R + NJ loads per DOT_R·NJ FMAs. Bᵀ is op(B) stored n × k (B itself when
// trans_b, else a small transposed copy). Each C(i, j) sums lane p mod W of its products in
// k order and then the lanes, whatever the tile: the bits do not depend on DOT_R, DOT_J or
// the loop order. The dot path takes fewer columns than one vector (W) on AVX-512. On AVX2 it
// also takes the column counts where the direct path fills few lanes of its last vector;
// whole-process A/B on Zen 3 (AMD EPYC family 25, paired runs of X 256×784 @ n columns,
// dot/direct medians): float32 (F.linear, 20000 calls) n = 8: 0.84, 10: 0.88, 12: 1.00, 15:
// 1.17 (the direct path fills 15 of 16 lanes there); float64 (matmul, 10000 calls) n = 6:
// 1.26, 8: 1.32 (one full 8-column block), 10: 0.54, 11: 0.66. With DOT_ROWS_OUTER a tile of
// rows runs every column group while it is in L1, so A streams from memory once rather than
// once per group (AVX2, where A of 256×784 is more than L2). On AVX-512 too: Intel Xeon
// (family 6 model 207, 2 MiB L2, where A fits), in-process minima of X 256×784 @ (10×784)ᵀ
// over paired builds, rows outer / columns outer 0.97, the compiled softmax-regression step
// 0.96; float32 n = 5 and 13 within noise. float64 stays columns outer: its n = 5 ran 1.2×
// slower rows outer (n = 7: 0.96). The tile's sums are reduced sixteen at a time where the target can (hsums: on AVX-512
// half the shuffles of sixteen single reductions, the same bits): that GEMM 0.95.

// out[i] = F::hsum(v[i]) for N vectors: sixteen at a time where the target reduces sixteen
// together (F::hsum16, the same bits), the rest one by one.
template <class F, class = void>
struct HasHsum16 : std::false_type {};
template <class F>
struct HasHsum16<F, std::void_t<decltype(&F::hsum16)>> : std::true_type {};
template <class F, int N>
inline void hsums(const typename F::V* v, typename F::T* out) {
  int i = 0;
  if constexpr (HasHsum16<F>::value)
    for (; i + 16 <= N; i += 16) F::hsum16(v + i, out + i);
#pragma GCC unroll 16
  for (; i < N; ++i) out[i] = F::hsum(v[i]);
}

// Assumptions: a: DOT_R rows of op(A), row stride lda, k contiguous values each; bt: NJ rows of
// Bᵀ, row stride ldbt; c: the DOT_R × NJ tile (row stride ldc); beta == 0 never reads C.
// Registers: DOT_R·NJ accumulators + NJ B vectors + one A vector.
template <class Cfg, int R, int NJ>
void dot_tile(int64_t k, const typename Cfg::F::T* __restrict a, int64_t lda,
              const typename Cfg::F::T* __restrict bt, int64_t ldbt, typename Cfg::F::T alpha,
              typename Cfg::F::T beta, typename Cfg::F::T* __restrict c, int64_t ldc) {
  using F = typename Cfg::F;
  using V = typename F::V;
  using T = typename F::T;
  constexpr int W = F::W;
  V acc[R][NJ];
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < NJ; ++j) acc[r][j] = F::zero();
  auto step = [&](int64_t p, auto ld) {
    V bv[NJ];
#pragma GCC unroll 8
    for (int j = 0; j < NJ; ++j) bv[j] = ld(bt + j * ldbt + p);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const V av = ld(a + r * lda + p);
#pragma GCC unroll 8
      for (int j = 0; j < NJ; ++j) acc[r][j] = F::fma(av, bv[j], acc[r][j]);
    }
  };
  int64_t p = 0;
  for (; p + W <= k; p += W) step(p, [](const T* q) { return F::load(q); });
  if (p < k) {
    const auto tm = F::tail(k - p);
    step(p, [tm](const T* q) { return F::load(q, tm); });  // zeros past k on both sides
  }
  T sums[R * NJ];
  hsums<F, R * NJ>(&acc[0][0], sums);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r)
#pragma GCC unroll 8
    for (int j = 0; j < NJ; ++j) {
      T* cp = c + r * ldc + j;
      const T v = alpha * sums[r * NJ + j];
      *cp = beta == T(0) ? v : v + beta * *cp;
    }
}

// All m rows for one group of NJ columns: DOT_R-row tiles split across threads, then the
// leftover rows one at a time.
template <class Cfg, int NJ>
void dot_columns(int64_t m, int64_t k, const typename Cfg::F::T* a, int64_t lda,
                 const typename Cfg::F::T* bt, int64_t ldbt, typename Cfg::F::T alpha,
                 typename Cfg::F::T beta, typename Cfg::F::T* c, int64_t ldc) {
  constexpr int R = NJ == 1 ? 8 : Cfg::DOT_R;  // matrix-vector: 8 rows stream at once
  const int64_t tiles = m / R;
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 19) / (2 * R * NJ * k));
  parallel_for(tiles, grain, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t)
      dot_tile<Cfg, R, NJ>(k, a + t * R * lda, lda, bt, ldbt, alpha, beta, c + t * R * ldc, ldc);
  });
  for (int64_t i = tiles * R; i < m; ++i)
    dot_tile<Cfg, 1, NJ>(k, a + i * lda, lda, bt, ldbt, alpha, beta, c + i * ldc, ldc);
}

// Columns in groups of DOT_J; the last, narrower group gets its own instantiation.
template <class Cfg, int NJ>
void dot_group(int64_t nj, int64_t m, int64_t k, const typename Cfg::F::T* a, int64_t lda,
               const typename Cfg::F::T* bt, int64_t ldbt, typename Cfg::F::T alpha,
               typename Cfg::F::T beta, typename Cfg::F::T* c, int64_t ldc) {
  if constexpr (NJ > 1) {
    if (nj < NJ) return dot_group<Cfg, NJ - 1>(nj, m, k, a, lda, bt, ldbt, alpha, beta, c, ldc);
  }
  dot_columns<Cfg, NJ>(m, k, a, lda, bt, ldbt, alpha, beta, c, ldc);
}

// dot_tile with NJ = nj (at most NJ) columns.
template <class Cfg, int R, int NJ>
void dot_tile_n(int nj, int64_t k, const typename Cfg::F::T* a, int64_t lda,
                const typename Cfg::F::T* bt, int64_t ldbt, typename Cfg::F::T alpha,
                typename Cfg::F::T beta, typename Cfg::F::T* c, int64_t ldc) {
  if constexpr (NJ > 1) {
    if (nj < NJ) return dot_tile_n<Cfg, R, NJ - 1>(nj, k, a, lda, bt, ldbt, alpha, beta, c, ldc);
  }
  dot_tile<Cfg, R, NJ>(k, a, lda, bt, ldbt, alpha, beta, c, ldc);
}

template <class Cfg, class T>
void gemm_dot(bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
              const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const T* bt = b;
  int64_t ldbt = ldb;
  if (!tb && n == 1 && ldb == 1) {
    ldbt = k;  // a contiguous column is already Bᵀ (1 × k): matrix-vector product, no copy
  } else if (!tb) {  // Bᵀ (n × k) from B (k × n): n·k values, small next to A (m × k)
    T* buf = GemmBuffers<Cfg>::local().b.get(size_t(n * k));
    for (int64_t p = 0; p < k; ++p)
      for (int64_t j = 0; j < n; ++j) buf[j * k + p] = b[p * ldb + j];
    bt = buf;
    ldbt = k;
  }
  constexpr int J = Cfg::DOT_J;
  if constexpr (Cfg::DOT_ROWS_OUTER) {
    if (n == 1)  // matrix-vector: dot_columns' 8-row tiles
      return dot_group<Cfg, J>(1, m, k, a, lda, bt, ldbt, alpha, beta, c, ldc);
    constexpr int R = Cfg::DOT_R;
    auto rows = [&](int64_t i, auto rr) {
      constexpr int RR = decltype(rr)::value;
      for (int64_t j0 = 0; j0 < n; j0 += J)
        dot_tile_n<Cfg, RR, J>(std::min<int64_t>(J, n - j0), k, a + i * lda, lda, bt + j0 * ldbt,
                               ldbt, alpha, beta, c + i * ldc + j0, ldc);
    };
    const int64_t tiles = m / R;
    const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 19) / (2 * R * n * k));
    parallel_for(tiles, grain, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) rows(t * R, std::integral_constant<int, R>{});
    });
    for (int64_t i = tiles * R; i < m; ++i) rows(i, std::integral_constant<int, 1>{});
    return;
  }
  for (int64_t j0 = 0; j0 < n; j0 += J)
    dot_group<Cfg, J>(std::min<int64_t>(J, n - j0), m, k, a, lda, bt + j0 * ldbt, ldbt, alpha,
                      beta, c + j0, ldc);
}

// ---------------------------------------------------------------------------------------------
// Outer-product path (k == 1): C(i, j) = alpha·(op(A)(i, 0)·op(B)(0, j)) [+ beta·C(i, j)], e.g.
// the weight gradient gᵀ·x of a Linear layer at batch 1. Each C row is written front to back
// with full-width vector stores (no packing, no accumulator tiles), so the output streams
// through the cache hierarchy in address order. Same roundings as the direct path with k = 1
// (fma(x, y, 0) = x·y, then alpha·, then fma(beta, C, ·)).
// Rows [i0, i1) of the outer product; everything by value so the loop keeps it in registers.
template <class Cfg>
void outer_rows(int64_t i0, int64_t i1, int64_t n, typename Cfg::F::T alpha,
                const typename Cfg::F::T* __restrict a, int64_t as,
                const typename Cfg::F::T* __restrict b, typename Cfg::F::T beta,
                typename Cfg::F::T* __restrict c, int64_t ldc) {
  using F = typename Cfg::F;
  using V = typename F::V;
  using T = typename F::T;
  constexpr int W = F::W;
  const V va = F::set1(alpha), vb = F::set1(beta);
  const int64_t nv = n / W * W;
  const auto tm = F::tail(n - nv);
  for (int64_t i = i0; i < i1; ++i) {
    const V ai = F::set1(a[i * as]);
    T* __restrict crow = c + i * ldc;
    int64_t j = 0;
    if (beta == T(0)) {
      for (; j + 4 * W <= n; j += 4 * W) {
        const V r0 = F::mul(va, F::mul(ai, F::load(b + j)));
        const V r1 = F::mul(va, F::mul(ai, F::load(b + j + W)));
        const V r2 = F::mul(va, F::mul(ai, F::load(b + j + 2 * W)));
        const V r3 = F::mul(va, F::mul(ai, F::load(b + j + 3 * W)));
        F::store(crow + j, r0);
        F::store(crow + j + W, r1);
        F::store(crow + j + 2 * W, r2);
        F::store(crow + j + 3 * W, r3);
      }
      for (; j < nv; j += W) F::store(crow + j, F::mul(va, F::mul(ai, F::load(b + j))));
      if (nv < n) F::store(crow + nv, F::mul(va, F::mul(ai, F::load(b + nv, tm))), tm);
    } else {
      for (; j < nv; j += W)
        F::store(crow + j, F::fma(vb, F::load(crow + j), F::mul(va, F::mul(ai, F::load(b + j)))));
      if (nv < n)
        F::store(crow + nv,
                 F::fma(vb, F::load(crow + nv, tm), F::mul(va, F::mul(ai, F::load(b + nv, tm)))),
                 tm);
    }
  }
}

template <class Cfg, class T>
void gemm_outer(bool ta, bool tb, int64_t m, int64_t n, T alpha, const T* a, int64_t lda,
                const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  const int64_t as = ta ? 1 : lda;  // op(A)(i, 0) = a[i·as]
  if (tb && n > 1) {                 // op(B)(0, j) = b[j·ldb]: gather the row once
    T* bb = GemmBuffers<Cfg>::local().b.get(size_t(n));
    for (int64_t j = 0; j < n; ++j) bb[j] = b[j * ldb];
    b = bb;
  }
  const int64_t grain = std::max<int64_t>(1, (int64_t(1) << 17) / n);
  if (m <= grain) return outer_rows<Cfg>(0, m, n, alpha, a, as, b, beta, c, ldc);
  parallel_for(m, grain, [&](int64_t i0, int64_t i1) {
    outer_rows<Cfg>(i0, i1, n, alpha, a, as, b, beta, c, ldc);
  });
}

// The paths of gemm below. With `relu`, the packed path applies it tile by tile and says so
// (true); the others leave it to the caller.
template <class Cfg, class T>
bool gemm_paths(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a,
                int64_t lda, const T* b, int64_t ldb, T beta, T* c, int64_t ldc, bool relu) {
  if (k <= 0 || alpha == T(0)) {
    scale_c<Cfg>(m, n, beta, c, ldc);
    return false;
  }
  constexpr int W = Cfg::F::W;
  if (!ta && Cfg::dot_cols(n) && k >= 2 * W) {  // Note [dot path]
    gemm_dot<Cfg>(tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return false;
  }
  if (k == 1 && n >= W) {
    gemm_outer<Cfg>(ta, tb, m, n, alpha, a, lda, b, ldb, beta, c, ldc);
    return false;
  }
  // Packing pays when every packed element is reused often: skip it when n (the reuse count
  // of Ã) or k is small, or the whole product is tiny.
  // A single row (vector × matrix) streams op(B) once through the direct path; packing would
  // copy all of op(B) and fill one of MR rows of every micro-tile.
  // Few rows against a row-contiguous op(B) (e.g. the weight gradient gᵀ·X of a 10-class
  // layer) go direct too: packing would copy all of op(B) to reuse each element m times.
  const bool skinny = m == 1 || (!tb && m <= Cfg::DR2) || n <= 2 * W || k <= 16 ||
                      (ta && n <= 2 * W) || m * n * k <= 48 * 48 * 48;
  if (skinny) {
    gemm_direct<Cfg>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    return false;
  }
  const int nt = get_num_threads();
  const double flops = 2.0 * double(m) * double(n) * double(k);
  if (nt <= 1 || flops < 4e6) {
    gemm_packed<Cfg>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, relu);
    return true;
  }
  // Split the larger of m and n into one slab per thread (multiples of MR / NR so that only
  // the last slab has edge tiles); each slab is an independent GEMM with its own packing.
  constexpr int64_t MR = Cfg::MR, NR = Cfg::NV * W;
  const bool split_m = m >= n;
  const int64_t unit = split_m ? MR : NR, len = split_m ? m : n;
  const int64_t units = (len + unit - 1) / unit;
  const int64_t chunks = std::min<int64_t>(nt, units);
  parallel_for(chunks, 1, [&](int64_t c0, int64_t c1) {
    for (int64_t t = c0; t < c1; ++t) {
      const int64_t s0 = std::min(len, units * t / chunks * unit);
      const int64_t s1 = std::min(len, units * (t + 1) / chunks * unit);
      if (s1 <= s0) continue;
      if (split_m)
        gemm_packed<Cfg>(ta, tb, s1 - s0, n, k, alpha, ta ? a + s0 : a + s0 * lda, lda, b, ldb,
                         beta, c + s0 * ldc, ldc, relu);
      else
        gemm_packed<Cfg>(ta, tb, m, s1 - s0, k, alpha, a, lda, tb ? b + s0 * ldb : b + s0, ldb,
                         beta, c + s0, ldc, relu);
    }
  });
  return true;
}

// Entry point for the dispatch table; Relu: gemm_relu (Note [GEMM epilogue]).
template <class Cfg, class T, bool Relu = false>
void gemm(bool ta, bool tb, int64_t m, int64_t n, int64_t k, T alpha, const T* a, int64_t lda,
          const T* b, int64_t ldb, T beta, T* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  const bool done = gemm_paths<Cfg>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, Relu);
  if (Relu && !done) {  // (a contiguous C, e.g. the n × 1 column of a batch-1 layer, as one row)
    if (ldc == n)
      relu_block<Cfg>(1, m * n, c, m * n);
    else
      relu_block<Cfg>(m, n, c, ldc);
  }
}
