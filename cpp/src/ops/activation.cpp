// The activations of torch.nn.functional: gelu (exact and tanh), silu, leaky_relu, elu,
// softplus, log_sigmoid, hardtanh. Forward and backward side by side.
#include "ops/common.h"

namespace tapegrad {

namespace {
// <cmath>'s M_* constants are POSIX, not standard C++: the same values, as PyTorch's kernels
// use them.
constexpr double k2OverSqrtPi = 1.12837916709551257390;  // 2/√π   (M_2_SQRTPI)
constexpr double kSqrt2 = 1.41421356237309504880;        // √2     (M_SQRT2)
constexpr double kSqrtHalf = 0.70710678118654752440;     // 1/√2   (M_SQRT1_2)
}  // namespace

// ---------------------------------------------------------------------------------------------
// Activations, with PyTorch's formulas, thresholds and derivatives at the kinks (the backward
// of each is written with PyTorch's branch conditions, so x exactly at a kink gets the same
// gradient). Each is one primitive: its forward is composed of existing kernels with grad
// mode off and records a single entry saving x; its backward is composed of differentiable
// ops, so create_graph works through it. Like PyTorch they refuse integer and bool inputs
// (hardtanh, a clamp, accepts integers as PyTorch does).
namespace {
void check_float_input(const Tensor& x, const char* op) {
  check_defined(x, op);
  if (!is_float(x->dtype()))
    throw TypeError(std::string(op) + ": expected a floating-point tensor, got " +
                    dtype_name(x->dtype()) + " of shape " + shape_str(x->shape()));
}
Tensor scalar_of(const Tensor& x, double v) { return scalar_tensor(v, x->dtype()); }
// [x > 0] as a 0/1 tensor of x's dtype (NaN → 0, i.e. the ≤ 0 branch, as PyTorch's `x > 0 ?`).
Tensor positive(const Tensor& x) {
  return cast(compare(CmpOp::gt, x, scalar_of(x, 0.0)), x->dtype());
}

struct GeluAttrs {
  bool tanh;
};
// tanh form's constants (PyTorch's): β = √2·(2/√π)·½ = √(2/π), κ = 0.044715
constexpr double kGeluBeta = kSqrt2 * k2OverSqrtPi * 0.5;
constexpr double kGeluKappa = 0.044715;
// tanh(β·(x + κ·x³))
Tensor gelu_tanh_inner(const Tensor& x) {
  Tensor x3 = mul(mul(x, x), x);
  return tanh(mul(scalar_of(x, kGeluBeta), add(x, mul(scalar_of(x, kGeluKappa), x3))));
}
// Φ(x) = ½·(1 + erf(x/√2))
Tensor normal_cdf(const Tensor& x) {
  return mul(scalar_of(x, 0.5), add(scalar_of(x, 1.0), erf(mul(x, scalar_of(x, kSqrtHalf)))));
}
}  // namespace

Tensor gelu(const Tensor& x, bool tanh_approximation) {
  check_float_input(x, "gelu");
  Tensor y;
  {
    GradModeGuard off(false);
    Tensor half_x = mul(x, scalar_of(x, 0.5));
    y = tanh_approximation ? mul(half_x, add(scalar_of(x, 1.0), gelu_tanh_inner(x)))
                           : mul(half_x, add(scalar_of(x, 1.0),
                                             erf(mul(x, scalar_of(x, kSqrtHalf)))));
  }
  if (should_record({&x}))
    record(OpCode::Gelu, {&x}, {&y}, save_for_backward(x), GeluAttrs{tanh_approximation});
  return y;
}
// y = x·Φ(x)  ⇒  dx += dy·(Φ(x) + x·φ(x)),  φ(x) = e^(−x²/2)/√(2π)
// tanh form, t = tanh(β(x + κx³)):  dx += dy·(½(1 + t) + ½x·(1 − t²)·β(1 + 3κx²))
Grads backward_Gelu(BwCtx& ctx) {
  const Tensor& x = ctx.saved(0);
  if (ctx.attrs<GeluAttrs>().tanh) {
    Tensor t = gelu_tanh_inner(x);
    Tensor left = mul(scalar_of(x, 0.5), add(scalar_of(x, 1.0), t));
    Tensor dinner = mul(scalar_of(x, kGeluBeta),
                        add(scalar_of(x, 1.0), mul(scalar_of(x, 3.0 * kGeluKappa), mul(x, x))));
    Tensor right = mul(mul(mul(scalar_of(x, 0.5), x), sub(scalar_of(x, 1.0), mul(t, t))), dinner);
    return {mul(ctx.g(), add(left, right))};
  }
  Tensor pdf = mul(exp(mul(scalar_of(x, -0.5), mul(x, x))),
                   scalar_of(x, k2OverSqrtPi * kSqrtHalf * 0.5));  // 1/√(2π)
  return {mul(ctx.g(), add(normal_cdf(x), mul(x, pdf)))};
}

Tensor silu(const Tensor& x) {
  check_float_input(x, "silu");
  Tensor y;
  {
    GradModeGuard off(false);
    y = mul(x, sigmoid(x));
  }
  if (should_record({&x})) record(OpCode::Silu, {&x}, {&y}, save_for_backward(x));
  return y;
}
// y = x·σ(x)  ⇒  dx += dy·σ(x)·(1 + x·(1 − σ(x)))
Grads backward_Silu(BwCtx& ctx) {
  const Tensor& x = ctx.saved(0);
  Tensor s = sigmoid(x);
  return {mul(ctx.g(), mul(s, add(scalar_of(x, 1.0), mul(x, sub(scalar_of(x, 1.0), s)))))};
}

namespace {
struct LeakyReluAttrs {
  double negative_slope;
};
}  // namespace
Tensor leaky_relu(const Tensor& x, double negative_slope) {
  check_float_input(x, "leaky_relu");
  Tensor y;
  {
    GradModeGuard off(false);
    y = where(compare(CmpOp::gt, x, scalar_of(x, 0.0)), x, mul(x, scalar_of(x, negative_slope)));
  }
  if (should_record({&x}))
    record(OpCode::LeakyRelu, {&x}, {&y}, save_for_backward(x), LeakyReluAttrs{negative_slope});
  return y;
}
// y = x if x > 0 else s·x  ⇒  dx += dy·(x > 0 ? 1 : s)   (x = 0 takes s, as PyTorch)
Grads backward_LeakyRelu(BwCtx& ctx) {
  const Tensor& x = ctx.saved(0);
  const double s = ctx.attrs<LeakyReluAttrs>().negative_slope;
  Tensor p = positive(x);  // slope = s + (1 − s)·[x > 0]
  return {mul(ctx.g(), add(scalar_of(x, s), mul(p, scalar_of(x, 1.0 - s))))};
}

namespace {
struct EluAttrs {
  double alpha;
};
}  // namespace
Tensor elu(const Tensor& x, double alpha) {
  check_float_input(x, "elu");
  Tensor y;
  {
    GradModeGuard off(false);
    Tensor em1 = unary_forward(OpCode::Elu, k::Unary::expm1, x, /*float_only=*/true);  // eˣ − 1
    y = where(compare(CmpOp::gt, x, scalar_of(x, 0.0)), x, mul(em1, scalar_of(x, alpha)));
  }
  if (should_record({&x})) record(OpCode::Elu, {&x}, {&y}, save_for_backward(x), EluAttrs{alpha});
  return y;
}
// y = x if x > 0 else α·(eˣ − 1)  ⇒  dx += dy·(x > 0 ? 1 : α·eˣ)
// (eˣ of min(x, 0): the unselected branch stays finite, so its zero weight gives 0, not NaN)
Grads backward_Elu(BwCtx& ctx) {
  const Tensor& x = ctx.saved(0);
  const double alpha = ctx.attrs<EluAttrs>().alpha;
  Tensor p = positive(x);
  Tensor neg_part = mul(scalar_of(x, alpha), exp(minimum(x, scalar_of(x, 0.0))));
  return {mul(ctx.g(), add(p, mul(sub(scalar_of(x, 1.0), p), neg_part)))};
}

namespace {
struct SoftplusAttrs {
  double beta, threshold;
};
}  // namespace
Tensor softplus(const Tensor& x, double beta, double threshold) {
  check_float_input(x, "softplus");
  Tensor y;
  {
    GradModeGuard off(false);
    Tensor bx = mul(x, scalar_of(x, beta));
    // Above the threshold log(1 + e^(βx))/β = x to working precision (and e^(βx) may overflow).
    y = where(compare(CmpOp::gt, bx, scalar_of(x, threshold)), x,
              div(log1p(exp(bx)), scalar_of(x, beta)));
  }
  if (should_record({&x}))
    record(OpCode::Softplus, {&x}, {&y}, save_for_backward(x), SoftplusAttrs{beta, threshold});
  return y;
}
// y = log(1 + e^(βx))/β  ⇒  dx += dy·σ(βx);  above the threshold y = x  ⇒  dx += dy
Grads backward_Softplus(BwCtx& ctx) {
  const Tensor& x = ctx.saved(0);
  const SoftplusAttrs& at = ctx.attrs<SoftplusAttrs>();
  Tensor bx = mul(x, scalar_of(x, at.beta));
  Tensor above = cast(compare(CmpOp::gt, bx, scalar_of(x, at.threshold)), x->dtype());
  Tensor s = sigmoid(bx);
  return {mul(ctx.g(), add(above, mul(sub(scalar_of(x, 1.0), above), s)))};
}

Tensor log_sigmoid(const Tensor& x) {
  check_float_input(x, "log_sigmoid");
  Tensor y;
  {
    GradModeGuard off(false);
    // log σ(x) = min(x, 0) − log(1 + e^(−|x|)): e^(−|x|) ≤ 1 never overflows
    y = sub(minimum(x, scalar_of(x, 0.0)), log1p(exp(neg(abs(x)))));
  }
  if (should_record({&x})) record(OpCode::LogSigmoid, {&x}, {&y}, save_for_backward(x));
  return y;
}
// y = log σ(x)  ⇒  dx += dy·(1 − σ(x)) = dy·σ(−x)
Grads backward_LogSigmoid(BwCtx& ctx) {
  return {mul(ctx.g(), sigmoid(neg(ctx.saved(0))))};
}

namespace {
struct HardtanhAttrs {
  double min_val, max_val;
};
}  // namespace
Tensor hardtanh(const Tensor& x, double min_val, double max_val) {
  check_defined(x, "hardtanh");
  if (x->dtype() == DType::b8)
    throw TypeError("hardtanh: not supported for bool tensors (shape " + shape_str(x->shape()) +
                    ")");
  if (min_val > max_val)
    throw ValueError("hardtanh: min_val (" + std::to_string(min_val) +
                     ") cannot be greater than max_val (" + std::to_string(max_val) + ")");
  Tensor y;
  {
    GradModeGuard off(false);
    y = clamp(x, min_val, max_val);
  }
  if (should_record({&x}))
    record(OpCode::Hardtanh, {&x}, {&y}, save_for_backward(x), HardtanhAttrs{min_val, max_val});
  return y;
}
// y = clamp(x, lo, hi)  ⇒  dx += dy·[not (x ≤ lo or x ≥ hi)]   (0 at the kinks, as PyTorch)
Grads backward_Hardtanh(BwCtx& ctx) {
  const Tensor& x = ctx.saved(0);
  const HardtanhAttrs& at = ctx.attrs<HardtanhAttrs>();
  Tensor outside = logical_or(compare(CmpOp::le, x, scalar_of(x, at.min_val)),
                              compare(CmpOp::ge, x, scalar_of(x, at.max_val)));
  return {mul(ctx.g(), cast(logical_not(outside), ctx.g()->dtype()))};
}

}  // namespace tapegrad
