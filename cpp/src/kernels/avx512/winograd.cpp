// AVX-512 float32 3×3 convolution by Winograd's minimal filtering F(2×2, 3×3).
// Note [Winograd convolution]
// Each 2×2 block of outputs ("tile") of a 3×3, unit-stride, undilated convolution is
//   Y = Aᵀ [ Σ_c (G g_{o,c} Gᵀ) ⊙ (Bᵀ d_{c,tile} B) ] A
// with d the tile's 4×4 input patch, g the 3×3 kernel and
//   Bᵀ = [1 0 −1 0; 0 1 1 0; 0 −1 1 0; 0 1 0 −1], G = [1 0 0; ½ ½ ½; ½ −½ ½; 0 0 1],
//   Aᵀ = [1 1 1 0; 0 1 −1 −1].
// The sum over channels of the elementwise products is, for each of the 16 positions ξ of the
// 4×4 transformed tile, a GEMM: M_ξ[o, t] = Σ_c U_ξ[o, c] · V_ξ[c, t], with U the transformed
// weights (once per call) and V the transformed input tiles. 16 GEMMs of m × C × tiles do the
// work of one m × 9C × 4·tiles GEMM: 2.25× fewer multiplications. The transforms are additions
// (and the weights' halves), vectorised over 16 tiles of a tile row: the 4 input columns of 16
// consecutive tiles are the even and odd lanes of two pairs of loads, picked with VPERMT2PS.
// Tiles go in blocks of tile rows, so that V and M of a block stay in L2.
// The results differ from a direct convolution's by rounding only (a few ulps more: the
// transforms add and subtract before the products); the tests hold them to PyTorch at 1e-5.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"

#include <immintrin.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "kernels/parallel.h"
#include "kernels/table.h"

namespace tapegrad::kernels::avx512 {
namespace {

using V = __m512;

// Lanes [a, b) of 16, clipped.
inline __mmask16 lanes(int64_t a, int64_t b) {
  a = std::clamp<int64_t>(a, 0, 16);
  b = std::clamp<int64_t>(b, a, 16);
  return __mmask16(((1u << b) - 1u) & ~((1u << a) - 1u));
}

// U_ξ[o][c] for ξ = 4k + l: (G g Gᵀ)[k][l], u[(ξ·m + o)·cg + c].
void transform_weights(int64_t m, int64_t cg, const float* w, float* u) {
  for (int64_t o = 0; o < m; ++o)
    for (int64_t c = 0; c < cg; ++c) {
      const float* g = w + (o * cg + c) * 9;
      float t[4][3];  // G·g
      for (int j = 0; j < 3; ++j) {
        t[0][j] = g[j];
        t[1][j] = 0.5f * (g[j] + g[3 + j] + g[6 + j]);
        t[2][j] = 0.5f * (g[j] - g[3 + j] + g[6 + j]);
        t[3][j] = g[6 + j];
      }
      for (int k = 0; k < 4; ++k) {
        const float r[4] = {t[k][0], 0.5f * (t[k][0] + t[k][1] + t[k][2]),
                            0.5f * (t[k][0] - t[k][1] + t[k][2]), t[k][2]};
        for (int l = 0; l < 4; ++l) u[((4 * k + l) * m + o) * cg + c] = r[l];
      }
    }
}

// d0..d3: input columns 2t, 2t+1, 2t+2, 2t+3 for 16 tiles t of one input row (zeros outside
// the row and where `valid` is false), src[j] = x[row][j] for 0 <= j < w, base = 2·t0 − pw.
inline void row_columns(const float* src, int64_t w, int64_t base, bool valid, V d[4]) {
  if (!valid) {
    d[0] = d[1] = d[2] = d[3] = _mm512_setzero_ps();
    return;
  }
  const __m512i even =
      _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
  const __m512i odd =
      _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
  auto ld = [&](int64_t at) {  // x[row][at .. at+15], zero outside [0, w)
    return _mm512_maskz_loadu_ps(lanes(-at, w - at), src + at);
  };
  const V a0 = ld(base), a1 = ld(base + 16), b0 = ld(base + 2), b1 = ld(base + 18);
  d[0] = _mm512_permutex2var_ps(a0, even, a1);
  d[1] = _mm512_permutex2var_ps(a0, odd, a1);
  d[2] = _mm512_permutex2var_ps(b0, even, b1);
  d[3] = _mm512_permutex2var_ps(b0, odd, b1);
}

struct Geometry {
  int64_t h, w, oh, ow, ph, pw, tx, ty;  // tx, ty: tiles per row and per column
};

// V_ξ[c][t − t0] for the tiles of tile rows [ty0, ty1), ldv = tiles of the block.
void transform_input(const Geometry& G, int64_t cg, const float* x, int64_t ty0, int64_t ty1,
                     float* v, int64_t ldv, int64_t vxi) {
  const int64_t hw = G.h * G.w;
  // The input rows the block reads, [r0, r1) of each plane; a plane's few rows are too short a
  // run for the hardware prefetchers, so the plane two channels ahead is asked for here.
  const int64_t r0 = std::max<int64_t>(0, 2 * ty0 - G.ph);
  const int64_t r1 = std::min<int64_t>(G.h, 2 * ty1 - G.ph + 2);
  for (int64_t c = 0; c < cg; ++c) {
    const float* plane = x + c * hw;
    if (c + 2 < cg)
      for (int64_t e = r0 * G.w; e < r1 * G.w; e += 16)
        __builtin_prefetch(plane + 2 * hw + e, 0, 3);
    for (int64_t ty = ty0; ty < ty1; ++ty)
      for (int64_t t0 = 0; t0 < G.tx; t0 += 16) {
        const int64_t base = 2 * t0 - G.pw;
        V d[4][4];  // d[i][j]: input row 2ty − ph + i, column 2t + j − pw
        for (int i = 0; i < 4; ++i) {
          const int64_t r = 2 * ty - G.ph + i;
          const bool valid = r >= 0 && r < G.h;
          row_columns(plane + (valid ? r : 0) * G.w, G.w, base, valid, d[i]);
        }
        V e[4][4];  // Bᵀ d: along the rows
        for (int j = 0; j < 4; ++j) {
          e[0][j] = _mm512_sub_ps(d[0][j], d[2][j]);
          e[1][j] = _mm512_add_ps(d[1][j], d[2][j]);
          e[2][j] = _mm512_sub_ps(d[2][j], d[1][j]);
          e[3][j] = _mm512_sub_ps(d[1][j], d[3][j]);
        }
        const __mmask16 live = lanes(0, G.tx - t0);
        float* out = v + c * ldv + (ty - ty0) * G.tx + t0;
        for (int k = 0; k < 4; ++k) {  // (Bᵀ d) B: along the columns
          const V f[4] = {_mm512_sub_ps(e[k][0], e[k][2]), _mm512_add_ps(e[k][1], e[k][2]),
                          _mm512_sub_ps(e[k][2], e[k][1]), _mm512_sub_ps(e[k][1], e[k][3])};
          for (int l = 0; l < 4; ++l)
            _mm512_mask_storeu_ps(out + (4 * k + l) * vxi, live, f[l]);
        }
      }
  }
}

// Y[o][2ty + i][2t + j] (= or +=) (Aᵀ M A)[i][j] for the block's tiles.
void transform_output(const Geometry& G, int64_t m, const float* mm, int64_t ldm, int64_t mxi,
                      int64_t ty0, int64_t ty1, bool accumulate, float* y) {
  const int64_t p = G.oh * G.ow;
  const __m512i lo =
      _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23);
  const __m512i hi =
      _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31);
  for (int64_t o = 0; o < m; ++o)
    for (int64_t ty = ty0; ty < ty1; ++ty)
      for (int64_t t0 = 0; t0 < G.tx; t0 += 16) {
        const float* src = mm + o * ldm + (ty - ty0) * G.tx + t0;
        const __mmask16 live = lanes(0, G.tx - t0);
        V r[4][2];  // M A: along the columns
        for (int k = 0; k < 4; ++k) {
          const V m0 = _mm512_maskz_loadu_ps(live, src + (4 * k + 0) * mxi);
          const V m1 = _mm512_maskz_loadu_ps(live, src + (4 * k + 1) * mxi);
          const V m2 = _mm512_maskz_loadu_ps(live, src + (4 * k + 2) * mxi);
          const V m3 = _mm512_maskz_loadu_ps(live, src + (4 * k + 3) * mxi);
          r[k][0] = _mm512_add_ps(_mm512_add_ps(m0, m1), m2);
          r[k][1] = _mm512_sub_ps(_mm512_sub_ps(m1, m2), m3);
        }
        for (int i = 0; i < 2; ++i) {  // Aᵀ (M A): along the rows
          const int64_t oy = 2 * ty + i;
          if (oy >= G.oh) break;
          V q[2];
          for (int j = 0; j < 2; ++j)
            q[j] = i == 0 ? _mm512_add_ps(_mm512_add_ps(r[0][j], r[1][j]), r[2][j])
                          : _mm512_sub_ps(_mm512_sub_ps(r[1][j], r[2][j]), r[3][j]);
          // Columns 2t (q[0]) and 2t + 1 (q[1]) interleaved: 32 outputs from column 2·t0.
          const V v0 = _mm512_permutex2var_ps(q[0], lo, q[1]);
          const V v1 = _mm512_permutex2var_ps(q[0], hi, q[1]);
          float* dst = y + o * p + oy * G.ow + 2 * t0;
          const int64_t n = G.ow - 2 * t0;
          const __mmask16 k0 = lanes(0, n), k1 = lanes(0, n - 16);
          if (accumulate) {
            _mm512_mask_storeu_ps(dst, k0, _mm512_add_ps(_mm512_maskz_loadu_ps(k0, dst), v0));
            _mm512_mask_storeu_ps(dst + 16, k1,
                                  _mm512_add_ps(_mm512_maskz_loadu_ps(k1, dst + 16), v1));
          } else {
            _mm512_mask_storeu_ps(dst, k0, v0);
            _mm512_mask_storeu_ps(dst + 16, k1, v1);
          }
        }
      }
}

// Y_b[m × P] = conv3×3(x_b) (+ Y_b when beta == 1) for `images` images, as conv_gemm.
void winograd_f32(const ConvShape& g, int64_t cg, int64_t m, const float* w, const float* x,
                  int64_t xs, float beta, float* y, int64_t ys, int64_t images) {
  Geometry G{g.h, g.w, g.oh, g.ow, g.pad_h, g.pad_w, (g.ow + 1) / 2, (g.oh + 1) / 2};
  std::vector<float> u(size_t(16 * m * cg));
  transform_weights(m, cg, w, u.data());
  // Tile rows per block: V (16·cg) and M (16·m) values per tile within about 512 KiB.
  const int64_t per_row = 16 * (cg + m) * G.tx * int64_t(sizeof(float));
  const int64_t rows =
      std::clamp<int64_t>((int64_t(1) << 19) / std::max<int64_t>(per_row, 1), 1, G.ty);
  const int64_t blocks = (G.ty + rows - 1) / rows;
  auto body = [&](int64_t u0, int64_t u1) {
    // ξ's arrays one cache line more apart than their size: 16 arrays of 2^k lines would all
    // start in the same L1 set, and the transforms touch all 16 at once.
    const int64_t vxi = cg * rows * G.tx + 16, mxi = m * rows * G.tx + 16;
    std::vector<float> vb(size_t(16 * vxi)), mb(size_t(16 * mxi));
    for (int64_t unit = u0; unit < u1; ++unit) {
      const int64_t b = unit / blocks, ty0 = (unit % blocks) * rows;
      const int64_t ty1 = std::min(G.ty, ty0 + rows), n = (ty1 - ty0) * G.tx;
      transform_input(G, cg, x + b * xs, ty0, ty1, vb.data(), n, vxi);
      for (int xi = 0; xi < 16; ++xi)
        gemm_f32(false, false, m, n, cg, 1.0f, u.data() + xi * m * cg, cg,
                 vb.data() + xi * vxi, n, 0.0f, mb.data() + xi * mxi, n);
      transform_output(G, m, mb.data(), n, mxi, ty0, ty1, beta != 0.0f, y + b * ys);
    }
  };
  const int64_t units = images * blocks;
  if (get_num_threads() <= 1 || units <= 1)
    body(0, units);
  else
    parallel_for(units, 1, body);
}

}  // namespace

void fill_winograd(KernelTable& t) { t.winograd_f32 = &winograd_f32; }

}  // namespace tapegrad::kernels::avx512
