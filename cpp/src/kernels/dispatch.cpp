// CPU detection (once), the active kernel table, and the public kernel entry points.
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "kernels/sum_order.h"
#include "kernels/table.h"

#if TAPEGRAD_HAVE_X86_SIMD
#include <cpuid.h>
#endif

namespace tapegrad::kernels {

namespace {

#if TAPEGRAD_HAVE_X86_SIMD
uint64_t read_xcr0() {
  uint32_t eax, edx;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (uint64_t(edx) << 32) | eax;
}
#endif

CpuInfo detect() {
  CpuInfo info;
  info.available.push_back(Arch::generic);
#if TAPEGRAD_HAVE_X86_SIMD
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (__get_cpuid(0, &a, &b, &c, &d)) {
    char vendor[13];
    std::memcpy(vendor, &b, 4);
    std::memcpy(vendor + 4, &d, 4);
    std::memcpy(vendor + 8, &c, 4);
    vendor[12] = 0;
    info.vendor = vendor;
  }
  const unsigned max_leaf = a;
  if (__get_cpuid(1, &a, &b, &c, &d)) {
    info.sse42 = c & (1u << 20);
    info.avx = c & (1u << 28);
    info.fma = c & (1u << 12);
    info.f16c = c & (1u << 29);
    const bool osxsave = c & (1u << 27);
    if (osxsave) {
      const uint64_t xcr0 = read_xcr0();
      info.os_avx = (xcr0 & 0x6) == 0x6;            // XMM and YMM state
      info.os_avx512 = (xcr0 & 0xe6) == 0xe6;       // + opmask, ZMM_Hi256, Hi16_ZMM
    }
  }
  if (max_leaf >= 7) {
    __cpuid_count(7, 0, a, b, c, d);
    info.avx2 = b & (1u << 5);
    info.avx512f = b & (1u << 16);
    info.avx512dq = b & (1u << 17);
    info.avx512bw = b & (1u << 30);
    info.avx512vl = b & (1u << 31);
  }
  if (info.avx && info.avx2 && info.fma && info.os_avx) info.available.push_back(Arch::avx2);
  if (info.avx512f && info.avx512bw && info.avx512dq && info.avx512vl && info.os_avx512 &&
      info.fma)
    info.available.push_back(Arch::avx512);
#endif
  info.selected = info.available.back();
  return info;
}

CpuInfo& info_mut() {
  static CpuInfo info = detect();
  return info;
}

KernelTable build(Arch arch) {
  KernelTable t{};
  ref::fill_table(t);
#if TAPEGRAD_HAVE_X86_SIMD
  if (arch == Arch::avx2 || arch == Arch::avx512) avx2::fill_table(t);
  if (arch == Arch::avx512) avx512::fill_table(t);
#endif
  return t;
}

bool supported(Arch arch) {
  for (Arch a : info_mut().available)
    if (a == arch) return true;
  return false;
}

struct Active {
  KernelTable table;
  Active() {
    CpuInfo& info = info_mut();
    if (const char* env = std::getenv("TAPEGRAD_ARCH"); env && *env) {
      // An unknown or unsupported request falls back to the best target rather than crashing
      // at import; tapegrad.cpu_info() shows what was selected.
      try {
        Arch want = parse_arch(env);
        if (supported(want)) info.selected = want;
      } catch (const std::invalid_argument&) {
      }
    }
    table = build(info.selected);
  }
};

Active& active() {
  static Active a;
  return a;
}

}  // namespace

const KernelTable& table() { return active().table; }

const CpuInfo& cpu_info() {
  active();
  return info_mut();
}

Arch selected_arch() { return cpu_info().selected; }

void set_arch(Arch arch) {
  if (!supported(arch))
    throw std::invalid_argument(std::string("set_arch: this CPU cannot run target '") +
                                arch_name(arch) + "'");
  active().table = build(arch);
  info_mut().selected = arch;
}

const char* arch_name(Arch arch) {
  switch (arch) {
    case Arch::generic: return "generic";
    case Arch::avx2: return "avx2";
    case Arch::avx512: return "avx512";
  }
  return "?";
}

Arch parse_arch(const std::string& name) {
  if (name == "generic") return Arch::generic;
  if (name == "avx2") return Arch::avx2;
  if (name == "avx512") return Arch::avx512;
  throw std::invalid_argument("unknown target '" + name + "' (expected generic, avx2 or avx512)");
}

// ---------------------------------------------------------------------------------------------
void gemm_f32(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
              int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  table().gemm_f32(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void gemm_f64(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha, const double* a,
              int64_t lda, const double* b, int64_t ldb, double beta, double* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  table().gemm_f64(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void unary_f32(Unary op, int64_t n, const float* x, float* y) {
  if (n > 0) table().unary_f32(op, n, x, y);
}
void unary_f64(Unary op, int64_t n, const double* x, double* y) {
  if (n > 0) table().unary_f64(op, n, x, y);
}
void binary_f32(Binary op, int64_t n, const float* a, int64_t sa, const float* b, int64_t sb,
                float* c) {
  if (n > 0) table().binary_f32(op, n, a, sa, b, sb, c);
}
void binary_f64(Binary op, int64_t n, const double* a, int64_t sa, const double* b,
                int64_t sb, double* c) {
  if (n > 0) table().binary_f64(op, n, a, sa, b, sb, c);
}
void binary_i64(Binary op, int64_t n, const int64_t* a, int64_t sa, const int64_t* b,
                int64_t sb, int64_t* c) {
  if (n > 0) table().binary_i64(op, n, a, sa, b, sb, c);
}

namespace {
// Broadcasting driver: collapse adjacent dims that are contiguous for out, a and b alike,
// then walk the outer index space with an odometer and hand the innermost run to the run
// kernel (strides 0/1 there give the vector-scalar / scalar-vector fast paths).
template <class T, class Run>
void bcast(int ndim, const int64_t* shape, const T* a, const int64_t* sa, const T* b,
           const int64_t* sb, T* c, Run run) {
  int64_t dims[16], as[16], bs[16];
  int nd = 0;
  int64_t total = 1;
  for (int i = 0; i < ndim; ++i) total *= shape[i];
  if (total == 0) return;
  for (int i = 0; i < ndim; ++i) {
    if (shape[i] == 1) continue;  // size-1 dims contribute nothing
    if (nd > 0 && as[nd - 1] == sa[i] * shape[i] && bs[nd - 1] == sb[i] * shape[i]) {
      dims[nd - 1] *= shape[i];
      as[nd - 1] = sa[i];
      bs[nd - 1] = sb[i];
    } else {
      dims[nd] = shape[i];
      as[nd] = sa[i];
      bs[nd] = sb[i];
      ++nd;
    }
  }
  if (nd == 0) {
    run(1, a, 0, b, 0, c);
    return;
  }
  const int64_t inner = dims[nd - 1];
  const int64_t ia = as[nd - 1], ib = bs[nd - 1];
  if ((ia == 0 || ia == 1) && (ib == 0 || ib == 1)) {
    int64_t idx[16] = {0};
    const int64_t outer = total / inner;
    int64_t oa = 0, ob = 0;
    for (int64_t o = 0; o < outer; ++o) {
      run(inner, a + oa, ia, b + ob, ib, c + o * inner);
      for (int d = nd - 2; d >= 0; --d) {
        oa += as[d];
        ob += bs[d];
        if (++idx[d] < dims[d]) break;
        oa -= as[d] * dims[d];
        ob -= bs[d] * dims[d];
        idx[d] = 0;
      }
    }
  } else {
    // Inner strides other than 0/1 cannot come from contiguous broadcasting; handle generally.
    int64_t idx[16] = {0};
    int64_t oa = 0, ob = 0;
    for (int64_t o = 0; o < total; ++o) {
      run(1, a + oa, 0, b + ob, 0, c + o);
      for (int d = nd - 1; d >= 0; --d) {
        oa += as[d];
        ob += bs[d];
        if (++idx[d] < dims[d]) break;
        oa -= as[d] * dims[d];
        ob -= bs[d] * dims[d];
        idx[d] = 0;
      }
    }
  }
}
}  // namespace

void binary_bcast_f32(Binary op, int ndim, const int64_t* shape, const float* a,
                      const int64_t* sa, const float* b, const int64_t* sb, float* c) {
  auto fn = table().binary_f32;
  bcast(ndim, shape, a, sa, b, sb, c,
        [&](int64_t n, const float* x, int64_t sx, const float* y, int64_t sy, float* z) {
          fn(op, n, x, sx, y, sy, z);
        });
}
void binary_bcast_f64(Binary op, int ndim, const int64_t* shape, const double* a,
                      const int64_t* sa, const double* b, const int64_t* sb, double* c) {
  auto fn = table().binary_f64;
  bcast(ndim, shape, a, sa, b, sb, c,
        [&](int64_t n, const double* x, int64_t sx, const double* y, int64_t sy, double* z) {
          fn(op, n, x, sx, y, sy, z);
        });
}
void binary_bcast_i64(Binary op, int ndim, const int64_t* shape, const int64_t* a,
                      const int64_t* sa, const int64_t* b, const int64_t* sb, int64_t* c) {
  auto fn = table().binary_i64;
  bcast(ndim, shape, a, sa, b, sb, c,
        [&](int64_t n, const int64_t* x, int64_t sx, const int64_t* y, int64_t sy, int64_t* z) {
          fn(op, n, x, sx, y, sy, z);
        });
}

void affine_f32(int64_t n, const float* x, float alpha, float beta, float* y) {
  if (n > 0) table().affine_f32(n, x, alpha, beta, y);
}
void affine_f64(int64_t n, const double* x, double alpha, double beta, double* y) {
  if (n > 0) table().affine_f64(n, x, alpha, beta, y);
}
void axpy_f32(int64_t n, float alpha, const float* x, float* y) {
  if (n > 0) table().axpy_f32(n, alpha, x, y);
}
void axpy_f64(int64_t n, double alpha, const double* x, double* y) {
  if (n > 0) table().axpy_f64(n, alpha, x, y);
}

namespace {
template <class T>
bool all_finite(T alpha, int64_t n, const T* v) {
  bool ok = std::isfinite(alpha);
  for (int64_t j = 0; j < n; ++j) ok &= std::isfinite(v[j]);
  return ok;
}
}  // namespace

void axpy_outer_f32(int64_t m, int64_t n, float alpha, const float* u, const float* v, float* y) {
  if (m > 0 && n > 0) table().axpy_outer_f32(m, n, alpha, u, v, y, all_finite(alpha, n, v));
}
void axpy_outer_f64(int64_t m, int64_t n, double alpha, const double* u, const double* v,
                    double* y) {
  if (m > 0 && n > 0) table().axpy_outer_f64(m, n, alpha, u, v, y, all_finite(alpha, n, v));
}

void reduce_f32(Reduce op, int64_t outer, int64_t r, int64_t inner, const float* x, float* y) {
  if (outer <= 0 || inner <= 0) return;
  if (op == Reduce::sum && sum_in_matched_order(r, inner))  // Note [summation order]
    return sum_ordered_f32(outer, r, inner, x, y);
  table().reduce_f32(op, outer, r, inner, x, y);
}
void reduce_f64(Reduce op, int64_t outer, int64_t r, int64_t inner, const double* x,
                double* y) {
  if (outer <= 0 || inner <= 0) return;
  if (op == Reduce::sum && sum_in_matched_order(r, inner))  // Note [summation order]
    return sum_ordered_f64(outer, r, inner, x, y);
  table().reduce_f64(op, outer, r, inner, x, y);
}
void reduce_i64(Reduce op, int64_t outer, int64_t r, int64_t inner, const int64_t* x,
                int64_t* y) {
  if (outer > 0 && inner > 0) table().reduce_i64(op, outer, r, inner, x, y);
}
void argreduce_f32(Reduce op, int64_t outer, int64_t r, int64_t inner, const float* x,
                   int64_t* idx) {
  if (outer > 0 && inner > 0) table().argreduce_f32(op, outer, r, inner, x, idx);
}
void argreduce_f64(Reduce op, int64_t outer, int64_t r, int64_t inner, const double* x,
                   int64_t* idx) {
  if (outer > 0 && inner > 0) table().argreduce_f64(op, outer, r, inner, x, idx);
}
void argreduce_i64(Reduce op, int64_t outer, int64_t r, int64_t inner, const int64_t* x,
                   int64_t* idx) {
  if (outer > 0 && inner > 0) table().argreduce_i64(op, outer, r, inner, x, idx);
}

#define TG_ROW(name)                                                                          \
  void name##_f32(int64_t outer, int64_t r, int64_t inner, const float* x, float* y) {        \
    if (outer > 0 && inner > 0) table().name##_f32(outer, r, inner, x, y);                    \
  }                                                                                           \
  void name##_f64(int64_t outer, int64_t r, int64_t inner, const double* x, double* y) {      \
    if (outer > 0 && inner > 0) table().name##_f64(outer, r, inner, x, y);                    \
  }
TG_ROW(logsumexp)
TG_ROW(softmax)
TG_ROW(log_softmax)
#undef TG_ROW

void cross_entropy_f32(int64_t n, int64_t c, const float* x, const int64_t* label, float* loss,
                       float* lse) {
  if (n > 0) table().cross_entropy_f32(n, c, x, label, loss, lse);
}
void cross_entropy_f64(int64_t n, int64_t c, const double* x, const int64_t* label,
                       double* loss, double* lse) {
  if (n > 0) table().cross_entropy_f64(n, c, x, label, loss, lse);
}
void cross_entropy_backward_f32(int64_t n, int64_t c, const float* x, const int64_t* label,
                                const float* lse, const float* g, int64_t gs, float* dx) {
  if (n > 0) table().cross_entropy_backward_f32(n, c, x, label, lse, g, gs, dx);
}
void cross_entropy_backward_f64(int64_t n, int64_t c, const double* x, const int64_t* label,
                                const double* lse, const double* g, int64_t gs, double* dx) {
  if (n > 0) table().cross_entropy_backward_f64(n, c, x, label, lse, g, gs, dx);
}

}  // namespace tapegrad::kernels
