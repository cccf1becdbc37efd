// The data-movement, selection, loss-row and optimizer kernel slots (kernels.h, "Data
// movement, selection and small fused rows") on every target this CPU can run: each target
// against the reference target bit for bit, and the reference itself against a naive loop
// written here, on the sizes {0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 127, 1000}.
//
// Plain C++ with its own check macros; exits non-zero on any failure.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "tapegrad/kernels.h"

namespace tk = tapegrad::kernels;

namespace {

int g_failures = 0;
int g_checks = 0;
std::string g_ctx;  // target and case being tested, printed with failures

#define CHECK(cond, ...)                                                                \
  do {                                                                                  \
    ++g_checks;                                                                         \
    if (!(cond)) {                                                                      \
      if (++g_failures <= 40) {                                                         \
        std::fprintf(stderr, "FAIL %s:%d [%s] %s: ", __FILE__, __LINE__, g_ctx.c_str(), \
                     #cond);                                                            \
        std::fprintf(stderr, __VA_ARGS__);                                              \
        std::fprintf(stderr, "\n");                                                     \
      }                                                                                 \
    }                                                                                   \
  } while (0)

const int64_t kSizes[] = {0, 1, 7, 8, 9, 15, 16, 17, 63, 64, 65, 127, 1000};

std::mt19937_64 g_rng(2024);

template <class T>
std::vector<T> randv(int64_t n, double lo = -3, double hi = 3) {
  std::uniform_real_distribution<double> d(lo, hi);
  std::vector<T> v(size_t(std::max<int64_t>(n, 1)));
  for (auto& x : v) x = static_cast<T>(d(g_rng));
  return v;
}

// Floats with the special values sprinkled in (every fifth element).
template <class T>
std::vector<T> with_specials(int64_t n) {
  auto v = randv<T>(n);
  const T sp[] = {T(0), -T(0), std::numeric_limits<T>::infinity(),
                  -std::numeric_limits<T>::infinity(), std::numeric_limits<T>::quiet_NaN(),
                  std::numeric_limits<T>::denorm_min(), T(1), T(-1)};
  for (int64_t i = 0; i < n; i += 5) v[size_t(i)] = sp[size_t(i / 5) % 8];
  return v;
}

template <class T>
bool same_bytes(const std::vector<T>& a, const std::vector<T>& b) {
  return a.size() == b.size() &&
         (a.empty() || std::memcmp(a.data(), b.data(), a.size() * sizeof(T)) == 0);
}

// Runs fn(out) under the reference target and under `arch` on copies of `init`; the two
// results must agree bit for bit. Returns the reference result.
template <class T, class Fn>
std::vector<T> both(tk::Arch arch, const std::vector<T>& init, Fn fn, const char* what,
                    int64_t n) {
  std::vector<T> want = init, got = init;
  tk::set_arch(tk::Arch::generic);
  fn(want);
  tk::set_arch(arch);
  fn(got);
  CHECK(same_bytes(want, got), "%s n=%ld: target differs from the reference", what, long(n));
  return want;
}

template <class T>
constexpr tk::Elem elem_of() {
  if constexpr (std::is_same_v<T, float>) return tk::Elem::f32;
  else if constexpr (std::is_same_v<T, double>) return tk::Elem::f64;
  else if constexpr (std::is_same_v<T, int64_t>) return tk::Elem::i64;
  else return tk::Elem::u8;
}

// ---------------------------------------------------------------------------------------------
// Strided copy against a naive per-element loop.
template <class T>
void check_copy(tk::Arch arch, std::vector<int64_t> shape, std::vector<int64_t> sx,
                std::vector<int64_t> sy, int64_t x_len, int64_t y_len, const char* what) {
  std::vector<T> x(size_t(std::max<int64_t>(x_len, 1)));
  for (size_t i = 0; i < x.size(); ++i) x[i] = static_cast<T>(i * 7 + 3);
  const int nd = int(shape.size());
  std::vector<T> naive(size_t(std::max<int64_t>(y_len, 1)), T(0));
  int64_t total = 1;
  for (int64_t s : shape) total *= s;
  for (int64_t i = 0; i < total; ++i) {
    int64_t rem = i, ox = 0, oy = 0;
    for (int d = nd - 1; d >= 0; --d) {
      const int64_t c = rem % shape[size_t(d)];
      rem /= shape[size_t(d)];
      ox += c * sx[size_t(d)];
      oy += c * sy[size_t(d)];
    }
    naive[size_t(oy)] = x[size_t(ox)];
  }
  auto want = both<T>(arch, std::vector<T>(naive.size(), T(0)), [&](std::vector<T>& y) {
    tk::copy_strided(sizeof(T), nd, shape.data(), x.data(), sx.data(), y.data(), sy.data());
  }, what, total);
  CHECK(same_bytes(want, naive), "%s: reference differs from the naive loop", what);
}

struct Bytes3 {
  uint8_t b[3];
};

void test_copy(tk::Arch arch) {
  for (int64_t n : kSizes) {
    // contiguous, transpose (n × 5 → 5 × n), row broadcast, column broadcast, cat-like block.
    check_copy<float>(arch, {n}, {1}, {1}, n, n, "copy contiguous");
    check_copy<double>(arch, {5, n}, {1, 5}, {n, 1}, 5 * n, 5 * n, "copy transpose");
    check_copy<int64_t>(arch, {4, n}, {0, 1}, {n, 1}, n, 4 * n, "copy row broadcast");
    check_copy<uint8_t>(arch, {n, 3}, {1, 0}, {3, 1}, n, 3 * n, "copy column broadcast");
    check_copy<float>(arch, {3, n}, {n, 1}, {n + 4, 1}, 3 * n, 3 * (n + 4), "copy cat block");
    check_copy<double>(arch, {2, 3, n}, {1, 2, 6}, {3 * n, n, 1}, 6 * n, 6 * n, "copy permute 3-d");
  }
  // Odd element sizes move bytes one element at a time.
  std::vector<Bytes3> x(20), y(20), naive(20);
  for (size_t i = 0; i < 20; ++i) x[i] = {{uint8_t(i), uint8_t(i + 1), uint8_t(i + 2)}};
  const int64_t shape[2] = {4, 5}, sx[2] = {1, 4}, sy[2] = {5, 1};
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 5; ++j) naive[size_t(i * 5 + j)] = x[size_t(i + j * 4)];
  tk::set_arch(arch);
  tk::copy_strided(3, 2, shape, x.data(), sx, y.data(), sy);
  CHECK(std::memcmp(y.data(), naive.data(), sizeof(Bytes3) * 20) == 0, "copy 3-byte elements");
}

// ---------------------------------------------------------------------------------------------
// Gathers and scatters by offsets.
template <class T>
void test_gather_scatter(tk::Arch arch) {
  for (int64_t n : kSizes) {
    const int64_t m = std::max<int64_t>(n, 1) * 2;
    auto x = randv<T>(m);
    std::vector<int64_t> off(size_t(std::max<int64_t>(n, 1)));
    for (auto& o : off) o = int64_t(g_rng() % uint64_t(m));
    std::vector<int64_t> perm(static_cast<size_t>(m));  // distinct offsets for scatter
    for (int64_t i = 0; i < m; ++i) perm[size_t(i)] = (i * 7 + 3) % m;
    if (m % 7 == 0)
      for (int64_t i = 0; i < m; ++i) perm[size_t(i)] = m - 1 - i;

    auto g = both<T>(arch, std::vector<T>(size_t(std::max<int64_t>(n, 1))), [&](std::vector<T>& y) {
      tk::gather(sizeof(T), n, x.data(), off.data(), y.data());
    }, "gather", n);
    bool ok = true;
    for (int64_t i = 0; i < n; ++i) ok &= std::memcmp(&g[size_t(i)], &x[size_t(off[size_t(i)])], sizeof(T)) == 0;
    CHECK(ok, "gather n=%ld: naive", long(n));

    auto s = both<T>(arch, std::vector<T>(size_t(m), T(0)), [&](std::vector<T>& y) {
      tk::scatter(sizeof(T), n, x.data(), perm.data(), y.data());
    }, "scatter", n);
    ok = true;
    for (int64_t i = 0; i < n; ++i) ok &= std::memcmp(&s[size_t(perm[size_t(i)])], &x[size_t(i)], sizeof(T)) == 0;
    CHECK(ok, "scatter n=%ld: naive", long(n));

    const T value = T(5);
    auto f = both<T>(arch, x, [&](std::vector<T>& y) {
      tk::scatter_fill(sizeof(T), n, &value, off.data(), y.data());
    }, "scatter_fill", n);
    ok = true;
    for (int64_t i = 0; i < n; ++i) ok &= f[size_t(off[size_t(i)])] == value;
    CHECK(ok, "scatter_fill n=%ld: naive", long(n));

    if constexpr (!std::is_same_v<T, uint8_t>) {
      // Repeated offsets accumulate in order i = 0, 1, ...
      std::vector<T> naive(size_t(m), T(0));
      for (int64_t i = 0; i < n; ++i) naive[size_t(off[size_t(i)])] += x[size_t(i)];
      auto a = both<T>(arch, std::vector<T>(size_t(m), T(0)), [&](std::vector<T>& y) {
        tk::scatter_add(elem_of<T>(), n, x.data(), off.data(), y.data());
      }, "scatter_add", n);
      CHECK(same_bytes(a, naive), "scatter_add n=%ld: naive", long(n));
    }
  }
}

void test_gather_rows(tk::Arch arch) {
  for (int64_t n : kSizes) {
    const int64_t size = 9, width = 3;
    auto x = randv<double>(size * width);
    std::vector<int64_t> idx(size_t(std::max<int64_t>(n, 1)));
    for (auto& i : idx) i = int64_t(g_rng() % uint64_t(2 * size)) - size;  // −size ≤ i < size
    auto y = both<double>(arch, std::vector<double>(size_t(std::max<int64_t>(n, 1) * width)),
                          [&](std::vector<double>& out) {
      tk::gather_rows(width * sizeof(double), n, size, x.data(), idx.data(), out.data());
    }, "gather_rows", n);
    bool ok = true;
    for (int64_t r = 0; r < n; ++r) {
      const int64_t i = idx[size_t(r)] < 0 ? idx[size_t(r)] + size : idx[size_t(r)];
      for (int64_t j = 0; j < width; ++j) ok &= y[size_t(r * width + j)] == x[size_t(i * width + j)];
    }
    CHECK(ok, "gather_rows n=%ld: naive", long(n));
  }
}

// ---------------------------------------------------------------------------------------------
// Index bookkeeping.
void test_index(tk::Arch arch) {
  for (int64_t n : kSizes) {
    std::vector<int64_t> idx(size_t(std::max<int64_t>(n, 1)));
    for (auto& i : idx) i = int64_t(g_rng() % 20) - 10;
    for (int64_t bad : {int64_t(-1), n / 2, n - 1}) {
      if (n == 0 && bad >= 0) continue;
      std::vector<int64_t> v = idx;
      if (bad >= 0) v[size_t(bad)] = 10;  // first value outside [−10, 10)
      int64_t want = 0, got = 0;
      tk::set_arch(tk::Arch::generic);
      want = tk::find_out_of_range(n, v.data(), -10, 10);
      tk::set_arch(arch);
      got = tk::find_out_of_range(n, v.data(), -10, 10);
      CHECK(want == bad && got == bad, "find_out_of_range n=%ld: %ld / %ld, want %ld", long(n),
            long(want), long(got), long(bad));
    }
    std::vector<int64_t> base(size_t(std::max<int64_t>(n, 1)), 100);
    auto off = both<int64_t>(arch, base, [&](std::vector<int64_t>& o) {
      tk::add_index_offsets(n, idx.data(), 10, 3, o.data());
    }, "add_index_offsets", n);
    bool ok = true;
    for (int64_t i = 0; i < n; ++i)
      ok &= off[size_t(i)] == 100 + (idx[size_t(i)] < 0 ? idx[size_t(i)] + 10 : idx[size_t(i)]) * 3;
    CHECK(ok, "add_index_offsets n=%ld: naive", long(n));

    // (2, n, 3) with the middle dim a lookup, and plain strides.
    const int64_t shape[3] = {2, n, 3}, stride[3] = {1000, 0, 7};
    std::vector<int64_t> lookup(size_t(std::max<int64_t>(n, 1)));
    for (int64_t i = 0; i < n; ++i) lookup[size_t(i)] = i * i;
    for (int lk : {-1, 1}) {
      const int64_t st2[3] = {1000, 11, 7};
      auto io = both<int64_t>(arch, std::vector<int64_t>(size_t(std::max<int64_t>(6 * n, 1))),
                              [&](std::vector<int64_t>& o) {
        tk::index_offsets(3, shape, lk < 0 ? st2 : stride, lk, lookup.data(), 5, o.data());
      }, "index_offsets", n);
      ok = true;
      for (int64_t a = 0; a < 2; ++a)
        for (int64_t b = 0; b < n; ++b)
          for (int64_t c = 0; c < 3; ++c)
            ok &= io[size_t((a * n + b) * 3 + c)] ==
                  5 + a * 1000 + (lk < 0 ? b * 11 : lookup[size_t(b)]) + c * 7;
      CHECK(ok, "index_offsets n=%ld lookup=%d: naive", long(n), lk);
    }

    // arg_offsets over (outer=3, r=4, inner=n).
    std::vector<int64_t> arg(size_t(std::max<int64_t>(3 * n, 1)));
    for (auto& a : arg) a = int64_t(g_rng() % 4);
    auto ao = both<int64_t>(arch, std::vector<int64_t>(arg.size()), [&](std::vector<int64_t>& o) {
      tk::arg_offsets(3, 4, n, arg.data(), o.data());
    }, "arg_offsets", n);
    ok = true;
    for (int64_t o = 0; o < 3; ++o)
      for (int64_t i = 0; i < n; ++i)
        ok &= ao[size_t(o * n + i)] == (o * 4 + arg[size_t(o * n + i)]) * n + i;
    CHECK(ok, "arg_offsets n=%ld: naive", long(n));

    // Non-zeros of a (2, n) mask.
    std::vector<uint8_t> mask(size_t(std::max<int64_t>(2 * n, 1)));
    for (auto& m : mask) m = uint8_t(g_rng() % 3 == 0);
    tk::set_arch(tk::Arch::generic);
    const int64_t nnz = tk::count_nonzero(2 * n, mask.data());
    tk::set_arch(arch);
    CHECK(nnz == tk::count_nonzero(2 * n, mask.data()), "count_nonzero n=%ld", long(n));
    int64_t naive_nnz = 0;
    for (int64_t i = 0; i < 2 * n; ++i) naive_nnz += mask[size_t(i)] != 0;
    CHECK(nnz == naive_nnz, "count_nonzero n=%ld: naive", long(n));
    const int64_t mst[2] = {n, 1};
    std::vector<int64_t> both_cols(size_t(std::max<int64_t>(2 * nnz, 1)));
    auto coords = both<int64_t>(arch, both_cols, [&](std::vector<int64_t>& c) {
      int64_t* cols[2] = {c.data(), c.data() + nnz};
      tk::nonzero_coords(2, mst, 2 * n, mask.data(), cols);
    }, "nonzero_coords", n);
    ok = true;
    int64_t j = 0;
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t c = 0; c < n; ++c)
        if (mask[size_t(r * n + c)]) {
          ok &= coords[size_t(j)] == r && coords[size_t(nnz + j)] == c;
          ++j;
        }
    CHECK(ok, "nonzero_coords n=%ld: naive", long(n));

    // one_hot over n rows of 5 classes.
    std::vector<int64_t> lab(size_t(std::max<int64_t>(n, 1)));
    for (auto& l : lab) l = int64_t(g_rng() % 5);
    auto oh = both<float>(arch, std::vector<float>(size_t(std::max<int64_t>(5 * n, 1)), 0.0f),
                          [&](std::vector<float>& y) {
      tk::one_hot(tk::Elem::f32, n, 5, lab.data(), y.data());
    }, "one_hot", n);
    ok = true;
    for (int64_t i = 0; i < n; ++i)
      for (int64_t c = 0; c < 5; ++c) ok &= oh[size_t(i * 5 + c)] == (c == lab[size_t(i)] ? 1.0f : 0.0f);
    CHECK(ok, "one_hot n=%ld: naive", long(n));
  }
}

// ---------------------------------------------------------------------------------------------
// Casts and fills.
template <class S, class D>
void check_cast(tk::Arch arch, int64_t n) {
  std::vector<S> x(size_t(std::max<int64_t>(n, 1)));
  if constexpr (std::is_floating_point_v<S>) {
    auto r = randv<S>(n, -1e6, 1e6);
    x = r;
    for (int64_t i = 0; i < n; i += 4) x[size_t(i)] = S(i % 8 == 0 ? 0 : 0.5);
  } else {
    for (auto& v : x) v = static_cast<S>(g_rng() % 3);
  }
  auto y = both<D>(arch, std::vector<D>(x.size()), [&](std::vector<D>& out) {
    tk::cast(elem_of<S>(), elem_of<D>(), n, x.data(), out.data());
  }, "cast", n);
  bool ok = true;
  for (int64_t i = 0; i < n; ++i) {
    D want;
    if constexpr (std::is_same_v<D, uint8_t>) want = x[size_t(i)] != S(0);
    else want = static_cast<D>(x[size_t(i)]);
    ok &= std::memcmp(&want, &y[size_t(i)], sizeof(D)) == 0;
  }
  CHECK(ok, "cast n=%ld: naive", long(n));
}

template <class S>
void check_cast_from(tk::Arch arch, int64_t n) {
  check_cast<S, float>(arch, n);
  check_cast<S, double>(arch, n);
  check_cast<S, uint8_t>(arch, n);
  if constexpr (!std::is_floating_point_v<S>) check_cast<S, int64_t>(arch, n);
}

template <class T>
void check_fill(tk::Arch arch, int64_t n, double value) {
  auto y = both<T>(arch, std::vector<T>(size_t(std::max<int64_t>(n, 1)), T(9)),
                   [&](std::vector<T>& out) { tk::fill(elem_of<T>(), n, value, out.data()); },
                   "fill", n);
  T want;
  if constexpr (std::is_same_v<T, uint8_t>) want = value != 0;
  else want = static_cast<T>(value);
  bool ok = true;
  for (int64_t i = 0; i < n; ++i) ok &= y[size_t(i)] == want;
  CHECK(ok, "fill n=%ld: naive", long(n));
}

void test_cast_fill(tk::Arch arch) {
  for (int64_t n : kSizes) {
    check_cast_from<float>(arch, n);
    check_cast_from<double>(arch, n);
    check_cast_from<int64_t>(arch, n);
    check_cast_from<uint8_t>(arch, n);
    check_fill<float>(arch, n, 2.5);
    check_fill<double>(arch, n, -1.25);
    check_fill<int64_t>(arch, n, 7.0);
    check_fill<uint8_t>(arch, n, 0.5);
    // fill_value: one element replicated bit for bit (2^62 + 1 is not a double).
    const int64_t big = (int64_t(1) << 62) + 1;
    auto y = both<int64_t>(arch, std::vector<int64_t>(size_t(std::max<int64_t>(n, 1)), 9),
                           [&](std::vector<int64_t>& out) { tk::fill_value(8, n, &big, out.data()); },
                           "fill_value", n);
    bool ok = true;
    for (int64_t i = 0; i < n; ++i) ok &= y[size_t(i)] == big;
    CHECK(ok, "fill_value n=%ld: naive", long(n));
  }
}

// The storage dtypes' conversions (Note [float16 conversion], Note [storage dtypes]): one
// portable implementation, so checked once against the IEEE rules written out here.
void test_storage_casts() {
  g_ctx = "storage casts";
  for (uint32_t h = 0; h < 0x10000; ++h) {
    const float f = tk::f16_to_f32(static_cast<uint16_t>(h));
    const bool nan = (h & 0x7c00) == 0x7c00 && (h & 0x3ff);
    if (nan) {
      CHECK(std::isnan(f) && (tk::f32_to_f16(f) & 0x7fff) == 0x7e00, "NaN %04x", unsigned(h));
      continue;
    }
    CHECK(tk::f32_to_f16(f) == h, "round trip %04x", unsigned(h));
    // The float32 halfway to the next float16 up (same sign) rounds to the even neighbour.
    if ((h & 0x7fff) < 0x7bff) {
      const float g = tk::f16_to_f32(static_cast<uint16_t>(h + 1));
      const float mid = f / 2 + g / 2;  // exact: float16 needs 11 of float32's 24 bits
      const uint16_t even = (h & 1) ? static_cast<uint16_t>(h + 1) : static_cast<uint16_t>(h);
      CHECK(tk::f32_to_f16(mid) == even, "tie above %04x", unsigned(h));
      CHECK(tk::f32_to_f16(std::nextafter(mid, g)) == h + 1, "above tie %04x", unsigned(h));
      CHECK(tk::f32_to_f16(std::nextafter(mid, f)) == h, "below tie %04x", unsigned(h));
    }
  }
  CHECK(tk::f32_to_f16(65519.996f) == 0x7bff && tk::f32_to_f16(65520.0f) == 0x7c00, "overflow");
  CHECK(tk::f32_to_f16(std::ldexp(1.0f, -25)) == 0 &&
            tk::f32_to_f16(std::nextafter(std::ldexp(1.0f, -25), 1.0f)) == 1,
        "smallest subnormal");
  CHECK(tk::f32_to_f16(-std::numeric_limits<float>::infinity()) == 0xfc00, "-inf");
  // Integers wrap modulo 2^k; floats truncate through int32 (beyond it: INT32_MIN).
  const int64_t ints[] = {300, -129, 255, -1, int64_t(1) << 40};
  int8_t i8[5];
  uint8_t u8[5];
  tk::cast(tk::Elem::i64, tk::Elem::i8, 5, ints, i8);
  tk::cast(tk::Elem::i64, tk::Elem::uint8, 5, ints, u8);
  CHECK(i8[0] == 44 && i8[1] == 127 && i8[2] == -1 && i8[3] == -1 && i8[4] == 0, "int8 wrap");
  CHECK(u8[0] == 44 && u8[1] == 127 && u8[2] == 255 && u8[3] == 255 && u8[4] == 0, "uint8 wrap");
  const double fl[] = {-1.5, 300.7, 1e10, std::nan(""), 2147483647.9};
  int32_t i32[5];
  tk::cast(tk::Elem::f64, tk::Elem::i32, 5, fl, i32);
  CHECK(i32[0] == -1 && i32[1] == 300 && i32[2] == INT32_MIN && i32[3] == INT32_MIN &&
            i32[4] == 2147483647, "float to int32");
  tk::cast(tk::Elem::f64, tk::Elem::uint8, 5, fl, u8);
  CHECK(u8[0] == 255 && u8[1] == 44 && u8[2] == 0, "float to uint8");
}

// ---------------------------------------------------------------------------------------------
// Selection: where / compare / logical on (2, n) against (n) broadcast, and on a scalar.
template <class T>
void test_select(tk::Arch arch) {
  for (int64_t n : kSizes) {
    std::vector<T> a, b;
    if constexpr (std::is_floating_point_v<T>) {
      a = with_specials<T>(2 * n);
      b = with_specials<T>(n);
      for (int64_t i = 0; i < n; i += 3) b[size_t(i)] = a[size_t(i)];  // ties
    } else {
      a.resize(size_t(std::max<int64_t>(2 * n, 1)));
      b.resize(size_t(std::max<int64_t>(n, 1)));
      for (auto& v : a) v = static_cast<T>(g_rng() % 3);
      for (auto& v : b) v = static_cast<T>(g_rng() % 3);
    }
    std::vector<uint8_t> cond(size_t(std::max<int64_t>(n, 1)));
    for (auto& c : cond) c = uint8_t(g_rng() % 2);
    const int64_t shape[2] = {2, n}, sa[2] = {n, 1}, sb[2] = {0, 1};
    const size_t out = size_t(std::max<int64_t>(2 * n, 1));

    auto w = both<T>(arch, std::vector<T>(out), [&](std::vector<T>& y) {
      tk::where(elem_of<T>(), 2, shape, cond.data(), sb, a.data(), sa, b.data(), sb, y.data());
    }, "where", n);
    bool ok = true;
    for (int64_t r = 0; r < 2; ++r)
      for (int64_t i = 0; i < n; ++i) {
        const T want = cond[size_t(i)] ? a[size_t(r * n + i)] : b[size_t(i)];
        ok &= std::memcmp(&want, &w[size_t(r * n + i)], sizeof(T)) == 0;
      }
    CHECK(ok, "where n=%ld: naive", long(n));
    const int64_t shape1w[1] = {n}, unit[1] = {1};
    auto w1 = both<T>(arch, std::vector<T>(size_t(std::max<int64_t>(n, 1))), [&](std::vector<T>& y) {
      tk::where(elem_of<T>(), 1, shape1w, cond.data(), unit, a.data(), unit, b.data(), unit, y.data());
    }, "where same shapes", n);
    ok = true;
    for (int64_t i = 0; i < n; ++i) {
      const T want = cond[size_t(i)] ? a[size_t(i)] : b[size_t(i)];
      ok &= std::memcmp(&want, &w1[size_t(i)], sizeof(T)) == 0;
    }
    CHECK(ok, "where same shapes n=%ld: naive", long(n));

    for (int op = 0; op < 6; ++op) {
      const auto cmp = static_cast<tk::Cmp>(op);
      auto c = both<uint8_t>(arch, std::vector<uint8_t>(out), [&](std::vector<uint8_t>& y) {
        tk::compare(elem_of<T>(), cmp, 2, shape, a.data(), sa, b.data(), sb, y.data());
      }, "compare", n);
      ok = true;
      for (int64_t r = 0; r < 2; ++r)
        for (int64_t i = 0; i < n; ++i) {
          const T u = a[size_t(r * n + i)], v = b[size_t(i)];
          const bool want = op == 0 ? u == v : op == 1 ? u != v : op == 2 ? u < v
                          : op == 3 ? u <= v : op == 4 ? u > v : u >= v;
          ok &= c[size_t(r * n + i)] == uint8_t(want);
        }
      CHECK(ok, "compare op=%d n=%ld: naive", op, long(n));
    }
    // A 0-d scalar operand (every stride 0) and a 0-d output.
    const int64_t s1[1] = {1}, s0[1] = {0};
    const int64_t shape1[1] = {n};
    auto cs = both<uint8_t>(arch, std::vector<uint8_t>(size_t(std::max<int64_t>(n, 1))),
                            [&](std::vector<uint8_t>& y) {
      tk::compare(elem_of<T>(), tk::Cmp::gt, 1, shape1, a.data(), s1, b.data(), s0, y.data());
    }, "compare scalar", n);
    ok = true;
    for (int64_t i = 0; i < n; ++i) ok &= cs[size_t(i)] == uint8_t(a[size_t(i)] > b[0]);
    CHECK(ok, "compare scalar n=%ld: naive", long(n));
  }
  std::vector<uint8_t> y0(1);
  const T u = T(1), v = T(2);
  tk::compare(elem_of<T>(), tk::Cmp::lt, 0, nullptr, &u, nullptr, &v, nullptr, y0.data());
  CHECK(y0[0] == 1, "compare 0-d");
}

void test_logical(tk::Arch arch) {
  for (int64_t n : kSizes) {
    std::vector<uint8_t> a(size_t(std::max<int64_t>(2 * n, 1))), b(size_t(std::max<int64_t>(n, 1)));
    for (auto& v : a) v = uint8_t(g_rng() % 2);
    for (auto& v : b) v = uint8_t(g_rng() % 2);
    const int64_t shape[2] = {2, n}, sa[2] = {n, 1}, sb[2] = {0, 1};
    for (int op = 0; op < 3; ++op) {
      auto y = both<uint8_t>(arch, std::vector<uint8_t>(a.size()), [&](std::vector<uint8_t>& out) {
        tk::logical(static_cast<tk::Logic>(op), 2, shape, a.data(), sa, b.data(), sb, out.data());
      }, "logical", n);
      bool ok = true;
      for (int64_t r = 0; r < 2; ++r)
        for (int64_t i = 0; i < n; ++i) {
          const bool p = a[size_t(r * n + i)], q = b[size_t(i)];
          ok &= y[size_t(r * n + i)] == uint8_t(op == 0 ? p && q : op == 1 ? p || q : p != q);
        }
      CHECK(ok, "logical op=%d n=%ld: naive", op, long(n));
    }
    auto nt = both<uint8_t>(arch, std::vector<uint8_t>(a.size()), [&](std::vector<uint8_t>& out) {
      tk::logical_not(n, a.data(), out.data());
    }, "logical_not", n);
    bool ok = true;
    for (int64_t i = 0; i < n; ++i) ok &= nt[size_t(i)] == uint8_t(!a[size_t(i)]);
    CHECK(ok, "logical_not n=%ld: naive", long(n));
  }
}

template <class T>
void test_clamp_classify(tk::Arch arch) {
  for (int64_t n : kSizes) {
    std::vector<T> x;
    if constexpr (std::is_floating_point_v<T>) x = with_specials<T>(n);
    else {
      x.resize(size_t(std::max<int64_t>(n, 1)));
      for (auto& v : x) v = static_cast<T>(int64_t(g_rng() % 11) - 5);
    }
    for (int mode = 0; mode < 4; ++mode) {
      const bool has_lo = mode & 1, has_hi = mode & 2;
      const double lo = -1.5, hi = mode == 3 ? -2.0 : 2.25;  // mode 3: lo > hi, hi wins
      auto y = both<T>(arch, std::vector<T>(x.size()), [&](std::vector<T>& out) {
        tk::clamp(elem_of<T>(), n, x.data(), has_lo, lo, has_hi, hi, out.data());
      }, "clamp", n);
      bool ok = true;
      for (int64_t i = 0; i < n; ++i) {
        T v = x[size_t(i)];
        if (has_lo && v < static_cast<T>(lo)) v = static_cast<T>(lo);
        if (has_hi && v > static_cast<T>(hi)) v = static_cast<T>(hi);
        ok &= std::memcmp(&v, &y[size_t(i)], sizeof(T)) == 0;
      }
      CHECK(ok, "clamp mode=%d n=%ld: naive", mode, long(n));
    }
    // In place (x and y alias).
    both<T>(arch, x, [&](std::vector<T>& v) {
      tk::clamp(elem_of<T>(), n, v.data(), true, -1.0, true, 1.0, v.data());
    }, "clamp in place", n);
    for (int which = 0; which < 2; ++which) {
      auto c = both<uint8_t>(arch, std::vector<uint8_t>(x.size(), 7), [&](std::vector<uint8_t>& out) {
        if (which == 0) tk::isnan(elem_of<T>(), n, x.data(), out.data());
        else tk::isinf(elem_of<T>(), n, x.data(), out.data());
      }, which == 0 ? "isnan" : "isinf", n);
      bool ok = true;
      for (int64_t i = 0; i < n; ++i) {
        bool want = false;
        if constexpr (std::is_floating_point_v<T>)
          want = which == 0 ? std::isnan(x[size_t(i)]) : std::isinf(x[size_t(i)]);
        ok &= c[size_t(i)] == uint8_t(want);
      }
      CHECK(ok, "isnan/isinf %d n=%ld: naive", which, long(n));
    }
    // any_nonfinite: the first prefix of x holding a NaN (or ±inf) flips the answer.
    for (int nan_only = 0; nan_only < 2; ++nan_only) {
      bool want = false;
      tk::set_arch(arch);
      for (int64_t i = 0; i <= n; ++i) {
        CHECK(tk::any_nonfinite(elem_of<T>(), i, x.data(), nan_only) == want,
              "any_nonfinite nan_only=%d prefix %ld of n=%ld", nan_only, long(i), long(n));
        if (i < n) {
          if constexpr (std::is_floating_point_v<T>)
            want |= nan_only ? std::isnan(x[size_t(i)]) : !std::isfinite(x[size_t(i)]);
        }
      }
    }
  }
}

void test_integer(tk::Arch arch) {
  for (int64_t n : kSizes) {
    std::vector<int64_t> x(size_t(std::max<int64_t>(n, 1))), e(x.size());
    for (auto& v : x) v = int64_t(g_rng() % 21) - 10;
    for (auto& v : e) v = int64_t(g_rng() % 6);
    const tk::Unary ops[] = {tk::Unary::neg, tk::Unary::abs, tk::Unary::relu, tk::Unary::sign};
    for (tk::Unary op : ops) {
      auto y = both<int64_t>(arch, std::vector<int64_t>(x.size()), [&](std::vector<int64_t>& out) {
        tk::unary_i64(op, n, x.data(), out.data());
      }, "unary_i64", n);
      bool ok = true;
      for (int64_t i = 0; i < n; ++i) {
        const int64_t v = x[size_t(i)];
        const int64_t want = op == tk::Unary::neg ? -v : op == tk::Unary::abs ? (v < 0 ? -v : v)
                           : op == tk::Unary::relu ? (v < 0 ? 0 : v) : (v > 0) - (v < 0);
        ok &= y[size_t(i)] == want;
      }
      CHECK(ok, "unary_i64 op=%d n=%ld: naive", int(op), long(n));
    }
    // Integer pow: exact (small values here; the wrapping cases are below).
    auto p = both<int64_t>(arch, std::vector<int64_t>(x.size()), [&](std::vector<int64_t>& out) {
      tk::binary_i64(tk::Binary::pow, n, x.data(), 1, e.data(), 1, out.data());
    }, "pow_i64", n);
    bool ok = true;
    for (int64_t i = 0; i < n; ++i) {
      int64_t want = 1;
      for (int64_t k = 0; k < e[size_t(i)]; ++k) want *= x[size_t(i)];
      ok &= p[size_t(i)] == want;
    }
    CHECK(ok, "pow_i64 n=%ld: naive", long(n));
    // Full-range values: bitwise ops, and add/sub/mul/pow wrapping modulo 2^64 (naive loops
    // in uint64; a negative exponent gives 1/aᵇ truncated).
    std::vector<int64_t> u(x.size()), w(x.size());
    for (auto& v : u) v = int64_t(g_rng());  // any bit pattern
    for (size_t i = 0; i < w.size(); ++i) w[i] = i % 3 == 0 ? -int64_t(i % 5) : int64_t(i % 70);
    const tk::Binary wide[] = {tk::Binary::bitwise_and, tk::Binary::bitwise_or, tk::Binary::bitwise_xor,
                               tk::Binary::add, tk::Binary::sub, tk::Binary::mul, tk::Binary::pow};
    for (tk::Binary op : wide) {
      const std::vector<int64_t>& rhs = op == tk::Binary::pow ? w : x;
      auto y = both<int64_t>(arch, std::vector<int64_t>(x.size()), [&](std::vector<int64_t>& out) {
        tk::binary_i64(op, n, u.data(), 1, rhs.data(), 1, out.data());
      }, "binary_i64 wide", n);
      bool good = true;
      for (int64_t i = 0; i < n; ++i) {
        const uint64_t a = uint64_t(u[size_t(i)]), b = uint64_t(rhs[size_t(i)]);
        uint64_t want = 0;
        switch (op) {
          case tk::Binary::bitwise_and: want = a & b; break;
          case tk::Binary::bitwise_or: want = a | b; break;
          case tk::Binary::bitwise_xor: want = a ^ b; break;
          case tk::Binary::add: want = a + b; break;
          case tk::Binary::sub: want = a - b; break;
          case tk::Binary::mul: want = a * b; break;
          default: {
            const int64_t e = rhs[size_t(i)];
            const int64_t sa = u[size_t(i)];
            if (e < 0) want = sa == 1 ? 1 : sa == -1 ? uint64_t(e % 2 ? -1 : 1) : 0;
            else { want = 1; for (int64_t k = 0; k < e; ++k) want *= a; }
          }
        }
        good &= uint64_t(y[size_t(i)]) == want;
      }
      CHECK(good, "binary_i64 op=%d n=%ld: naive (wrapping)", int(op), long(n));
    }
  }
}

void test_gemm_i64(tk::Arch arch) {
  for (int64_t n : kSizes)
    for (int t = 0; t < 4; ++t) {
      const bool ta = t & 1, tb = t & 2;
      const int64_t m = 3, k = n % 17 + 1, lda = (ta ? m : k) + 1, ldb = (tb ? k : n) + 2;
      std::vector<int64_t> a(size_t((ta ? k : m) * lda)), b(size_t(std::max<int64_t>((tb ? n : k) * ldb, 1)));
      for (auto& v : a) v = int64_t(g_rng() % 19) - 9;
      for (auto& v : b) v = int64_t(g_rng() % 19) - 9;
      auto c = both<int64_t>(arch, std::vector<int64_t>(size_t(std::max<int64_t>(m * n, 1)), 99),
                             [&](std::vector<int64_t>& out) {
        tk::gemm_i64(ta, tb, m, n, k, a.data(), lda, b.data(), ldb, out.data(), n);
      }, "gemm_i64", n);
      bool ok = true;
      for (int64_t i = 0; i < m; ++i)
        for (int64_t j = 0; j < n; ++j) {
          int64_t s = 0;
          for (int64_t p = 0; p < k; ++p)
            s += (ta ? a[size_t(p * lda + i)] : a[size_t(i * lda + p)]) *
                 (tb ? b[size_t(j * ldb + p)] : b[size_t(p * ldb + j)]);
          ok &= c[size_t(i * n + j)] == s;
        }
      CHECK(ok, "gemm_i64 n=%ld ta=%d tb=%d: naive", long(n), ta, tb);
    }
}

// ---------------------------------------------------------------------------------------------
// Loss rows, relu backward and optimizer updates: bit for bit against the reference.
template <class T>
void test_rows(tk::Arch arch) {
  constexpr bool f32 = sizeof(T) == 4;
  for (int64_t n : kSizes) {
    auto y = with_specials<T>(n), g = randv<T>(n), a = randv<T>(n), b = randv<T>(n);
    both<T>(arch, std::vector<T>(y.size()), [&](std::vector<T>& dx) {
      if constexpr (f32) tk::relu_backward_f32(n, y.data(), g.data(), dx.data());
      else tk::relu_backward_f64(n, y.data(), g.data(), dx.data());
    }, "relu_backward", n);
    both<T>(arch, std::vector<T>(y.size()), [&](std::vector<T>& d) {
      if constexpr (f32) tk::scaled_diff_f32(n, T(0.37), a.data(), b.data(), d.data());
      else tk::scaled_diff_f64(n, T(0.37), a.data(), b.data(), d.data());
    }, "scaled_diff", n);
    both<T>(arch, std::vector<T>(y.size()), [&](std::vector<T>& l) {
      if constexpr (f32) tk::bce_with_logits_f32(n, y.data(), b.data(), l.data());
      else tk::bce_with_logits_f64(n, y.data(), b.data(), l.data());
    }, "bce_with_logits", n);
    both<double>(arch, std::vector<double>(2), [&](std::vector<double>& s) {
      if constexpr (f32) {
        s[0] = tk::accumulate_f32(n, a.data());
        s[1] = tk::mse_sum_f32(n, a.data(), b.data());
      } else {
        s[0] = tk::accumulate_f64(n, a.data());
        s[1] = tk::mse_sum_f64(n, a.data(), b.data());
      }
    }, "accumulate/mse_sum", n);

    // SGD: every combination of momentum, weight decay, nesterov and first step; Adam with and
    // without weight decay over a few steps. The weights, buffers and moments are compared.
    for (int mode = 0; mode < 16; ++mode) {
      const tk::SgdParams p{0.05, mode & 1 ? 0.9 : 0.0, mode & 8 ? 0.1 : 0.0,
                            mode & 2 ? 1e-2 : 0.0, (mode & 4) && (mode & 1), (mode & 8) != 0,
                            (mode & 4) != 0};
      std::vector<T> init(size_t(2 * std::max<int64_t>(n, 1)));
      std::copy(a.begin(), a.end(), init.begin());
      std::copy(b.begin(), b.end(), init.begin() + long(init.size() / 2));
      both<T>(arch, init, [&](std::vector<T>& wb) {
        T* w = wb.data();
        T* buf = p.momentum != 0 ? wb.data() + wb.size() / 2 : nullptr;
        for (int step = 0; step < 3; ++step) {
          tk::SgdParams q = p;
          q.first = p.first && step == 0;
          if constexpr (f32) tk::sgd_f32(n, w, g.data(), buf, q);
          else tk::sgd_f64(n, w, g.data(), buf, q);
        }
      }, "sgd", n);
    }
    // Adam / AdamW (with amsgrad, maximize) over a few steps: weights, moments and the max.
    for (int mode = 0; mode < 16; ++mode) {
      const double wd = mode & 1 ? 1e-2 : 0.0;
      const bool amsgrad = mode & 2, maximize = mode & 4, decoupled = mode & 8;
      std::vector<T> init(size_t(4 * std::max<int64_t>(n, 1)), T(0));
      std::copy(a.begin(), a.end(), init.begin());
      both<T>(arch, init, [&](std::vector<T>& st) {
        const size_t s = st.size() / 4;
        T* vmax = amsgrad ? st.data() + 3 * s : nullptr;
        for (int64_t step = 1; step <= 3; ++step) {
          const tk::AdamParams p{1e-3, step == 2 ? 0.3 : 0.9, 0.999, 1e-8, wd, step, maximize,
                                 decoupled};
          T* m = st.data() + s;
          T* v = st.data() + 2 * s;
          if constexpr (f32) tk::adam_f32(n, st.data(), g.data(), m, v, vmax, p);
          else tk::adam_f64(n, st.data(), g.data(), m, v, vmax, p);
        }
      }, "adam", n);
    }
    // RMSprop: centered, momentum, weight decay, maximize; Adagrad with decay and maximize.
    for (int mode = 0; mode < 16; ++mode) {
      const bool centered = mode & 1, use_buf = mode & 2;
      const tk::RmspropParams p{1e-2, 0.99, 1e-8, mode & 4 ? 1e-2 : 0.0, use_buf ? 0.9 : 0.0,
                                (mode & 8) != 0};
      std::vector<T> init(size_t(4 * std::max<int64_t>(n, 1)), T(0));
      std::copy(a.begin(), a.end(), init.begin());
      both<T>(arch, init, [&](std::vector<T>& st) {
        const size_t s = st.size() / 4;
        for (int step = 0; step < 3; ++step) {
          T* ga = centered ? st.data() + 2 * s : nullptr;
          T* buf = use_buf ? st.data() + 3 * s : nullptr;
          if constexpr (f32) tk::rmsprop_f32(n, st.data(), g.data(), st.data() + s, ga, buf, p);
          else tk::rmsprop_f64(n, st.data(), g.data(), st.data() + s, ga, buf, p);
        }
      }, "rmsprop", n);
      both<T>(arch, std::vector<T>(init.begin(), init.begin() + long(2 * (init.size() / 4))),
              [&](std::vector<T>& st) {
        const size_t s = st.size() / 2;
        for (int64_t step = 1; step <= 3; ++step) {
          const tk::AdagradParams q{1e-2, mode & 1 ? 0.1 : 0.0, p.weight_decay, 1e-10, step,
                                    p.maximize};
          if constexpr (f32) tk::adagrad_f32(n, st.data(), g.data(), st.data() + s, q);
          else tk::adagrad_f64(n, st.data(), g.data(), st.data() + s, q);
        }
      }, "adagrad", n);
    }
  }
}

}  // namespace

int main() {
  test_storage_casts();
  const auto& info = tk::cpu_info();
  const tk::Arch initial = info.selected;
  for (tk::Arch arch : info.available) {
    g_ctx = tk::arch_name(arch);
    test_copy(arch);
    test_gather_scatter<float>(arch);
    test_gather_scatter<double>(arch);
    test_gather_scatter<int64_t>(arch);
    test_gather_scatter<uint8_t>(arch);
    test_gather_rows(arch);
    test_index(arch);
    test_cast_fill(arch);
    test_select<float>(arch);
    test_select<double>(arch);
    test_select<int64_t>(arch);
    test_select<uint8_t>(arch);
    test_logical(arch);
    test_clamp_classify<float>(arch);
    test_clamp_classify<double>(arch);
    test_clamp_classify<int64_t>(arch);
    test_integer(arch);
    test_gemm_i64(arch);
    test_rows<float>(arch);
    test_rows<double>(arch);
  }
  tk::set_arch(initial);
  std::printf("%d checks, %d failures\n", g_checks, g_failures);
  return g_failures == 0 ? 0 : 1;
}
