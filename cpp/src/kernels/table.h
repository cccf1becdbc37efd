// Internal: the dispatch table behind the public kernel API (tapegrad/kernels.h).
// Each ISA fills in the slots it implements; unfilled slots keep the reference kernel.
#pragma once

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

  GemmF32 gemm_f32;
  GemmF64 gemm_f64;
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
};

// The active table (set once at start-up, or by set_arch in tests).
const KernelTable& table();

namespace ref {
void fill_table(KernelTable& t);
// The reference table itself, whatever target is active: SIMD kernels call it for the cases
// they do not vectorise (e.g. sin, pow, strided rows), and tests use it as the oracle.
const KernelTable& table();
}
// SIMD targets overwrite the slots they implement. Defined in avx2/ and avx512/ (compiled with
// their own flags); only called after cpu_info() says the CPU and OS support the target.
namespace avx2 {
void fill_table(KernelTable& t);
}
namespace avx512 {
void fill_table(KernelTable& t);
}

}  // namespace tapegrad::kernels
