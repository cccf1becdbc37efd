// Kernel microbenchmarks (Google Benchmark): GEMM GFLOP/s (square and the skinny shapes of
// softmax regression, float32/float64, 1 and 2 threads) and elementwise Gelem/s + GB/s.
//
//   cmake -DTAPEGRAD_BUILD_BENCH=ON ... && ./bench_kernels [--benchmark_filter=gemm]
//   TAPEGRAD_ARCH=avx2 ./bench_kernels      # force a target
//
// The context block prints the selected target and the FMA limit of one core measured at
// start-up with its widest vectors (the same loop as bench/fma_peak.py); GEMM rows carry
// `peak_frac`, the fraction of that limit (float64's is half) times the thread count.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstdlib>
#include <random>
#include <string>
#include <vector>

#include "tapegrad/kernels.h"

namespace tk = tapegrad::kernels;

namespace {

double g_peak_gflops = 0;  // float32, one core: measured in main()

template <class T>
std::vector<T> randv(int64_t n) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<T> d(T(-1), T(1));
  std::vector<T> v(static_cast<size_t>(n));
  for (auto& x : v) x = d(rng);
  return v;
}

// args: m, n, k, trans_a, trans_b, threads
template <class T>
void BM_gemm(benchmark::State& st) {
  const int64_t m = st.range(0), n = st.range(1), k = st.range(2);
  const bool ta = st.range(3), tb = st.range(4);
  const int threads = int(st.range(5));
  const int saved = tk::get_num_threads();
  tk::set_num_threads(threads);
  auto a = randv<T>(m * k), b = randv<T>(k * n);
  std::vector<T> c(static_cast<size_t>(m * n));
  const int64_t lda = ta ? m : k, ldb = tb ? k : n;
  for (auto _ : st) {
    if constexpr (sizeof(T) == 4)
      tk::gemm_f32(ta, tb, m, n, k, 1.0f, a.data(), lda, b.data(), ldb, 0.0f, c.data(), n);
    else
      tk::gemm_f64(ta, tb, m, n, k, 1.0, a.data(), lda, b.data(), ldb, 0.0, c.data(), n);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  const double flops = 2.0 * double(m) * double(n) * double(k);
  st.counters["GFLOP/s"] = benchmark::Counter(flops * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  const double peak = g_peak_gflops * (sizeof(T) == 4 ? 1.0 : 0.5) * threads;
  st.counters["peak_frac"] =
      benchmark::Counter(flops * 1e-9 / peak, benchmark::Counter::kIsIterationInvariantRate);
  st.SetLabel(std::string(sizeof(T) == 4 ? "f32 " : "f64 ") + tk::arch_name(tk::selected_arch()));
  tk::set_num_threads(saved);
}

void gemm_args(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) {
    for (int64_t s : {256, 512, 1024, 2048}) b->Args({s, s, s, 0, 0, threads});
    b->Args({256, 10, 784, 0, 0, threads});   // X·W     (forward, batch 256, 784 → 10)
    b->Args({784, 10, 256, 1, 0, threads});   // Xᵀ·dY   (weight gradient)
    b->Args({256, 784, 10, 0, 1, threads});   // dY·Wᵀ   (input gradient)
    b->Args({256, 256, 784, 0, 1, threads});  // X·W₁ᵀ   (MLP 784 → 256 forward: A read in place)
    b->Args({256, 784, 256, 1, 0, threads});  // gᵀ·X    (its weight gradient: B read in place)
  }
  b->ArgNames({"m", "n", "k", "ta", "tb", "threads"})->UseRealTime();
}
BENCHMARK(BM_gemm<float>)->Apply(gemm_args);
BENCHMARK(BM_gemm<double>)->Apply(gemm_args);

// args: n, threads
template <class T>
void BM_unary(benchmark::State& st, tk::Unary op) {
  const int64_t n = st.range(0);
  const int saved = tk::get_num_threads();
  tk::set_num_threads(int(st.range(1)));
  auto x = randv<T>(n);
  if (op == tk::Unary::log)
    for (auto& v : x) v = v < 0 ? -v : v;
  std::vector<T> y(static_cast<size_t>(n));
  for (auto _ : st) {
    if constexpr (sizeof(T) == 4)
      tk::unary_f32(op, n, x.data(), y.data());
    else
      tk::unary_f64(op, n, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["Gelem/s"] = benchmark::Counter(double(n) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GB/s"] = benchmark::Counter(2.0 * double(n) * sizeof(T) * 1e-9,
                                           benchmark::Counter::kIsIterationInvariantRate);
  tk::set_num_threads(saved);
}

template <class T>
void BM_binary(benchmark::State& st, tk::Binary op) {
  const int64_t n = st.range(0);
  const int saved = tk::get_num_threads();
  tk::set_num_threads(int(st.range(1)));
  auto a = randv<T>(n), b = randv<T>(n);
  std::vector<T> c(static_cast<size_t>(n));
  for (auto _ : st) {
    if constexpr (sizeof(T) == 4)
      tk::binary_f32(op, n, a.data(), 1, b.data(), 1, c.data());
    else
      tk::binary_f64(op, n, a.data(), 1, b.data(), 1, c.data());
    benchmark::DoNotOptimize(c.data());
  }
  st.counters["Gelem/s"] = benchmark::Counter(double(n) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  st.counters["GB/s"] = benchmark::Counter(3.0 * double(n) * sizeof(T) * 1e-9,
                                           benchmark::Counter::kIsIterationInvariantRate);
  tk::set_num_threads(saved);
}

template <class T>
void BM_softmax(benchmark::State& st) {
  const int64_t rows = st.range(0), cols = st.range(1);
  auto x = randv<T>(rows * cols);
  std::vector<T> y(x.size());
  for (auto _ : st) {
    if constexpr (sizeof(T) == 4)
      tk::softmax_f32(rows, cols, 1, x.data(), y.data());
    else
      tk::softmax_f64(rows, cols, 1, x.data(), y.data());
    benchmark::DoNotOptimize(y.data());
  }
  st.counters["Gelem/s"] = benchmark::Counter(double(rows * cols) * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
}

void elem_args(benchmark::internal::Benchmark* b) {
  for (int threads : {1, 2}) b->Args({1 << 20, threads});
  b->ArgNames({"n", "threads"})->UseRealTime();
}

// BENCHMARK_CAPTURE cannot take a template-id; name the instantiations.
void BM_unary_f32(benchmark::State& st, tk::Unary op) { BM_unary<float>(st, op); }
void BM_unary_f64(benchmark::State& st, tk::Unary op) { BM_unary<double>(st, op); }
void BM_binary_f32(benchmark::State& st, tk::Binary op) { BM_binary<float>(st, op); }
void BM_binary_f64(benchmark::State& st, tk::Binary op) { BM_binary<double>(st, op); }
BENCHMARK_CAPTURE(BM_unary_f32, exp, tk::Unary::exp)->Apply(elem_args);
BENCHMARK_CAPTURE(BM_unary_f32, log, tk::Unary::log)->Apply(elem_args);
BENCHMARK_CAPTURE(BM_unary_f32, tanh, tk::Unary::tanh)->Apply(elem_args);
BENCHMARK_CAPTURE(BM_unary_f32, sigmoid, tk::Unary::sigmoid)->Apply(elem_args);
BENCHMARK_CAPTURE(BM_unary_f32, relu, tk::Unary::relu)->Apply(elem_args);
BENCHMARK_CAPTURE(BM_unary_f64, exp, tk::Unary::exp)->Apply(elem_args);
BENCHMARK_CAPTURE(BM_binary_f32, add, tk::Binary::add)->Apply(elem_args);
BENCHMARK_CAPTURE(BM_binary_f32, mul, tk::Binary::mul)->Apply(elem_args);
BENCHMARK_CAPTURE(BM_binary_f64, add, tk::Binary::add)->Apply(elem_args);
BENCHMARK(BM_softmax<float>)->Args({256, 10})->Args({256, 1000})->UseRealTime();

}  // namespace

int main(int argc, char** argv) {
  const auto& info = tk::cpu_info();
  std::string avail;
  for (auto a : info.available) avail += std::string(avail.empty() ? "" : ",") + tk::arch_name(a);
  benchmark::AddCustomContext("tapegrad_target", tk::arch_name(info.selected));
  benchmark::AddCustomContext("tapegrad_available", avail);
  benchmark::AddCustomContext("tapegrad_threads", std::to_string(tk::get_num_threads()));
  g_peak_gflops = tk::measure_fma_peak(info.selected, 0.3);
  benchmark::AddCustomContext("fma_limit_gflops_f32_per_core", std::to_string(g_peak_gflops));
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
