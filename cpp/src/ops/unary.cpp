// Elementwise unary math: neg, exp, log, log1p, erf, sqrt, abs, relu (and its derivative op),
// sigmoid, tanh, sin, cos, sign. Forward and backward side by side (the activations of
// torch.nn.functional: activation.cpp).
#include "ops/common.h"

namespace tapegrad {

namespace {
constexpr double k2OverSqrtPi = 1.12837916709551257390;  // 2/√π (M_2_SQRTPI, POSIX only)
}  // namespace

// ---------------------------------------------------------------------------------------------
// Unary ops. `float_only` ops turn int/bool inputs into float32 (as PyTorch); the others keep
// the dtype and refuse bool where PyTorch does.
// The value of a unary op; each op records its entry and saved list beside its forward below.
Tensor unary_forward(OpCode op, k::Unary kop, const Tensor& x, bool float_only) {
  check_defined(x, op_name(op));
  if (is_small(x->dtype())) [[unlikely]] {
    // Computed on wide(result) and cast back once (Note [storage dtypes] in
    // cpp/src/tensor.cpp): an integer input of a float-only op gives float32, as PyTorch.
    const DType r = float_only && !is_floating_point(x->dtype()) ? DType::f32 : x->dtype();
    return as_dtype(unary_forward(op, kop, convert(x, wide(r)), float_only), r);
  }
  DType dt = x->dtype();
  if (float_only && !is_float(dt)) dt = DType::f32;
  if (dt == DType::b8)
    throw TypeError(std::string(op_name(op)) + ": not supported for bool tensors (shape " +
                    shape_str(x->shape()) + "); convert with .float() or .long() first");
  Tensor xin = as_dtype(x, dt);
  Tensor y = empty(x->shape(), dt);
  const int64_t n = y->numel();
  switch (dt) {
    case DType::f32: {
      AllowThreads nogil(n);  // Note [GIL]
      k::unary_f32(kop, n, xin->data<float>(), y->data<float>());
      break;
    }
    case DType::f64: {
      AllowThreads nogil(n);
      k::unary_f64(kop, n, xin->data<double>(), y->data<double>());
      break;
    }
    case DType::i64: k::unary_i64(kop, n, xin->data<int64_t>(), y->data<int64_t>()); break;
    default: break;
  }
  return y;
}

// Each unary op saves what its rule reads: nothing, its input, or its output (a detached
// alias: an entry never keeps itself alive, Note [tape lifetime] in cpp/src/tape/tape.cpp).
Tensor neg(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Neg, k::Unary::neg, x, /*float_only=*/false);
  if (should_record({&x})) record(OpCode::Neg, {&x}, {&y});
  return y;
}
// y = −x  ⇒  dx −= dy
Grads backward_Neg(BwCtx& ctx) { return {neg(ctx.g())}; }

Tensor exp(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Exp, k::Unary::exp, x, /*float_only=*/true);
  if (should_record({&x})) record(OpCode::Exp, {&x}, {&y}, save_for_backward(detach(y)));
  return y;
}
// y = eˣ  ⇒  dx += dy·y
Grads backward_Exp(BwCtx& ctx) { return {mul(ctx.g(), result_for_backward(ctx, 0, 0))}; }

Tensor log(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Log, k::Unary::log, x, /*float_only=*/true);
  if (should_record({&x})) record(OpCode::Log, {&x}, {&y}, save_for_backward(x));
  return y;
}
// y = log x  ⇒  dx += dy / x
Grads backward_Log(BwCtx& ctx) { return {div(ctx.g(), ctx.saved(0))}; }

Tensor log1p(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Log1p, k::Unary::log1p, x, /*float_only=*/true);
  if (should_record({&x})) record(OpCode::Log1p, {&x}, {&y}, save_for_backward(x));
  return y;
}
// y = log(1 + x)  ⇒  dx += dy / (1 + x)
Grads backward_Log1p(BwCtx& ctx) {
  const Tensor& x = ctx.saved(0);
  return {div(ctx.g(), add(x, scalar_tensor(1.0, x->dtype())))};
}

Tensor erf(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Erf, k::Unary::erf, x, /*float_only=*/true);
  if (should_record({&x})) record(OpCode::Erf, {&x}, {&y}, save_for_backward(x));
  return y;
}
// y = erf x  ⇒  dx += dy·(2/√π)·e^(−x²)
Grads backward_Erf(BwCtx& ctx) {
  const Tensor& x = ctx.saved(0);
  Tensor d = mul(exp(neg(mul(x, x))), scalar_tensor(k2OverSqrtPi, x->dtype()));
  return {mul(ctx.g(), d)};
}

Tensor sqrt(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Sqrt, k::Unary::sqrt, x, /*float_only=*/true);
  if (should_record({&x})) record(OpCode::Sqrt, {&x}, {&y}, save_for_backward(detach(y)));
  return y;
}
// y = √x  ⇒  dx += dy / (2y)
Grads backward_Sqrt(BwCtx& ctx) {
  Tensor y = result_for_backward(ctx, 0, 0);
  return {div(ctx.g(), mul(y, scalar_tensor(2.0, y->dtype())))};
}

Tensor abs(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Abs, k::Unary::abs, x, /*float_only=*/false);
  if (should_record({&x})) record(OpCode::Abs, {&x}, {&y}, save_for_backward(x));
  return y;
}
// y = |x|  ⇒  dx += dy·sign(x)   (sign(0) = 0)
Grads backward_Abs(BwCtx& ctx) { return {mul(ctx.g(), sign(ctx.saved(0)))}; }

Tensor relu(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Relu, k::Unary::relu, x, /*float_only=*/false);
  if (should_record({&x})) record(OpCode::Relu, {&x}, {&y}, save_for_backward(detach(y)));
  return y;
}
// y = max(x, 0)  ⇒  dx += dy·[y > 0]
Grads backward_Relu(BwCtx& ctx) { return {relu_backward(ctx.g(), ctx.saved(0))}; }

// relu's derivative as a primitive of its own, so the one fused pass serves backward() and
// create_graph alike. [y > 0] is written as not [y ≤ 0], so a NaN passes its gradient through
// (as PyTorch).
Tensor relu_backward(const Tensor& g, const Tensor& y) {
  Tensor dx;
  if (is_float(y->dtype()) && g->dtype() == y->dtype() && g->shape() == y->shape()) {
    // One pass, dy·[not y ≤ 0], instead of four temporaries (compare, not, cast, mul) — the
    // mask passes were a sixth of an MLP step at batch 256. Multiplying by the 0/1 mask (not a
    // branch: the mask is random, so branches mispredict) keeps the values of the
    // composite form exactly.
    dx = empty(y->shape(), y->dtype());
    if (y->dtype() == DType::f32)
      k::relu_backward_f32(dx->numel(), y->data<float>(), g->data<float>(), dx->data<float>());
    else
      k::relu_backward_f64(dx->numel(), y->data<double>(), g->data<double>(), dx->data<double>());
  } else {
    GradModeGuard off(false);  // mixed dtypes or shapes: the same product, composed
    dx = mul(g, cast(logical_not(compare(CmpOp::le, y, scalar_tensor(0.0, y->dtype()))),
                     g->dtype()));
  }
  if (should_record({&g, &y})) record(OpCode::ReluBackward, {&g, &y}, {&dx}, save_for_backward(y));
  return dx;
}
// z = dy·[y > 0]  ⇒  d(dy) += dz·[y > 0] ; dy's mask y is piecewise constant: no gradient
Grads backward_ReluBackward(BwCtx& ctx) {
  return {relu_backward(ctx.g(), ctx.saved(0)), nullptr};
}

Tensor sigmoid(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Sigmoid, k::Unary::sigmoid, x, /*float_only=*/true);
  if (should_record({&x})) record(OpCode::Sigmoid, {&x}, {&y}, save_for_backward(detach(y)));
  return y;
}
// y = σ(x)  ⇒  dx += dy·y·(1 − y)
// (as (dy·(1 − y))·y, PyTorch's order: the same infinities when dy is near overflow)
Grads backward_Sigmoid(BwCtx& ctx) {
  Tensor y = result_for_backward(ctx, 0, 0);
  return {mul(mul(ctx.g(), sub(scalar_tensor(1.0, y->dtype()), y)), y)};
}

Tensor tanh(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Tanh, k::Unary::tanh, x, /*float_only=*/true);
  if (should_record({&x})) record(OpCode::Tanh, {&x}, {&y}, save_for_backward(detach(y)));
  return y;
}
// y = tanh x  ⇒  dx += dy·(1 − y²)
Grads backward_Tanh(BwCtx& ctx) {
  Tensor y = result_for_backward(ctx, 0, 0);
  return {mul(ctx.g(), sub(scalar_tensor(1.0, y->dtype()), mul(y, y)))};
}

Tensor sin(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Sin, k::Unary::sin, x, /*float_only=*/true);
  if (should_record({&x})) record(OpCode::Sin, {&x}, {&y}, save_for_backward(x));
  return y;
}
// y = sin x  ⇒  dx += dy·cos x
Grads backward_Sin(BwCtx& ctx) { return {mul(ctx.g(), cos(ctx.saved(0)))}; }

Tensor cos(const Tensor& x) {
  Tensor y = unary_forward(OpCode::Cos, k::Unary::cos, x, /*float_only=*/true);
  if (should_record({&x})) record(OpCode::Cos, {&x}, {&y}, save_for_backward(x));
  return y;
}
// y = cos x  ⇒  dx −= dy·sin x
Grads backward_Cos(BwCtx& ctx) { return {neg(mul(ctx.g(), sin(ctx.saved(0))))}; }

Tensor sign(const Tensor& x) {
  check_defined(x, "sign");
  if (x->dtype() == DType::b8) return clone_data(x);
  GradModeGuard off(false);  // derivative is zero almost everywhere: never recorded
  return unary_forward(OpCode::Neg, k::Unary::sign, x, false);
}


}  // namespace tapegrad
