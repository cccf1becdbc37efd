// The public kernel entry points (tapegrad/kernels.h): argument checks that make a call a
// no-op (empty sizes), then one indirect call through the active table (cpu.cpp).
#include <cmath>
#include <stdexcept>

#include "kernels/sum_order.h"
#include "kernels/table.h"

namespace tapegrad::kernels {

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

void gemm_relu_f32(bool ta, bool tb, int64_t m, int64_t n, int64_t k, float alpha, const float* a,
                   int64_t lda, const float* b, int64_t ldb, float beta, float* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  table().gemm_relu_f32(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}
void gemm_relu_f64(bool ta, bool tb, int64_t m, int64_t n, int64_t k, double alpha,
                   const double* a, int64_t lda, const double* b, int64_t ldb, double beta,
                   double* c, int64_t ldc) {
  if (m <= 0 || n <= 0) return;
  table().gemm_relu_f64(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
}

void gemm_i64(bool ta, bool tb, int64_t m, int64_t n, int64_t k, const int64_t* a, int64_t lda,
              const int64_t* b, int64_t ldb, int64_t* c, int64_t ldc) {
  if (m > 0 && n > 0) table().gemm_i64(ta, tb, m, n, k, a, lda, b, ldb, c, ldc);
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

// ---------------------------------------------------------------------------------------------
size_t elem_size(Elem t) {
  switch (t) {
    case Elem::f32: return 4;
    case Elem::f64: return 8;
    case Elem::i64: return 8;
    case Elem::u8: return 1;
    case Elem::i32: return 4;
    case Elem::i16: return 2;
    case Elem::i8: return 1;
    case Elem::uint8: return 1;
    case Elem::f16: return 2;
  }
  return 0;
}

void copy_strided(size_t esize, int ndim, const int64_t* shape, const void* x, const int64_t* sx,
                  void* y, const int64_t* sy) {
  table().copy_strided(esize, ndim, shape, x, sx, y, sy);
}
void gather(size_t esize, int64_t n, const void* x, const int64_t* off, void* y) {
  if (n > 0) table().gather(esize, n, x, off, y);
}
void scatter(size_t esize, int64_t n, const void* x, const int64_t* off, void* y) {
  if (n > 0) table().scatter(esize, n, x, off, y);
}
void scatter_fill(size_t esize, int64_t n, const void* value, const int64_t* off, void* y) {
  if (n > 0) table().scatter_fill(esize, n, value, off, y);
}
void scatter_add(Elem t, int64_t n, const void* x, const int64_t* off, void* y) {
  if (n > 0) table().scatter_add(t, n, x, off, y);
}
void gather_rows(size_t row_bytes, int64_t rows, int64_t size, const void* x,
                 const int64_t* idx, void* y) {
  if (rows > 0 && row_bytes > 0) table().gather_rows(row_bytes, rows, size, x, idx, y);
}
int64_t find_out_of_range(int64_t n, const int64_t* idx, int64_t lo, int64_t hi) {
  return n > 0 ? table().find_out_of_range(n, idx, lo, hi) : -1;
}
void add_index_offsets(int64_t n, const int64_t* idx, int64_t size, int64_t stride,
                       int64_t* off) {
  if (n > 0) table().add_index_offsets(n, idx, size, stride, off);
}
void index_offsets(int ndim, const int64_t* shape, const int64_t* stride, int lookup_dim,
                   const int64_t* lookup, int64_t base, int64_t* off) {
  table().index_offsets(ndim, shape, stride, lookup_dim, lookup, base, off);
}
void arg_offsets(int64_t outer, int64_t r, int64_t inner, const int64_t* idx, int64_t* off) {
  if (outer > 0 && inner > 0) table().arg_offsets(outer, r, inner, idx, off);
}
int64_t count_nonzero(int64_t n, const uint8_t* mask) {
  return n > 0 ? table().count_nonzero(n, mask) : 0;
}
void nonzero_coords(int ndim, const int64_t* st, int64_t n, const uint8_t* mask,
                    int64_t* const* cols) {
  if (n > 0) table().nonzero_coords(ndim, st, n, mask, cols);
}
void one_hot(Elem t, int64_t n, int64_t c, const int64_t* label, void* y) {
  if (n > 0) table().one_hot(t, n, c, label, y);
}
// Sorting: nothing to do for an empty block or k = 0.
void sort_indices(Elem t, int64_t outer, int64_t r, int64_t inner, const void* x,
                  bool descending, int64_t k, int64_t* idx) {
  if (outer > 0 && inner > 0 && k > 0) table().sort_indices(t, outer, r, inner, x, descending, k, idx);
}
void take_offsets(int64_t outer, int64_t r, int64_t k, int64_t inner, const int64_t* idx,
                  int64_t* off) {
  if (outer > 0 && inner > 0 && k > 0) table().take_offsets(outer, r, k, inner, idx, off);
}
// Pooling: nothing to do for an empty batch or an empty output.
void max_pool2d(Elem t, int64_t planes, const PoolWindows& w, const void* x, void* y,
                int64_t* idx, int64_t* off) {
  if (planes > 0 && w.out_h > 0 && w.out_w > 0) table().max_pool2d(t, planes, w, x, y, idx, off);
}
void avg_pool2d(Elem t, int64_t planes, const PoolWindows& w, const int64_t* div_h,
                const int64_t* div_w, int64_t divisor, const void* x, void* y) {
  if (planes > 0 && w.out_h > 0 && w.out_w > 0)
    table().avg_pool2d(t, planes, w, div_h, div_w, divisor, x, y);
}
void avg_pool2d_backward(Elem t, int64_t planes, const PoolWindows& w, const int64_t* div_h,
                         const int64_t* div_w, int64_t divisor, const void* g, void* dx) {
  if (planes > 0 && w.out_h > 0 && w.out_w > 0)
    table().avg_pool2d_backward(t, planes, w, div_h, div_w, divisor, g, dx);
}
void cast(Elem from, Elem to, int64_t n, const void* x, void* y) {
  if (n > 0) table().cast(from, to, n, x, y);
}
void fill(Elem t, int64_t n, double value, void* y) {
  if (n > 0) table().fill(t, n, value, y);
}
void fill_value(size_t esize, int64_t n, const void* value, void* y) {
  if (n > 0) table().fill_value(esize, n, value, y);
}
void where(Elem t, int ndim, const int64_t* shape, const uint8_t* cond, const int64_t* sc,
           const void* a, const int64_t* sa, const void* b, const int64_t* sb, void* y) {
  table().where(t, ndim, shape, cond, sc, a, sa, b, sb, y);
}
void compare(Elem t, Cmp op, int ndim, const int64_t* shape, const void* a, const int64_t* sa,
             const void* b, const int64_t* sb, uint8_t* y) {
  table().compare(t, op, ndim, shape, a, sa, b, sb, y);
}
void logical(Logic op, int ndim, const int64_t* shape, const uint8_t* a, const int64_t* sa,
             const uint8_t* b, const int64_t* sb, uint8_t* y) {
  table().logical(op, ndim, shape, a, sa, b, sb, y);
}
void logical_not(int64_t n, const uint8_t* x, uint8_t* y) {
  if (n > 0) table().logical_not(n, x, y);
}
void clamp(Elem t, int64_t n, const void* x, bool has_lo, double lo, bool has_hi, double hi,
           void* y) {
  if (n > 0) table().clamp(t, n, x, has_lo, lo, has_hi, hi, y);
}
void isnan(Elem t, int64_t n, const void* x, uint8_t* y) {
  if (n > 0) table().isnan(t, n, x, y);
}
bool any_nonfinite(Elem t, int64_t n, const void* x, bool nan_only) {
  return n > 0 && table().any_nonfinite(t, n, x, nan_only);
}
void isinf(Elem t, int64_t n, const void* x, uint8_t* y) {
  if (n > 0) table().isinf(t, n, x, y);
}
void unary_i64(Unary op, int64_t n, const int64_t* x, int64_t* y) {
  if (op != Unary::neg && op != Unary::abs && op != Unary::relu && op != Unary::sign)
    throw std::invalid_argument("unary_i64: only neg, abs, relu and sign take integers");
  if (n > 0) table().unary_i64(op, n, x, y);
}
void relu_backward_f32(int64_t n, const float* y, const float* g, float* dx) {
  if (n > 0) table().relu_backward_f32(n, y, g, dx);
}
void relu_backward_f64(int64_t n, const double* y, const double* g, double* dx) {
  if (n > 0) table().relu_backward_f64(n, y, g, dx);
}
double accumulate_f32(int64_t n, const float* x) { return n > 0 ? table().accumulate_f32(n, x) : 0.0; }
double accumulate_f64(int64_t n, const double* x) { return n > 0 ? table().accumulate_f64(n, x) : 0.0; }
double mse_sum_f32(int64_t n, const float* a, const float* b) {
  return n > 0 ? table().mse_sum_f32(n, a, b) : 0.0;
}
double mse_sum_f64(int64_t n, const double* a, const double* b) {
  return n > 0 ? table().mse_sum_f64(n, a, b) : 0.0;
}
void scaled_diff_f32(int64_t n, float c, const float* a, const float* b, float* d) {
  if (n > 0) table().scaled_diff_f32(n, c, a, b, d);
}
void scaled_diff_f64(int64_t n, double c, const double* a, const double* b, double* d) {
  if (n > 0) table().scaled_diff_f64(n, c, a, b, d);
}
void bce_with_logits_f32(int64_t n, const float* x, const float* y, float* l) {
  if (n > 0) table().bce_with_logits_f32(n, x, y, l);
}
void bce_with_logits_f64(int64_t n, const double* x, const double* y, double* l) {
  if (n > 0) table().bce_with_logits_f64(n, x, y, l);
}
void sgd_f32(int64_t n, float* w, const float* g, float* buf, const SgdParams& p) {
  if (n > 0) table().sgd_f32(n, w, g, buf, p);
}
void sgd_f64(int64_t n, double* w, const double* g, double* buf, const SgdParams& p) {
  if (n > 0) table().sgd_f64(n, w, g, buf, p);
}
void adam_f32(int64_t n, float* w, const float* g, float* m, float* v, float* vmax,
              const AdamParams& p) {
  if (n > 0) table().adam_f32(n, w, g, m, v, vmax, p);
}
void adam_f64(int64_t n, double* w, const double* g, double* m, double* v, double* vmax,
              const AdamParams& p) {
  if (n > 0) table().adam_f64(n, w, g, m, v, vmax, p);
}
void rmsprop_f32(int64_t n, float* w, const float* g, float* sq, float* grad_avg, float* buf,
                 const RmspropParams& p) {
  if (n > 0) table().rmsprop_f32(n, w, g, sq, grad_avg, buf, p);
}
void rmsprop_f64(int64_t n, double* w, const double* g, double* sq, double* grad_avg,
                 double* buf, const RmspropParams& p) {
  if (n > 0) table().rmsprop_f64(n, w, g, sq, grad_avg, buf, p);
}
void adagrad_f32(int64_t n, float* w, const float* g, float* sum, const AdagradParams& p) {
  if (n > 0) table().adagrad_f32(n, w, g, sum, p);
}
void adagrad_f64(int64_t n, double* w, const double* g, double* sum, const AdagradParams& p) {
  if (n > 0) table().adagrad_f64(n, w, g, sum, p);
}

// ---------------------------------------------------------------------------------------------
// Normalization and embedding rows.
void batch_norm_stats_f32(int64_t n, int64_t c, int64_t l, const float* x, double eps,
                          float* mean, float* var, float* rstd) {
  if (c > 0) table().batch_norm_stats_f32(n, c, l, x, eps, mean, var, rstd);
}
void batch_norm_stats_f64(int64_t n, int64_t c, int64_t l, const double* x, double eps,
                          double* mean, double* var, double* rstd) {
  if (c > 0) table().batch_norm_stats_f64(n, c, l, x, eps, mean, var, rstd);
}
void batch_norm_apply_f32(const BatchNormArgs<float>& a, const float* b, float* y) {
  if (a.n * a.c * a.l > 0) table().batch_norm_apply_f32(a, b, y);
}
void batch_norm_apply_f64(const BatchNormArgs<double>& a, const double* b, double* y) {
  if (a.n * a.c * a.l > 0) table().batch_norm_apply_f64(a, b, y);
}
void batch_norm_backward_f32(const BatchNormArgs<float>& a, bool training, const float* g,
                             float* dx, float* dw) {
  if (a.c > 0) table().batch_norm_backward_f32(a, training, g, dx, dw);
}
void batch_norm_backward_f64(const BatchNormArgs<double>& a, bool training, const double* g,
                             double* dx, double* dw) {
  if (a.c > 0) table().batch_norm_backward_f64(a, training, g, dx, dw);
}
void layer_norm_f32(int64_t m, int64_t n, const float* x, const float* w, const float* b,
                    double eps, float* y, float* mean, float* rstd) {
  if (m > 0) table().layer_norm_f32(m, n, x, w, b, eps, y, mean, rstd);
}
void layer_norm_f64(int64_t m, int64_t n, const double* x, const double* w, const double* b,
                    double eps, double* y, double* mean, double* rstd) {
  if (m > 0) table().layer_norm_f64(m, n, x, w, b, eps, y, mean, rstd);
}
void layer_norm_backward_f32(int64_t m, int64_t n, const float* g, const float* x,
                             const float* mean, const float* rstd, const float* w, float* dx,
                             float* dw) {
  if (n > 0) table().layer_norm_backward_f32(m, n, g, x, mean, rstd, w, dx, dw);
}
void layer_norm_backward_f64(int64_t m, int64_t n, const double* g, const double* x,
                             const double* mean, const double* rstd, const double* w,
                             double* dx, double* dw) {
  if (n > 0) table().layer_norm_backward_f64(m, n, g, x, mean, rstd, w, dx, dw);
}
void embedding_gather(Elem t, int64_t n, int64_t d, const void* w, const int64_t* idx,
                      int64_t pad, void* y) {
  if (n > 0 && d > 0) table().embedding_gather(t, n, d, w, idx, pad, y);
}
void embedding_scatter_add(Elem t, int64_t n, int64_t d, const void* g, const int64_t* idx,
                           int64_t pad, void* dw) {
  if (n > 0 && d > 0) table().embedding_scatter_add(t, n, d, g, idx, pad, dw);
}

}  // namespace tapegrad::kernels
