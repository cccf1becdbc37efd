// tapegrad kernel layer: autodiff-free math on raw pointers.
//
// Kernels never see a Tensor, the tape or Python: they take pointers, sizes, strides and
// alpha/beta. Every slot has a portable reference implementation (the fallback and the test
// oracle, namespace tapegrad::kernels::ref) and may have SIMD versions (namespaces
// tapegrad::kernels::avx2 / ::avx512, in their own translation units — Note [per-ISA
// translation units] in CMakeLists.txt). The public functions below dispatch through a table
// chosen once at start-up (see cpu.cpp); TAPEGRAD_ARCH=generic|avx2|avx512 overrides.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tapegrad::kernels {

// ---------------------------------------------------------------------------------------------
// CPU detection and dispatch
enum class Arch : int { generic = 0, avx2 = 1, avx512 = 2 };

// One cache level as the CPU reports it (cpuid leaf 4 on Intel, 0x8000001D on AMD; sysfs when
// cpuid has no such leaf). size 0 means "not reported".
struct CacheLevel {
  int64_t size = 0;    // bytes
  int ways = 0;        // associativity (0: unknown; fully associative reports sets == 1)
  int line = 0;        // bytes
  int sets = 0;
  int shared_by = 1;   // logical CPUs sharing this cache
};

// GEMM register tile and cache blocks of one (target, dtype): Note [GEMM blocking].
struct GemmBlocks {
  int mr = 0, nr = 0;                  // micro-kernel tile, elements (0: no packed GEMM)
  int64_t kc = 0, mc = 0, nc = 0;      // cache blocks, elements
};

struct CpuInfo {
  std::string vendor;
  std::string model_name;               // cpuid brand string (leaves 0x80000002..4)
  int family = 0, model = 0, stepping = 0;  // display family / model (extended fields added)
  CacheLevel l1d, l2, l3;
  std::string cache_source;             // "cpuid", "sysfs" or "default"
  std::string cache_mismatch;           // non-empty when cpuid and sysfs disagree (what differs)
  bool sse42 = false, avx = false, avx2 = false, fma = false, f16c = false;
  bool avx512f = false, avx512bw = false, avx512dq = false, avx512vl = false;
  bool os_avx = false, os_avx512 = false;  // XCR0 says the OS saves the registers
  std::vector<Arch> available;             // targets this CPU can run, best last
  Arch selected = Arch::generic;
};

const CpuInfo& cpu_info();
// Blocks of the active target's float32 / float64 GEMM (what gemm_f32 / gemm_f64 use).
GemmBlocks gemm_blocks_f32();
GemmBlocks gemm_blocks_f64();
// Measured FMA throughput of one core with the given target's widest vectors, GFLOP/s
// (2 flops per lane per FMA): a fixed loop of independent FMA chains run for about
// `seconds`, best of a few rounds. 0 when the target is not available.
double measure_fma_peak(Arch arch, double seconds);
Arch selected_arch();
// Switch the dispatch table (tests force each target). Throws std::invalid_argument when the
// CPU cannot run `arch`.
void set_arch(Arch arch);
const char* arch_name(Arch arch);
Arch parse_arch(const std::string& name);  // throws std::invalid_argument

// ---------------------------------------------------------------------------------------------
// GEMM, row-major:  C[m×n] = alpha · op(A)[m×k] · op(B)[k×n] + beta · C
// op(A) = A (m×k, leading dim lda) or Aᵀ when trans_a (A stored k×m). Same for B.
// beta == 0 means C is write-only (NaNs in C are not propagated), as in BLAS.
void gemm_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
              const float* a, int64_t lda, const float* b, int64_t ldb, float beta, float* c,
              int64_t ldc);
void gemm_f64(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
              const double* a, int64_t lda, const double* b, int64_t ldb, double beta,
              double* c, int64_t ldc);
// C = relu(alpha · op(A)·op(B) + beta · C), relu as the unary kernel's (x ≤ 0 ? 0 : x, NaN
// kept): the same bits as gemm followed by relu; on the packed path relu is applied to each C
// tile while it is in cache (Note [GEMM epilogue]).
void gemm_relu_f32(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, float alpha,
                   const float* a, int64_t lda, const float* b, int64_t ldb, float beta,
                   float* c, int64_t ldc);
void gemm_relu_f64(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, double alpha,
                   const double* a, int64_t lda, const double* b, int64_t ldb, double beta,
                   double* c, int64_t ldc);

// Integer product C = op(A)·op(B) (no alpha/beta: C is write-only), plain dot products.
void gemm_i64(bool trans_a, bool trans_b, int64_t m, int64_t n, int64_t k, const int64_t* a,
              int64_t lda, const int64_t* b, int64_t ldb, int64_t* c, int64_t ldc);

// ---------------------------------------------------------------------------------------------
// Elementwise.  Unary: y[i] = f(x[i]) for i < n (x and y may alias).
enum class Unary : int {
  neg, exp, log, sqrt, abs, relu, sigmoid, tanh, sin, cos, sign, square, reciprocal, log1p,
  erf, expm1,
  count_
};
void unary_f32(Unary op, int64_t n, const float* x, float* y);
void unary_f64(Unary op, int64_t n, const double* x, double* y);

// Binary on one contiguous run: c[i] = a[i*sa] ∘ b[i*sb], sa, sb ∈ {0, 1} (0 = broadcast
// scalar). c may alias a or b when the matching stride is 1.
enum class Binary : int {
  add, sub, mul, div, pow, maximum, minimum,
  bitwise_and, bitwise_or, bitwise_xor,  // int64 only
  count_
};
void binary_f32(Binary op, int64_t n, const float* a, int64_t sa, const float* b, int64_t sb,
                float* c);
void binary_f64(Binary op, int64_t n, const double* a, int64_t sa, const double* b, int64_t sb,
                double* c);
// int64 supports add, sub, mul, maximum, minimum, pow and the bitwise ops, with PyTorch's
// integer semantics: add, sub, mul and pow wrap modulo 2^64; pow is exact (repeated squaring)
// and b < 0 gives the truncated 1/aᵇ (1 for a = 1, ±1 for a = −1, else 0). div is float-only.
// The bitwise ops are int64-only.
void binary_i64(Binary op, int64_t n, const int64_t* a, int64_t sa, const int64_t* b,
                int64_t sb, int64_t* c);

// Broadcasting driver: out has `ndim` dims of sizes `shape`; a and b are read with element
// strides `sa`/`sb` (0 on broadcast dims). Collapses dims and calls the run kernels above on
// the innermost run (vector-vector, vector-scalar, scalar-vector fast paths).
void binary_bcast_f32(Binary op, int ndim, const int64_t* shape, const float* a,
                      const int64_t* sa, const float* b, const int64_t* sb, float* c);
void binary_bcast_f64(Binary op, int ndim, const int64_t* shape, const double* a,
                      const int64_t* sa, const double* b, const int64_t* sb, double* c);
void binary_bcast_i64(Binary op, int ndim, const int64_t* shape, const int64_t* a,
                      const int64_t* sa, const int64_t* b, const int64_t* sb, int64_t* c);

// y[i] = alpha * x[i] + beta  (scalar affine; covers x+s, x-s, s-x, s*x, x/s, -x).
void affine_f32(int64_t n, const float* x, float alpha, float beta, float* y);
void affine_f64(int64_t n, const double* x, double alpha, double beta, double* y);
// y[i] = fma(alpha, x[i], y[i]): y += alpha·x with one rounding (PyTorch's add_ rounds so)
void axpy_f32(int64_t n, float alpha, const float* x, float* y);
void axpy_f64(int64_t n, double alpha, const double* x, double* y);
// Y[m×n] (rows contiguous) += alpha·(u ⊗ v): y(i, j) = fma(alpha, u_i·v_j, y(i, j)), i.e. the
// axpy above applied to the outer product that the k = 1 GEMM computes (same two roundings),
// without materialising it. When alpha and every v_j are finite, rows with u_i = ±0 are left
// untouched (adding ±0 changes nothing but the sign of a −0.0 element).
void axpy_outer_f32(int64_t m, int64_t n, float alpha, const float* u, const float* v, float* y);
void axpy_outer_f64(int64_t m, int64_t n, double alpha, const double* u, const double* v,
                    double* y);

// ---------------------------------------------------------------------------------------------
// Reductions over the middle axis of a contiguous (outer, r, inner) block:
//   y[o, i] = reduce_{j < r} x[o, j, i]
enum class Reduce : int { sum, max, min, count_ };
void reduce_f32(Reduce op, int64_t outer, int64_t r, int64_t inner, const float* x, float* y);
void reduce_f64(Reduce op, int64_t outer, int64_t r, int64_t inner, const double* x,
                double* y);
void reduce_i64(Reduce op, int64_t outer, int64_t r, int64_t inner, const int64_t* x,
                int64_t* y);
// Index of the first max/min along the middle axis (NaN counts as the max, as in NumPy).
void argreduce_f32(Reduce op, int64_t outer, int64_t r, int64_t inner, const float* x,
                   int64_t* idx);
void argreduce_f64(Reduce op, int64_t outer, int64_t r, int64_t inner, const double* x,
                   int64_t* idx);
void argreduce_i64(Reduce op, int64_t outer, int64_t r, int64_t inner, const int64_t* x,
                   int64_t* idx);

// Fused, stable row kernels over the middle axis of (outer, r, inner):
//   logsumexp:   y[o,i]   = m + log Σ_j exp(x[o,j,i] - m),  m = max_j x  (all -inf → -inf)
//   softmax:     y[o,j,i] = exp(x - lse)
//   log_softmax: y[o,j,i] = x - lse
void logsumexp_f32(int64_t outer, int64_t r, int64_t inner, const float* x, float* y);
void logsumexp_f64(int64_t outer, int64_t r, int64_t inner, const double* x, double* y);
void softmax_f32(int64_t outer, int64_t r, int64_t inner, const float* x, float* y);
void softmax_f64(int64_t outer, int64_t r, int64_t inner, const double* x, double* y);
void log_softmax_f32(int64_t outer, int64_t r, int64_t inner, const float* x, float* y);
void log_softmax_f64(int64_t outer, int64_t r, int64_t inner, const double* x, double* y);

// Cross-entropy with int64 class labels on logits (n rows × c classes, contiguous):
//   loss[i] = logsumexp(x[i,:]) - x[i, label[i]];   lse[i] is written for the backward.
// Labels must be validated by the caller (0 <= label < c).
void cross_entropy_f32(int64_t n, int64_t c, const float* x, const int64_t* label, float* loss,
                       float* lse);
void cross_entropy_f64(int64_t n, int64_t c, const double* x, const int64_t* label,
                       double* loss, double* lse);
// dx[i,:] = g[i] * (exp(x[i,:] - lse[i]) - onehot(label[i]))   (g has stride gs ∈ {0,1})
void cross_entropy_backward_f32(int64_t n, int64_t c, const float* x, const int64_t* label,
                                const float* lse, const float* g, int64_t gs, float* dx);
void cross_entropy_backward_f64(int64_t n, int64_t c, const double* x, const int64_t* label,
                                const double* lse, const double* g, int64_t gs, double* dx);

// ---------------------------------------------------------------------------------------------
// Data movement, selection and small fused rows: the loops the ops would otherwise write
// themselves. Element types are named by Elem where the arithmetic depends on the type, and by
// the element size in bytes where only bytes move (copies, gathers).
// u8 holds bool (0 or 1). i32 … f16 are the storage dtypes (Note [storage dtypes] in
// cpp/src/tensor.cpp): only cast, fill and the by-size kernels take them (uint8 is the integer
// 0..255; f16 is IEEE binary16 held as its uint16 bits).
enum class Elem : int { f32, f64, i64, u8, i32, i16, i8, uint8, f16 };
size_t elem_size(Elem t);
// IEEE binary16 ↔ binary32, one value (the reference conversion the cast kernel uses):
// round to nearest even, subnormals kept, overflow to ±inf, NaN stays NaN (quiet, sign kept).
uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);

// Strided copy, Note [strided walk]: for every index i of `shape` (ndim dims, row-major),
//   y[i · sy] = x[i · sx]     (element strides; 0 on a broadcast dim of x)
// covering permute, expand/broadcast assignment, cat and strided slices. y must not overlap x.
void copy_strided(size_t esize, int ndim, const int64_t* shape, const void* x, const int64_t* sx,
                  void* y, const int64_t* sy);
// y[i] = x[off[i]]  /  y[off[i]] = x[i]  /  y[off[i]] = *value, for i < n (element offsets).
void gather(size_t esize, int64_t n, const void* x, const int64_t* off, void* y);
void scatter(size_t esize, int64_t n, const void* x, const int64_t* off, void* y);
void scatter_fill(size_t esize, int64_t n, const void* value, const int64_t* off, void* y);
// y[off[i]] += x[i] in order i = 0, 1, … (repeated offsets accumulate).  t ∈ {f32, f64, i64}.
void scatter_add(Elem t, int64_t n, const void* x, const int64_t* off, void* y);
// Whole rows: row r of y is row idx[r] of x (−size ≤ idx < 0 counts from the end; indices
// must have been checked, e.g. with find_out_of_range).
void gather_rows(size_t row_bytes, int64_t rows, int64_t size, const void* x,
                 const int64_t* idx, void* y);

// Index bookkeeping (int64). find_out_of_range: the first i with idx[i] ∉ [lo, hi), or −1.
int64_t find_out_of_range(int64_t n, const int64_t* idx, int64_t lo, int64_t hi);
// off[i] += (idx[i] < 0 ? idx[i] + size : idx[i]) · stride   (idx checked by the caller)
void add_index_offsets(int64_t n, const int64_t* idx, int64_t size, int64_t stride,
                       int64_t* off);
// For every index of `shape` (row-major): off = base + Σ_d i_d · stride_d, except on dim
// `lookup_dim` (−1 for none), which adds lookup[i_d] instead.
void index_offsets(int ndim, const int64_t* shape, const int64_t* stride, int lookup_dim,
                   const int64_t* lookup, int64_t base, int64_t* off);
// Offsets of the chosen entries of an (outer, r, inner) block: off = (o·r + idx)·inner + i.
void arg_offsets(int64_t outer, int64_t r, int64_t inner, const int64_t* idx, int64_t* off);
// Non-zeros of a bool mask of n elements with row-major element strides `st` (ndim dims):
// count_nonzero counts; nonzero_coords writes coordinate d of the j-th non-zero to cols[d][j].
int64_t count_nonzero(int64_t n, const uint8_t* mask);
void nonzero_coords(int ndim, const int64_t* st, int64_t n, const uint8_t* mask,
                    int64_t* const* cols);
// y[i·c + label[i]] = 1 for i < n (y zeroed by the caller; labels checked).  t ∈ {f32, f64}.
void one_hot(Elem t, int64_t n, int64_t c, const int64_t* label, void* y);
// ----- sorting (reference_sort.cpp; sort, argsort, topk, kthvalue) -----
// For each (o, i) of an (outer, r, inner) block, idx[o, j, i] (j < k ≤ r) is the position
// along the middle axis of the j-th entry in ascending order (descending: largest first).
// The order is total: NaN ranks above every number (so first when descending, as PyTorch),
// and equal entries keep their positions' order, so the result is what a stable sort gives.
// t ∈ {f32, f64, i64, u8}.
void sort_indices(Elem t, int64_t outer, int64_t r, int64_t inner, const void* x,
                  bool descending, int64_t k, int64_t* idx);
// off[o, j, i] = (o·r + idx[o, j, i])·inner + i for j < k: arg_offsets with k entries per row
// (idx checked by the caller, 0 ≤ idx < r).
void take_offsets(int64_t outer, int64_t r, int64_t k, int64_t inner, const int64_t* idx,
                  int64_t* off);

// Casts: y[i] = static_cast<to>(x[i]), except to bool, which is x[i] != 0. Into the storage
// dtypes as PyTorch's CPU converts: integers wrap modulo 2^k; floats truncate toward zero
// through int32 (a value beyond int32, ±inf or NaN gives INT32_MIN, then wraps to the narrower
// type); into f16 by f32_to_f16 (float64 via float32, as PyTorch does).
void cast(Elem from, Elem to, int64_t n, const void* x, void* y);
// y[i] = value converted to t (bool: value != 0).
void fill(Elem t, int64_t n, double value, void* y);
// y[i] = *value for i < n, elements of esize bytes (a value already in the element's type:
// exact for int64, Note [exact scalars] in cpp/src/tensor.cpp).
void fill_value(size_t esize, int64_t n, const void* value, void* y);

// Selection over a broadcast shape (Note [strided walk]): out is contiguous with `ndim` dims of
// sizes `shape`; operands are read with element strides (0 on broadcast dims).
//   where:   y = cond ? a : b          (cond bool, a/b/y of type t)
//   compare: y = a ∘ b as 0/1          (a, b of type t)
//   logical: y = a ∘ b on bools
enum class Cmp : int { eq, ne, lt, le, gt, ge };
enum class Logic : int { and_, or_, xor_ };
void where(Elem t, int ndim, const int64_t* shape, const uint8_t* cond, const int64_t* sc,
           const void* a, const int64_t* sa, const void* b, const int64_t* sb, void* y);
void compare(Elem t, Cmp op, int ndim, const int64_t* shape, const void* a, const int64_t* sa,
             const void* b, const int64_t* sb, uint8_t* y);
void logical(Logic op, int ndim, const int64_t* shape, const uint8_t* a, const int64_t* sa,
             const uint8_t* b, const int64_t* sb, uint8_t* y);
void logical_not(int64_t n, const uint8_t* x, uint8_t* y);
// y = x with values below lo raised to lo (when has_lo) and above hi lowered to hi (when
// has_hi), bounds converted to t first; NaN stays NaN, hi wins when lo > hi (as PyTorch).
// t ∈ {f32, f64, i64}; x and y may alias.
void clamp(Elem t, int64_t n, const void* x, bool has_lo, double lo, bool has_hi, double hi,
           void* y);
// y = isnan(x) / isinf(x) as 0/1 (all 0 for integer types).
void isnan(Elem t, int64_t n, const void* x, uint8_t* y);
void isinf(Elem t, int64_t n, const void* x, uint8_t* y);
// Whether x holds a NaN (nan_only) or any NaN/±inf (anomaly mode's scans); false for integers.
bool any_nonfinite(Elem t, int64_t n, const void* x, bool nan_only);
// Integer unary: neg, abs, relu, sign (the others are float-only).
void unary_i64(Unary op, int64_t n, const int64_t* x, int64_t* y);
// dx[i] = g[i] · [not y[i] ≤ 0]: relu's backward from its output (NaN passes the gradient).
void relu_backward_f32(int64_t n, const float* y, const float* g, float* dx);
void relu_backward_f64(int64_t n, const double* y, const double* g, double* dx);

// Loss rows.
//   accumulate: Σ x[i] in double, left to right (the fused mean/sum of a loss vector)
//   mse_sum:    Σ (a[i] − b[i])² in double, left to right
//   scaled_diff: d[i] = c·(a[i] − b[i])       (two roundings, no FMA)
//   bce_with_logits: l[i] = max(x, 0) − x·y + log1p(exp(−|x|))
double accumulate_f32(int64_t n, const float* x);
double accumulate_f64(int64_t n, const double* x);
double mse_sum_f32(int64_t n, const float* a, const float* b);
double mse_sum_f64(int64_t n, const double* a, const double* b);
void scaled_diff_f32(int64_t n, float c, const float* a, const float* b, float* d);
void scaled_diff_f64(int64_t n, double c, const double* a, const double* b, double* d);
void bce_with_logits_f32(int64_t n, const float* x, const float* y, float* l);
void bce_with_logits_f64(int64_t n, const double* x, const double* y, double* l);

// Optimizer updates, PyTorch's formulas and roundings (Note [optimizer arithmetic] in
// reference_rows.cpp): hyper-parameters are converted to the element type as written below,
// fma(a, b, c) = a·b + c rounded once, and d starts as g (−g when maximize).
// SGD with momentum/weight decay (buf == nullptr when momentum == 0; first: buf starts as d):
//   d = fma(wd, w, d);  buf = first ? d : fma(1 − dampening, d, momentum·buf);
//   d = nesterov ? fma(momentum, buf, d) : buf;  w = fma(−lr, d, w)
struct SgdParams {
  double lr, momentum, dampening, weight_decay;
  bool nesterov, first;
  bool maximize = false;
};
void sgd_f32(int64_t n, float* w, const float* g, float* buf, const SgdParams& p);
void sgd_f64(int64_t n, double* w, const double* g, double* buf, const SgdParams& p);
// Adam / AdamW (step ≥ 1; vmax == nullptr unless amsgrad):
//   decoupled (AdamW): w = w·(1 − lr·wd)  else  d = fma(wd, w, d);
//   m = lerp(m, d, 1 − b1);  v = fma((1 − b2)·d, d, b2·v);  vmax = maximum(vmax, v);
//   w += (−lr / (1 − b1^step))·m / (√(vmax or v) / √(1 − b2^step) + eps)
// lerp(a, b, t) = |t| < ½ ? fma(t, b − a, a) : fma(t − 1, b − a, b)  (PyTorch's lerp).
struct AdamParams {
  double lr, beta1, beta2, eps, weight_decay;
  int64_t step;
  bool maximize = false, decoupled = false;
};
void adam_f32(int64_t n, float* w, const float* g, float* m, float* v, float* vmax,
              const AdamParams& p);
void adam_f64(int64_t n, double* w, const double* g, double* m, double* v, double* vmax,
              const AdamParams& p);
// RMSprop (grad_avg == nullptr unless centered, buf == nullptr unless momentum > 0):
//   d = fma(wd, w, d);  sq = fma((1 − α)·d, d, α·sq);
//   centered: ga = lerp(ga, d, 1 − α), avg = √fma(−ga, ga, sq)  else avg = √sq;  avg += eps;
//   momentum: buf = momentum·buf + d / avg, w = fma(−lr, buf, w)  else w += (−lr·d) / avg
struct RmspropParams {
  double lr, alpha, eps, weight_decay, momentum;
  bool maximize = false;
};
void rmsprop_f32(int64_t n, float* w, const float* g, float* sq, float* grad_avg, float* buf,
                 const RmspropParams& p);
void rmsprop_f64(int64_t n, double* w, const double* g, double* sq, double* grad_avg,
                 double* buf, const RmspropParams& p);
// Adagrad (step ≥ 1):  d = fma(wd, w, d);  sum = fma(d, d, sum);
//   w += (−clr·d) / (√sum + eps),  clr = lr / (1 + (step − 1)·lr_decay)
struct AdagradParams {
  double lr, lr_decay, weight_decay, eps;
  int64_t step;
  bool maximize = false;
};
void adagrad_f32(int64_t n, float* w, const float* g, float* sum, const AdagradParams& p);
void adagrad_f64(int64_t n, double* w, const double* g, double* sum, const AdagradParams& p);

// ---------------------------------------------------------------------------------------------
// Pooling over planes (the N·C contiguous H×W blocks of an NCHW tensor). Output row oi reads
// input rows start_h[oi] + k·step_h for k < count_h[oi], output column oj the columns
// start_w[oj] + k·step_w for k < count_w[oj]: windows already clipped to the input (count ≥ 1),
// so one kernel serves stride, padding, dilation, ceil_mode and the adaptive forms.
struct PoolWindows {
  int64_t in_h, in_w, out_h, out_w;
  const int64_t* start_h;
  const int64_t* count_h;
  int64_t step_h;
  const int64_t* start_w;
  const int64_t* count_w;
  int64_t step_w;
};
// Max of each window, visited row by row: the first maximum wins and so does a NaN (the last
// NaN), as PyTorch. idx gets the flat index ih·in_w + iw within the plane; off (if not null)
// the element offset p·in_h·in_w + that index.  t ∈ {f32, f64}.
void max_pool2d(Elem t, int64_t planes, const PoolWindows& w, const void* x, void* y,
                int64_t* idx, int64_t* off);
// y = (Σ window) / d with d = divisor when divisor > 0, else div_h[oi]·div_w[oj].
void avg_pool2d(Elem t, int64_t planes, const PoolWindows& w, const int64_t* div_h,
                const int64_t* div_w, int64_t divisor, const void* x, void* y);
// avg_pool2d's adjoint: dx = Σ over windows of g[oi, oj] / d, every element written (dx may
// arrive uninitialised; elements in no window get 0).
void avg_pool2d_backward(Elem t, int64_t planes, const PoolWindows& w, const int64_t* div_h,
                         const int64_t* div_w, int64_t divisor, const void* g, void* dx);

// ---------------------------------------------------------------------------------------------
// Normalization and embedding rows (batch norm, layer norm, embedding; ops/norm.cpp).
// Sums run in double (one rounding at the end), as Note [accurate sums] asks of every sum.
// Batch norm over x of shape (n, c, l) (l = the product of the spatial dims), per channel:
//   stats:    mean[ch] = Σ x / (n·l),  var[ch] = Σ (x − mean)² / (n·l)   (biased, two passes),
//             rstd[ch] = 1/√(var + eps)
//   apply:    y = x·α + β with α = rstd·w, β = b − mean·α  (w, b may be null: 1 and 0)
//   backward: dw[ch] = Σ g·x̂ (when dw), x̂ = (x − mean)·rstd; with training
//             dx = (g − Σg/m − x̂·Σ(g·x̂)/m)·rstd·w (m = n·l), else dx = g·rstd·w
template <class T>
struct BatchNormArgs {
  int64_t n, c, l;
  const T* x;
  const T* mean;
  const T* rstd;
  const T* w;  // may be null (1)
};
void batch_norm_stats_f32(int64_t n, int64_t c, int64_t l, const float* x, double eps,
                          float* mean, float* var, float* rstd);
void batch_norm_stats_f64(int64_t n, int64_t c, int64_t l, const double* x, double eps,
                          double* mean, double* var, double* rstd);
void batch_norm_apply_f32(const BatchNormArgs<float>& a, const float* b, float* y);
void batch_norm_apply_f64(const BatchNormArgs<double>& a, const double* b, double* y);
void batch_norm_backward_f32(const BatchNormArgs<float>& a, bool training, const float* g,
                             float* dx, float* dw);
void batch_norm_backward_f64(const BatchNormArgs<double>& a, bool training, const double* g,
                             double* dx, double* dw);
// Layer norm over rows of x (m rows of n, contiguous), w and b (n, may be null):
//   forward:  mean[r], rstd[r] = 1/√(var[r] + eps) (biased var); y = (x − mean)·rstd·w + b
//   backward: h = g·w; dx = rstd·(h − Σh/n − x̂·Σ(h·x̂)/n); dw = Σ_rows g·x̂ (when dw)
void layer_norm_f32(int64_t m, int64_t n, const float* x, const float* w, const float* b,
                    double eps, float* y, float* mean, float* rstd);
void layer_norm_f64(int64_t m, int64_t n, const double* x, const double* w, const double* b,
                    double eps, double* y, double* mean, double* rstd);
void layer_norm_backward_f32(int64_t m, int64_t n, const float* g, const float* x,
                             const float* mean, const float* rstd, const float* w, float* dx,
                             float* dw);
void layer_norm_backward_f64(int64_t m, int64_t n, const double* g, const double* x,
                             const double* mean, const double* rstd, const double* w,
                             double* dx, double* dw);
// Embedding rows (d elements each; indices checked by the caller, 0 ≤ idx < rows of w):
//   gather:      y[r] = w[idx[r]], or zeros where idx[r] == pad (pad < 0: none)
//   scatter_add: dw[idx[r]] += g[r] in order r = 0, 1, … except where idx[r] == pad
// t ∈ {f32, f64}.
void embedding_gather(Elem t, int64_t n, int64_t d, const void* w, const int64_t* idx,
                      int64_t pad, void* y);
void embedding_scatter_add(Elem t, int64_t n, int64_t d, const void* g, const int64_t* idx,
                           int64_t pad, void* dw);
// Convolution, 2-D, NCHW input (n, c_in, h, w), OIHW weight (c_out, c_in/groups, kh, kw),
// output (n, c_out, oh, ow); conv1d runs as h = 1. The top/left padding is pad_h/pad_w; the
// bottom/right padding is implied by oh/ow (so asymmetric padding='same' needs no copy).
// Note [convolution as GEMM] in cpp/src/kernels/conv.cpp.
struct ConvShape {
  int64_t n, c_in, h, w;
  int64_t c_out, kh, kw;
  int64_t oh, ow;
  int64_t stride_h, stride_w, pad_h, pad_w, dil_h, dil_w, groups;
};
// y = conv(x, w) + bias (bias may be null); every output element is written.
void conv2d_forward_f32(const ConvShape& s, const float* x, const float* w, const float* bias,
                        float* y);
void conv2d_forward_f64(const ConvShape& s, const double* x, const double* w,
                        const double* bias, double* y);
// gx = ∂⟨gy, conv(x, w)⟩/∂x (written, not accumulated): the transposed convolution of gy.
void conv2d_backward_input_f32(const ConvShape& s, const float* gy, const float* w, float* gx);
void conv2d_backward_input_f64(const ConvShape& s, const double* gy, const double* w,
                               double* gx);
// gw = ∂⟨gy, conv(x, w)⟩/∂w (written), summed over the images.
void conv2d_backward_weight_f32(const ConvShape& s, const float* gy, const float* x, float* gw);
void conv2d_backward_weight_f64(const ConvShape& s, const double* gy, const double* x,
                                double* gw);
// The slots under them, for one image: col[(c·kh + i)·kw + j][oy·ow + ox] =
// x[c][oy·sh − ph + i·dh][ox·sw − pw + j·dw] (0 in the padding) for c < channels, each row of
// col ld elements apart (ld >= oh·ow: several images side by side in one buffer); col2im adds
// each column back into x (x += col2im(col)).
void im2col_f32(const ConvShape& s, int64_t channels, const float* x, float* col, int64_t ld);
void im2col_f64(const ConvShape& s, int64_t channels, const double* x, double* col, int64_t ld);
void col2im_f32(const ConvShape& s, int64_t channels, const float* col, int64_t ld, float* x);
void col2im_f64(const ConvShape& s, int64_t channels, const double* col, int64_t ld, double* x);

// ---------------------------------------------------------------------------------------------
// Large buffers (Note [buffer cache] in alloc.cpp): 64-byte aligned memory of at least nbytes;
// blocks of 1 MiB and more are reused through a small size-bucketed cache (≤ 256 MiB held)
// instead of being unmapped and page-faulted in again. free_buffer takes the nbytes given to
// alloc_buffer (any size that rounds to the same multiple of 64 is fine). Thread-safe.
void* alloc_buffer(size_t nbytes);  // nullptr for 0 bytes; throws std::bad_alloc
void free_buffer(void* p, size_t nbytes);
size_t cached_buffer_bytes();  // bytes currently held by the cache
void release_buffer_cache();   // return every cached block to the OS

// ---------------------------------------------------------------------------------------------
// Threads (Note [thread pool] in cpp/src/kernels/threads.cpp). Kernels split work above a size threshold.
int get_num_threads();
void set_num_threads(int n);  // n >= 1

}  // namespace tapegrad::kernels
