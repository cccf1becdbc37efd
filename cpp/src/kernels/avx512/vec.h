// AVX-512 vector traits for the shared SIMD sources (kernels/simd/*-inl.h).
// Included only by translation units in this directory (compiled with -mavx512f/bw/dq/vl);
// everything here lives in tapegrad::kernels::avx512 (Note [per-ISA translation units]).
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace tapegrad::kernels::avx512 {

inline constexpr const char* kIsaName = "avx512";

// Note [tail stores]
// On the Intel Xeon these kernels were measured on (family 6 model 207), a masked store does
// not forward its data to a later load: the load waits until the store has left the store
// buffer, and a masked load does not take data from a narrower plain store either. A
// dependent loop of an 8-lane masked store and an 8-lane masked load ran at 8.0–8.3 ns per
// iteration against 3.2–3.5 ns for a ymm store and load (1 lane: 8.1 vs 3.4–3.6 ns for movss).
// Tiny tensors are all tail (8 floats: no full vector), and each op reads what the one before
// it has just written, so the 8-point step as a learner writes it paid that on almost every
// op. So the elementwise and optimizer-update kernels load and store a tail of 8, 4, 2 or 1
// lanes (4, 2, 1 for doubles) as a whole narrower vector or scalar (load_tail, store_tail);
// both sides use the same width for the same count, so the store forwards to the next op's
// load. The lanes read and written are the mask's: the same bits, and no access past the
// tail. Other counts stay masked, and so do the masked loads inside loops (the implicit
// convolution's image rows, im2col's rows, the GEMM's edge columns), which would pay the
// count's compares on every step. Measured on the compiled learner's step, 8 interleaved runs
// each: median 3.91 → 3.37 µs. (AMD cores: not measured.)

// Every trait struct has the same interface; the shared kernels are written against it.
struct F32 {
  using T = float;
  using V = __m512;
  using M = __mmask16;
  using TM = __mmask16;  // tail mask (first n lanes)
  static constexpr int W = 16;
  // 32-entry register tables (Note [tanh/sigmoid lookup tables]): lut_index<S>(a) is the bits
  // of a >> S, lut32 picks t[idx mod 32] per lane (VPERMT2PS reads the low 5 index bits).
  static constexpr bool kLut32 = true;
  using I = __m512i;
  template <int S>
  static I lut_index(V a) { return _mm512_srli_epi32(_mm512_castps_si512(a), S); }
  static V lut32(const T* t, I idx) {
    return _mm512_permutex2var_ps(_mm512_load_ps(t), idx, _mm512_load_ps(t + 16));
  }
  static V zero() { return _mm512_setzero_ps(); }
  static V set1(T x) { return _mm512_set1_ps(x); }
  static V load(const T* p) { return _mm512_loadu_ps(p); }
  static void store(T* p, V v) { _mm512_storeu_ps(p, v); }
  static TM tail(int64_t n) { return TM((1u << n) - 1u); }  // first n lanes, n <= W
  static V load(const T* p, TM m) { return _mm512_maskz_loadu_ps(m, p); }
  static void store(T* p, V v, TM m) { _mm512_mask_storeu_ps(p, m, v); }
  // An elementwise op's tail: 8, 4, 2 or 1 lanes move as a whole narrower vector (Note [tail
  // stores]).
  static V load_tail(const T* p, TM m) {
    switch (m) {
      case 0xFF: return _mm512_zextps256_ps512(_mm256_loadu_ps(p));
      case 0xF: return _mm512_zextps128_ps512(_mm_loadu_ps(p));
      case 0x3: {  // two floats as one 64-bit integer load (no aliasing cast of p)
        const __m128i two = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
        return _mm512_zextps128_ps512(_mm_castsi128_ps(two));
      }
      case 0x1: return _mm512_zextps128_ps512(_mm_load_ss(p));
      default: return _mm512_maskz_loadu_ps(m, p);
    }
  }
  static void store_tail(T* p, V v, TM m) {
    switch (m) {
      case 0xFF: return _mm256_storeu_ps(p, _mm512_castps512_ps256(v));
      case 0xF: return _mm_storeu_ps(p, _mm512_castps512_ps128(v));
      case 0x3:
        return _mm_storel_epi64(reinterpret_cast<__m128i*>(p),
                                _mm_castps_si128(_mm512_castps512_ps128(v)));
      case 0x1: return _mm_store_ss(p, _mm512_castps512_ps128(v));
      default: _mm512_mask_storeu_ps(p, m, v);
    }
  }
  static V load_or(const T* p, TM m, V fill) { return _mm512_mask_loadu_ps(fill, m, p); }
  // In-place transpose of a W × W block held as W row vectors (GEMM packing): 128-bit-lane
  // unpacks pair rows, then two rounds of 128-bit-lane shuffles gather each column.
  static void transpose(V* r) {
    V t[16], u[16];
    for (int i = 0; i < 16; i += 2) {
      t[i] = _mm512_unpacklo_ps(r[i], r[i + 1]);  // per lane: a0 b0 a1 b1
      t[i + 1] = _mm512_unpackhi_ps(r[i], r[i + 1]);  // a2 b2 a3 b3
    }
    for (int g = 0; g < 16; g += 4) {  // u[g + c], lane l: column 4l + c of rows g..g+3
      const __m512d t0 = _mm512_castps_pd(t[g]), t1 = _mm512_castps_pd(t[g + 1]);
      const __m512d t2 = _mm512_castps_pd(t[g + 2]), t3 = _mm512_castps_pd(t[g + 3]);
      u[g] = _mm512_castpd_ps(_mm512_unpacklo_pd(t0, t2));
      u[g + 1] = _mm512_castpd_ps(_mm512_unpackhi_pd(t0, t2));
      u[g + 2] = _mm512_castpd_ps(_mm512_unpacklo_pd(t1, t3));
      u[g + 3] = _mm512_castpd_ps(_mm512_unpackhi_pd(t1, t3));
    }
    for (int c = 0; c < 4; ++c) {  // column 4l + c = lane l of u[c], u[4+c], u[8+c], u[12+c]
      const V va = _mm512_shuffle_f32x4(u[c], u[4 + c], 0x44);
      const V vb = _mm512_shuffle_f32x4(u[c], u[4 + c], 0xee);
      const V wa = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0x44);
      const V wb = _mm512_shuffle_f32x4(u[8 + c], u[12 + c], 0xee);
      r[c] = _mm512_shuffle_f32x4(va, wa, 0x88);
      r[4 + c] = _mm512_shuffle_f32x4(va, wa, 0xdd);
      r[8 + c] = _mm512_shuffle_f32x4(vb, wb, 0x88);
      r[12 + c] = _mm512_shuffle_f32x4(vb, wb, 0xdd);
    }
  }
  static V bcast(const T* p) { return _mm512_set1_ps(*p); }
  static V add(V a, V b) { return _mm512_add_ps(a, b); }
  static V sub(V a, V b) { return _mm512_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm512_mul_ps(a, b); }
  static V div(V a, V b) { return _mm512_div_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }   // a*b + c
  static V fnma(V a, V b, V c) { return _mm512_fnmadd_ps(a, b, c); }  // c - a*b
  static V max(V a, V b) { return _mm512_max_ps(a, b); }  // b if either is NaN
  static V min(V a, V b) { return _mm512_min_ps(a, b); }
  static V sqrt(V a) { return _mm512_sqrt_ps(a); }
  // 1/a to about 2^-28 relative (VRCP14PS + one Newton step): cheaper than VDIVPS; used where
  // the math functions' error budget allows it (Note [float32 math accuracy]).
  static V recip(V a) {
    const V r = _mm512_rcp14_ps(a);
    return _mm512_fmadd_ps(r, _mm512_fnmadd_ps(a, r, _mm512_set1_ps(1.0f)), r);
  }
  static V abs(V a) { return _mm512_abs_ps(a); }
  static V neg(V a) { return _mm512_castsi512_ps(_mm512_xor_si512(_mm512_castps_si512(a), _mm512_set1_epi32(int(0x80000000u)))); }
  static V round(V a) { return _mm512_roundscale_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static M lt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LT_OQ); }
  static M le(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ); }
  static M gt(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_GT_OQ); }
  static M eq(V a, V b) { return _mm512_cmp_ps_mask(a, b, _CMP_EQ_OQ); }
  static M isnan(V a) { return _mm512_cmp_ps_mask(a, a, _CMP_UNORD_Q); }
  static M mor(M a, M b) { return M(a | b); }
  static M mand(M a, M b) { return M(a & b); }
  static bool all(M m) { return M(~m) == 0; }
  static bool any(M m) { return m != 0; }
  static V select(M m, V t, V f) { return _mm512_mask_blend_ps(m, f, t); }  // m ? t : f
  static V copysign(V mag, V sgn) {
    const __m512i s = _mm512_set1_epi32(int(0x80000000u));
    return _mm512_castsi512_ps(_mm512_ternarylogic_epi32(s, _mm512_castps_si512(sgn), _mm512_castps_si512(mag), 0xca));  // s ? sgn : mag
  }
  // x · 2^n for integral-valued n, with one rounding into the subnormal range and ±inf on
  // overflow (VSCALEFPS does exactly that).
  static V scale2(V x, V n) { return _mm512_scalef_ps(x, n); }
  // x = m · 2^e with m in [1, 2) for finite x > 0 (subnormals included); e as a float.
  static void frexp12(V x, V& m, V& e) {
    m = _mm512_getmant_ps(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
    e = _mm512_getexp_ps(x);
  }
  static T hsum(V v) { return _mm512_reduce_add_ps(v); }
  // out[i] = hsum(v[i]) for 16 vectors, to the bit: hsum adds lane l to lane l + 8, then
  // l + 4, then l + 2, then l + 1; here each of those four levels runs on two vectors at a
  // time (two shuffles and one add per pair) instead of on each vector alone (two
  // cross-lane moves and two shuffles per vector), 30 shuffles in all instead of 64.
  static void hsum16(const V* v, T* out) {
    V a[8], b[4], c[2];
    for (int i = 0; i < 8; ++i)  // 128-bit blocks: [v0 lo+hi 256, v1 lo+hi 256]
      a[i] = _mm512_add_ps(_mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0x44),
                           _mm512_shuffle_f32x4(v[2 * i], v[2 * i + 1], 0xee));
    for (int i = 0; i < 4; ++i)  // block j: vector 4i + j's four partial sums
      b[i] = _mm512_add_ps(_mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0x88),
                           _mm512_shuffle_f32x4(a[2 * i], a[2 * i + 1], 0xdd));
    for (int i = 0; i < 2; ++i)  // block j: two sums of vector j + 8i, two of j + 8i + 4
      c[i] = _mm512_add_ps(_mm512_shuffle_ps(b[2 * i], b[2 * i + 1], 0x44),
                           _mm512_shuffle_ps(b[2 * i], b[2 * i + 1], 0xee));
    // block j: the totals of vectors j, j + 4, j + 8, j + 12
    const V d = _mm512_add_ps(_mm512_shuffle_ps(c[0], c[1], 0x88),
                              _mm512_shuffle_ps(c[0], c[1], 0xdd));
    alignas(64) T t[16];
    _mm512_store_ps(t, d);
    for (int j = 0; j < 4; ++j)
      for (int q = 0; q < 4; ++q) out[j + 4 * q] = t[4 * j + q];
  }
  static T hmax(V v) { return _mm512_reduce_max_ps(v); }
  static T hmin(V v) { return _mm512_reduce_min_ps(v); }
};

struct F64 {
  using T = double;
  using V = __m512d;
  using M = __mmask8;
  using TM = __mmask8;
  static constexpr int W = 8;
  static V zero() { return _mm512_setzero_pd(); }
  static V set1(T x) { return _mm512_set1_pd(x); }
  static V load(const T* p) { return _mm512_loadu_pd(p); }
  static void store(T* p, V v) { _mm512_storeu_pd(p, v); }
  static TM tail(int64_t n) { return TM((1u << n) - 1u); }
  static V load(const T* p, TM m) { return _mm512_maskz_loadu_pd(m, p); }
  static void store(T* p, V v, TM m) { _mm512_mask_storeu_pd(p, m, v); }
  static V load_tail(const T* p, TM m) {  // (Note [tail stores])
    switch (m) {
      case 0xF: return _mm512_zextpd256_pd512(_mm256_loadu_pd(p));
      case 0x3: return _mm512_zextpd128_pd512(_mm_loadu_pd(p));
      case 0x1: return _mm512_zextpd128_pd512(_mm_load_sd(p));
      default: return _mm512_maskz_loadu_pd(m, p);
    }
  }
  static void store_tail(T* p, V v, TM m) {
    switch (m) {
      case 0xF: return _mm256_storeu_pd(p, _mm512_castpd512_pd256(v));
      case 0x3: return _mm_storeu_pd(p, _mm512_castpd512_pd128(v));
      case 0x1: return _mm_store_sd(p, _mm512_castpd512_pd128(v));
      default: _mm512_mask_storeu_pd(p, m, v);
    }
  }
  static V load_or(const T* p, TM m, V fill) { return _mm512_mask_loadu_pd(fill, m, p); }
  // In-place 8 × 8 transpose (see F32::transpose).
  static void transpose(V* r) {
    V t[8];
    for (int i = 0; i < 8; i += 2) {  // t[2g + c], lane l: column 2l + c of rows 2g, 2g+1
      t[i] = _mm512_unpacklo_pd(r[i], r[i + 1]);
      t[i + 1] = _mm512_unpackhi_pd(r[i], r[i + 1]);
    }
    for (int c = 0; c < 2; ++c) {  // column 2l + c = lane l of t[c], t[2+c], t[4+c], t[6+c]
      const V va = _mm512_shuffle_f64x2(t[c], t[2 + c], 0x44);
      const V vb = _mm512_shuffle_f64x2(t[c], t[2 + c], 0xee);
      const V wa = _mm512_shuffle_f64x2(t[4 + c], t[6 + c], 0x44);
      const V wb = _mm512_shuffle_f64x2(t[4 + c], t[6 + c], 0xee);
      r[c] = _mm512_shuffle_f64x2(va, wa, 0x88);
      r[2 + c] = _mm512_shuffle_f64x2(va, wa, 0xdd);
      r[4 + c] = _mm512_shuffle_f64x2(vb, wb, 0x88);
      r[6 + c] = _mm512_shuffle_f64x2(vb, wb, 0xdd);
    }
  }
  static V bcast(const T* p) { return _mm512_set1_pd(*p); }
  static V add(V a, V b) { return _mm512_add_pd(a, b); }
  static V sub(V a, V b) { return _mm512_sub_pd(a, b); }
  static V mul(V a, V b) { return _mm512_mul_pd(a, b); }
  static V div(V a, V b) { return _mm512_div_pd(a, b); }
  static V fma(V a, V b, V c) { return _mm512_fmadd_pd(a, b, c); }
  static V fnma(V a, V b, V c) { return _mm512_fnmadd_pd(a, b, c); }
  static V max(V a, V b) { return _mm512_max_pd(a, b); }
  static V min(V a, V b) { return _mm512_min_pd(a, b); }
  static V sqrt(V a) { return _mm512_sqrt_pd(a); }
  static V recip(V a) { return _mm512_div_pd(_mm512_set1_pd(1.0), a); }
  static V abs(V a) { return _mm512_abs_pd(a); }
  static V neg(V a) { return _mm512_castsi512_pd(_mm512_xor_si512(_mm512_castpd_si512(a), _mm512_set1_epi64(int64_t(0x8000000000000000ull)))); }
  static V round(V a) { return _mm512_roundscale_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static M lt(V a, V b) { return _mm512_cmp_pd_mask(a, b, _CMP_LT_OQ); }
  static M le(V a, V b) { return _mm512_cmp_pd_mask(a, b, _CMP_LE_OQ); }
  static M gt(V a, V b) { return _mm512_cmp_pd_mask(a, b, _CMP_GT_OQ); }
  static M eq(V a, V b) { return _mm512_cmp_pd_mask(a, b, _CMP_EQ_OQ); }
  static M isnan(V a) { return _mm512_cmp_pd_mask(a, a, _CMP_UNORD_Q); }
  static M mor(M a, M b) { return M(a | b); }
  static M mand(M a, M b) { return M(a & b); }
  static bool all(M m) { return M(~m) == 0; }
  static bool any(M m) { return m != 0; }
  static V select(M m, V t, V f) { return _mm512_mask_blend_pd(m, f, t); }
  static V copysign(V mag, V sgn) {
    const __m512i s = _mm512_set1_epi64(int64_t(0x8000000000000000ull));
    return _mm512_castsi512_pd(_mm512_ternarylogic_epi64(s, _mm512_castpd_si512(sgn), _mm512_castpd_si512(mag), 0xca));  // s ? sgn : mag
  }
  static V scale2(V x, V n) { return _mm512_scalef_pd(x, n); }
  static void frexp12(V x, V& m, V& e) {
    m = _mm512_getmant_pd(x, _MM_MANT_NORM_1_2, _MM_MANT_SIGN_zero);
    e = _mm512_getexp_pd(x);
  }
  static T hsum(V v) { return _mm512_reduce_add_pd(v); }
  static T hmax(V v) { return _mm512_reduce_max_pd(v); }
  static T hmin(V v) { return _mm512_reduce_min_pd(v); }
};

}  // namespace tapegrad::kernels::avx512
