// The FMA throughput limit of one core for a target's widest vectors (bench/fma_peak.py, and
// the "fraction of peak" column of bench/kernels.py).
//
// Textually included inside a target's namespace by that target's fma_peak.cpp, after its
// vec.h and <chrono> (Note [per-ISA translation units]); do not include headers from here.
//
// CH independent accumulation chains acc_i ← acc_i·m + a: an FMA's result is needed again
// only CH FMAs later, so CH ≥ latency × FMA ports (4 × 2 = 8 on Zen 4/5, Skylake-X and
// Sapphire Rapids) keeps every FMA unit busy every cycle; CH + 2 registers must fit the register
// file (32 zmm, 16 ymm). m slightly below 1 and a small keep every value finite and normal, so
// no assist or denormal slows a lane.
template <class F, int CH>
double fma_peak_loop(double seconds) {
  using V = typename F::V;
  using T = typename F::T;
  const V m = F::set1(T(0.999999)), a = F::set1(T(1e-6));
  V acc[CH];
#pragma GCC unroll 32
  for (int i = 0; i < CH; ++i) acc[i] = F::set1(T(1) + T(i) * T(1e-3));
  constexpr int64_t kIters = 1 << 16;  // FMAs per chain per timed block
  using clock = std::chrono::steady_clock;
  double best = 0;
  const auto start = clock::now();
  do {
    const auto t0 = clock::now();
    for (int64_t it = 0; it < kIters; ++it) {
#pragma GCC unroll 32
      for (int i = 0; i < CH; ++i) acc[i] = F::fma(acc[i], m, a);
    }
    const double dt = std::chrono::duration<double>(clock::now() - t0).count();
    if (dt > 0) best = std::max(best, double(kIters) * CH * F::W * 2 / dt * 1e-9);
  } while (std::chrono::duration<double>(clock::now() - start).count() < seconds);
  // Use every chain, so that none of them is dead code.
  V s = acc[0];
#pragma GCC unroll 32
  for (int i = 1; i < CH; ++i) s = F::add(s, acc[i]);
  volatile T sink = F::hsum(s);
  (void)sink;
  return best;
}
