// The engine calls a saved program can make (Note [saved programs] in saved.cpp) that are not
// plain engine functions: the forms the bindings call while lowering themselves.
#pragma once

#include <vector>

#include "tapegrad/capture.h"
#include "tapegrad/ops.h"

namespace tapegrad::capture::ex {

// The handle itself, in another slot (a binding that returns a tensor it was given).
Tensor same(const Tensor& t);
// t.grad, which is there (`had`) or not as when the step was captured (runtime_error if not).
Tensor grad_of(const Tensor& t, bool had);
// The optimizers' group steps over state lists (an empty entry is made on the first step).
void sgd(const std::vector<Tensor>& params, StateList momentum_buffers, const SgdOptions& o);
void adam(const std::vector<Tensor>& params, StateList exp_avg, StateList exp_avg_sq,
          StateList max_exp_avg_sq, StateList steps, const AdamOptions& o);
// matmul's transposed-operand forms (Note [transposed matmul] in bindings/ops.cpp).
Tensor mm_transposed_a(const Tensor& x, const Tensor& v, bool v_transposed);
Tensor mm_transposed_b(const Tensor& x, const Tensor& v);
Tensor linear_transposed(const Tensor& x, const Tensor& v);
// requires_grad_ and the .grad setter.
Tensor set_requires_grad(const Tensor& t, bool value);

}  // namespace tapegrad::capture::ex
