// Vector math written once for every SIMD target: exp, log, tanh, sigmoid.
//
// Textually included inside a target's namespace by that target's elementwise.cpp, after its
// vec.h, <algorithm>, <cmath>, <limits>, kernels/parallel.h and kernels/table.h (Note
// [per-ISA translation units]); do not include headers from here. F is the target's vector
// traits (F32 / F64 from vec.h). Highway's -inl.h convention: a file meant for textual
// inclusion, once per target.

// ---------------------------------------------------------------------------------------------
// Vector math.
//
// Note [float32 math accuracy]
// exp, log, tanh and sigmoid are within 2 ULP of the correctly rounded result over the whole
// float32 domain (test_kernels.cpp sweeps the bit patterns), and exact at the specials:
// exp(±inf) = inf/0, exp overflows to inf above 88.72 and rounds once into the subnormals;
// log(0) = -inf, log(x < 0) = NaN, log(inf) = inf; NaN in → NaN out.

// exp: x = n·ln2 + r with |r| ≤ ln2/2 (Cody–Waite, ln2 split in two with FMA), e^r by a
// degree-7 polynomial (Cephes expf coefficients), then · 2^n in one rounding (scale2).
template <class F>
typename F::V exp_f32(typename F::V x) {
  using V = typename F::V;
  // Clamp first so r stays finite; max/min return their second operand on NaN, so NaN passes.
  x = F::min(F::set1(88.8f), F::max(F::set1(-104.0f), x));
  const V n = F::round(F::mul(x, F::set1(1.44269504088896341f)));
  V r = F::fnma(n, F::set1(0.693145751953125f), x);
  r = F::fnma(n, F::set1(1.428606765330187045e-06f), r);
  V p = F::set1(1.9875691500e-4f);
  p = F::fma(p, r, F::set1(1.3981999507e-3f));
  p = F::fma(p, r, F::set1(8.3334519073e-3f));
  p = F::fma(p, r, F::set1(4.1665795894e-2f));
  p = F::fma(p, r, F::set1(1.6666665459e-1f));
  p = F::fma(p, r, F::set1(5.0000001201e-1f));
  const V y = F::add(F::fma(p, F::mul(r, r), r), F::set1(1.0f));
  return F::scale2(y, n);
}

// log: x = m·2^e with m in [√½, √2), log x = e·ln2 + log1p(f), f = m - 1 (exact), log1p by
// f - f²/2 + f³·P(f) (Cephes logf coefficients), e·ln2 added in two parts.
template <class F>
typename F::V log_f32(typename F::V x) {
  using V = typename F::V;
  V m, e;
  F::frexp12(x, m, e);
  const auto big = F::gt(m, F::set1(1.41421356237f));
  m = F::select(big, F::mul(m, F::set1(0.5f)), m);
  e = F::select(big, F::add(e, F::set1(1.0f)), e);
  const V f = F::sub(m, F::set1(1.0f));
  const V z = F::mul(f, f);
  V p = F::set1(7.0376836292e-2f);
  p = F::fma(p, f, F::set1(-1.1514610310e-1f));
  p = F::fma(p, f, F::set1(1.1676998740e-1f));
  p = F::fma(p, f, F::set1(-1.2420140846e-1f));
  p = F::fma(p, f, F::set1(1.4249322787e-1f));
  p = F::fma(p, f, F::set1(-1.6668057665e-1f));
  p = F::fma(p, f, F::set1(2.0000714765e-1f));
  p = F::fma(p, f, F::set1(-2.4999993993e-1f));
  p = F::fma(p, f, F::set1(3.3333331174e-1f));
  V y = F::mul(F::mul(p, f), z);
  y = F::fma(e, F::set1(-2.12194440e-4f), y);
  y = F::fma(z, F::set1(-0.5f), y);
  V res = F::add(f, y);
  res = F::fma(e, F::set1(0.693359375f), res);
  const V inf = F::set1(std::numeric_limits<float>::infinity());
  // Specials are rare: fix them up only when some lane is not a positive finite number.
  if (F::all(F::mand(F::gt(x, F::zero()), F::lt(x, inf)))) return res;
  res = F::select(F::eq(x, F::zero()), F::neg(inf), res);
  res = F::select(F::lt(x, F::zero()), F::set1(std::numeric_limits<float>::quiet_NaN()), res);
  res = F::select(F::eq(x, inf), inf, res);
  return F::select(F::isnan(x), x, res);
}

// tanh and sigmoid have two implementations: a table-driven one where the target can index a
// 32-entry table in a register (F::kLut32: AVX-512's VPERMT2PS), else the exp-based one.
//
// Note [tanh/sigmoid lookup tables]
// The argument a = |x| is cut into 32 intervals; interval j has a degree-5 polynomial in
// t = a - b_j (b_j its left end, so t is exact), coefficients fitted as relative minimax and
// rounded to float one at a time with the later ones refitted (weighted least squares on
// Chebyshev nodes + Lawson iterations, float64 reference). Seven VPERMT2PS fetch b_j
// and the coefficients of every lane at once; no division, no exp, no blend of two paths.
// Measured against the correctly rounded value over all 2^32 inputs: tanh ≤ 1 ULP,
// sigmoid ≤ 2 ULP.
// tanh: interval 0 is [0, 1/16) with p = t - t³/3·… (c0 = 0, c1 = 1: tiny and subnormal x
// come out exactly, ±0 keeps its sign), then 4 intervals per octave up to 8 (index = the
// float's exponent and top two mantissa bits, bits >> 21), then [8, 9.5], where the
// polynomial rounds to exactly 1 (tanh(x) rounds to 1 above 9.01; a is clamped to 9.5, so
// ±inf gives ±1). Table slot = (bits >> 21) mod 32 (VPERMT2PS reads the low 5 index bits), so
// interval j sits in slot (j + 11) mod 32; a below 1/16 is lifted to just under 1/16 for the
// index only. NaN: t = NaN.
// sigmoid: g(a) = 1/(1 + e^a) = sigmoid(-a) on 32 intervals of width 1/2 covering [0, 16)
// (index = floor(2a), the top 5 mantissa bits of a + 16), sigmoid(x) = g for x < 0 and
// 1 - g for x ≥ 0. For x ≥ 16 only g's absolute error matters (the result is within 2^-23 of
// 1): the last polynomial is extrapolated up to a = 17.5, above which 1 - g rounds to 1.
// Below x = -16 the result needs g's relative accuracy down into the subnormals: a vector with
// such a lane takes the exp path (sigmoid_exp_f32), which handles every input.
constexpr int kTanhDeg = 5;
alignas(64) constexpr float kTanhLut[7][32] = {
    {0x1p+1f, 0x1.4p+1f, 0x1.8p+1f, 0x1.cp+1f,
     0x1p+2f, 0x1.4p+2f, 0x1.8p+2f, 0x1.cp+2f,
     0x1p+3f, 0x1p+3f, 0x1p+3f, 0.0f,
     0x1p-4f, 0x1.4p-4f, 0x1.8p-4f, 0x1.cp-4f,
     0x1p-3f, 0x1.4p-3f, 0x1.8p-3f, 0x1.cp-3f,
     0x1p-2f, 0x1.4p-2f, 0x1.8p-2f, 0x1.cp-2f,
     0x1p-1f, 0x1.4p-1f, 0x1.8p-1f, 0x1.cp-1f,
     0x1p+0f, 0x1.4p+0f, 0x1.8p+0f, 0x1.cp+0f},  // b
    {0x1.ed9506p-1f, 0x1.f92582p-1f, 0x1.fd77d2p-1f, 0x1.ff112cp-1f,
     0x1.ffa818p-1f, 0x1.fff41ap-1f, 0x1.fffe64p-1f, 0x1.ffffc8p-1f,
     0x1.fffff8p-1f, 0x1.fffff8p-1f, 0x1.fffff8p-1f, 0.0f,
     0x1.ff559ap-5f, 0x1.3f59bep-4f, 0x1.7ee102p-4f, 0x1.be38d8p-4f,
     0x1.fd5992p-4f, 0x1.3d6bc8p-3f, 0x1.7b8ffap-3f, 0x1.b8fd04p-3f,
     0x1.f597eap-3f, 0x1.35f98ap-2f, 0x1.6ef53ep-2f, 0x1.a5729ep-2f,
     0x1.d9353ep-2f, 0x1.1bf47ep-1f, 0x1.45323ep-1f, 0x1.68665p-1f,
     0x1.85efacp-1f, 0x1.b2523cp-1f, 0x1.cf6f98p-1f, 0x1.e1fbfap-1f},  // c0
    {0x1.216208p-4f, 0x1.b3b26cp-6f, 0x1.43324cp-7f, 0x1.dd5bbcp-9f,
     0x1.5f0cf6p-10f, 0x1.7ad73ap-13f, 0x1.94239ep-16f, 0x1.e4cf5ep-19f,
     0x1.dad5a8p-21f, 0x1.dad5a8p-21f, 0x1.dad5a8p-21f, 0x1p+0f,
     0x1.fe00eep-1f, 0x1.fce20cp-1f, 0x1.fb8728p-1f, 0x1.f9ecbcp-1f,
     0x1.f815bcp-1f, 0x1.f3b2e2p-1f, 0x1.ee6856p-1f, 0x1.e842eep-1f,
     0x1.e149f4p-1f, 0x1.d1158cp-1f, 0x1.be3f96p-1f, 0x1.a9471ep-1f,
     0x1.92a8d8p-1f, 0x1.6285dp-1f, 0x1.317436p-1f, 0x1.025128p-1f,
     0x1.ae0cc8p-2f, 0x1.1f24b2p-2f, 0x1.7214e8p-3f, 0x1.d22988p-4f},  // c1
    {-0x1.16e83ap-4f, -0x1.ade6fep-6f, -0x1.401a86p-7f, -0x1.de6e48p-9f,
     -0x1.5a67a8p-10f, -0x1.6bc7fep-13f, -0x1.59accap-16f, -0x1.773b0ap-18f,
     -0x1.71103ep-19f, -0x1.71103ep-19f, -0x1.71103ep-19f, 0.0f,
     -0x1.f04024p-5f, -0x1.29e9e2p-4f, -0x1.82a8fep-4f, -0x1.bdff4p-4f,
     -0x1.fa4ac2p-4f, -0x1.33cdfp-3f, -0x1.683b9p-3f, -0x1.a51b84p-3f,
     -0x1.d82c1ep-3f, -0x1.19a9d2p-2f, -0x1.3fafaep-2f, -0x1.5f767ep-2f,
     -0x1.73ee44p-2f, -0x1.89c334p-2f, -0x1.84465ep-2f, -0x1.6c3792p-2f,
     -0x1.476ab8p-2f, -0x1.e71508p-3f, -0x1.4ed026p-3f, -0x1.b675e6p-4f},  // c2
    {0x1.57caf6p-5f, 0x1.1649e4p-6f, 0x1.955f2p-8f, 0x1.46ce08p-9f,
     0x1.ae15a8p-11f, 0x1.90fe9ep-14f, 0x1.494c12p-18f, 0x1.1d0e7ep-17f,
     0x1.3272c4p-18f, 0x1.3272c4p-18f, 0x1.3272c4p-18f, -0x1.55553ep-2f,
     -0x1.3d136ep-1f, -0x1.30a3aap+0f, -0x1.b1579p-8f, -0x1.7ff816p-4f,
     -0x1.a53f9ap-3f, -0x1.8f93d8p-2f, -0x1.2256f6p-1f, -0x1.fd464ap-3f,
     -0x1.efe40ep-3f, -0x1.b94284p-3f, -0x1.7b1c54p-3f, -0x1.3038d2p-4f,
     -0x1.964e0ep-4f, -0x1.91baep-8f, 0x1.856e1ep-5f, 0x1.81b774p-4f,
     0x1.a44084p-4f, 0x1.ba6a46p-4f, 0x1.64144p-4f, 0x1.faec1cp-5f},  // c3
    {-0x1.1c8db4p-6f, -0x1.fb7326p-8f, -0x1.3a44d8p-9f, -0x1.5e8ba2p-10f,
     -0x1.49c03ap-12f, -0x1.a032d4p-16f, 0x1.861b2cp-18f, -0x1.118b6ep-17f,
     -0x1.c3fc0ap-19f, -0x1.c3fc0ap-19f, -0x1.c3fc0ap-19f, 0.0f,
     0x1.59c06ep+4f, 0x1.ffc984p+5f, -0x1.72f616p+4f, -0x1.06d2c2p+4f,
     -0x1.f2a582p+1f, 0x1.ae53aep+1f, 0x1.4c2feap+3f, -0x1.9641aap-1f,
     -0x1.12f038p-3f, 0x1.53898p-4f, 0x1.278f16p-2f, -0x1.efeb86p-1f,
     0x1.b1bddcp-3f, 0x1.f31feep-6f, 0x1.811dc8p-5f, -0x1.b236ep-5f,
     0x1.f58b5ep-6f, -0x1.94f042p-7f, -0x1.5e83e8p-6f, -0x1.34f7c2p-6f},  // c4
    {0x1.04ecf8p-8f, 0x1.0f0784p-9f, 0x1.5bf0f6p-12f, 0x1.f3b932p-12f,
     0x1.d81b98p-15f, 0x1.09523cp-21f, -0x1.e2ffbp-19f, 0x1.9e27e4p-19f,
     0x1.dc495cp-21f, 0x1.dc495cp-21f, 0x1.dc495cp-21f, 0x1.107866p-3f,
     -0x1.16cec2p+9f, -0x1.9c7ea8p+10f, 0x1.2b9dd6p+9f, 0x1.a8e5e4p+8f,
     0x1.9c4004p+5f, -0x1.504048p+5f, -0x1.087476p+7f, 0x1.7e067ep+3f,
     0x1.d5d372p+0f, 0x1.0bec72p-1f, -0x1.87a228p-1f, 0x1.d3e4b8p+2f,
     -0x1.826786p-3f, 0x1.25a59ap-2f, 0x1.b20116p-4f, 0x1.3cf4dp-2f,
     -0x1.6038dep-5f, -0x1.c846bap-7f, -0x1.85c96p-8f, -0x1.a16e7cp-9f},  // c5
};

constexpr int kSigDeg = 5;
alignas(64) constexpr float kSigLut[7][32] = {
    {0.0f, 0x1p-1f, 0x1p+0f, 0x1.8p+0f,
     0x1p+1f, 0x1.4p+1f, 0x1.8p+1f, 0x1.cp+1f,
     0x1p+2f, 0x1.2p+2f, 0x1.4p+2f, 0x1.6p+2f,
     0x1.8p+2f, 0x1.ap+2f, 0x1.cp+2f, 0x1.ep+2f,
     0x1p+3f, 0x1.1p+3f, 0x1.2p+3f, 0x1.3p+3f,
     0x1.4p+3f, 0x1.5p+3f, 0x1.6p+3f, 0x1.7p+3f,
     0x1.8p+3f, 0x1.9p+3f, 0x1.ap+3f, 0x1.bp+3f,
     0x1.cp+3f, 0x1.dp+3f, 0x1.ep+3f, 0x1.fp+3f},  // b
    {0x1p-1f, 0x1.829a06p-2f, 0x1.136562p-2f, 0x1.759b84p-3f,
     0x1.e84154p-4f, 0x1.36b712p-4f, 0x1.848344p-5f, 0x1.e04068p-6f,
     0x1.26afa2p-6f, 0x1.680528p-7f, 0x1.b69f68p-8f, 0x1.0abd94p-8f,
     0x1.441776p-9f, 0x1.8986a2p-10f, 0x1.dda738p-11f, 0x1.21d0b2p-11f,
     0x1.5fa3dep-12f, 0x1.aa9e06p-13f, 0x1.02c6f6p-13f, 0x1.39ed86p-14f,
     0x1.7cd32ep-15f, 0x1.cdf8e4p-16f, 0x1.18341p-16f, 0x1.53e7f6p-17f,
     0x1.9c541ep-18f, 0x1.f42e5ap-19f, 0x1.2f6026p-19f, 0x1.700376p-20f,
     0x1.be6c58p-21f, 0x1.0ec4fap-21f, 0x1.4875c4p-22f, 0x1.8e7132p-23f},  // c0
    {-0x1.ffffdcp-3f, -0x1.e149b8p-3f, -0x1.92a9b4p-3f, -0x1.3173f6p-3f,
     -0x1.ae0e4ap-4f, -0x1.1f256ep-4f, -0x1.72166ep-5f, -0x1.d22cap-6f,
     -0x1.2162c8p-6f, -0x1.64109ep-7f, -0x1.b3afd6p-8f, -0x1.09a77cp-8f,
     -0x1.4349dap-9f, -0x1.88ef1p-10f, -0x1.dd3782p-11f, -0x1.21a7d4p-11f,
     -0x1.5f85bep-12f, -0x1.aa8766p-13f, -0x1.02beecp-13f, -0x1.39e756p-14f,
     -0x1.7cce9ep-15f, -0x1.cdf56p-16f, -0x1.1832fp-16f, -0x1.53e70ap-17f,
     -0x1.9c536ep-18f, -0x1.f42dc8p-19f, -0x1.2f5fa6p-19f, -0x1.700334p-20f,
     -0x1.be6c3ep-21f, -0x1.0ec498p-21f, -0x1.4875c8p-22f, -0x1.8e70b2p-23f},  // c1
    {-0x1.d9c7e4p-18f, 0x1.d76f66p-6f, 0x1.743b6p-5f, 0x1.84160ap-5f,
     0x1.479a5ep-5f, 0x1.e742d4p-6f, 0x1.4f008cp-6f, 0x1.b6d8dap-7f,
     0x1.16fa0cp-7f, 0x1.5c3e86p-8f, 0x1.add772p-9f, 0x1.0777cep-9f,
     0x1.41a118p-10f, 0x1.87b4c8p-11f, 0x1.dc4dp-12f, 0x1.2157fap-12f,
     0x1.5f48a8p-13f, 0x1.aa4c3ep-14f, 0x1.02b09cp-14f, 0x1.39d45ap-15f,
     0x1.7cbfb8p-16f, 0x1.cde47ep-17f, 0x1.183092p-17f, 0x1.53e1b2p-18f,
     0x1.9c4e12p-19f, 0x1.f426c6p-20f, 0x1.2f53c6p-20f, 0x1.6ffd2ep-21f,
     0x1.be6896p-22f, 0x1.0eb884p-22f, 0x1.48747cp-23f, 0x1.8e5fe2p-24f},  // c2
    {0x1.564edep-6f, 0x1.08523ap-6f, 0x1.7fe64cp-8f, -0x1.5d954cp-9f,
     -0x1.ac888ep-8f, -0x1.be5c62p-8f, -0x1.684c66p-8f, -0x1.01cab6p-8f,
     -0x1.58edf2p-9f, -0x1.bbbba2p-10f, -0x1.169ba8p-10f, -0x1.58e4fap-11f,
     -0x1.a71948p-12f, -0x1.02eba8p-12f, -0x1.3bb56p-13f, -0x1.80defcp-14f,
     -0x1.d36668p-15f, -0x1.1b31f6p-15f, -0x1.58b212p-16f, -0x1.a1801p-17f,
     -0x1.facc5cp-18f, -0x1.334a4ep-18f, -0x1.7553a2p-19f, -0x1.c4974cp-20f,
     -0x1.1287d8p-20f, -0x1.4cfc24p-21f, -0x1.933ef8p-22f, -0x1.e9e7ccp-23f,
     -0x1.29479p-23f, -0x1.67c2aep-24f, -0x1.b5900ep-25f, -0x1.08bc82p-25f},  // c3
    {-0x1.b69068p-13f, -0x1.365556p-8f, -0x1.537be2p-8f, -0x1.8595aap-9f,
     -0x1.5ec2fep-11f, 0x1.11e078p-11f, 0x1.ab80a4p-11f, 0x1.84313cp-11f,
     0x1.243688p-11f, 0x1.90d01ap-12f, 0x1.035796p-12f, 0x1.450f96p-13f,
     0x1.8e3694p-14f, 0x1.efb17ep-15f, 0x1.30a7f2p-15f, 0x1.7aa78ep-16f,
     0x1.ca658cp-17f, 0x1.1152a8p-17f, 0x1.544af8p-18f, 0x1.961f2p-19f,
     0x1.ef070cp-20f, 0x1.2afbcap-20f, 0x1.6f6584p-21f, 0x1.bb250ep-22f,
     0x1.0ce546p-22f, 0x1.45d684p-23f, 0x1.85105p-24f, 0x1.deba0ep-25f,
     0x1.23774p-25f, 0x1.59ed26p-26f, 0x1.add4dep-27f, 0x1.fdb95ep-28f},  // c4
    {-0x1.d7bdccp-10f, -0x1.81ed5ap-12f, 0x1.7740fap-11f, 0x1.bdec4p-11f,
     0x1.cfe372p-12f, 0x1.caebb4p-14f, -0x1.9919d6p-16f, -0x1.2a875p-14f,
     -0x1.29e782p-14f, -0x1.cdf22p-15f, -0x1.3515d6p-15f, -0x1.80fa96p-16f,
     -0x1.c2027p-17f, -0x1.291b04p-17f, -0x1.76233p-18f, -0x1.f61726p-19f,
     -0x1.2a9f72p-19f, -0x1.4a7c2ep-20f, -0x1.c5bbfp-21f, -0x1.fbc6ep-22f,
     -0x1.3b5f7ap-22f, -0x1.75d416p-23f, -0x1.e27c0cp-24f, -0x1.1cdf0ap-24f,
     -0x1.5a31bap-25f, -0x1.a1d9c2p-26f, -0x1.d38e68p-27f, -0x1.313fbep-27f,
     -0x1.78bea2p-28f, -0x1.99026cp-29f, -0x1.18062cp-29f, -0x1.2f11ep-30f},  // c5
};

// tanh (exp-based): odd polynomial below |x| = 0.625 (Cephes tanhf), else 1 - 2/(e^{2|x|} + 1)
// with the sign of x.
template <class F>
typename F::V tanh_exp_f32(typename F::V x) {
  using V = typename F::V;
  const V ax = F::abs(x);
  const V z = F::mul(x, x);
  V p = F::set1(-5.70498872745e-3f);
  p = F::fma(p, z, F::set1(2.06390887954e-2f));
  p = F::fma(p, z, F::set1(-5.37397155531e-2f));
  p = F::fma(p, z, F::set1(1.33314422036e-1f));
  p = F::fma(p, z, F::set1(-3.33332819422e-1f));
  const V small = F::fma(F::mul(p, z), x, x);
  // tanh(10) rounds to 1; clamping keeps e finite for the reciprocal (NaN passes through).
  const V ac = F::min(F::set1(10.0f), ax);
  const V e = exp_f32<F>(F::add(ac, ac));
  const V one = F::set1(1.0f);
  const V large = F::copysign(F::fnma(F::set1(2.0f), F::recip(F::add(e, one)), one), x);
  return F::select(F::lt(ax, F::set1(0.625f)), small, large);
}


// sigmoid = num / (1 + e) with e = exp(-|x|) ∈ (0, 1] and num = 1 (x ≥ 0) or e (x < 0): never
// overflows, and tiny results for very negative x come straight from exp's subnormals.
// 1 + e is rounded; its rounding error t = (1 - d) + e is exact (Fast2Sum, 1 ≥ e) and
// corrects the quotient to first order: num/(d + t) ≈ q·(1 - t/d).
template <class F>
typename F::V sigmoid_exp_f32(typename F::V x) {
  using V = typename F::V;
  const V one = F::set1(1.0f);
  const V e = exp_f32<F>(F::neg(F::abs(x)));
  const V d = F::add(one, e);
  const V t = F::add(F::sub(one, d), e);
  const V num = F::select(F::lt(x, F::zero()), e, one);
  const V rd = F::recip(d);
  const V q = F::mul(num, rd);
  return F::fnma(q, F::mul(t, rd), q);
}

// Out of line: the rare path must not make the compiler give up the tables' registers.
template <class F>
[[gnu::noinline, gnu::cold]] typename F::V sigmoid_exp_f32_cold(typename F::V x) {
  return sigmoid_exp_f32<F>(x);
}

template <class F>
typename F::V tanh_f32(typename F::V x) {
  using V = typename F::V;
  if constexpr (!F::kLut32) {
    return tanh_exp_f32<F>(x);
  } else {
    const V a = F::min(F::set1(9.5f), F::abs(x));  // NaN passes (MINPS returns operand 2)
    const auto idx = F::template lut_index<21>(F::max(a, F::set1(0x1.fffffep-5f)));
    const V t = F::sub(a, F::lut32(kTanhLut[0], idx));
    V p = F::lut32(kTanhLut[kTanhDeg + 1], idx);
    for (int k = kTanhDeg - 1; k >= 0; --k) p = F::fma(p, t, F::lut32(kTanhLut[k + 1], idx));
    return F::copysign(p, x);
  }
}

template <class F>
typename F::V sigmoid_f32(typename F::V x) {
  using V = typename F::V;
  if constexpr (!F::kLut32) {
    return sigmoid_exp_f32<F>(x);
  } else {
    if (__builtin_expect(F::any(F::lt(x, F::set1(-16.0f))), 0)) return sigmoid_exp_f32_cold<F>(x);
    const V a = F::min(F::set1(17.5f), F::abs(x));  // NaN passes
    const auto idx = F::template lut_index<18>(F::add(F::min(F::set1(15.999f), a), F::set1(16.0f)));
    const V t = F::sub(a, F::lut32(kSigLut[0], idx));
    V p = F::lut32(kSigLut[kSigDeg + 1], idx);
    for (int k = kSigDeg - 1; k >= 0; --k) p = F::fma(p, t, F::lut32(kSigLut[k + 1], idx));
    return F::select(F::lt(x, F::zero()), p, F::sub(F::set1(1.0f), p));
  }
}

// float64 exp: same reduction, e^r by its Taylor series to r^13 (|r| ≤ 0.347: truncation
// error < 1e-17 relative), Horner with FMA.
template <class F>
typename F::V exp_f64(typename F::V x) {
  using V = typename F::V;
  x = F::min(F::set1(709.8), F::max(F::set1(-746.0), x));
  const V n = F::round(F::mul(x, F::set1(1.4426950408889634)));
  V r = F::fnma(n, F::set1(6.93147180369123816490e-01), x);
  r = F::fnma(n, F::set1(1.90821492927058770002e-10), r);
  constexpr double inv_fact[] = {1.0 / 6227020800.0, 1.0 / 479001600.0, 1.0 / 39916800.0,
                                 1.0 / 3628800.0,    1.0 / 362880.0,    1.0 / 40320.0,
                                 1.0 / 5040.0,       1.0 / 720.0,       1.0 / 120.0,
                                 1.0 / 24.0,         1.0 / 6.0,         0.5};
  V p = F::set1(inv_fact[0]);
  for (int i = 1; i < 12; ++i) p = F::fma(p, r, F::set1(inv_fact[i]));
  const V y = F::add(F::fma(p, F::mul(r, r), r), F::set1(1.0));
  return F::scale2(y, n);
}

template <class F>
typename F::V sigmoid_f64(typename F::V x) {
  using V = typename F::V;
  const V one = F::set1(1.0);
  const V e = exp_f64<F>(F::neg(F::abs(x)));
  const V num = F::select(F::lt(x, F::zero()), e, one);
  return F::div(num, F::add(one, e));
}
