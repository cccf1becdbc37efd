// The SIMD slots of the elementwise, reduction, row and update kernels, filled into a target's
// table. Included inside each target's namespace (avx2::, avx512::) after the other *-inl.h
// bodies, like them (Note [per-ISA translation units]); the names resolve to that target's
// instantiations.
void fill_elementwise(KernelTable& t) {
  t.unary_f32 = unary_f32_impl<F32>;
  t.unary_f64 = unary_f64_impl<F64>;
  t.binary_f32 = binary<F32>;
  t.binary_f64 = binary<F64>;
  t.affine_f32 = affine<F32>;
  t.affine_f64 = affine<F64>;
  t.axpy_f32 = axpy<F32>;
  t.axpy_f64 = axpy<F64>;
  t.axpy_outer_f32 = axpy_outer<F32>;
  t.axpy_outer_f64 = axpy_outer<F64>;
  t.reduce_f32 = reduce<F32>;
  t.reduce_f64 = reduce<F64>;
  t.logsumexp_f32 = logsumexp<F32>;
  t.logsumexp_f64 = logsumexp<F64>;
  t.softmax_f32 = softmax<F32>;
  t.softmax_f64 = softmax<F64>;
  t.log_softmax_f32 = log_softmax<F32>;
  t.log_softmax_f64 = log_softmax<F64>;
  t.cross_entropy_f32 = cross_entropy<F32>;
  t.cross_entropy_f64 = cross_entropy<F64>;
  t.cross_entropy_backward_f32 = cross_entropy_backward<F32>;
  t.cross_entropy_backward_f64 = cross_entropy_backward<F64>;
  t.relu_backward_f32 = relu_backward<F32>;
  t.relu_backward_f64 = relu_backward<F64>;
  t.scaled_diff_f32 = scaled_diff<F32>;
  t.scaled_diff_f64 = scaled_diff<F64>;
  t.sgd_f32 = sgd<F32>;
  t.sgd_f64 = sgd<F64>;
  t.adam_f32 = adam<F32>;
  t.adam_f64 = adam<F64>;
  t.rmsprop_f32 = rmsprop<F32>;
  t.rmsprop_f64 = rmsprop<F64>;
  t.adagrad_f32 = adagrad<F32>;
  t.adagrad_f64 = adagrad<F64>;
}
