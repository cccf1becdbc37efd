// AVX2+FMA vector traits for the shared SIMD sources (kernels/simd/*-inl.h).
// Included only by translation units in this directory (compiled with -mavx2 -mfma); everything
// here lives in tapegrad::kernels::avx2 (Note [per-ISA translation units]). Same interface as
// avx512/vec.h.
#pragma once

#include <immintrin.h>

#include <cstdint>

namespace tapegrad::kernels::avx2 {

inline constexpr const char* kIsaName = "avx2";

struct F32 {
  using T = float;
  using V = __m256;
  using M = __m256;    // comparison result: all-ones lanes
  using TM = __m256i;  // tail mask for maskload/maskstore
  static constexpr int W = 8;
  static constexpr bool kLut32 = false;  // tanh/sigmoid take the exp-based path
  static V zero() { return _mm256_setzero_ps(); }
  static V set1(T x) { return _mm256_set1_ps(x); }
  static V load(const T* p) { return _mm256_loadu_ps(p); }
  static void store(T* p, V v) { _mm256_storeu_ps(p, v); }
  static TM tail(int64_t n) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(n)), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
  }
  static V load(const T* p, TM m) { return _mm256_maskload_ps(p, m); }
  static V load_or(const T* p, TM m, V fill) { return _mm256_blendv_ps(fill, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m)); }
  static void store(T* p, V v, TM m) { _mm256_maskstore_ps(p, m, v); }
  // An elementwise op's tail (Note [tail stores] in avx512/vec.h): masked as any other here.
  static V load_tail(const T* p, TM m) { return load(p, m); }
  static void store_tail(T* p, V v, TM m) { store(p, v, m); }
  // In-place 8 × 8 transpose of 8 row vectors (GEMM packing).
  static void transpose(V* r) {
    V t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
      t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
      t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
    }
    for (int g = 0; g < 8; g += 4) {  // u[g + c], lane l: column 4l + c of rows g..g+3
      const __m256d t0 = _mm256_castps_pd(t[g]), t1 = _mm256_castps_pd(t[g + 1]);
      const __m256d t2 = _mm256_castps_pd(t[g + 2]), t3 = _mm256_castps_pd(t[g + 3]);
      u[g] = _mm256_castpd_ps(_mm256_unpacklo_pd(t0, t2));
      u[g + 1] = _mm256_castpd_ps(_mm256_unpackhi_pd(t0, t2));
      u[g + 2] = _mm256_castpd_ps(_mm256_unpacklo_pd(t1, t3));
      u[g + 3] = _mm256_castpd_ps(_mm256_unpackhi_pd(t1, t3));
    }
    for (int c = 0; c < 4; ++c) {
      r[c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x20);
      r[4 + c] = _mm256_permute2f128_ps(u[c], u[4 + c], 0x31);
    }
  }
  static V bcast(const T* p) { return _mm256_broadcast_ss(p); }
  static V add(V a, V b) { return _mm256_add_ps(a, b); }
  static V sub(V a, V b) { return _mm256_sub_ps(a, b); }
  static V mul(V a, V b) { return _mm256_mul_ps(a, b); }
  static V div(V a, V b) { return _mm256_div_ps(a, b); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V fnma(V a, V b, V c) { return _mm256_fnmadd_ps(a, b, c); }
  static V max(V a, V b) { return _mm256_max_ps(a, b); }  // b if either is NaN
  static V min(V a, V b) { return _mm256_min_ps(a, b); }
  static V sqrt(V a) { return _mm256_sqrt_ps(a); }
  // VRCPPS has only 12 bits; a true division keeps the math functions within their bounds.
  static V recip(V a) { return _mm256_div_ps(_mm256_set1_ps(1.0f), a); }
  static V abs(V a) { return _mm256_andnot_ps(_mm256_set1_ps(-0.0f), a); }
  static V neg(V a) { return _mm256_xor_ps(_mm256_set1_ps(-0.0f), a); }
  static V round(V a) { return _mm256_round_ps(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static M lt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LT_OQ); }
  static M le(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_LE_OQ); }
  static M gt(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_GT_OQ); }
  static M eq(V a, V b) { return _mm256_cmp_ps(a, b, _CMP_EQ_OQ); }
  static M isnan(V a) { return _mm256_cmp_ps(a, a, _CMP_UNORD_Q); }
  static M mor(M a, M b) { return _mm256_or_ps(a, b); }
  static M mand(M a, M b) { return _mm256_and_ps(a, b); }
  static bool any(M m) { return _mm256_movemask_ps(m) != 0; }
  static bool all(M m) { return _mm256_movemask_ps(m) == 0xff; }
  static V select(M m, V t, V f) { return _mm256_blendv_ps(f, t, m); }
  static V copysign(V mag, V sgn) {
    const V s = _mm256_set1_ps(-0.0f);
    return _mm256_or_ps(_mm256_and_ps(s, sgn), _mm256_andnot_ps(s, mag));
  }
  // x · 2^n for integral-valued n in [-300, 300]: two exact power-of-two factors so that the
  // only rounding happens in the last multiply (subnormal results rounded once, ±inf on
  // overflow).
  static V scale2(V x, V n) {
    const __m256i ni = _mm256_cvtps_epi32(n);
    const __m256i n1 = _mm256_srai_epi32(ni, 1);
    const __m256i n2 = _mm256_sub_epi32(ni, n1);
    const __m256i bias = _mm256_set1_epi32(127);
    const V s1 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n1, bias), 23));
    const V s2 = _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(n2, bias), 23));
    return _mm256_mul_ps(_mm256_mul_ps(x, s1), s2);
  }
  // x = m · 2^e with m in [1, 2) for finite x > 0 (subnormals included); e as a float.
  static void frexp12(V x, V& m, V& e) {
    const V sub = _mm256_cmp_ps(x, _mm256_set1_ps(1.17549435e-38f), _CMP_LT_OQ);
    x = _mm256_blendv_ps(x, _mm256_mul_ps(x, _mm256_set1_ps(8388608.0f)), sub);  // · 2^23
    const __m256i bits = _mm256_castps_si256(x);
    const __m256i eb = _mm256_srli_epi32(bits, 23);  // sign is 0 for x > 0
    e = _mm256_sub_ps(_mm256_cvtepi32_ps(eb), _mm256_blendv_ps(_mm256_set1_ps(127.0f), _mm256_set1_ps(150.0f), sub));
    m = _mm256_castsi256_ps(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi32(0x7fffff)),
                                            _mm256_set1_epi32(0x3f800000)));
  }
  static T hsum(V v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static T hmax(V v) {
    __m128 s = _mm_max_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_max_ps(s, _mm_movehl_ps(s, s));
    s = _mm_max_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
  static T hmin(V v) {
    __m128 s = _mm_min_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_min_ps(s, _mm_movehl_ps(s, s));
    s = _mm_min_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

struct F64 {
  using T = double;
  using V = __m256d;
  using M = __m256d;
  using TM = __m256i;
  static constexpr int W = 4;
  static V zero() { return _mm256_setzero_pd(); }
  static V set1(T x) { return _mm256_set1_pd(x); }
  static V load(const T* p) { return _mm256_loadu_pd(p); }
  static void store(T* p, V v) { _mm256_storeu_pd(p, v); }
  static TM tail(int64_t n) {
    return _mm256_cmpgt_epi64(_mm256_set1_epi64x(n), _mm256_setr_epi64x(0, 1, 2, 3));
  }
  static V load(const T* p, TM m) { return _mm256_maskload_pd(p, m); }
  static V load_or(const T* p, TM m, V fill) { return _mm256_blendv_pd(fill, _mm256_maskload_pd(p, m), _mm256_castsi256_pd(m)); }
  static void store(T* p, V v, TM m) { _mm256_maskstore_pd(p, m, v); }
  static V load_tail(const T* p, TM m) { return load(p, m); }
  static void store_tail(T* p, V v, TM m) { store(p, v, m); }
  // In-place 4 × 4 transpose.
  static void transpose(V* r) {
    const V t0 = _mm256_unpacklo_pd(r[0], r[1]), t1 = _mm256_unpackhi_pd(r[0], r[1]);
    const V t2 = _mm256_unpacklo_pd(r[2], r[3]), t3 = _mm256_unpackhi_pd(r[2], r[3]);
    r[0] = _mm256_permute2f128_pd(t0, t2, 0x20);
    r[1] = _mm256_permute2f128_pd(t1, t3, 0x20);
    r[2] = _mm256_permute2f128_pd(t0, t2, 0x31);
    r[3] = _mm256_permute2f128_pd(t1, t3, 0x31);
  }
  static V bcast(const T* p) { return _mm256_broadcast_sd(p); }
  static V add(V a, V b) { return _mm256_add_pd(a, b); }
  static V sub(V a, V b) { return _mm256_sub_pd(a, b); }
  static V mul(V a, V b) { return _mm256_mul_pd(a, b); }
  static V div(V a, V b) { return _mm256_div_pd(a, b); }
  static V fma(V a, V b, V c) { return _mm256_fmadd_pd(a, b, c); }
  static V fnma(V a, V b, V c) { return _mm256_fnmadd_pd(a, b, c); }
  static V max(V a, V b) { return _mm256_max_pd(a, b); }
  static V min(V a, V b) { return _mm256_min_pd(a, b); }
  static V sqrt(V a) { return _mm256_sqrt_pd(a); }
  static V recip(V a) { return _mm256_div_pd(_mm256_set1_pd(1.0), a); }
  static V abs(V a) { return _mm256_andnot_pd(_mm256_set1_pd(-0.0), a); }
  static V neg(V a) { return _mm256_xor_pd(_mm256_set1_pd(-0.0), a); }
  static V round(V a) { return _mm256_round_pd(a, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC); }
  static M lt(V a, V b) { return _mm256_cmp_pd(a, b, _CMP_LT_OQ); }
  static M le(V a, V b) { return _mm256_cmp_pd(a, b, _CMP_LE_OQ); }
  static M gt(V a, V b) { return _mm256_cmp_pd(a, b, _CMP_GT_OQ); }
  static M eq(V a, V b) { return _mm256_cmp_pd(a, b, _CMP_EQ_OQ); }
  static M isnan(V a) { return _mm256_cmp_pd(a, a, _CMP_UNORD_Q); }
  static M mor(M a, M b) { return _mm256_or_pd(a, b); }
  static M mand(M a, M b) { return _mm256_and_pd(a, b); }
  static bool any(M m) { return _mm256_movemask_pd(m) != 0; }
  static bool all(M m) { return _mm256_movemask_pd(m) == 0xf; }
  static V select(M m, V t, V f) { return _mm256_blendv_pd(f, t, m); }
  static V copysign(V mag, V sgn) {
    const V s = _mm256_set1_pd(-0.0);
    return _mm256_or_pd(_mm256_and_pd(s, sgn), _mm256_andnot_pd(s, mag));
  }
  // Biased exponent k+1023 (k integral-valued, |k| < 2^51) as the bit pattern of 2^k: adding
  // 1.5·2^52 puts k in the low mantissa bits, the shift moves them into the exponent field.
  static __m256i pow2_bits(V k) {
    const V magic = _mm256_set1_pd(6755399441055744.0 + 1023.0);
    return _mm256_slli_epi64(_mm256_castpd_si256(_mm256_add_pd(k, magic)), 52);
  }
  static V scale2(V x, V n) {
    const V n1 = _mm256_floor_pd(_mm256_mul_pd(n, _mm256_set1_pd(0.5)));
    const V n2 = _mm256_sub_pd(n, n1);
    return _mm256_mul_pd(_mm256_mul_pd(x, _mm256_castsi256_pd(pow2_bits(n1))),
                         _mm256_castsi256_pd(pow2_bits(n2)));
  }
  static void frexp12(V x, V& m, V& e) {
    const V sub = _mm256_cmp_pd(x, _mm256_set1_pd(2.2250738585072014e-308), _CMP_LT_OQ);
    x = _mm256_blendv_pd(x, _mm256_mul_pd(x, _mm256_set1_pd(18014398509481984.0)), sub);  // · 2^54
    const __m256i bits = _mm256_castpd_si256(x);
    const V two52 = _mm256_set1_pd(4503599627370496.0);
    const V eb = _mm256_sub_pd(
        _mm256_castsi256_pd(_mm256_or_si256(_mm256_srli_epi64(bits, 52), _mm256_castpd_si256(two52))), two52);
    e = _mm256_sub_pd(eb, _mm256_blendv_pd(_mm256_set1_pd(1023.0), _mm256_set1_pd(1077.0), sub));
    m = _mm256_castsi256_pd(_mm256_or_si256(_mm256_and_si256(bits, _mm256_set1_epi64x(0xfffffffffffffLL)),
                                            _mm256_set1_epi64x(0x3ff0000000000000LL)));
  }
  static T hsum(V v) {
    __m128d s = _mm_add_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_add_sd(s, _mm_unpackhi_pd(s, s)));
  }
  static T hmax(V v) {
    __m128d s = _mm_max_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_max_sd(s, _mm_unpackhi_pd(s, s)));
  }
  static T hmin(V v) {
    __m128d s = _mm_min_pd(_mm256_castpd256_pd128(v), _mm256_extractf128_pd(v, 1));
    return _mm_cvtsd_f64(_mm_min_sd(s, _mm_unpackhi_pd(s, s)));
  }
};

}  // namespace tapegrad::kernels::avx2
