// Internal: the dispatch table behind the public kernel API (tapegrad/kernels.h).
// Each ISA fills in the slots it implements; unfilled slots keep the reference kernel.
#pragma once

#include <atomic>

#include "tapegrad/kernels.h"

namespace tapegrad::kernels {

struct KernelTable {
  using GemmF32 = void (*)(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                           const float*, int64_t, float, float*, int64_t);
  using GemmF64 = void (*)(bool, bool, int64_t, int64_t, int64_t, double, const double*,
                           int64_t, const double*, int64_t, double, double*, int64_t);
  template <class T>
  using UnaryFn = void (*)(Unary, int64_t, const T*, T*);
  template <class T>
  using BinaryFn = void (*)(Binary, int64_t, const T*, int64_t, const T*, int64_t, T*);
  template <class T>
  using AffineFn = void (*)(int64_t, const T*, T, T, T*);
  template <class T>
  using AxpyFn = void (*)(int64_t, T, const T*, T*);
  template <class T>
  using AxpyOuterFn = void (*)(int64_t, int64_t, T, const T*, const T*, T*, bool);
  template <class T>
  using ReduceFn = void (*)(Reduce, int64_t, int64_t, int64_t, const T*, T*);
  template <class T>
  using ArgReduceFn = void (*)(Reduce, int64_t, int64_t, int64_t, const T*, int64_t*);
  template <class T>
  using RowFn = void (*)(int64_t, int64_t, int64_t, const T*, T*);
  template <class T>
  using CeFn = void (*)(int64_t, int64_t, const T*, const int64_t*, T*, T*);
  template <class T>
  using CeBwdFn = void (*)(int64_t, int64_t, const T*, const int64_t*, const T*, const T*,
                           int64_t, T*);

  // Data movement and selection (reference_data.cpp).
  using CopyStridedFn = void (*)(size_t, int, const int64_t*, const void*, const int64_t*,
                                 void*, const int64_t*);
  using ByOffsetFn = void (*)(size_t, int64_t, const void*, const int64_t*, void*);
  using ScatterAddFn = void (*)(Elem, int64_t, const void*, const int64_t*, void*);
  using GatherRowsFn = void (*)(size_t, int64_t, int64_t, const void*, const int64_t*, void*);
  using FindOutOfRangeFn = int64_t (*)(int64_t, const int64_t*, int64_t, int64_t);
  using AddIndexOffsetsFn = void (*)(int64_t, const int64_t*, int64_t, int64_t, int64_t*);
  using IndexOffsetsFn = void (*)(int, const int64_t*, const int64_t*, int, const int64_t*,
                                  int64_t, int64_t*);
  using ArgOffsetsFn = void (*)(int64_t, int64_t, int64_t, const int64_t*, int64_t*);
  using CountNonzeroFn = int64_t (*)(int64_t, const uint8_t*);
  using NonzeroCoordsFn = void (*)(int, const int64_t*, int64_t, const uint8_t*,
                                   int64_t* const*);
  using OneHotFn = void (*)(Elem, int64_t, int64_t, const int64_t*, void*);
  using CastFn = void (*)(Elem, Elem, int64_t, const void*, void*);
  using FillFn = void (*)(Elem, int64_t, double, void*);
  using WhereFn = void (*)(Elem, int, const int64_t*, const uint8_t*, const int64_t*,
                           const void*, const int64_t*, const void*, const int64_t*, void*);
  using CompareFn = void (*)(Elem, Cmp, int, const int64_t*, const void*, const int64_t*,
                             const void*, const int64_t*, uint8_t*);
  using LogicalFn = void (*)(Logic, int, const int64_t*, const uint8_t*, const int64_t*,
                             const uint8_t*, const int64_t*, uint8_t*);
  using LogicalNotFn = void (*)(int64_t, const uint8_t*, uint8_t*);
  using ClampFn = void (*)(Elem, int64_t, const void*, bool, double, bool, double, void*);
  using ClassifyFn = void (*)(Elem, int64_t, const void*, uint8_t*);
  using AnyNonfiniteFn = bool (*)(Elem, int64_t, const void*, bool nan_only);
  using UnaryI64Fn = void (*)(Unary, int64_t, const int64_t*, int64_t*);
  // Rows of losses and optimizers (reference_rows.cpp).
  template <class T>
  using ReluBwdFn = void (*)(int64_t, const T*, const T*, T*);
  template <class T>
  using AccumulateFn = double (*)(int64_t, const T*);
  template <class T>
  using MseSumFn = double (*)(int64_t, const T*, const T*);
  template <class T>
  using ScaledDiffFn = void (*)(int64_t, T, const T*, const T*, T*);
  template <class T>
  using BceFn = void (*)(int64_t, const T*, const T*, T*);
  template <class T>
  using SgdFn = void (*)(int64_t, T*, const T*, T*, const SgdParams&);
  template <class T>
  using AdamFn = void (*)(int64_t, T*, const T*, T*, T*, T*, const AdamParams&);
  template <class T>
  using RmspropFn = void (*)(int64_t, T*, const T*, T*, T*, T*, const RmspropParams&);
  template <class T>
  using AdagradFn = void (*)(int64_t, T*, const T*, T*, const AdagradParams&);

  using GemmI64 = void (*)(bool, bool, int64_t, int64_t, int64_t, const int64_t*, int64_t,
                           const int64_t*, int64_t, int64_t*, int64_t);

  GemmF32 gemm_f32;
  GemmF64 gemm_f64;
  // relu(gemm): relu applied to each finished C tile (Note [GEMM epilogue], simd/gemm-inl.h).
  GemmF32 gemm_relu_f32;
  GemmF64 gemm_relu_f64;
  // The register tile and cache blocks behind gemm_f32 / gemm_f64 (reported by cpu_info).
  GemmBlocks (*gemm_blocks_f32)();
  GemmBlocks (*gemm_blocks_f64)();
  GemmI64 gemm_i64;
  UnaryFn<float> unary_f32;
  UnaryFn<double> unary_f64;
  BinaryFn<float> binary_f32;
  BinaryFn<double> binary_f64;
  BinaryFn<int64_t> binary_i64;
  AffineFn<float> affine_f32;
  AffineFn<double> affine_f64;
  AxpyFn<float> axpy_f32;
  AxpyFn<double> axpy_f64;
  AxpyOuterFn<float> axpy_outer_f32;
  AxpyOuterFn<double> axpy_outer_f64;
  ReduceFn<float> reduce_f32;
  ReduceFn<double> reduce_f64;
  ReduceFn<int64_t> reduce_i64;
  ArgReduceFn<float> argreduce_f32;
  ArgReduceFn<double> argreduce_f64;
  ArgReduceFn<int64_t> argreduce_i64;
  RowFn<float> logsumexp_f32, softmax_f32, log_softmax_f32;
  RowFn<double> logsumexp_f64, softmax_f64, log_softmax_f64;
  CeFn<float> cross_entropy_f32;
  CeFn<double> cross_entropy_f64;
  CeBwdFn<float> cross_entropy_backward_f32;
  CeBwdFn<double> cross_entropy_backward_f64;

  CopyStridedFn copy_strided;
  ByOffsetFn gather, scatter, scatter_fill;
  ScatterAddFn scatter_add;
  GatherRowsFn gather_rows;
  FindOutOfRangeFn find_out_of_range;
  AddIndexOffsetsFn add_index_offsets;
  IndexOffsetsFn index_offsets;
  ArgOffsetsFn arg_offsets;
  CountNonzeroFn count_nonzero;
  NonzeroCoordsFn nonzero_coords;
  OneHotFn one_hot;
  CastFn cast;
  FillFn fill;
  void (*fill_value)(size_t esize, int64_t n, const void* value, void* y);
  WhereFn where;
  CompareFn compare;
  LogicalFn logical;
  LogicalNotFn logical_not;
  ClampFn clamp;
  ClassifyFn isnan, isinf;
  AnyNonfiniteFn any_nonfinite;
  UnaryI64Fn unary_i64;

  ReluBwdFn<float> relu_backward_f32;
  ReluBwdFn<double> relu_backward_f64;
  AccumulateFn<float> accumulate_f32;
  AccumulateFn<double> accumulate_f64;
  MseSumFn<float> mse_sum_f32;
  MseSumFn<double> mse_sum_f64;
  ScaledDiffFn<float> scaled_diff_f32;
  ScaledDiffFn<double> scaled_diff_f64;
  BceFn<float> bce_with_logits_f32;
  BceFn<double> bce_with_logits_f64;
  SgdFn<float> sgd_f32;
  SgdFn<double> sgd_f64;
  AdamFn<float> adam_f32;
  AdamFn<double> adam_f64;
  RmspropFn<float> rmsprop_f32;
  RmspropFn<double> rmsprop_f64;
  AdagradFn<float> adagrad_f32;
  AdagradFn<double> adagrad_f64;

  // Pooling (reference_pool.cpp).
  using MaxPoolFn = void (*)(Elem, int64_t, const PoolWindows&, const void*, void*, int64_t*,
                             int64_t*);
  using AvgPoolFn = void (*)(Elem, int64_t, const PoolWindows&, const int64_t*, const int64_t*,
                             int64_t, const void*, void*);
  MaxPoolFn max_pool2d;
  AvgPoolFn avg_pool2d, avg_pool2d_backward;
  // Normalization and embedding rows (reference_norm.cpp).
  template <class T>
  using BnStatsFn = void (*)(int64_t, int64_t, int64_t, const T*, double, T*, T*, T*);
  template <class T>
  using BnApplyFn = void (*)(const BatchNormArgs<T>&, const T*, T*);
  template <class T>
  using BnBwdFn = void (*)(const BatchNormArgs<T>&, bool, const T*, T*, T*);
  template <class T>
  using LnFn = void (*)(int64_t, int64_t, const T*, const T*, const T*, double, T*, T*, T*);
  template <class T>
  using LnBwdFn = void (*)(int64_t, int64_t, const T*, const T*, const T*, const T*, const T*,
                           T*, T*);
  using EmbeddingFn = void (*)(Elem, int64_t, int64_t, const void*, const int64_t*, int64_t,
                               void*);
  BnStatsFn<float> batch_norm_stats_f32;
  BnStatsFn<double> batch_norm_stats_f64;
  BnApplyFn<float> batch_norm_apply_f32;
  BnApplyFn<double> batch_norm_apply_f64;
  BnBwdFn<float> batch_norm_backward_f32;
  BnBwdFn<double> batch_norm_backward_f64;
  LnFn<float> layer_norm_f32;
  LnFn<double> layer_norm_f64;
  LnBwdFn<float> layer_norm_backward_f32;
  LnBwdFn<double> layer_norm_backward_f64;
  EmbeddingFn embedding_gather, embedding_scatter_add;
  // Sorting (reference_sort.cpp).
  using SortIndicesFn = void (*)(Elem, int64_t, int64_t, int64_t, const void*, bool, int64_t,
                                 int64_t*);
  using TakeOffsetsFn = void (*)(int64_t, int64_t, int64_t, int64_t, const int64_t*, int64_t*);
  SortIndicesFn sort_indices;
  TakeOffsetsFn take_offsets;
  // Convolution (conv.cpp): im2col / col2im of one image's channels (col rows ld apart).
  template <class T>
  using Im2colFn = void (*)(const ConvShape&, int64_t, const T*, T*, int64_t);
  template <class T>
  using Col2imFn = void (*)(const ConvShape&, int64_t, const T*, int64_t, T*);
  Im2colFn<float> im2col_f32;
  Im2colFn<double> im2col_f64;
  Col2imFn<float> col2im_f32;
  Col2imFn<double> col2im_f64;
  // Implicit-GEMM convolution (simd/conv_gemm-inl.h, Note [implicit GEMM]); null on targets
  // without one (the drivers then take im2col + GEMM). Arguments: geometry, channels, rows m,
  // A (m × K), x, image stride of x, beta, y, image stride of y, images.
  template <class T>
  using ConvGemmFn = void (*)(const ConvShape&, int64_t, int64_t, const T*, const T*, int64_t, T,
                              T*, int64_t, int64_t);
  ConvGemmFn<float> conv_gemm_f32;
  ConvGemmFn<double> conv_gemm_f64;
  // Its weight gradient (Note [NHWC weight gradient]): geometry, channels, rows m, dy, image
  // stride of dy, x, image stride of x, beta, dW (m × K), images.
  template <class T>
  using ConvGemmWeightFn = void (*)(const ConvShape&, int64_t, int64_t, const T*, int64_t,
                                    const T*, int64_t, T, T*, int64_t);
  // 3×3 unit-stride float32 convolution by Winograd F(2×2, 3×3) (avx512/winograd.cpp, Note
  // [Winograd convolution]), arguments as conv_gemm's; null where there is none.
  ConvGemmFn<float> winograd_f32;
  ConvGemmWeightFn<float> conv_gemm_weight_f32;
  ConvGemmWeightFn<double> conv_gemm_weight_f64;
};

// The active table (set once at start-up, or by set_arch in tests, which rewrites it in place).
// Inline: every kernel call reads it; the first call builds it (cpu.cpp).
namespace detail {
extern std::atomic<const KernelTable*> g_table;
const KernelTable& first_table();
}  // namespace detail
inline const KernelTable& table() {
  const KernelTable* t = detail::g_table.load(std::memory_order_acquire);
  return t ? *t : detail::first_table();
}

// Cache blocks for a micro-kernel of mr × nr elements of `esize` bytes, from the caches the
// CPU reports (Note [GEMM blocking], cpu.cpp). TAPEGRAD_GEMM_BLOCKS=kc,mc,nc overrides (for
// tuning experiments; values are rounded to the tile).
GemmBlocks derive_gemm_blocks(int mr, int nr, int esize);

namespace ref {
void fill_table(KernelTable& t);
void fill_data(KernelTable& t);  // reference_data.cpp
void fill_rows(KernelTable& t);  // reference_rows.cpp
void fill_pool(KernelTable& t);  // reference_pool.cpp
void fill_norm(KernelTable& t);  // reference_norm.cpp
void fill_conv(KernelTable& t);  // conv.cpp
void fill_sort(KernelTable& t);  // reference_sort.cpp
// The reference table itself, whatever target is active: SIMD kernels call it for the cases
// they do not vectorise (e.g. sin, pow, strided rows), and tests use it as the oracle.
const KernelTable& table();
}
// SIMD targets overwrite the slots they implement. Defined in avx2/ and avx512/ (compiled with
// their own flags); only called after cpu_info() says the CPU and OS support the target.
namespace avx2 {
void fill_table(KernelTable& t);
double fma_peak(double seconds);  // GFLOP/s of ymm FMAs on this core (fma_peak.cpp)
}
namespace avx512 {
void fill_table(KernelTable& t);
double fma_peak(double seconds);  // GFLOP/s of zmm FMAs on this core
}
namespace ref {
double fma_peak(double seconds);  // baseline (SSE2 multiply + add), for comparison
}

}  // namespace tapegrad::kernels
