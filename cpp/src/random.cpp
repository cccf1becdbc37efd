// Random tensors: generators (xoshiro256** seeded through splitmix64; normals by Box–Muller),
// the process-wide default one, manual_seed, rand/randn/randint/randperm and the in-place
// uniform_/normal_, each drawing from a given generator or the default.
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <mutex>
#include <utility>

#include "tapegrad/tensor.h"

namespace tapegrad {

void Generator::reseed(uint64_t sd) {
  seed_ = sd;
  uint64_t z = sd;
  for (auto& w : s_) {
    z += 0x9e3779b97f4a7c15ULL;
    uint64_t x = z;
    x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
    x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
    w = x ^ (x >> 31);
  }
  has_spare_ = false;
}

namespace {
uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
}  // namespace

uint64_t Generator::next() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}
double Generator::uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
double Generator::normal() {
  if (has_spare_) {
    has_spare_ = false;
    return spare_;
  }
  double u1 = uniform();
  while (u1 <= 0) u1 = uniform();
  const double u2 = uniform();
  const double r = std::sqrt(-2.0 * std::log(u1));
  spare_ = r * std::sin(2 * M_PI * u2);
  has_spare_ = true;
  return r * std::cos(2 * M_PI * u2);
}
uint64_t Generator::below(uint64_t n) {
  const uint64_t limit = std::numeric_limits<uint64_t>::max() - std::numeric_limits<uint64_t>::max() % n;
  uint64_t v;
  do v = next(); while (v >= limit);
  return v % n;
}

// Layout: s[0..3], seed, has_spare, spare — 6 little-endian 8-byte words and one byte.
std::vector<uint8_t> Generator::state() const {
  std::lock_guard<std::mutex> guard(mu_);
  std::vector<uint8_t> out(6 * 8 + 1);
  uint64_t words[6] = {s_[0], s_[1], s_[2], s_[3], seed_, 0};
  std::memcpy(&words[5], &spare_, 8);
  std::memcpy(out.data(), words, 48);
  out[48] = has_spare_ ? 1 : 0;
  return out;
}
void Generator::set_state(const std::vector<uint8_t>& bytes) {
  if (bytes.size() != 49)
    throw ValueError("Generator.set_state: expected the 49-byte state get_state() returns, got " +
                     std::to_string(bytes.size()) + " bytes");
  std::lock_guard<std::mutex> guard(mu_);
  uint64_t words[6];
  std::memcpy(words, bytes.data(), 48);
  for (int i = 0; i < 4; ++i) s_[i] = words[i];
  seed_ = words[4];
  std::memcpy(&spare_, &words[5], 8);
  has_spare_ = bytes[48] != 0;
}

// One process-wide default generator (like torch's default generator), so manual_seed in the
// main thread also fixes numbers drawn elsewhere.
Generator& Generator::default_generator() {
  static Generator g(0x5eed);
  return g;
}

namespace {
Generator& pick(Generator* gen) { return gen ? *gen : Generator::default_generator(); }
}  // namespace

void manual_seed(uint64_t seed) {
  Generator& g = Generator::default_generator();
  std::lock_guard<std::mutex> lock(g.lock());
  g.reseed(seed);
}
uint64_t initial_seed() {
  Generator& g = Generator::default_generator();
  std::lock_guard<std::mutex> lock(g.lock());
  return g.initial_seed();
}

namespace {
template <class F>
void fill_with(const Tensor& t, Generator& g, F draw) {
  std::lock_guard<std::mutex> lock(g.lock());
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

Tensor rand(const Shape& shape, DType dtype, Generator* gen) {
  Tensor t = empty(shape, dtype);
  Generator& g = pick(gen);
  fill_with(t, g, [&g] { return g.uniform(); });
  return t;
}

Tensor randn(const Shape& shape, DType dtype, Generator* gen) {
  Tensor t = empty(shape, dtype);
  Generator& g = pick(gen);
  fill_with(t, g, [&g] { return g.normal(); });
  return t;
}

Tensor randint(int64_t low, int64_t high, const Shape& shape, Generator* gen) {
  if (high <= low)
    throw ValueError("randint: expected low < high, got low=" + std::to_string(low) +
                     ", high=" + std::to_string(high));
  Tensor t = empty(shape, DType::i64);
  Generator& g = pick(gen);
  std::lock_guard<std::mutex> lock(g.lock());
  // In uint64: high − low may exceed int64 (randint(-2**63, 2**63 - 1)); low + k stays in range.
  const uint64_t span = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
  for (int64_t i = 0; i < t->numel(); ++i)
    t->data<int64_t>()[i] = static_cast<int64_t>(static_cast<uint64_t>(low) + g.below(span));
  return t;
}

Tensor randperm(int64_t n, Generator* gen) {
  if (n < 0) throw ValueError("randperm: n must be non-negative, got " + std::to_string(n));
  Tensor t = empty({n}, DType::i64);
  int64_t* p = t->data<int64_t>();
  for (int64_t i = 0; i < n; ++i) p[i] = i;
  Generator& g = pick(gen);
  std::lock_guard<std::mutex> lock(g.lock());
  for (int64_t i = n - 1; i > 0; --i) std::swap(p[i], p[g.below(static_cast<uint64_t>(i + 1))]);
  return t;
}

Tensor bernoulli(const Shape& shape, double keep, DType dtype) {
  Tensor t = empty(shape, dtype);
  Generator& g = Generator::default_generator();
  fill_with(t, g, [keep, &g] { return g.uniform() < keep ? 1.0 : 0.0; });
  return t;
}

void uniform_(const Tensor& t, double low, double high, Generator* gen) {
  // !(low <= high) also refuses NaN bounds (PyTorch's wording for the reversed range)
  if (!(low <= high))
    throw ValueError("uniform_: expects to return a [from, to) range, but found from=" +
                     std::to_string(low) + " > to=" + std::to_string(high) +
                     (std::isnan(low) || std::isnan(high) ? " (a bound is NaN)" : ""));
  Generator& g = pick(gen);
  Tensor dst = t->is_contiguous() ? t : empty(t->shape(), t->dtype());  // a strided view: through a copy
  fill_with(dst, g, [&] { return low + (high - low) * g.uniform(); });
  if (dst != t) assign_strided(t, dst);
  t->bump_version();
}

void normal_(const Tensor& t, double mean, double std, Generator* gen) {
  if (!(std >= 0)) throw ValueError("normal_: std must be non-negative, got " + std::to_string(std));  // NaN too
  Generator& g = pick(gen);
  Tensor dst = t->is_contiguous() ? t : empty(t->shape(), t->dtype());
  fill_with(dst, g, [&] { return mean + std * g.normal(); });
  if (dst != t) assign_strided(t, dst);
  t->bump_version();
}

}  // namespace tapegrad
