// Random tensors: one process-wide generator (xoshiro256** seeded through splitmix64; normals
// by Box–Muller), manual_seed, rand/randn/randint/randperm and the in-place uniform_/normal_.
#include <cmath>
#include <cstdint>
#include <limits>
#include <mutex>
#include <utility>

#include "tapegrad/tensor.h"

namespace tapegrad {

namespace {
struct Rng {
  uint64_t s[4];
  uint64_t seed = 0;
  bool has_spare = false;
  double spare = 0;
  explicit Rng(uint64_t sd) { reseed(sd); }
  void reseed(uint64_t sd) {
    seed = sd;
    uint64_t z = sd;
    for (auto& w : s) {
      z += 0x9e3779b97f4a7c15ULL;
      uint64_t x = z;
      x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
      x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
      w = x ^ (x >> 31);
    }
    has_spare = false;
  }
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  uint64_t next() {
    const uint64_t result = rotl(s[1] * 5, 7) * 9;
    const uint64_t t = s[1] << 17;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 45);
    return result;
  }
  double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }  // [0, 1)
  double normal() {
    if (has_spare) {
      has_spare = false;
      return spare;
    }
    double u1 = uniform();
    while (u1 <= 0) u1 = uniform();
    const double u2 = uniform();
    const double r = std::sqrt(-2.0 * std::log(u1));
    spare = r * std::sin(2 * M_PI * u2);
    has_spare = true;
    return r * std::cos(2 * M_PI * u2);
  }
  uint64_t below(uint64_t n) {  // unbiased integer in [0, n)
    const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % n;
    uint64_t v;
    do v = next(); while (v >= limit);
    return v % n;
  }
};

// One process-wide generator (like torch's default generator), so manual_seed in the main
// thread also fixes numbers drawn elsewhere. Guarded: random calls are not a hot path.
Rng& rng() {
  static Rng r(0x5eed);
  return r;
}
std::mutex& rng_mutex() {
  static std::mutex m;
  return m;
}
}  // namespace

void manual_seed(uint64_t seed) {
  std::lock_guard<std::mutex> lock(rng_mutex());
  rng().reseed(seed);
}
uint64_t initial_seed() {
  std::lock_guard<std::mutex> lock(rng_mutex());
  return rng().seed;
}

namespace {
template <class F>
void fill_with(const Tensor& t, F draw) {
  std::lock_guard<std::mutex> lock(rng_mutex());
  const int64_t n = t->numel();
  switch (t->dtype()) {
    case DType::f32:
      for (int64_t i = 0; i < n; ++i) t->data<float>()[i] = static_cast<float>(draw());
      break;
    case DType::f64:
      for (int64_t i = 0; i < n; ++i) t->data<double>()[i] = draw();
      break;
    default:
      throw TypeError(std::string("random fill: expected a floating-point tensor, got ") +
                      dtype_name(t->dtype()));
  }
}
}  // namespace

Tensor rand(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  fill_with(t, [] { return rng().uniform(); });
  return t;
}

Tensor randn(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  fill_with(t, [] { return rng().normal(); });
  return t;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape) {
  if (high <= low)
    throw ValueError("randint: expected low < high, got low=" + std::to_string(low) +
                     ", high=" + std::to_string(high));
  Tensor t = empty(shape, DType::i64);
  std::lock_guard<std::mutex> lock(rng_mutex());
  // In uint64: high − low may exceed int64 (randint(-2**63, 2**63 - 1)); low + k stays in range.
  const uint64_t span = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  for (int64_t i = 0; i < t->numel(); ++i)
    t->data<int64_t>()[i] = static_cast<int64_t>(static_cast<uint64_t>(low) + rng().below(span));
  return t;
}

Tensor randperm(int64_t n) {
  if (n < 0) throw ValueError("randperm: n must be non-negative, got " + std::to_string(n));
  Tensor t = empty({n}, DType::i64);
  int64_t* p = t->data<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  std::lock_guard<std::mutex> lock(rng_mutex());
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[rng().below(static_cast<uint64_t>(i + 1))]);
  return t;
}

Tensor bernoulli(const Shape& shape, double keep, DType dtype) {
  Tensor t = empty(shape, dtype);
  fill_with(t, [keep] { return rng().uniform() < keep ? 1.0 : 0.0; });
  return t;
}

void uniform_(const Tensor& t, double low, double high) {
  // !(low <= high) also refuses NaN bounds (PyTorch's wording for the reversed range)
  if (!(low <= high))
    throw ValueError("uniform_: expects to return a [from, to) range, but found from=" +
                     std::to_string(low) + " > to=" + std::to_string(high) +
                     (std::isnan(low) || std::isnan(high) ? " (a bound is NaN)" : ""));
  fill_with(t, [&] { return low + (high - low) * rng().uniform(); });
  t->bump_version();
}

void normal_(const Tensor& t, double mean, double std) {
  if (!(std >= 0)) throw ValueError("normal_: std must be non-negative, got " + std::to_string(std));  // NaN too
  fill_with(t, [&] { return mean + std * rng().normal(); });
  t->bump_version();
}

}  // namespace tapegrad
